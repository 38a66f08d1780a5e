//! Pack and unpack one block of each format (layouts in `quant/mod.rs`).

use half::{bf16, f16};

use super::minifloat::{
    e2m1_decode, e2m1_encode, e2m1_encode_ties_to_smaller, e4m3_decode, e4m3_encode_positive,
    e8m0_decode, E4M3_MAX,
};
use super::Format;

/// The 16 NormalFloat-4 levels of QLoRA (Dettmers et al. 2023, as shipped in
/// bitsandbytes): quantiles of N(0,1) normalised to [−1, 1], with an exact 0.
pub const NF4_LEVELS: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// NVFP4's tensor scale maps the tensor's absmax onto the largest product of
/// an E4M3 block scale and an E2M1 value (448 · 6), NVIDIA's recipe.
pub const NVFP4_TENSOR_DIVISOR: f32 = E4M3_MAX * 6.0;

pub(super) fn nvfp4_tensor_scale(values: &[f32]) -> f32 {
    let amax = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if amax == 0.0 || !amax.is_finite() {
        1.0
    } else {
        amax / NVFP4_TENSOR_DIVISOR
    }
}

fn absmax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Packs 4-bit codes in the Q4_0 order: byte j = code[j] | code[j + n/2] << 4.
fn pack_nibbles(codes: &[u8], out: &mut [u8]) {
    let half = codes.len() / 2;
    for j in 0..half {
        out[j] = (codes[j] & 0x0F) | (codes[j + half] << 4);
    }
}

#[inline]
fn nibble(bytes: &[u8], i: usize, half: usize) -> u8 {
    if i < half {
        bytes[i] & 0x0F
    } else {
        bytes[i - half] >> 4
    }
}

pub(super) fn quantize_block(format: Format, x: &[f32], out: &mut [u8], tensor_scale: f32) {
    match format {
        Format::F32 => out.copy_from_slice(&x[0].to_le_bytes()),
        Format::F16 => out.copy_from_slice(&f16::from_f32(x[0]).to_le_bytes()),
        Format::BF16 => out.copy_from_slice(&bf16::from_f32(x[0]).to_le_bytes()),
        Format::Q8_0 => {
            // ggml quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d).
            let amax = absmax(x);
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
            for (o, v) in out[2..].iter_mut().zip(x) {
                *o = (v * id).round() as i8 as u8;
            }
        }
        Format::Q4_0 => {
            // ggml quantize_row_q4_0_ref: d = (signed value of largest |x|)/−8,
            // q = min(15, trunc(x/d + 8.5)).
            let mut amax = 0.0f32;
            let mut max = 0.0f32;
            for &v in x {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = max / -8.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
            let mut codes = [0u8; 32];
            for (c, v) in codes.iter_mut().zip(x) {
                *c = ((v * id + 8.5) as i8).min(15) as u8;
            }
            pack_nibbles(&codes, &mut out[2..]);
        }
        Format::NF4 => {
            let amax = absmax(x);
            out[..4].copy_from_slice(&amax.to_le_bytes());
            let inv = if amax != 0.0 { 1.0 / amax } else { 0.0 };
            let mut codes = [0u8; 64];
            for (c, v) in codes.iter_mut().zip(x) {
                *c = nearest_nf4(v * inv);
            }
            pack_nibbles(&codes, &mut out[4..]);
        }
        Format::MXFP4 => {
            // OCP MX v1.0 §6.3: shared exponent = floor(log2(amax)) − emax(E2M1 = 2).
            let amax = absmax(x);
            let e = if amax > 0.0 && amax.is_finite() {
                (amax.log2().floor() as i32 - 2).clamp(-127, 127) + 127
            } else {
                0
            } as u8;
            out[0] = e;
            let inv = 1.0 / e8m0_decode(e);
            let mut codes = [0u8; 32];
            for (c, v) in codes.iter_mut().zip(x) {
                *c = if amax > 0.0 {
                    e2m1_encode_ties_to_smaller(v * inv)
                } else {
                    0
                };
            }
            pack_nibbles(&codes, &mut out[1..]);
        }
        Format::NVFP4 => {
            let amax = absmax(x);
            let s = e4m3_encode_positive(amax / 6.0 / tensor_scale);
            out[0] = s;
            let scale = e4m3_decode(s) * tensor_scale;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let mut codes = [0u8; 16];
            for (c, v) in codes.iter_mut().zip(x) {
                *c = e2m1_encode(v * inv);
            }
            pack_nibbles(&codes, &mut out[1..]);
        }
    }
}

fn nearest_nf4(x: f32) -> u8 {
    let mut best = 0u8;
    let mut best_err = f32::INFINITY;
    for (i, &l) in NF4_LEVELS.iter().enumerate() {
        let err = (x - l).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

pub(super) fn dequantize_block(format: Format, b: &[u8], out: &mut [f32], tensor_scale: f32) {
    match format {
        Format::F32 => out[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        Format::F16 => out[0] = f16::from_le_bytes([b[0], b[1]]).to_f32(),
        Format::BF16 => out[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        Format::Q8_0 => {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            for (o, &q) in out.iter_mut().zip(&b[2..34]) {
                *o = d * (q as i8) as f32;
            }
        }
        Format::Q4_0 => {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            for (i, o) in out.iter_mut().enumerate() {
                *o = d * (nibble(&b[2..], i, 16) as i32 - 8) as f32;
            }
        }
        Format::NF4 => {
            let amax = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            for (i, o) in out.iter_mut().enumerate() {
                *o = amax * NF4_LEVELS[nibble(&b[4..], i, 32) as usize];
            }
        }
        Format::MXFP4 => {
            let scale = e8m0_decode(b[0]);
            for (i, o) in out.iter_mut().enumerate() {
                *o = scale * e2m1_decode(nibble(&b[1..], i, 16));
            }
        }
        Format::NVFP4 => {
            let scale = e4m3_decode(b[0]) * tensor_scale;
            for (i, o) in out.iter_mut().enumerate() {
                *o = scale * e2m1_decode(nibble(&b[1..], i, 8));
            }
        }
    }
}
