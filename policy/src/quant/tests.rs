use half::f16;

use super::minifloat::{e2m1_decode, e4m3_decode, e8m0_decode};
use super::*;
use crate::rng::SplitMix64;

fn round_trip(format: Format, x: &[f32], cols: usize) -> (Packed, Vec<f32>) {
    let p = quantize(format, x, cols).unwrap();
    let y = dequantize(format, &p.bytes, p.tensor_scale, x.len());
    (p, y)
}

#[test]
fn f16_every_code_decodes_per_ieee_binary16() {
    for code in 0u32..=0xFFFF {
        let s = if code & 0x8000 != 0 { -1.0f64 } else { 1.0 };
        let e = ((code >> 10) & 0x1F) as i32;
        let m = (code & 0x3FF) as f64;
        let expect = match e {
            0 => s * m / 1024.0 * 2f64.powi(-14),
            31 if m == 0.0 => s * f64::INFINITY,
            31 => f64::NAN,
            _ => s * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
        };
        let y = dequantize(Format::F16, &(code as u16).to_le_bytes(), 1.0, 1)[0] as f64;
        if expect.is_nan() {
            assert!(y.is_nan());
        } else {
            assert_eq!(y, expect, "code {code:#x}");
        }
    }
}

#[test]
fn bf16_every_code_is_the_top_half_of_an_f32() {
    for code in 0u32..=0xFFFF {
        let y = dequantize(Format::BF16, &(code as u16).to_le_bytes(), 1.0, 1)[0];
        let expect = f32::from_bits(code << 16);
        assert!(y.to_bits() == expect.to_bits() || (y.is_nan() && expect.is_nan()));
    }
    // Round to nearest even on pack: 1 + 2^-8 is the midpoint of 1 and 1 + 2^-7.
    let p = quantize(
        Format::BF16,
        &[1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8)],
        1,
    )
    .unwrap();
    assert_eq!(p.bytes, vec![0x80, 0x3F, 0x82, 0x3F]);
}

#[test]
fn f32_and_f16_pack_are_little_endian_ieee() {
    let p = quantize(Format::F32, &[1.5, -2.0], 2).unwrap();
    assert_eq!(
        p.bytes,
        [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
    );
    let p = quantize(Format::F16, &[1.0, -2.0, 65504.0], 3).unwrap();
    assert_eq!(p.bytes, vec![0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B]);
}

fn ramp() -> Vec<f32> {
    (0..32).map(|i| i as f32 - 16.0).collect()
}

#[test]
fn q8_0_known_vector_matches_ggml_reference_layout() {
    let x = ramp();
    let p = quantize(Format::Q8_0, &x, 32).unwrap();
    assert_eq!(p.bytes.len(), 34);
    assert_eq!(&p.bytes[..2], &f16::from_f32(16.0 / 127.0).to_le_bytes());
    // q = roundf(x · 127/16), half away from zero.
    for (i, &q) in p.bytes[2..].iter().enumerate() {
        let want = ((i as f32 - 16.0) * 127.0 / 16.0).round() as i8;
        assert_eq!(q as i8, want, "value {i}");
    }
    assert_eq!(p.bytes[2] as i8, -127);
    assert_eq!(p.bytes[2 + 31] as i8, 119);
}

#[test]
fn q4_0_known_vector_matches_ggml_reference_layout() {
    let x = ramp();
    let p = quantize(Format::Q4_0, &x, 32).unwrap();
    assert_eq!(p.bytes.len(), 18);
    // The largest magnitude is −16, so d = −16 / −8 = 2.
    assert_eq!(&p.bytes[..2], &[0x00, 0x40]);
    let code = |i: usize| ((i as f32 - 16.0) * 0.5 + 8.5).min(15.0) as u8;
    for j in 0..16 {
        assert_eq!(p.bytes[2 + j], code(j) | (code(j + 16) << 4), "byte {j}");
    }
    assert_eq!(
        p.bytes[2], 0x80,
        "value 0 → code 0 (low), value 16 → code 8 (high)"
    );
    let y = dequantize(Format::Q4_0, &p.bytes, 1.0, 32);
    assert_eq!(y[0], -16.0);
    assert_eq!(y[31], 14.0, "15 · 2 − 16: the top code saturates");
}

#[test]
fn nf4_levels_round_trip_exactly_and_pack_like_q4_0() {
    let amax = 3.0f32;
    let x: Vec<f32> = (0..64).map(|i| NF4_LEVELS[i % 16] * amax).collect();
    let (p, y) = round_trip(Format::NF4, &x, 64);
    assert_eq!(&p.bytes[..4], &amax.to_le_bytes());
    for j in 0..32 {
        assert_eq!(
            p.bytes[4 + j],
            (j % 16) as u8 | (((j + 32) % 16) as u8) << 4
        );
    }
    assert_eq!(x, y);
    // Levels are sorted, symmetric in range and hold an exact zero.
    assert!(NF4_LEVELS.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        (NF4_LEVELS[0], NF4_LEVELS[7], NF4_LEVELS[15]),
        (-1.0, 0.0, 1.0)
    );
}

#[test]
fn mxfp4_scale_is_floor_log2_amax_minus_2_and_values_are_e2m1() {
    let x: Vec<f32> = (0..32).map(|i| e2m1_decode(i as u8 % 16) * 2.0).collect();
    let (p, y) = round_trip(Format::MXFP4, &x, 32);
    assert_eq!(
        p.bytes[0], 128,
        "amax 12 → floor(log2 12) − 2 = 1 → E8M0 128"
    );
    assert_eq!(
        x.iter().map(|v| v.abs()).collect::<Vec<_>>(),
        y.iter().map(|v| v.abs()).collect::<Vec<_>>()
    );
    assert_eq!(
        x,
        y.iter()
            .map(|v| if *v == 0.0 { 0.0 } else { *v })
            .collect::<Vec<_>>()
    );
    for (j, &yj) in y.iter().take(16).enumerate() {
        let lo = p.bytes[1 + j] & 0xF;
        assert_eq!(e2m1_decode(lo) * e8m0_decode(p.bytes[0]), yj);
    }
}

#[test]
fn nvfp4_uses_e4m3_block_scale_times_fp32_tensor_scale() {
    let x: Vec<f32> = (0..32)
        .map(|i| e2m1_decode(i as u8 % 8) * if i < 16 { 1.0 } else { 0.25 })
        .collect();
    let (p, y) = round_trip(Format::NVFP4, &x, 32);
    assert_eq!(p.tensor_scale, 6.0 / NVFP4_TENSOR_DIVISOR);
    assert_eq!(p.bytes.len(), 18);
    assert_eq!(
        p.bytes[0], 0x7E,
        "first block's scale is the E4M3 maximum, 448"
    );
    assert_eq!(e4m3_decode(p.bytes[9]), 112.0, "second block: 448 / 4");
    assert_eq!(x, y);
}

#[test]
fn round_trip_error_stays_within_each_formats_bound() {
    let mut rng = SplitMix64::new(7);
    let cols = 128;
    let x = rng.normal_vec(cols * 16, 1.0);
    // (format, max relative RMS error on Gaussian data)
    for (format, rel_rms) in [
        (Format::F32, 0.0),
        (Format::F16, 1e-3),
        (Format::BF16, 4e-3),
        (Format::Q8_0, 0.01),
        (Format::Q4_0, 0.12),
        (Format::NF4, 0.11),
        (Format::MXFP4, 0.16),
        (Format::NVFP4, 0.11),
    ] {
        let (p, y) = round_trip(format, &x, cols);
        let bv = format.block_values();
        for (b, (xb, yb)) in x.chunks(bv).zip(y.chunks(bv)).enumerate() {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let bytes = &p.bytes[b * format.block_bytes()..];
            // Per-element bound from the format's definition.
            let bound = match format {
                Format::F32 => 0.0,
                Format::F16 => amax * 2f32.powi(-11),
                Format::BF16 => amax * 2f32.powi(-8),
                // Half a step, plus the f16 rounding of d (≤ 2^-11 relative) over 127 steps.
                Format::Q8_0 => amax / 127.0 * (0.5 + 127.0 * 2f32.powi(-11)) * 1.0001,
                // One full step: the top code saturates when the extreme is negative.
                Format::Q4_0 => amax / 8.0 * (1.0 + 16.0 * 2f32.powi(-11)),
                Format::NF4 => {
                    let gap = NF4_LEVELS
                        .windows(2)
                        .fold(0.0f32, |m, w| m.max(w[1] - w[0]));
                    amax * gap / 2.0 * 1.0001
                }
                // Elements in [4, 8)·X round or saturate to at most 2·X away.
                Format::MXFP4 => 2.0 * e8m0_decode(bytes[0]),
                Format::NVFP4 => e4m3_decode(bytes[0]) * p.tensor_scale * 1.0001,
            };
            for (a, b) in xb.iter().zip(yb) {
                assert!((a - b).abs() <= bound, "{format}: |{a} − {b}| > {bound}");
            }
        }
        let err: f32 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>();
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>();
        let rel = (err / norm).sqrt();
        assert!(
            rel <= rel_rms,
            "{format}: relative RMS error {rel} > {rel_rms}"
        );
    }
}

#[test]
fn zero_blocks_decode_to_zero() {
    for format in Format::ALL {
        let bv = format.block_values().max(32);
        let x = vec![0.0f32; bv * 2];
        let (_, y) = round_trip(format, &x, bv);
        assert!(y.iter().all(|v| *v == 0.0), "{format}");
    }
}

#[test]
fn misaligned_rows_are_a_clear_error() {
    let err = quantize(Format::Q4_0, &[0.0; 40], 40).unwrap_err();
    assert!(err.to_string().contains("multiple of 32"), "{err}");
}
