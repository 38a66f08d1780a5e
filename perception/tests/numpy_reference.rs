//! Patch order and the whole resize + normalise + patchify pipeline against an
//! independent numpy implementation (python/patchify_ref.py), run in a
//! subprocess. Needs TENDON_PERCEPTION_PYTHON (scripts/test.sh exports it).

mod common;

use common::*;
use tendon_perception::{Fit, Normalization, PatchLayout, PreprocessConfig, Preprocessor, RgbView};

#[test]
fn patch_order_matches_numpy_reshape_transpose_bit_for_bit() {
    let dir = temp_dir("order");
    for (h, w, c, p) in [(224, 224, 3, 16), (48, 80, 3, 16), (30, 20, 2, 5)] {
        let layout = PatchLayout::new(h, w, c, p).unwrap();
        let image: Vec<f32> = (0..layout.len())
            .map(|i| (i as f32 * 0.618).sin() * 7.0)
            .collect();
        let (input, output) = (dir.join("image.f32"), dir.join("patches.f32"));
        write_f32(&input, &image);
        run_reference(&[
            "patchify",
            "--input",
            input.to_str().unwrap(),
            "--height",
            &h.to_string(),
            "--width",
            &w.to_string(),
            "--channels",
            &c.to_string(),
            "--patch",
            &p.to_string(),
            "--output",
            output.to_str().unwrap(),
        ]);
        let numpy = read_f32(&output);
        let mut ours = vec![0.0f32; layout.len()];
        layout.patchify(&image, &mut ours).unwrap();
        assert!(
            ours.iter()
                .map(|v| v.to_bits())
                .eq(numpy.iter().map(|v| v.to_bits())),
            "patch order differs from numpy for {h}x{w}x{c} / {p}"
        );
        // numpy's patches unpatchify back to the image.
        let mut back = vec![0.0f32; layout.len()];
        layout.unpatchify(&numpy, &mut back).unwrap();
        assert_eq!(back, image);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn compare_pipeline(name: &str, width: usize, height: usize, config: PreprocessConfig) {
    let dir = temp_dir(&format!("pipeline-{name}"));
    let pixels = noise_image(width, height, width as u64 * 31 + height as u64);
    let input = dir.join("image.u8");
    std::fs::write(&input, &pixels).unwrap();
    let n = config.normalization;
    let csv = |v: [f32; 3]| format!("{},{},{}", v[0], v[1], v[2]);
    let (fit, pad) = match config.fit {
        Fit::Letterbox { pad_rgb } => (
            "letterbox",
            format!("{},{},{}", pad_rgb[0], pad_rgb[1], pad_rgb[2]),
        ),
        Fit::CenterCrop => ("crop", "0,0,0".to_string()),
    };
    let mut pre = Preprocessor::new(config).unwrap();
    let view = RgbView::new(width, height, &pixels).unwrap();
    for layout in ["patches", "hwc"] {
        let output = dir.join(format!("{layout}.f32"));
        run_reference(&[
            "resize",
            "--input",
            input.to_str().unwrap(),
            "--width",
            &width.to_string(),
            "--height",
            &height.to_string(),
            "--size",
            &config.input_size_px.to_string(),
            "--patch",
            &config.patch_px.to_string(),
            "--fit",
            fit,
            "--pad",
            &pad,
            "--mean",
            &csv(n.mean),
            "--std",
            &csv(n.std),
            "--layout",
            layout,
            "--output",
            output.to_str().unwrap(),
        ]);
        let numpy = read_f32(&output);
        let mut ours = vec![0.0f32; pre.layout().len()];
        if layout == "patches" {
            pre.patchify_into(view, &mut ours).unwrap();
        } else {
            pre.resize_normalize_into(view, &mut ours).unwrap();
        }
        assert_eq!(ours.len(), numpy.len());
        let (worst_i, worst) = ours
            .iter()
            .zip(&numpy)
            .map(|(a, b)| (a - b).abs())
            .enumerate()
            .fold((0, 0.0f32), |m, (i, e)| if e > m.1 { (i, e) } else { m });
        assert!(
            worst <= 1e-4,
            "{name} ({layout}): max abs error {worst} at {worst_i}: ours {} numpy {}",
            ours[worst_i],
            numpy[worst_i]
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vga_letterbox_siglip_matches_numpy() {
    compare_pipeline("vga-letterbox", 640, 480, PreprocessConfig::default());
}

#[test]
fn vga_center_crop_imagenet_matches_numpy() {
    compare_pipeline(
        "vga-crop",
        640,
        480,
        PreprocessConfig {
            fit: Fit::CenterCrop,
            normalization: Normalization::IMAGENET,
            ..PreprocessConfig::default()
        },
    );
}

#[test]
fn portrait_letterbox_with_grey_bars_matches_numpy() {
    compare_pipeline(
        "portrait",
        333,
        517,
        PreprocessConfig {
            fit: Fit::Letterbox {
                pad_rgb: [114, 114, 114],
            },
            normalization: Normalization::IMAGENET,
            ..PreprocessConfig::default()
        },
    );
}

#[test]
fn upscaling_a_small_frame_with_odd_sizes_matches_numpy() {
    compare_pipeline(
        "upscale",
        61,
        37,
        PreprocessConfig {
            input_size_px: 96,
            patch_px: 8,
            fit: Fit::CenterCrop,
            normalization: Normalization::SIGLIP,
        },
    );
}
