//! `tendon sim` (the main job) runs the default scenario to the end and
//! exits 0 only when the G1 stood and nothing tripped; its `--json` report
//! carries the judge's fields (tendon_sim::scenario), read here, not scraped
//! from the table.

use std::process::Command;

fn sim_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .arg("sim")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tendon sim {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("OK: the G1 stood up"), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn phase<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name}: {report}"))
}

#[test]
fn default_scenario_stands_squats_sits_and_damps() {
    let report = sim_json(&[]);
    assert_eq!(report["transport"], "in_process");
    assert_eq!(report["safety_trips"], serde_json::json!([]));
    let hold = phase(&report, "hold (band released)");
    assert!(hold["pelvis_min_m"].as_f64().unwrap() >= 0.7, "{report}");
    assert!(hold["fell"].is_null(), "{report}");
    assert!(report["wall_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn default_scenario_over_dds_with_robot_and_controller_in_two_processes() {
    let report = sim_json(&["--over-dds", "--domain", "151", "--iface", "lo"]);
    assert_eq!(report["transport"], "over_dds");
    assert_eq!(report["safety_trips"], serde_json::json!([]));
    assert_eq!(report["link"]["crc_errors"], 0, "{report}");
    assert!(
        report["link"]["states_received"].as_u64().unwrap() > 5_000,
        "{report}"
    );
    for name in ["hold (band released)", "stand"] {
        let p = phase(&report, name);
        assert!(p["pelvis_end_m"].as_f64().unwrap() >= 0.7, "{report}");
        assert!(
            p["fell"].is_null() && p["fsm_refused"].is_null(),
            "{report}"
        );
    }
}
