//! DDS interop over loopback with Unitree's SDKs on CycloneDDS 0.10.2:
//! (a) a robot peer on `unitree_sdk2py` against our controller-side link,
//! (b) Unitree's C++ SDK binding (`unitree_interface`) as the controller
//!     against our robot-side endpoint.

mod common;

use std::time::{Duration, Instant};

use common::PeerProcess;
use tendon_bridge::dds::DdsConfig;
use tendon_bridge::endpoint::RobotEndpoint;
use tendon_bridge::hg::LowState;
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
use tendon_core::{Clock, MotorTargets, RobotLink};

#[test]
fn unitree_sdk_robot_peer_receives_our_lowcmd_with_valid_crc() {
    let _serial = common::serial();
    let domain = "71";
    let peer = PeerProcess::spawn(
        "robot_peer.py",
        &["--domain", domain, "--iface", "lo", "--duration", "12", "--mode-machine", "5", "--rate-hz", "500"],
    );
    let mut cfg = DdsLinkConfig::lowcmd(DdsConfig::new(71, Some("lo")));
    cfg.sole_writer_window = Duration::from_millis(300);
    let link = DdsRobotLink::open(&cfg, Clock::Real).unwrap();
    let first = link
        .wait_for_state(Duration::from_secs(8))
        .expect("no LowState from the unitree_sdk2py robot peer within 8 s");
    assert_eq!(first.mode_machine, 5);
    assert_eq!(first.motors[7].q_rad, (0.01f64 * 7.0) as f32, "peer sets q[i] = 0.01·i");
    assert_eq!(first.imu.accel_m_s2[2], 9.81);
    // Wait until the peer's reader on rt/lowcmd is discovered: what is sent
    // before then is dropped by design (volatile QoS), on both stacks.
    let deadline = Instant::now() + Duration::from_secs(5);
    while link.node().remote_readers_on("rt/lowcmd") == 0 {
        assert!(Instant::now() < deadline, "peer's rt/lowcmd reader never discovered");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let sent_before = link.stats().commands_sent;
    let targets = MotorTargets::damping();
    let period = Duration::from_millis(2);
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < Duration::from_secs(5) {
        link.send(&targets).unwrap();
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    let stats = link.close();
    let sent = stats.link.commands_sent - sent_before;
    let summary = peer.summary(Duration::from_secs(20));
    let received = summary["lowcmd_received"].as_u64().unwrap();
    let crc_ok = summary["lowcmd_crc_valid"].as_u64().unwrap();
    let mm_ok = summary["lowcmd_mode_machine_ok"].as_u64().unwrap();
    eprintln!("sent {sent} (after discovery), peer received {received}, crc ok {crc_ok}, mode_machine ok {mm_ok}; our link: {stats:?}");
    assert!(sent >= 2000, "only {sent} commands written in 5 s at 500 Hz");
    assert!(received as f64 >= 0.9 * sent as f64, "peer received {received} of {sent}");
    assert_eq!(crc_ok, received, "every LowCmd must pass Unitree's CRC");
    assert_eq!(mm_ok, received, "every LowCmd must echo mode_machine 5");
    assert_eq!(stats.link.crc_errors, 0);
    assert!(stats.link.states_received > 1000, "{stats:?}");
}
