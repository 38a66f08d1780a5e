//! Closed loop in process: the control loop (tendon-control) drives the
//! MuJoCo G1 (tendon-sim) through `RobotLink`, on simulated time.

use std::sync::Arc;
use std::time::Duration;

use tendon_control::producer::ScriptedProducer;
use tendon_control::runtime::ControlStatus;
use tendon_control::safety::TripCause;
use tendon_control::{ControlCommands, Controller, ControllerConfig, LoopBody};
use tendon_core::{FsmId, Latest};
use tendon_sim::{default_scene_path, run_in_process, sim_now, G1Sim, SimLink};

struct Rig {
    sim: G1Sim,
    link: Arc<SimLink>,
    commands: Arc<ControlCommands>,
    body: LoopBody,
    status: Arc<Latest<ControlStatus>>,
}

impl Rig {
    fn new() -> Rig {
        let scene = default_scene_path()
            .expect("G1 model missing: run scripts/test.sh (it runs scripts/install-sim.sh)");
        let sim = G1Sim::load(&scene).unwrap();
        let link = Arc::new(SimLink::new());
        let commands = Arc::new(ControlCommands::default());
        let body = LoopBody::new(
            Controller::new(ControllerConfig::default()),
            link.clone(),
            commands.clone(),
        );
        let status = body.status();
        Rig {
            sim,
            link,
            commands,
            body,
            status,
        }
    }

    fn run(&mut self, seconds: f64) {
        let body = &mut self.body;
        run_in_process(
            &mut self.sim,
            &self.link,
            Duration::from_secs_f64(seconds),
            |now| body.cycle(now),
        );
    }

    /// Zero torque in the band, stand up, release, settle.
    fn stand(&mut self) {
        self.commands.request_fsm(FsmId::ZeroTorque);
        self.run(0.5);
        self.commands.request_fsm(FsmId::StandUp);
        self.run(3.5);
        self.sim.set_band(false);
        self.run(2.0);
        assert!(
            self.sim.pelvis_height_m() > 0.7,
            "did not stand: {}",
            self.sim.pelvis_height_m()
        );
    }
}

const WAVE: &str =
    "t_s,right_shoulder_roll,right_elbow\n0,-0.2,1.28\n0.6,-0.7,0.6\n1.2,-0.2,1.28\n";

#[test]
fn stopped_chunk_producer_holds_then_damps_after_the_grace_period() {
    let mut rig = Rig::new();
    rig.stand();
    rig.commands.request_fsm(FsmId::Start);
    let wave = ScriptedProducer::parse(WAVE).unwrap();
    let start = sim_now(&rig.sim);
    // A producer at 10 Hz with 0.5 s chunks, for 2 s.
    for _ in 0..20 {
        let now = sim_now(&rig.sim);
        rig.commands.send_chunk(
            &wave
                .chunk(start, now, Duration::from_millis(20), 25)
                .unwrap(),
        );
        rig.run(0.1);
    }
    let st = rig.status.load();
    assert_eq!(st.fsm, FsmId::Start);
    assert!(
        st.counters.chunks.accepted >= 19,
        "{:?}",
        st.counters.chunks
    );
    assert!(st.tripped.is_none());
    // The producer stops. The last chunk ends 0.5 s after it was made, then
    // 0.5 s of grace holding the last pose, then damping.
    let mut tripped_after = None;
    for k in 0..600 {
        rig.run(0.002);
        if let Some(t) = rig.status.load().tripped {
            assert_eq!(t.cause, TripCause::ChunkExpired);
            tripped_after = Some(k as f64 * 0.002);
            break;
        }
        assert!(
            rig.sim.pelvis_height_m() > 0.7,
            "fell while holding after {} s",
            k as f64 * 0.002
        );
    }
    let after = tripped_after.expect("no damping within 1.2 s of the producer stopping");
    assert!(
        (0.3..=1.0).contains(&after),
        "damped {after} s after the last chunk (expected chunk end 0.4 s + grace 0.5 s)"
    );
    assert_eq!(rig.status.load().fsm, FsmId::Damp);
    assert_eq!(rig.status.load().last_targets.motors[3].kp, 0.0);
}

#[test]
fn paused_robot_state_damps_within_100_ms() {
    let mut rig = Rig::new();
    rig.stand();
    rig.sim.set_state_paused(true);
    let mut damped_after_ms = None;
    for k in 1..=100 {
        rig.run(0.002);
        if rig.status.load().tripped.is_some() {
            damped_after_ms = Some(k * 2);
            break;
        }
    }
    let ms = damped_after_ms.expect("no damping within 200 ms of the state stopping");
    assert_eq!(
        rig.status.load().tripped.unwrap().cause,
        TripCause::StaleState
    );
    assert!(ms <= 104, "damped after {ms} ms");
    assert_eq!(rig.link.latest_command().unwrap().motors[9].kp, 0.0);
    assert_eq!(rig.link.latest_command().unwrap().motors[9].kd, 8.0);
}

#[test]
fn nan_chunk_is_rejected_counted_and_the_robot_is_unaffected() {
    let mut rig = Rig::new();
    rig.stand();
    rig.commands.request_fsm(FsmId::Start);
    rig.run(0.1);
    let wave = ScriptedProducer::parse(WAVE).unwrap();
    let start = sim_now(&rig.sim);
    let good = wave
        .chunk(start, start, Duration::from_millis(20), 50)
        .unwrap();
    rig.commands.send_chunk(&good);
    rig.run(0.2);
    let before = rig.status.load().last_targets;
    let mut bad = wave
        .chunk(start, sim_now(&rig.sim), Duration::from_millis(20), 50)
        .unwrap();
    bad.steps[10][23] = f32::NAN;
    rig.commands.send_chunk(&bad);
    rig.run(0.002);
    let st = rig.status.load();
    assert_eq!(st.counters.chunks.rejected, 1);
    assert!(st.tripped.is_none());
    assert!(st.last_targets.all_finite());
    // Still following the good chunk: the next target continues it.
    assert!((st.last_targets.motors[23].q_rad - before.motors[23].q_rad).abs() < 0.05);
    rig.run(0.5);
    assert!(rig.sim.pelvis_height_m() > 0.7);
    assert!(rig.status.load().tripped.is_none());
}
