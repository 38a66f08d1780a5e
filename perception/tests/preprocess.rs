//! Properties of resize + normalise + patchify that hold without a reference.

mod common;

use common::noise_image;
use tendon_core::time::MonoTime;
use tendon_perception::{
    Fit, Frame, FrameError, Normalization, PerceptionError, PreprocessConfig, Preprocessor, RgbView,
};

fn config(fit: Fit, normalization: Normalization) -> PreprocessConfig {
    PreprocessConfig {
        fit,
        normalization,
        ..PreprocessConfig::default()
    }
}

fn normalised(v: u8, n: Normalization, c: usize) -> f32 {
    (v as f32 / 255.0 - n.mean[c]) / n.std[c]
}

fn hwc(pre: &mut Preprocessor, w: usize, h: usize, pixels: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; pre.layout().len()];
    pre.resize_normalize_into(RgbView::new(w, h, pixels).unwrap(), &mut out)
        .unwrap();
    out
}

#[test]
fn a_constant_image_stays_constant_for_every_fit_and_scale() {
    let colour = [37u8, 180, 251];
    for n in [Normalization::SIGLIP, Normalization::IMAGENET] {
        // Crop, and a letterbox whose bars have the image's own colour.
        for fit in [Fit::CenterCrop, Fit::Letterbox { pad_rgb: colour }] {
            for (w, h) in [(640, 480), (224, 224), (50, 300), (1000, 7)] {
                let pixels: Vec<u8> = colour.iter().copied().cycle().take(w * h * 3).collect();
                let mut pre = Preprocessor::new(config(fit, n)).unwrap();
                let out = hwc(&mut pre, w, h, &pixels);
                for (i, v) in out.iter().enumerate() {
                    let want = normalised(colour[i % 3], n, i % 3);
                    assert!(
                        (v - want).abs() < 1e-5,
                        "{fit:?} {w}x{h} value {i}: {v} != {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn letterbox_fills_the_bars_with_the_configured_colour() {
    let pad = [114u8, 20, 200];
    let n = Normalization::IMAGENET;
    let mut pre = Preprocessor::new(config(Fit::Letterbox { pad_rgb: pad }, n)).unwrap();
    // 640x480 -> 224x168 placed at rows 28..196: 28 rows of bar above and below.
    let white = vec![255u8; 640 * 480 * 3];
    let out = hwc(&mut pre, 640, 480, &white);
    for y in 0..224 {
        let in_bar = !(28..196).contains(&y);
        for x in 0..224 {
            for c in 0..3 {
                let v = out[(y * 224 + x) * 3 + c];
                let want = if in_bar {
                    normalised(pad[c], n, c)
                } else {
                    normalised(255, n, c)
                };
                assert!((v - want).abs() < 1e-5, "({y},{x},{c}) = {v}, want {want}");
            }
        }
    }
    // Portrait: the bars are left and right (480x640 -> 168x224 at columns 28..196).
    let white = vec![255u8; 480 * 640 * 3];
    let out = hwc(&mut pre, 480, 640, &white);
    assert!((out[(100 * 224 + 27) * 3] - normalised(pad[0], n, 0)).abs() < 1e-5);
    assert!((out[(100 * 224 + 28) * 3] - normalised(255, n, 0)).abs() < 1e-5);
    assert!((out[(100 * 224 + 196) * 3] - normalised(pad[0], n, 0)).abs() < 1e-5);
}

/// 640x480: red left band (x < 80), blue right band (x >= 560), green centre,
/// and a white top band (y < 4).
fn banded_vga() -> Vec<u8> {
    let mut px = Vec::with_capacity(640 * 480 * 3);
    for y in 0..480 {
        for x in 0..640 {
            px.extend_from_slice(match (y < 4, x) {
                (true, _) => &[255, 255, 255],
                (false, x) if x < 80 => &[255, 0, 0],
                (false, x) if x >= 560 => &[0, 0, 255],
                _ => &[0, 255, 0],
            });
        }
    }
    px
}

#[test]
fn center_crop_keeps_the_central_square_at_full_height() {
    let n = Normalization::SIGLIP;
    let mut pre = Preprocessor::new(config(Fit::CenterCrop, n)).unwrap();
    let out = hwc(&mut pre, 640, 480, &banded_vga());
    let at = |y: usize, x: usize| [0, 1, 2].map(|c| out[(y * 224 + x) * 3 + c]);
    // The crop is the central 480x480 of the frame (columns 80..560): the
    // side bands are gone except for a blend in the outermost output column.
    for y in 10..224 {
        for x in 1..223 {
            assert_eq!(
                at(y, x),
                [-1.0, 1.0, -1.0],
                "({y},{x}) should be pure green"
            );
        }
    }
    // The top band survives: no rows were cut and the scale is uniform.
    assert!(at(0, 112)[0] > 0.0, "white top band lost: {:?}", at(0, 112));

    // The letterbox of the same frame keeps both side bands.
    let mut pre = Preprocessor::new(config(Fit::Letterbox { pad_rgb: [0, 0, 0] }, n)).unwrap();
    let out = hwc(&mut pre, 640, 480, &banded_vga());
    let at = |y: usize, x: usize| [0, 1, 2].map(|c| out[(y * 224 + x) * 3 + c]);
    assert_eq!(at(112, 5), [1.0, -1.0, -1.0]);
    assert_eq!(at(112, 220), [-1.0, -1.0, 1.0]);
}

#[test]
fn identity_size_is_pure_normalisation_in_patch_order() {
    for n in [Normalization::SIGLIP, Normalization::IMAGENET] {
        let pixels = noise_image(224, 224, 7);
        let mut pre = Preprocessor::new(config(Fit::CenterCrop, n)).unwrap();
        let mut out = vec![0.0; pre.layout().len()];
        pre.patchify_into(RgbView::new(224, 224, &pixels).unwrap(), &mut out)
            .unwrap();
        let manual: Vec<f32> = pixels
            .iter()
            .enumerate()
            .map(|(i, &v)| normalised(v, n, i % 3))
            .collect();
        let mut expected = vec![0.0; manual.len()];
        pre.layout().patchify(&manual, &mut expected).unwrap();
        for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
            assert!((a - b).abs() < 1e-5, "value {i}: {a} != {b}");
        }
    }
}

#[test]
fn fused_patches_unpatchify_to_the_resized_image_exactly() {
    let pixels = noise_image(640, 480, 3);
    for fit in [Fit::CenterCrop, Fit::Letterbox { pad_rgb: [9, 8, 7] }] {
        let mut pre = Preprocessor::new(config(fit, Normalization::IMAGENET)).unwrap();
        let frame = Frame::new_rgb8(MonoTime::from_ns(123_456), 640, 480, pixels.clone()).unwrap();
        let mut patches = pre.new_output();
        pre.process(&frame, &mut patches).unwrap();
        assert_eq!(patches.capture_time, MonoTime::from_ns(123_456));
        assert_eq!((patches.n_patches(), patches.patch_len()), (196, 768));
        let resized = hwc(&mut pre, 640, 480, &pixels);
        let mut back = vec![0.0; resized.len()];
        pre.layout()
            .unpatchify(patches.as_slice(), &mut back)
            .unwrap();
        assert!(back
            .iter()
            .map(|v| v.to_bits())
            .eq(resized.iter().map(|v| v.to_bits())));
        // patch 15 is patch row 1, column 1: its first value is pixel (16, 16).
        assert_eq!(patches.patch(15)[0], resized[(16 * 224 + 16) * 3]);
    }
}

#[test]
fn changing_frame_size_replans_in_place() {
    let cfg = PreprocessConfig::default();
    let mut reused = Preprocessor::new(cfg).unwrap();
    for (w, h, seed) in [(640, 480, 1), (320, 200, 2), (640, 480, 3), (100, 100, 4)] {
        let pixels = noise_image(w, h, seed);
        let mut fresh = Preprocessor::new(cfg).unwrap();
        assert_eq!(
            hwc(&mut reused, w, h, &pixels),
            hwc(&mut fresh, w, h, &pixels),
            "{w}x{h}"
        );
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    // RgbView and Frame check their own sizes (tendon_core::frame tests).
    assert!(Frame::new_rgb8(MonoTime::ZERO, 4, 4, vec![0; 49]).is_err());

    let err = Preprocessor::new(PreprocessConfig {
        patch_px: 15,
        ..PreprocessConfig::default()
    })
    .unwrap_err();
    assert!(matches!(
        err,
        PerceptionError::PatchSizeNotDividing {
            input_px: 224,
            patch_px: 15
        }
    ));
    assert!(
        err.to_string().contains("multiple of the patch size"),
        "{err}"
    );
    assert!(Preprocessor::new(PreprocessConfig {
        input_size_px: 0,
        ..PreprocessConfig::default()
    })
    .is_err());
    assert!(Preprocessor::new(PreprocessConfig {
        patch_px: 0,
        ..PreprocessConfig::default()
    })
    .is_err());
    for std in [0.0, -1.0, f32::NAN] {
        let err = Preprocessor::new(config(
            Fit::CenterCrop,
            Normalization {
                mean: [0.5; 3],
                std: [0.5, std, 0.5],
            },
        ))
        .unwrap_err();
        assert!(
            matches!(err, PerceptionError::BadStd { channel: 1, .. }),
            "{err}"
        );
    }

    let mut pre = Preprocessor::new(PreprocessConfig::default()).unwrap();
    let pixels = vec![0u8; 8 * 8 * 3];
    let view = RgbView::new(8, 8, &pixels).unwrap();
    let mut short = vec![0.0; 196 * 768 - 1];
    let err = pre.patchify_into(view, &mut short).unwrap_err();
    assert!(
        matches!(
            err,
            PerceptionError::Frame(FrameError::BufferLength {
                expected: 150528,
                ..
            })
        ),
        "{err}"
    );
    assert!(pre.resize_normalize_into(view, &mut short).is_err());
    // A 1x1 frame is valid: it becomes a constant image.
    let one = [10u8, 20, 30];
    let mut out = vec![0.0; 196 * 768];
    pre.patchify_into(RgbView::new(1, 1, &one).unwrap(), &mut out)
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}
