//! The real-time thread: it runs at 500 Hz on absolute deadlines, reports
//! its timing, reacts to an e-stop on the next cycle and damps on exit.

mod common;

use common::{FakeLinkForTest, LinkEvent, RecordingLinkForTest};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tendon_control::runtime::RtConfig;
use tendon_control::{ControlLoop, Controller, ControllerConfig};
use tendon_core::{Clock, FsmId, MotorTargets};

/// The loop on the real clock, without SCHED_FIFO or mlock (not permitted
/// everywhere the tests run).
fn spawn_without_rt(link: Arc<dyn tendon_core::RobotLink>) -> ControlLoop {
    let rt = RtConfig {
        fifo_priority: None,
        lock_memory: false,
        ..RtConfig::default()
    };
    ControlLoop::spawn(Controller::new(ControllerConfig::default()), link, rt).unwrap()
}

#[test]
fn loop_runs_at_500_hz_reports_timing_and_damps_on_e_stop_and_exit() {
    let link = Arc::new(FakeLinkForTest::new(true));
    let control = spawn_without_rt(link.clone());
    control.commands().request_fsm(FsmId::ZeroTorque);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(control.status().fsm, FsmId::ZeroTorque);
    // Body slots get zero torque; the safety layer keeps slots 29–34 (no motor) inert.
    assert_eq!(
        link.sent.load().motors[..29],
        MotorTargets::zero_torque().motors[..29]
    );
    std::thread::sleep(Duration::from_millis(900));

    let asked = Instant::now();
    control.commands().e_stop();
    while control.status().tripped.is_none() {
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "e-stop not handled"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    // That it was the very next cycle: e_stop_damps_from_the_first_cycle_that_starts_after_it.
    assert_eq!(link.sent.load(), MotorTargets::damping());
    link.sent.store(MotorTargets::default());
    let report = control.stop();
    assert_eq!(link.sent.load(), MotorTargets::damping(), "exit must damp");
    let cycles = report.counters.cycles;
    let periods = cycles + report.timing.overruns;
    assert!(
        (400..=560).contains(&periods),
        "{cycles} cycles + {} skipped periods in ~1 s",
        report.timing.overruns
    );
    assert_eq!(report.timing.period_error.count, cycles);
    // Every cycle slept to its early-wake target and spun to its deadline
    // (the spin is never longer than the margin's cap plus one clock read),
    // with the thread's timer slack lowered to 1 ns.
    assert_eq!(report.timing.spin.count, cycles);
    assert!(
        report.timing.spin.p50 <= tendon_control::runtime::DEFAULT_MAX_WAKE_MARGIN,
        "{}",
        report.timing
    );
    assert_eq!(report.rt.timer_slack_ns, Some(Ok(1)));
    eprintln!("{}", report.timing);
}

/// The e-stop acts on the very next cycle: every cycle that starts after the
/// e-stop was raised sends damping, the first of them included. Judged on
/// the cycles' own start times, so a slow VM cannot make it pass or fail.
#[test]
fn e_stop_damps_from_the_first_cycle_that_starts_after_it() {
    let link = Arc::new(RecordingLinkForTest::new());
    let control = spawn_without_rt(link.clone());
    control.commands().request_fsm(FsmId::ZeroTorque);
    std::thread::sleep(Duration::from_millis(200));
    control.commands().e_stop();
    let raised_at = Clock::Real.now();
    std::thread::sleep(Duration::from_millis(100));
    drop(control.stop());
    let events = link.events.lock().unwrap().clone();
    let mut cycles = Vec::new();
    for pair in events.windows(2) {
        if let [LinkEvent::CycleStart(t), LinkEvent::Sent { damping }] = pair {
            cycles.push((*t, *damping));
        }
    }
    let before: Vec<bool> = cycles
        .iter()
        .filter(|(t, _)| *t < raised_at)
        .map(|c| c.1)
        .collect();
    let after: Vec<bool> = cycles
        .iter()
        .filter(|(t, _)| *t > raised_at)
        .map(|c| c.1)
        .collect();
    assert!(
        before.iter().rev().take(10).all(|d| !d),
        "zero torque (not damping) before the e-stop"
    );
    assert!(after.len() >= 10, "{} cycles after the e-stop", after.len());
    assert!(after[0], "the first cycle after the e-stop did not damp");
    assert!(after.iter().all(|d| *d), "a later cycle stopped damping");
}
