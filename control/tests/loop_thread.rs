//! The real-time thread: it runs at 500 Hz on absolute deadlines, reports
//! its timing, reacts to an e-stop within a cycle and damps on exit.

mod common;

use common::FakeLinkForTest;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tendon_control::runtime::RtConfig;
use tendon_control::{ControlLoop, Controller, ControllerConfig};
use tendon_core::{Clock, FsmId, MotorTargets};

#[test]
fn loop_runs_at_500_hz_reports_timing_and_damps_on_e_stop_and_exit() {
    let link = Arc::new(FakeLinkForTest::new(true));
    let rt = RtConfig {
        fifo_priority: None,
        lock_memory: false,
        ..RtConfig::default()
    };
    let control = ControlLoop::spawn(
        Controller::new(ControllerConfig::default()),
        link.clone(),
        rt,
    )
    .unwrap();
    control.commands().request_fsm(FsmId::ZeroTorque);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(control.status().fsm, FsmId::ZeroTorque);
    // Body slots get zero torque; the safety layer keeps slots 29–34 (no motor) inert.
    assert_eq!(
        link.sent.load().motors[..29],
        MotorTargets::zero_torque().motors[..29]
    );
    std::thread::sleep(Duration::from_millis(900));

    let e_stop_at = Clock::Real.now();
    let asked = Instant::now();
    control.commands().e_stop();
    while control.status().tripped.is_none() {
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "e-stop not handled"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    // On the loop's own clock: the trip happened on the next cycle.
    let reaction = control
        .status()
        .tripped
        .unwrap()
        .at
        .saturating_since(e_stop_at);
    assert!(
        reaction <= Duration::from_millis(10),
        "e-stop took {reaction:?}"
    );
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
    eprintln!("{}", report.timing);
}
