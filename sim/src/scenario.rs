//! Scripted sessions in the simulated world, with one judge. A `Scenario` is
//! a list of phases (an FSM request held for a time); a runner, in process
//! here (`run_in_process`) or over DDS in `tendon sim --over-dds`, feeds the
//! same `PhaseJudge` with what it observes, and the result is a
//! `ScenarioReport` that front ends print and tests read field by field.

use std::time::{Duration, Instant};

use serde::Serialize;
use tendon_control::runtime::ControlStatus;
use tendon_control::safety::ALL_TRIP_CAUSES;
use tendon_control::timing::{Percentiles, TimingStats};
use tendon_control::{ControlCommands, Controller, ControllerConfig, LoopBody};
use tendon_core::FsmId;

use crate::link::{run_in_process as run_ticks, SimLink, CONTROL_PERIOD};
use crate::world::G1Sim;

/// A standing G1's pelvis is above this (it stands at about 0.78 m).
pub const STANDING_PELVIS_MIN_M: f64 = 0.7;
/// The first part of a phase that is not judged for standing: the motion
/// the phase asks for is still under way.
const STAND_JUDGED_AFTER: Duration = Duration::from_secs(1);
/// The last part of a phase over which tracking is judged: the motion has
/// settled by then.
const TRACKING_JUDGED_IN_LAST: Duration = Duration::from_secs(1);

/// One step of a scenario: an FSM request held for a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: &'static str,
    pub fsm: FsmId,
    pub duration: Duration,
    /// Release the elastic band at the start of this phase.
    pub release_band: bool,
    /// The robot must stand (pelvis ≥ `STANDING_PELVIS_MIN_M`, band off)
    /// after the phase's first second.
    pub must_stand: bool,
}

/// A scripted session.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    /// What a passing run showed, in words.
    pub success: &'static str,
    pub phases: Vec<Phase>,
}

impl Scenario {
    /// The default: zero torque → stand up → hold → squat → stand → sit → damp.
    pub fn stand_squat_sit() -> Scenario {
        let phase = |name, fsm, seconds, release_band, must_stand| Phase {
            name,
            fsm,
            duration: Duration::from_secs_f64(seconds),
            release_band,
            must_stand,
        };
        Scenario {
            name: "stand-squat-sit",
            success: "the G1 stood up, held, squatted, stood, sat and was damped",
            phases: vec![
                phase(
                    "zero torque (hanging)",
                    FsmId::ZeroTorque,
                    1.0,
                    false,
                    false,
                ),
                phase("stand up", FsmId::StandUp, 3.5, false, false),
                phase("hold (band released)", FsmId::StandUp, 10.0, true, true),
                phase("squat", FsmId::Squat, 4.0, false, false),
                phase("stand", FsmId::StandUp, 4.0, false, true),
                phase("sit", FsmId::Sit, 4.0, false, false),
                phase("damp", FsmId::Damp, 2.0, false, false),
            ],
        }
    }

    pub fn duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }
}

/// What a runner saw at one moment of a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseSample {
    /// Time since the phase began (sim time in process, wall time over DDS).
    pub elapsed: Duration,
    pub pelvis_m: f64,
    pub band_on: bool,
    /// Largest |target − measured| joint angle, where the loop commands
    /// position (kp > 0); `None` otherwise.
    pub tracking_error_rad: Option<f32>,
}

/// What one phase measured, and what went wrong in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseReport {
    pub name: &'static str,
    pub pelvis_min_m: f64,
    pub pelvis_max_m: f64,
    pub pelvis_end_m: f64,
    pub worst_tracking_rad: f32,
    /// Where the robot was not standing although it had to.
    pub fell: Option<String>,
    /// The loop's answer when it refused the phase's FSM request.
    pub fsm_refused: Option<String>,
}

/// Judges one phase from the samples a runner feeds it.
#[derive(Debug, Clone)]
pub struct PhaseJudge {
    phase: Phase,
    report: PhaseReport,
}

impl PhaseJudge {
    pub fn new(phase: &Phase) -> Self {
        PhaseJudge {
            phase: phase.clone(),
            report: PhaseReport {
                name: phase.name,
                pelvis_min_m: f64::MAX,
                pelvis_max_m: f64::MIN,
                pelvis_end_m: f64::NAN,
                worst_tracking_rad: 0.0,
                fell: None,
                fsm_refused: None,
            },
        }
    }

    pub fn observe(&mut self, s: &PhaseSample) {
        let r = &mut self.report;
        r.pelvis_min_m = r.pelvis_min_m.min(s.pelvis_m);
        r.pelvis_max_m = r.pelvis_max_m.max(s.pelvis_m);
        r.pelvis_end_m = s.pelvis_m;
        let left = self.phase.duration.saturating_sub(s.elapsed);
        if let Some(e) = s
            .tracking_error_rad
            .filter(|_| left <= TRACKING_JUDGED_IN_LAST)
        {
            r.worst_tracking_rad = r.worst_tracking_rad.max(e);
        }
        if self.phase.must_stand
            && !s.band_on
            && s.elapsed >= STAND_JUDGED_AFTER
            && s.pelvis_m < STANDING_PELVIS_MIN_M
            && r.fell.is_none()
        {
            r.fell = Some(format!(
                "pelvis at {:.3} m (< {STANDING_PELVIS_MIN_M} m) while standing, {:.2} s into the phase",
                s.pelvis_m,
                s.elapsed.as_secs_f64()
            ));
        }
    }

    /// The phase's report, with the loop's last answer to an FSM request.
    pub fn finish_with(self, status: &ControlStatus) -> PhaseReport {
        self.finish(status.last_fsm_result.map(|r| r.map_err(|e| e.to_string())))
    }

    /// The phase's report, given the loop's last answer to an FSM request.
    pub fn finish(mut self, fsm_result: Option<Result<FsmId, String>>) -> PhaseReport {
        if let Some(Err(e)) = fsm_result {
            self.report.fsm_refused = Some(e);
        }
        self.report
    }
}

/// How the scenario ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Lockstep, faster than real time.
    InProcess,
    /// In process, paced to the wall clock.
    InProcessRealTime,
    /// Robot and controller in two processes over DDS, real time.
    OverDds,
}

/// The result of one run of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub scenario: &'static str,
    pub success: &'static str,
    pub transport: Transport,
    pub phases: Vec<PhaseReport>,
    /// Every trip cause that fired, with its count.
    pub safety_trips: Vec<(&'static str, u64)>,
    pub sim_time_s: f64,
    pub wall_s: f64,
    pub compute_p50_us: f64,
    pub compute_p99_us: f64,
    pub compute_max_us: f64,
}

impl ScenarioReport {
    /// The report of a finished run of `scenario`.
    pub fn new(
        scenario: &Scenario,
        transport: Transport,
        phases: Vec<PhaseReport>,
        safety_trips: Vec<(&'static str, u64)>,
        wall: Duration,
        compute: &Percentiles,
    ) -> Self {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        ScenarioReport {
            scenario: scenario.name,
            success: scenario.success,
            transport,
            phases,
            safety_trips,
            sim_time_s: scenario.duration().as_secs_f64(),
            wall_s: wall.as_secs_f64(),
            compute_p50_us: us(compute.p50),
            compute_p99_us: us(compute.p99),
            compute_max_us: us(compute.max),
        }
    }

    /// Every problem; empty when the run passed. The scenarios never ask for
    /// an e-stop, so any safety trip is one.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.phases {
            if let Some(f) = &p.fell {
                out.push(format!("{}: {f}", p.name));
            }
            if let Some(e) = &p.fsm_refused {
                out.push(format!("{}: {e}", p.name));
            }
        }
        if !self.safety_trips.is_empty() {
            out.push(format!("unexpected safety trips: {}", self.trips_text()));
        }
        out
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// "none", or "cause ×n, …".
    pub fn trips_text(&self) -> String {
        if self.safety_trips.is_empty() {
            return "none".into();
        }
        self.safety_trips
            .iter()
            .map(|(c, n)| format!("{c} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn real_time_factor(&self) -> f64 {
        self.sim_time_s / self.wall_s.max(1e-9)
    }
}

/// Largest |target − measured| over the 29 joints, where the loop commands
/// position (kp > 0); `None` otherwise.
pub fn tracking_error_rad(status: &ControlStatus, q_rad: &[f32]) -> Option<f32> {
    let targets = &status.last_targets.motors;
    (targets[0].kp > 0.0).then(|| {
        q_rad
            .iter()
            .zip(targets.iter())
            .map(|(q, t)| (t.q_rad - q).abs())
            .fold(0.0f32, f32::max)
    })
}

/// The trip causes that fired in `status`, with their counts.
pub fn trips_of(status: &ControlStatus) -> Vec<(&'static str, u64)> {
    let safety = &status.counters.safety;
    ALL_TRIP_CAUSES
        .iter()
        .filter(|c| safety.trips(**c) > 0)
        .map(|c| (c.name(), safety.trips(*c)))
        .collect()
}

/// Options of the in-process runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessOptions {
    /// Pace to the wall clock.
    pub realtime: bool,
}

/// Runs `scenario` with the control loop in this process, one 2 ms cycle
/// per 2 ms of sim time. `after_cycle` sees the world and the loop's status
/// after every cycle (recording, tracing); it never steers the run.
pub fn run_in_process(
    sim: &mut G1Sim,
    scenario: &Scenario,
    options: InProcessOptions,
    mut after_cycle: impl FnMut(&mut G1Sim, &ControlStatus, &Phase),
) -> (ScenarioReport, TimingStats) {
    let link = std::sync::Arc::new(SimLink::new());
    let commands = std::sync::Arc::new(ControlCommands::default());
    let mut body = LoopBody::new(
        Controller::new(ControllerConfig::default()),
        link.clone(),
        commands.clone(),
    );
    let status = body.status();
    let mut timing = TimingStats::default();
    let wall_start = Instant::now();
    let sim_start_s = sim.sim_time();
    let mut phases = Vec::new();
    for phase in &scenario.phases {
        if phase.release_band {
            sim.set_band(false);
        }
        commands.request_fsm(phase.fsm);
        let cycles = (phase.duration.as_secs_f64() / CONTROL_PERIOD.as_secs_f64()).round() as u32;
        let mut judge = PhaseJudge::new(phase);
        for k in 1..=cycles {
            let mut compute_ns = 0;
            run_ticks(sim, &link, CONTROL_PERIOD, |now| {
                let t0 = Instant::now();
                body.cycle(now);
                compute_ns = t0.elapsed().as_nanos() as u64;
            });
            timing.record(0, compute_ns);
            let st = status.load();
            after_cycle(sim, &st, phase);
            if options.realtime {
                let due = wall_start + Duration::from_secs_f64(sim.sim_time() - sim_start_s);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            judge.observe(&PhaseSample {
                elapsed: CONTROL_PERIOD * k,
                pelvis_m: sim.pelvis_height_m(),
                band_on: sim.band_on(),
                tracking_error_rad: tracking_error_rad(&st, &sim.joint_q()),
            });
        }
        phases.push(judge.finish_with(&status.load()));
    }
    let report = ScenarioReport::new(
        scenario,
        if options.realtime {
            Transport::InProcessRealTime
        } else {
            Transport::InProcess
        },
        phases,
        trips_of(&status.load()),
        wall_start.elapsed(),
        &timing.compute.percentiles(),
    );
    (report, timing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing_phase() -> Phase {
        Phase {
            name: "hold",
            fsm: FsmId::StandUp,
            duration: Duration::from_secs(4),
            release_band: true,
            must_stand: true,
        }
    }

    fn sample(elapsed_s: f64, pelvis_m: f64, band_on: bool, err: Option<f32>) -> PhaseSample {
        PhaseSample {
            elapsed: Duration::from_secs_f64(elapsed_s),
            pelvis_m,
            band_on,
            tracking_error_rad: err,
        }
    }

    #[test]
    fn a_dip_below_standing_height_after_the_first_second_is_a_fall() {
        let mut j = PhaseJudge::new(&standing_phase());
        // The first second is the motion itself, and the band holds it: not judged.
        j.observe(&sample(0.5, 0.60, false, None));
        j.observe(&sample(2.0, 0.65, true, None));
        j.observe(&sample(2.5, 0.78, false, None));
        let ok = j.clone().finish(Some(Ok(FsmId::StandUp)));
        assert_eq!(ok.fell, None);
        assert_eq!(ok.pelvis_min_m, 0.60);
        assert_eq!(ok.pelvis_end_m, 0.78);
        j.observe(&sample(3.0, 0.69, false, None));
        j.observe(&sample(3.5, 0.50, false, None));
        let fell = j.finish(None);
        let why = fell.fell.expect("a fall");
        assert!(why.contains("0.690 m") && why.contains("3.00 s"), "{why}");
    }

    #[test]
    fn tracking_is_judged_only_in_the_last_second_and_refusals_are_failures() {
        let mut j = PhaseJudge::new(&standing_phase());
        j.observe(&sample(1.0, 0.78, false, Some(0.9)));
        j.observe(&sample(3.2, 0.78, false, Some(0.05)));
        j.observe(&sample(3.9, 0.78, false, None));
        let r = j.finish(Some(Err("refused".into())));
        assert_eq!(r.worst_tracking_rad, 0.05);
        let report = ScenarioReport {
            scenario: "t",
            success: "",
            transport: Transport::InProcess,
            phases: vec![r],
            safety_trips: vec![("e-stop", 1)],
            sim_time_s: 4.0,
            wall_s: 1.0,
            compute_p50_us: 0.0,
            compute_p99_us: 0.0,
            compute_max_us: 0.0,
        };
        assert_eq!(
            report.failures(),
            vec![
                "hold: refused".to_string(),
                "unexpected safety trips: e-stop ×1".to_string()
            ]
        );
        assert!(!report.passed());
        assert_eq!(report.real_time_factor(), 4.0);
    }

    #[test]
    fn the_default_scenario_lasts_28_5_s_and_ends_damped() {
        let s = Scenario::stand_squat_sit();
        assert_eq!(s.duration(), Duration::from_millis(28_500));
        assert_eq!(s.phases.last().unwrap().fsm, FsmId::Damp);
        assert_eq!(s.phases.iter().filter(|p| p.release_band).count(), 1);
    }
}
