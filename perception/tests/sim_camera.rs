//! The MuJoCo head camera as a frame source (feature `sim`; needs
//! scripts/install-sim.sh). Run with
//! `cargo test -p tendon-perception --features sim --test sim_camera`.
#![cfg(feature = "sim")]

use tendon_perception::{FrameSource, HeadCameraSource, PreprocessConfig, Preprocessor};
use tendon_sim::{default_scene_path, G1Sim};

#[test]
fn head_camera_frames_are_stamped_with_sim_time_and_patchify() {
    let scene = default_scene_path().unwrap_or_else(|e| panic!("{e}"));
    let sim = G1Sim::load(&scene).unwrap_or_else(|e| panic!("{e}"));
    let mut source = HeadCameraSource::new(sim, 320, 240, 10.0).unwrap_or_else(|e| panic!("{e}"));
    let mut pre = Preprocessor::new(PreprocessConfig::default()).unwrap();
    let mut patches = pre.new_output();
    let mut times_ns = Vec::new();
    for _ in 0..3 {
        let frame = source
            .next_frame()
            .unwrap()
            .expect("a simulator never runs out");
        assert_eq!((frame.width_px, frame.height_px), (320, 240));
        let mean = frame.pixels.iter().map(|&v| v as f64).sum::<f64>() / frame.pixels.len() as f64;
        let variance = frame
            .pixels
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / frame.pixels.len() as f64;
        assert!(variance > 100.0, "blank render (variance {variance})");
        pre.process(&frame, &mut patches).unwrap();
        assert_eq!(patches.capture_time, frame.capture_time);
        times_ns.push(frame.capture_time.ns);
    }
    // 10 Hz: one 100 ms frame period of physics between frames (1 ms steps).
    for pair in times_ns.windows(2) {
        let dt_ns = pair[1] - pair[0];
        assert!(
            dt_ns.abs_diff(100_000_000) <= 1_000_000,
            "frame spacing {dt_ns} ns"
        );
    }
    assert!(source.sim_mut().sim_time() >= 0.299);
}
