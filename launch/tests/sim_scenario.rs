//! `tendon sim` (the main job) runs the default scenario to the end and
//! exits 0 only when the G1 stood and nothing tripped.

use std::process::Command;

#[test]
fn default_scenario_stands_squats_sits_and_damps() {
    let out = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .arg("sim")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tendon sim failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("safety trips: none"), "{stdout}");
    let hold = stdout
        .lines()
        .find(|l| l.starts_with("hold (band released)"))
        .expect("hold row");
    let min_m: f64 = hold
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches('m')
        .parse()
        .unwrap();
    assert!(
        min_m >= 0.7,
        "pelvis dipped to {min_m} m while standing:\n{stdout}"
    );
    assert!(stdout.contains("real-time factor"), "{stdout}");
}

#[test]
fn default_scenario_over_dds_with_robot_and_controller_in_two_processes() {
    let out = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .args(["sim", "--over-dds", "--domain", "151", "--iface", "lo"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tendon sim --over-dds failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("safety trips: none"), "{stdout}");
    assert!(stdout.contains("crc_errors: 0"), "{stdout}");
    for (phase, min_m) in [("hold (band released)", 0.7), ("stand ", 0.7)] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(phase))
            .unwrap_or_else(|| panic!("no row {phase}:\n{stdout}"));
        let end_m: f64 = row
            .split_whitespace()
            .rev()
            .nth(2)
            .unwrap()
            .trim_end_matches('m')
            .parse()
            .unwrap();
        assert!(end_m >= min_m, "{phase} ended at {end_m} m:\n{stdout}");
    }
}
