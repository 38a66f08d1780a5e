//! Head-camera rendering through EGL (needs scripts/install-sim.sh's GL packages).

mod common;

use std::time::Instant;

use tendon_sim::HeadCamera;

#[test]
fn head_camera_image_is_not_blank() {
    let mut sim = common::hanging();
    sim.step_for(0.2);
    let t = Instant::now();
    let mut camera = HeadCamera::new(&sim, 640, 480).unwrap_or_else(|e| panic!("{e}"));
    let init_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let at = tendon_core::MonoTime::from_ns(200_000_000);
    let image = camera
        .render(&mut sim, at)
        .unwrap_or_else(|e| panic!("{e}"));
    let frame_s = t.elapsed().as_secs_f64();
    let variance = image.pixel_variance();
    let path = std::env::temp_dir().join("tendon_head_camera.ppm");
    std::fs::write(&path, image.to_ppm()).unwrap();
    println!(
        "head camera 640x480: init {:.0} ms, frame {:.0} ms, pixel variance {variance:.0}; wrote {}",
        init_s * 1e3,
        frame_s * 1e3,
        path.display()
    );
    assert_eq!(image.pixels.len(), 640 * 480 * 3);
    assert_eq!((image.width_px, image.height_px), (640, 480));
    assert_eq!(image.capture_time, at);
    assert!(variance > 100.0, "blank image (variance {variance})");

    // Rendering reads the world and never moves it, and a reused frame
    // gets the same picture.
    let time_before = sim.sim_time();
    let mut reused = tendon_core::Frame::black_rgb8(8, 8).unwrap();
    camera
        .render_into(&mut sim, at, &mut reused)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.sim_time(), time_before);
    assert_eq!(reused, image);
}

#[test]
fn oversized_render_is_refused() {
    let sim = common::hanging();
    let err = HeadCamera::new(&sim, 1280, 960).err().expect("must refuse");
    assert!(err.to_string().contains("at most 640x480"), "{err}");
}
