//! The default scenario in process, judged by the one judge: the G1 stands
//! (pelvis ≥ 0.7 m after the band lets go), squats, stands, sits and is
//! damped, with no safety trip; the same run twice gives the same report.

mod common;

use tendon_sim::scenario::run_in_process;
use tendon_sim::{InProcessOptions, Scenario, Transport, STANDING_PELVIS_MIN_M};

#[test]
fn default_scenario_passes_on_its_reports_fields_and_repeats_exactly() {
    let scenario = Scenario::stand_squat_sit();
    let run = || {
        let mut sim = common::hanging();
        let mut cycles = 0u32;
        let (report, timing) = run_in_process(
            &mut sim,
            &scenario,
            InProcessOptions::default(),
            |_, _, _| cycles += 1,
        );
        (report, timing.compute.count(), cycles)
    };
    let (report, computed, cycles) = run();
    assert!(report.passed(), "{:?}", report.failures());
    assert_eq!(report.transport, Transport::InProcess);
    assert_eq!(report.safety_trips, vec![]);
    assert_eq!(report.phases.len(), scenario.phases.len());
    assert_eq!(cycles, 14_250, "28.5 s of 2 ms cycles");
    assert_eq!(computed, 14_250);
    let phase = |name: &str| report.phases.iter().find(|p| p.name == name).unwrap();
    for standing in ["hold (band released)", "stand"] {
        let p = phase(standing);
        assert!(p.pelvis_end_m >= STANDING_PELVIS_MIN_M, "{p:?}");
        assert!(p.worst_tracking_rad < 0.2, "{p:?}");
    }
    assert!(phase("hold (band released)").pelvis_min_m >= STANDING_PELVIS_MIN_M);
    assert!(phase("squat").pelvis_end_m < phase("stand").pelvis_end_m - 0.05);
    assert!(phase("sit").pelvis_end_m < phase("squat").pelvis_end_m);
    // Lockstep: one scenario, one result, whatever the machine.
    let (again, _, _) = run();
    assert_eq!(again.phases, report.phases);
}
