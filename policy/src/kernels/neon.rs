//! NEON kernels (aarch64, the Jetson's Cortex-A78AE) for the formats that
//! carry the bulk of a quantized model: F32, Q8_0 and Q4_0. Other formats use
//! the portable kernel. Not run on the x86-64 build machine.

#![allow(clippy::needless_range_loop)] // raw-pointer block loops read clearer indexed

use std::arch::aarch64::*;

use crate::quant::Format;

#[target_feature(enable = "neon")]
unsafe fn i8_dot32(w0: int8x16_t, w1: int8x16_t, q0: int8x16_t, q1: int8x16_t) -> i32 {
    // |w·q| ≤ 2·127² per i16 lane pair: no overflow before the widening add.
    let p0 = vmlal_s8(
        vmull_s8(vget_low_s8(w0), vget_low_s8(q0)),
        vget_high_s8(w0),
        vget_high_s8(q0),
    );
    let p1 = vmlal_s8(
        vmull_s8(vget_low_s8(w1), vget_low_s8(q1)),
        vget_high_s8(w1),
        vget_high_s8(q1),
    );
    vaddvq_s32(vpaddlq_s16(p0)) + vaddvq_s32(vpaddlq_s16(p1))
}

#[target_feature(enable = "neon")]
pub unsafe fn dot(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
) -> f32 {
    let rp = row.as_ptr();
    match format {
        Format::F32 => {
            let n = (row.len() / 4).min(x.len());
            let mut acc = vdupq_n_f32(0.0);
            let mut i = 0;
            while i + 4 <= n {
                let w = vld1q_f32(rp.add(4 * i) as *const f32);
                acc = vfmaq_f32(acc, w, vld1q_f32(x.as_ptr().add(i)));
                i += 4;
            }
            let mut s = vaddvq_f32(acc);
            if i < n {
                s += super::portable_dot(format, &row[4 * i..], tensor_scale, &x[i..], xq, xd);
            }
            s
        }
        Format::Q8_0 => {
            let mut s = 0.0f32;
            for b in 0..(row.len() / 34).min(xd.len()) {
                let bp = rp.add(b * 34);
                let dw = half::f16::from_le_bytes([*bp, *bp.add(1)]).to_f32();
                let w0 = vld1q_s8(bp.add(2) as *const i8);
                let w1 = vld1q_s8(bp.add(18) as *const i8);
                let q0 = vld1q_s8(xq.as_ptr().add(b * 32));
                let q1 = vld1q_s8(xq.as_ptr().add(b * 32 + 16));
                s += i8_dot32(w0, w1, q0, q1) as f32 * dw * xd[b];
            }
            s
        }
        Format::Q4_0 => {
            let mut s = 0.0f32;
            let m4 = vdupq_n_u8(0x0F);
            let eight = vdupq_n_s8(8);
            for b in 0..(row.len() / 18).min(xd.len()) {
                let bp = rp.add(b * 18);
                let dw = half::f16::from_le_bytes([*bp, *bp.add(1)]).to_f32();
                let bytes = vld1q_u8(bp.add(2));
                let w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(bytes, m4)), eight);
                let w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(bytes)), eight);
                let q0 = vld1q_s8(xq.as_ptr().add(b * 32));
                let q1 = vld1q_s8(xq.as_ptr().add(b * 32 + 16));
                s += i8_dot32(w0, w1, q0, q1) as f32 * dw * xd[b];
            }
            s
        }
        _ => super::portable_dot(format, row, tensor_scale, x, xq, xd),
    }
}
