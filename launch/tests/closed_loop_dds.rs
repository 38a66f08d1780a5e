//! Closed loop over DDS in real time: the simulated robot served on loopback
//! (`tendon_sim::serve_dds`), the real-time control loop on a `DdsRobotLink`.
//! A stopped chunk producer ends in damping after the grace period, a NaN
//! chunk is rejected without effect, and a robot that stops publishing is
//! damped within 100 ms.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tendon_bridge::dds::DdsConfig;
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
use tendon_control::producer::ScriptedProducer;
use tendon_control::runtime::RtConfig;
use tendon_control::safety::TripCause;
use tendon_control::{ControlLoop, Controller, ControllerConfig};
use tendon_core::{Clock, FsmId, RobotLink};
use tendon_sim::{default_scene_path, serve_dds, ServeConfig, ServeSignals};

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn faults_over_dds_end_in_damping() {
    let domain = 152;
    let scene = default_scene_path().expect("G1 model missing: run scripts/test.sh");
    let mut config = ServeConfig::new(DdsConfig::new(domain, Some("lo")), scene);
    config.duration = Some(Duration::from_secs(40));
    let signals = Arc::new(ServeSignals::default());
    let robot = {
        let signals = signals.clone();
        std::thread::spawn(move || serve_dds(&config, &signals))
    };
    let mut cfg = DdsLinkConfig::lowcmd(DdsConfig::new(domain, Some("lo")));
    cfg.sole_writer_window = Duration::from_millis(300);
    let link = Arc::new(DdsRobotLink::open(&cfg, Clock::Real).unwrap());
    link.wait_for_state(Duration::from_secs(20))
        .expect("no LowState from the served robot");
    let rt = RtConfig {
        fifo_priority: None,
        lock_memory: false,
        ..RtConfig::default()
    };
    let control = ControlLoop::spawn(
        Controller::new(ControllerConfig::default()),
        link.clone() as Arc<dyn RobotLink>,
        rt,
    )
    .unwrap();
    let cmd = control.commands().clone();

    // Stand up (the band lets go once the legs hold the stand).
    cmd.request_fsm(FsmId::ZeroTorque);
    std::thread::sleep(Duration::from_millis(300));
    cmd.request_fsm(FsmId::StandUp);
    wait_until(Duration::from_secs(10), || !signals.band_on())
        .expect("the band was never released");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        signals.pelvis_height_m() > 0.7,
        "not standing: {}",
        signals.pelvis_height_m()
    );

    // Start, chunks from a producer at 10 Hz, one of them with a NaN.
    cmd.request_fsm(FsmId::Start);
    let wave = ScriptedProducer::parse(
        "t_s,right_shoulder_roll,right_elbow\n0,-0.2,1.28\n0.6,-0.6,0.8\n1.2,-0.2,1.28\n",
    )
    .unwrap();
    let script_start = Clock::Real.now();
    for i in 0..15 {
        let mut chunk = wave
            .chunk(
                script_start,
                Clock::Real.now(),
                Duration::from_millis(20),
                25,
            )
            .unwrap();
        if i == 7 {
            chunk.steps[4][23] = f32::NAN;
        }
        cmd.send_chunk(&chunk);
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = control.status();
    assert_eq!(st.fsm, FsmId::Start);
    assert_eq!(st.counters.chunks.rejected, 1, "{:?}", st.counters.chunks);
    assert!(
        st.tripped.is_none(),
        "the NaN chunk must not trip or move anything: {:?}",
        st.tripped
    );
    assert!(signals.pelvis_height_m() > 0.7);

    // The producer stops: hold, then damp after chunk end (0.5 s) + grace
    // (0.5 s). Times are taken on the loop's own clock (the trip's
    // timestamp), so a slow test thread cannot inflate them.
    let stopped_at = Clock::Real.now();
    wait_until(Duration::from_secs(3), || {
        control.status().tripped.is_some()
    })
    .expect("no damping after the producer stopped");
    let trip = control.status().tripped.unwrap();
    assert_eq!(trip.cause, TripCause::ChunkExpired);
    let after = trip.at.saturating_since(stopped_at);
    assert!(
        after >= Duration::from_millis(300) && after <= Duration::from_millis(1100),
        "the loop damped {after:?} after the producer stopped"
    );

    // Reset, stand up again, then the robot goes silent: damp within 100 ms.
    cmd.reset();
    std::thread::sleep(Duration::from_millis(20));
    cmd.request_fsm(FsmId::ZeroTorque);
    std::thread::sleep(Duration::from_millis(20));
    cmd.request_fsm(FsmId::StandUp);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        control.status().tripped.is_none(),
        "{:?}",
        control.status().tripped
    );
    let paused_at = Clock::Real.now();
    signals.pause_state.store(true, Ordering::SeqCst);
    wait_until(Duration::from_secs(1), || {
        control.status().tripped.is_some()
    })
    .expect("no damping after the state stopped");
    let trip = control.status().tripped.unwrap();
    assert_eq!(trip.cause, TripCause::StaleState);
    let damped = trip.at.saturating_since(paused_at);
    assert!(
        damped <= Duration::from_millis(106),
        "the loop damped {damped:?} after the state stopped"
    );

    let report = control.stop();
    signals.stop.store(true, Ordering::SeqCst);
    let stats = robot.join().unwrap().unwrap();
    assert_eq!(stats.crc_errors, 0);
    eprintln!("{}\n{stats:?}", report.timing);
}
