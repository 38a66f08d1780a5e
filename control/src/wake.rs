//! Waking on time: sleep to just before the deadline, then spin to it.
//!
//! A kernel timer wakes a thread some tens of microseconds after the time it
//! was set for (measured on the 2-core VM: about 60 µs in the median for
//! `clock_nanosleep` and `timerfd` alike, SCHED_FIFO or not; BENCHMARKS.md).
//! No sleep can beat that floor, so the loop sleeps until `deadline - margin`
//! and spins on the clock for the rest. The margin follows the 90th
//! percentile of the sleeps' own overshoot, so it is large where the timer is
//! slow (a VM) and small on a real-time kernel, and the spin costs only what
//! the platform makes necessary. It never exceeds `max_margin`; a zero
//! `max_margin` turns spinning off (sleep only).

use std::time::Duration;

use tendon_core::{Clock, MonoTime};

/// The early-wake margin: a running estimate of the 90th percentile of the
/// timer's overshoot, by the stochastic-approximation rule (up by 9 steps
/// when an overshoot exceeds it, down by 1 otherwise, so it settles where
/// one overshoot in ten is above it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WakeMargin {
    margin_ns: u64,
    max_margin_ns: u64,
}

/// One step of the estimate. 250 ns down and 2.25 µs up: from zero to a
/// 60 µs floor takes about 27 late wakes (54 ms at 500 Hz).
const STEP_DOWN_NS: u64 = 250;
const STEP_UP_NS: u64 = 9 * STEP_DOWN_NS;

impl WakeMargin {
    pub fn new(max_margin: Duration) -> Self {
        WakeMargin {
            margin_ns: 0,
            max_margin_ns: max_margin.as_nanos() as u64,
        }
    }

    pub fn margin(&self) -> Duration {
        Duration::from_nanos(self.margin_ns)
    }

    /// When to ask the kernel to wake us for `deadline`.
    pub fn sleep_target(&self, deadline: MonoTime) -> MonoTime {
        MonoTime::from_ns(deadline.ns.saturating_sub(self.margin_ns))
    }

    /// Feeds how late the sleep ended after its target.
    pub fn observe(&mut self, overshoot_ns: u64) {
        self.margin_ns = if overshoot_ns > self.margin_ns {
            self.margin_ns + STEP_UP_NS
        } else {
            self.margin_ns.saturating_sub(STEP_DOWN_NS)
        }
        .min(self.max_margin_ns);
    }
}

/// Spins on `clock` until `deadline`; returns the time read that reached it
/// (at once if it has passed).
pub fn spin_until(clock: &Clock, deadline: MonoTime) -> MonoTime {
    loop {
        let now = clock.now();
        if now >= deadline {
            return now;
        }
        std::hint::spin_loop();
    }
}

/// Lowers the calling thread's timer slack (the kernel's license to delay a
/// timer so that it can batch wake-ups; 50 µs by default, and applied to
/// every thread that is not real-time). Returns the slack now in force.
pub fn set_timer_slack(slack_ns: u64) -> Result<u64, String> {
    // SAFETY: PR_SET_TIMERSLACK / PR_GET_TIMERSLACK take plain integers.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, slack_ns as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: as above.
    let now = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    Ok(now as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic overshoot sequence: 60 µs + 0..40 µs, uniform.
    fn overshoots(n: usize) -> impl Iterator<Item = u64> {
        let mut x: u32 = 0x2545_F491;
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            60_000 + (x % 40_000) as u64
        })
    }

    #[test]
    fn margin_settles_near_the_90th_percentile_of_the_overshoot() {
        let mut m = WakeMargin::new(Duration::from_micros(500));
        for o in overshoots(20_000) {
            m.observe(o);
        }
        // The 90th percentile of 60 + U(0, 40) µs is 96 µs.
        let margin_us = m.margin().as_secs_f64() * 1e6;
        assert!((92.0..=100.0).contains(&margin_us), "{margin_us} µs");
    }

    #[test]
    fn margin_never_exceeds_its_cap_and_zero_turns_spinning_off() {
        let mut capped = WakeMargin::new(Duration::from_micros(30));
        let mut off = WakeMargin::new(Duration::ZERO);
        for o in overshoots(1_000) {
            capped.observe(o);
            off.observe(o);
        }
        assert_eq!(capped.margin(), Duration::from_micros(30));
        assert_eq!(off.margin(), Duration::ZERO);
        let deadline = MonoTime::from_ns(1_000_000);
        assert_eq!(off.sleep_target(deadline), deadline);
        assert_eq!(
            capped.sleep_target(deadline),
            MonoTime::from_ns(1_000_000 - 30_000)
        );
    }

    #[test]
    fn margin_shrinks_when_the_timer_becomes_prompt() {
        let mut m = WakeMargin::new(Duration::from_micros(200));
        for o in overshoots(5_000) {
            m.observe(o);
        }
        for _ in 0..5_000 {
            m.observe(2_000);
        }
        // It then hovers within one up-step of the 2 µs overshoot.
        assert!(m.margin() <= Duration::from_micros(5), "{:?}", m.margin());
    }

    #[test]
    fn spin_until_returns_at_or_after_the_deadline() {
        let clock = Clock::Real;
        let deadline = MonoTime::from_ns(clock.now().ns + 300_000);
        let reached = spin_until(&clock, deadline);
        assert!(reached >= deadline);
        let past = MonoTime::from_ns(clock.now().ns - 1);
        assert!(spin_until(&clock, past) >= past);
    }

    #[test]
    fn timer_slack_can_be_lowered_to_one_nanosecond() {
        let got = std::thread::spawn(|| set_timer_slack(1)).join().unwrap();
        assert_eq!(got, Ok(1));
    }
}
