//! `serve_dds` over loopback DDS, driven by our own bridge: DdsRobotLink as
//! the controller and LocoClient for the loco service. Real time, ~10 s.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tendon_bridge::dds::DdsConfig;
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
use tendon_bridge::loco::LocoClient;
use tendon_core::{Clock, FsmId, MotorTargets, RobotLink};
use tendon_sim::{serve_dds, ServeConfig, ServeSignals};

#[test]
fn serve_dds_streams_state_obeys_lowcmd_and_stands_up_on_loco_request() {
    let scene = common::scene();
    // A domain of our own (>= 100) on lo, apart from other tests.
    let domain = 100 + (std::process::id() % 100) as u16;
    let dds = DdsConfig::new(domain, Some("lo"));
    let signals = Arc::new(ServeSignals::default());
    let server = {
        let (config, signals) = (ServeConfig::new(dds.clone(), scene), signals.clone());
        std::thread::spawn(move || serve_dds(&config, &signals))
    };

    let mut link_config = DdsLinkConfig::lowcmd(dds);
    link_config.sole_writer_window = Duration::from_millis(300);
    let link = DdsRobotLink::open(&link_config, Clock::Real).expect("controller link");
    let first = link
        .wait_for_state(Duration::from_secs(10))
        .expect("no LowState from serve_dds within 10 s");
    assert_eq!(first.mode_machine, 5);

    // Loco service: damp, then stand up; the band lets go once the robot stands.
    let mut loco = LocoClient::new(link.node(), "sport", Duration::from_secs(3)).unwrap();
    let err = loco.set_fsm_id(FsmId::Start).unwrap_err();
    assert!(err.to_string().contains("7301"), "{err}");
    loco.set_fsm_id(FsmId::Damp).unwrap();
    loco.set_fsm_id(FsmId::StandUp).unwrap();
    let asked = Instant::now();
    assert_eq!(loco.get_fsm_id().unwrap().fsm, Some(FsmId::StandUp));
    std::thread::sleep(Duration::from_millis(4500).saturating_sub(asked.elapsed()));
    let standing = signals.pelvis_height_m();
    let band_after_stand = signals.band_on();
    let sport = link.state().sport_mode_state().expect("rt/sportmodestate");

    // Low level takes over: damping (kp 0, kd 8) shows in the reported torques.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        link.send(&MotorTargets::damping()).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let s = link.latest_state().unwrap();
    let worst = (0..29)
        .map(|i| (s.motors[i].tau_est_nm + 8.0 * s.motors[i].dq_rad_s).abs())
        .fold(0.0f32, f32::max);
    let damped = signals.pelvis_height_m();

    signals
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let stats = server.join().unwrap().expect("serve_dds");
    let link_stats = link.stats();
    println!(
        "pelvis {standing:.3} m 4.5 s after SetFsmId(stand_up) (band on: {band_after_stand}, released at {:?} s), \
         {damped:.3} m after 1.5 s of damping LowCmds; worst |tau + 8 dq| {worst:.3} N.m; {stats:?}; rtf {:.3}; link {link_stats:?}",
        stats.band_released_at_s,
        stats.real_time_factor()
    );
    assert!(standing >= 0.7, "pelvis at {standing:.3} m after stand up");
    assert!(!band_after_stand, "band still on after standing up");
    assert_eq!(sport.fsm_id, 4);
    assert!(
        worst < 2.0,
        "torques do not follow the damping command: {worst}"
    );
    assert!(
        damped < standing - 0.1,
        "damping did not let the robot sink: {damped:.3}"
    );
    assert!(link_stats.states_received > 1000, "{link_stats:?}");
    assert_eq!(link_stats.crc_errors, 0);
    assert!(stats.commands_received > 100);
    assert_eq!(stats.crc_errors, 0);
    assert!(
        stats.real_time_factor() > 0.8,
        "serve_dds fell behind: {stats:?}"
    );
}
