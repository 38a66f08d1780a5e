//! Frames through an MCAP recording and back, read also by the Python `mcap`
//! library (TENDON_PERCEPTION_PYTHON, exported by scripts/test.sh).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use tendon_core::time::MonoTime;
use tendon_perception::{
    add_frame_channel, decode_compressed_message, decode_image_message, encode_frame_message,
    encode_image_message, encode_jpeg_message, Frame, FrameEncoding, FrameSource, McapFrameSource,
    McapFrameWriter, PerceptionError,
};

fn frames() -> Vec<Frame> {
    [(64, 48), (64, 48), (7, 5), (640, 480), (64, 48)]
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            // 30 Hz on a monotonic clock that has been up for a while.
            let t = MonoTime::from_ns(5_000_000_000_123 + i as u64 * 33_333_333);
            Frame::new_rgb8(t, w, h, noise_image(w, h, i as u64)).unwrap()
        })
        .collect()
}

fn write_recording(path: &Path, frames: &[Frame]) {
    write_recording_as(path, frames, FrameEncoding::Raw);
}

fn write_recording_as(path: &Path, frames: &[Frame], encoding: FrameEncoding) {
    let mut w =
        McapFrameWriter::create(path, "/camera/head/image_raw", "head_camera", encoding).unwrap();
    for f in frames {
        w.write(f).unwrap();
    }
    w.finish().unwrap();
}

fn read_all(source: &mut McapFrameSource) -> (Vec<Frame>, Option<PerceptionError>) {
    let mut got = Vec::new();
    loop {
        match source.next_frame() {
            Ok(Some(f)) => got.push(f),
            Ok(None) => return (got, None),
            Err(e) => return (got, Some(e)),
        }
    }
}

#[test]
fn frames_survive_a_round_trip_with_their_timestamps() {
    let dir = temp_dir("mcap-roundtrip");
    let path = dir.join("frames.mcap");
    let sent = frames();
    write_recording(&path, &sent);
    let mut source = McapFrameSource::open(&path, "/camera/head/image_raw").unwrap();
    let (got, err) = read_all(&mut source);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, sent);
    assert!(source.next_frame().unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn python_mcap_reads_our_frames_as_sensor_msgs_image() {
    let dir = temp_dir("mcap-python");
    let path = dir.join("frames.mcap");
    let sent = frames();
    write_recording(&path, &sent);
    let summary = run_reference(&["mcap-summary", path.to_str().unwrap()]);
    // Small hand parse of the JSON fields we check, to keep the crate free of serde.
    let messages: Vec<&str> = summary.split("{\"topic\"").skip(1).collect();
    assert_eq!(messages.len(), sent.len(), "{summary}");
    for (m, f) in messages.iter().zip(&sent) {
        let field = |k: &str| {
            let start = m
                .find(&format!("\"{k}\": "))
                .unwrap_or_else(|| panic!("{k} in {m}"))
                + k.len()
                + 4;
            m[start..]
                .split([',', '}'])
                .next()
                .unwrap()
                .trim()
                .trim_matches('"')
                .to_string()
        };
        assert!(m.starts_with(": \"/camera/head/image_raw\""), "{m}");
        assert_eq!(field("schema"), "sensor_msgs/msg/Image");
        assert_eq!(field("schema_encoding"), "ros2msg");
        assert_eq!(field("message_encoding"), "cdr");
        assert_eq!(field("encoding"), "rgb8");
        assert_eq!(field("frame_id"), "head_camera");
        assert_eq!(field("width"), f.width_px.to_string());
        assert_eq!(field("height"), f.height_px.to_string());
        assert_eq!(field("step"), (f.width_px * 3).to_string());
        assert_eq!(field("stamp_ns"), f.capture_time.ns.to_string());
        assert_eq!(field("log_time"), f.capture_time.ns.to_string());
        assert_eq!(field("data_sha256"), sha256_hex_via_python(&dir, &f.pixels));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The digest of `bytes`, computed by Python's hashlib (no hash crate here).
fn sha256_hex_via_python(dir: &Path, bytes: &[u8]) -> String {
    let p = dir.join("pixels.bin");
    std::fs::write(&p, bytes).unwrap();
    let out = std::process::Command::new(peer_python())
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
        ])
        .arg(&p)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_truncated_recording_delivers_the_frames_before_the_cut_then_a_clear_error() {
    let dir = temp_dir("mcap-truncated");
    let path = dir.join("frames.mcap");
    let sent = frames();
    write_recording(&path, &sent);
    let bytes = std::fs::read(&path).unwrap();
    // Where the big 4th frame's pixels sit: cut in the middle of them.
    let needle = &sent[3].pixels[..64];
    let start = bytes.windows(64).position(|w| w == needle).unwrap();
    let cut = dir.join("cut.mcap");
    std::fs::write(&cut, &bytes[..start + 1000]).unwrap();
    let mut source = McapFrameSource::open(&cut, "/camera/head/image_raw").unwrap();
    let (got, err) = read_all(&mut source);
    assert_eq!(got, sent[..3].to_vec());
    let err = err.expect("a truncated file must be an error");
    assert!(
        matches!(
            err,
            PerceptionError::McapTruncated {
                frames_delivered: 3,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("cut short") && msg.contains("cut.mcap"),
        "{msg}"
    );
    assert!(
        source.next_frame().unwrap().is_none(),
        "the source ends after the error"
    );

    // Cut after the last frame but before the summary and footer (the
    // recorder was killed before `finish`): every frame, then the error.
    let last = &sent[4].pixels;
    let end_of_last = bytes
        .windows(last.len())
        .position(|w| w == &last[..])
        .unwrap()
        + last.len();
    std::fs::write(&cut, &bytes[..end_of_last]).unwrap();
    let (got, err) = read_all(&mut McapFrameSource::open(&cut, "/camera/head/image_raw").unwrap());
    assert_eq!(got, sent);
    assert!(
        matches!(
            err,
            Some(PerceptionError::McapTruncated {
                frames_delivered: 5,
                ..
            })
        ),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_topic_schema_or_file_is_a_clear_error() {
    let dir = temp_dir("mcap-errors");
    let path = dir.join("frames.mcap");
    write_recording(&path, &frames());
    let err = read_all(&mut McapFrameSource::open(&path, "/camera/wrist").unwrap())
        .1
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("/camera/wrist") && msg.contains("/camera/head/image_raw"),
        "{msg}"
    );

    // A JSON channel under the topic we ask for.
    let json = dir.join("json.mcap");
    {
        let mut w = mcap::Writer::new(std::io::BufWriter::new(
            std::fs::File::create(&json).unwrap(),
        ))
        .unwrap();
        let schema = w.add_schema("tendon.state", "jsonschema", b"{}").unwrap();
        let ch = w
            .add_channel(schema, "/camera", "json", &BTreeMap::new())
            .unwrap();
        w.write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id: ch,
                sequence: 1,
                log_time: 1,
                publish_time: 1,
            },
            b"{}",
        )
        .unwrap();
        w.finish().unwrap();
    }
    let err = read_all(&mut McapFrameSource::open(&json, "/camera").unwrap())
        .1
        .unwrap();
    assert!(
        matches!(err, PerceptionError::McapWrongSchema { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("tendon.state"), "{err}");

    let garbage = dir.join("garbage.mcap");
    std::fs::write(&garbage, b"this is not an mcap file at all").unwrap();
    let err = read_all(&mut McapFrameSource::open(&garbage, "/camera").unwrap())
        .1
        .unwrap();
    assert!(err.to_string().contains("garbage.mcap"), "{err}");

    let err = McapFrameSource::open(&dir.join("missing.mcap"), "/camera")
        .err()
        .unwrap();
    assert!(matches!(err, PerceptionError::Io { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn image_messages_decode_bgr8_and_reject_malformed_ones() {
    let frame = Frame::new_rgb8(
        MonoTime::from_ns(1_500_000_000),
        2,
        1,
        vec![1, 2, 3, 4, 5, 6],
    )
    .unwrap();
    let mut msg = Vec::new();
    encode_image_message(&frame, "cam", &mut msg);
    assert_eq!(decode_image_message(&msg).unwrap(), frame);

    // The same message relabelled bgr8 comes back with R and B swapped.
    let at = msg.windows(4).position(|w| w == b"rgb8").unwrap();
    let mut bgr = msg.clone();
    bgr[at..at + 4].copy_from_slice(b"bgr8");
    assert_eq!(
        decode_image_message(&bgr).unwrap().pixels,
        vec![3, 2, 1, 6, 5, 4]
    );
    let mut mono = msg.clone();
    mono[at..at + 4].copy_from_slice(b"mon8");
    assert!(decode_image_message(&mono).unwrap_err().contains("mon8"));

    // Every truncation of a valid message is an error, never a panic.
    for len in 0..msg.len() {
        assert!(
            decode_image_message(&msg[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}

/// Smooth frames (gradients), which is what JPEG is for.
fn smooth_frames() -> Vec<Frame> {
    [(64, 48), (640, 480), (31, 17)]
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            let mut px = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                for x in 0..w {
                    px.extend_from_slice(&[
                        (x * 255 / w) as u8,
                        (y * 255 / h) as u8,
                        ((x + y + i * 40) % 256) as u8 / 2 + 60,
                    ]);
                }
            }
            Frame::new_rgb8(MonoTime::from_ns(1_000_000 * (i as u64 + 1)), w, h, px).unwrap()
        })
        .collect()
}

#[test]
fn jpeg_recordings_replay_close_to_the_original_and_are_smaller() {
    let dir = temp_dir("mcap-jpeg");
    let (raw, jpeg) = (dir.join("raw.mcap"), dir.join("jpeg.mcap"));
    let sent = smooth_frames();
    write_recording_as(&raw, &sent, FrameEncoding::Raw);
    write_recording_as(&jpeg, &sent, FrameEncoding::Jpeg { quality: 90 });
    let (raw_len, jpeg_len) = (
        std::fs::metadata(&raw).unwrap().len(),
        std::fs::metadata(&jpeg).unwrap().len(),
    );
    assert!(
        jpeg_len * 5 < raw_len,
        "JPEG {jpeg_len} B vs raw {raw_len} B"
    );

    let (got, err) = read_all(&mut McapFrameSource::open(&jpeg, "/camera/head/image_raw").unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), sent.len());
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(
            (g.width_px, g.height_px, g.capture_time),
            (s.width_px, s.height_px, s.capture_time)
        );
        let mean_abs_err = g
            .pixels
            .iter()
            .zip(&s.pixels)
            .map(|(a, b)| a.abs_diff(*b) as f64)
            .sum::<f64>()
            / s.pixels.len() as f64;
        assert!(
            mean_abs_err < 3.0,
            "{}x{}: mean abs error {mean_abs_err}",
            s.width_px,
            s.height_px
        );
    }

    let summary = run_reference(&["mcap-summary", jpeg.to_str().unwrap()]);
    assert_eq!(
        summary
            .matches("\"schema\": \"sensor_msgs/msg/CompressedImage\"")
            .count(),
        3,
        "{summary}"
    );
    assert_eq!(
        summary.matches("\"format\": \"jpeg\"").count(),
        3,
        "{summary}"
    );
    assert_eq!(
        summary.matches("\"jpeg_soi\": true").count(),
        3,
        "{summary}"
    );
    assert!(
        summary.contains(&format!("\"stamp_ns\": {}", sent[2].capture_time.ns)),
        "{summary}"
    );

    // A compressed message whose data is not an image is a clear error.
    let mut msg = Vec::new();
    encode_jpeg_message(&sent[0], "cam", 90, &mut msg).unwrap();
    assert_eq!(decode_compressed_message(&msg).unwrap().width_px, 64);
    let n = msg.len();
    msg[n - 200..].fill(0);
    msg.truncate(n - 100);
    assert!(decode_compressed_message(&msg).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frames_share_a_recording_with_other_streams() {
    // As the daemon's recorder would: its own writer, a JSON channel, and a
    // JPEG frame channel added with `add_frame_channel`.
    let dir = temp_dir("mcap-shared");
    let path = dir.join("session.mcap");
    let sent = smooth_frames();
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut w = mcap::Writer::new(file).unwrap();
        let schema = w
            .add_schema("tendon.lowstate", "jsonschema", b"{}")
            .unwrap();
        let state = w
            .add_channel(schema, "/lowstate", "json", &BTreeMap::new())
            .unwrap();
        let camera =
            add_frame_channel(&mut w, "/camera/head", FrameEncoding::Jpeg { quality: 85 }).unwrap();
        let mut body = Vec::new();
        for (i, f) in sent.iter().enumerate() {
            let header = |channel_id, t: u64| mcap::records::MessageHeader {
                channel_id,
                sequence: i as u32,
                log_time: t,
                publish_time: t,
            };
            w.write_to_known_channel(&header(state, f.capture_time.ns - 1), b"{\"tick\":1}")
                .unwrap();
            encode_frame_message(
                f,
                "head_camera",
                FrameEncoding::Jpeg { quality: 85 },
                &mut body,
            )
            .unwrap();
            w.write_to_known_channel(&header(camera, f.capture_time.ns), &body)
                .unwrap();
        }
        w.finish().unwrap();
    }
    let (got, err) = read_all(&mut McapFrameSource::open(&path, "/camera/head").unwrap());
    assert!(err.is_none(), "{err:?}");
    let sizes: Vec<_> = got
        .iter()
        .map(|f| (f.width_px, f.height_px, f.capture_time))
        .collect();
    let want: Vec<_> = sent
        .iter()
        .map(|f| (f.width_px, f.height_px, f.capture_time))
        .collect();
    assert_eq!(sizes, want);
    std::fs::remove_dir_all(&dir).unwrap();
}
