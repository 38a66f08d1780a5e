//! Unitree's C++ SDK binding (far-unitree-sdk's `unitree_interface`) drives
//! `tendon sim --serve-dds` on domain 0 over loopback: it commands a crouched
//! stand, and the simulated joints track it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tendon_bridge::dds::{DdsConfig, DdsNode};
use tendon_bridge::link::StateSubscriber;
use tendon_core::Clock;

#[test]
fn unitree_cpp_sdk_drives_tendon_sim_on_domain_0() {
    let sim = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .args([
            "sim",
            "--serve-dds",
            "--domain",
            "0",
            "--iface",
            "lo",
            "--duration",
            "20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _sim = common::KillOnDrop(sim);
    // Wait until the simulated robot publishes (the model takes ~2 s to load).
    let node = DdsNode::new(&DdsConfig::new(0, Some("lo"))).unwrap();
    let watcher = StateSubscriber::spawn(&node, Clock::Real).unwrap();
    let first = watcher
        .wait_for_state(Duration::from_secs(15))
        .expect("tendon sim --serve-dds published no LowState within 15 s");
    assert_eq!(first.mode_machine, 5);

    let started = Instant::now();
    let out = Command::new(common::peers_python())
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../firmware-bridge/tests/peers/cpp_controller.py"),
        )
        .args([
            "--domain",
            "0",
            "--iface",
            "lo",
            "--pose",
            "crouch",
            "--duration",
            "6",
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "cpp_controller.py failed");
    assert!(started.elapsed() < Duration::from_secs(15));
    let text = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["last_mode_machine"], 5);
    assert_eq!(
        summary["lowstate_crc_errors_reported"], 0,
        "the C++ SDK rejected our CRCs"
    );
    let q = summary["last_q"].as_array().unwrap();
    let target = summary["commanded"]["q"].as_array().unwrap();
    let worst = q
        .iter()
        .zip(target)
        .map(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "worst joint tracking error: {worst:.4} rad; C++ side: {} state updates",
        summary["lowstate_changes"]
    );
    assert!(
        worst < 0.08,
        "joints do not track the crouched stand: worst error {worst} rad"
    );
    // Our own watcher, beside the C++ SDK, saw the crouch too (left knee 0.6 rad).
    let knee = watcher.latest_state().unwrap().motors[3].q_rad;
    assert!((knee - 0.6).abs() < 0.08, "left knee at {knee}");
    assert_eq!(watcher.crc_errors(), 0);
}
