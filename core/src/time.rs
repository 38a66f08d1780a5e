//! Monotonic timestamps and a clock that is either the OS monotonic clock or a
//! simulated one (advanced by the simulator or by a replay).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Nanoseconds on a monotonic clock (CLOCK_MONOTONIC for the real clock, the
/// simulation time for a simulated one). Never wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoTime {
    pub ns: u64,
}

impl MonoTime {
    pub const ZERO: MonoTime = MonoTime { ns: 0 };

    pub const fn from_ns(ns: u64) -> Self {
        MonoTime { ns }
    }

    /// Time elapsed since `earlier`; zero if `earlier` is in the future.
    pub fn saturating_since(self, earlier: MonoTime) -> Duration {
        Duration::from_nanos(self.ns.saturating_sub(earlier.ns))
    }

    pub fn checked_add(self, d: Duration) -> Option<MonoTime> {
        let add = u64::try_from(d.as_nanos()).ok()?;
        self.ns.checked_add(add).map(MonoTime::from_ns)
    }

    /// Reads CLOCK_MONOTONIC directly, so the value is comparable with
    /// `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` deadlines.
    pub fn now_monotonic() -> MonoTime {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        MonoTime::from_ns(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }
}

/// A simulated clock: time moves only when the owner advances it.
#[derive(Debug, Default)]
pub struct SimClock {
    now_ns: AtomicU64,
}

impl SimClock {
    pub fn new(start: MonoTime) -> Self {
        SimClock {
            now_ns: AtomicU64::new(start.ns),
        }
    }

    pub fn now(&self) -> MonoTime {
        MonoTime::from_ns(self.now_ns.load(Ordering::Acquire))
    }

    pub fn advance(&self, by: Duration) {
        self.now_ns
            .fetch_add(by.as_nanos() as u64, Ordering::AcqRel);
    }

    pub fn set(&self, t: MonoTime) {
        self.now_ns.store(t.ns, Ordering::Release);
    }
}

/// Where "now" comes from. Real on the robot, simulated in tests and replay.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    Real,
    Sim(Arc<SimClock>),
}

impl Clock {
    pub fn now(&self) -> MonoTime {
        match self {
            Clock::Real => MonoTime::now_monotonic(),
            Clock::Sim(sim) => sim.now(),
        }
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self, Clock::Sim(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_clock_is_monotonic() {
        let clock = Clock::Real;
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert!(a.ns > 0);
    }

    #[test]
    fn sim_clock_moves_only_when_advanced() {
        let sim = Arc::new(SimClock::new(MonoTime::from_ns(5)));
        let clock = Clock::Sim(sim.clone());
        assert_eq!(clock.now(), MonoTime::from_ns(5));
        assert_eq!(clock.now(), MonoTime::from_ns(5));
        sim.advance(Duration::from_millis(2));
        assert_eq!(clock.now(), MonoTime::from_ns(2_000_005));
        assert!(clock.is_simulated());
    }

    #[test]
    fn saturating_since_never_underflows() {
        let early = MonoTime::from_ns(10);
        let late = MonoTime::from_ns(30);
        assert_eq!(late.saturating_since(early), Duration::from_nanos(20));
        assert_eq!(early.saturating_since(late), Duration::ZERO);
    }
}
