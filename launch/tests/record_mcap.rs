//! `tendon sim --record` writes an MCAP file that an independent reader
//! (Python `mcap`, from the peers venv) reads back: every channel, the FSM
//! events in order, and one LowState and LowCmd per control cycle.

mod common;

use std::process::Command;

const READER: &str = r#"
import json, sys
from mcap.reader import make_reader
counts, fsm, timing, first_state = {}, [], None, None
with open(sys.argv[1], "rb") as f:
    reader = make_reader(f)
    for schema, channel, message in reader.iter_messages():
        counts[channel.topic] = counts.get(channel.topic, 0) + 1
        body = json.loads(message.data)
        if channel.topic == "/fsm":
            fsm.append(body["to"])
        elif channel.topic == "/timing":
            timing = body
        elif channel.topic == "/lowstate" and first_state is None:
            first_state = body
print(json.dumps({"counts": counts, "fsm": fsm, "timing": timing, "first_state": first_state}))
"#;

#[test]
fn recording_is_readable_by_python_mcap() {
    let dir = std::env::temp_dir().join(format!("tendon-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scenario.mcap");
    let out = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .args(["sim", "--record"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(0 dropped)"), "{stdout}");

    let read = Command::new(common::peers_python())
        .arg("-c")
        .arg(READER)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "python mcap failed: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let cycles = 14_250; // 28.5 s of scenario at 2 ms
    assert_eq!(v["counts"]["/lowstate"], cycles);
    assert_eq!(v["counts"]["/lowcmd"], cycles);
    assert_eq!(v["counts"]["/timing"], 1);
    assert!(
        v["counts"].get("/safety").is_none(),
        "a clean run records no safety event"
    );
    let fsm: Vec<&str> = v["fsm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(
        fsm,
        [
            "zero_torque",
            "stand_up",
            "squat",
            "stand_up",
            "sit",
            "damp"
        ]
    );
    assert_eq!(v["first_state"]["mode_machine"], 5);
    assert_eq!(v["first_state"]["q_rad"].as_array().unwrap().len(), 29);
    assert_eq!(v["timing"]["compute"]["count"], cycles);
    let _ = std::fs::remove_dir_all(&dir);
}
