//! `tendon sim --record` writes an MCAP file that an independent reader
//! (Python `mcap`, from the peers venv) reads back: every channel, the FSM
//! events in order, and one LowState and LowCmd per control cycle; the head
//! camera frames it stores replay through `tendon_perception`.

mod common;

use std::process::Command;

const READER: &str = r#"
import json, sys
from mcap.reader import make_reader
counts, fsm, timing, first_state, camera_schema = {}, [], None, None, None
with open(sys.argv[1], "rb") as f:
    reader = make_reader(f)
    for schema, channel, message in reader.iter_messages():
        counts[channel.topic] = counts.get(channel.topic, 0) + 1
        if channel.topic == "/camera/head":
            camera_schema = schema.name
            continue
        body = json.loads(message.data)
        if channel.topic == "/fsm":
            fsm.append(body["to"])
        elif channel.topic == "/timing":
            timing = body
        elif channel.topic == "/lowstate" and first_state is None:
            first_state = body
print(json.dumps({"counts": counts, "fsm": fsm, "timing": timing, "first_state": first_state, "camera_schema": camera_schema}))
"#;

#[test]
fn recording_is_readable_by_python_mcap() {
    let dir = std::env::temp_dir().join(format!("tendon-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scenario.mcap");
    let out = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .args(["sim", "--record-camera-hz", "2", "--record"])
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
    // One frame every 250 cycles (2 Hz of sim time).
    assert_eq!(v["counts"]["/camera/head"], cycles / 250);
    assert_eq!(v["camera_schema"], "sensor_msgs/msg/CompressedImage");
    check_camera_frames(&path, cycles / 250);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The frames replay 0.5 s apart, 640x480, not blank, and the view moves as
/// the robot stands up from hanging.
fn check_camera_frames(path: &std::path::Path, expected: u64) {
    use tendon_perception::{FrameSource, McapFrameSource};
    let mut source = McapFrameSource::open(path, "/camera/head").unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        frames.push(frame);
    }
    assert_eq!(frames.len() as u64, expected);
    for pair in frames.windows(2) {
        let dt_ns = pair[1].capture_time.ns - pair[0].capture_time.ns;
        assert_eq!(dt_ns, 500_000_000, "frame spacing");
    }
    let std_dev = |pixels: &[u8]| {
        let mean = pixels.iter().map(|&p| p as f64).sum::<f64>() / pixels.len() as f64;
        (pixels
            .iter()
            .map(|&p| (p as f64 - mean).powi(2))
            .sum::<f64>()
            / pixels.len() as f64)
            .sqrt()
    };
    let mean_abs_diff = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum::<f64>()
            / a.len() as f64
    };
    for f in &frames {
        assert_eq!((f.width_px, f.height_px), (640, 480));
        assert!(
            std_dev(&f.pixels) > 5.0,
            "a blank frame at {:?}",
            f.capture_time
        );
    }
    // Hanging at 0.5 s vs standing after the band is released (10 s).
    let standing = &frames[19];
    let moved = mean_abs_diff(&frames[0].pixels, &standing.pixels);
    assert!(moved > 2.0, "the head camera view did not change: {moved}");
}
