//! Fused dequantize-and-dot kernels: packed weight rows against activation
//! vectors (one, or tiles of several rows × several vectors), without
//! unpacking the rows to memory. Q8_0 and Q4_0
//! rows meet activations quantized to Q8 blocks (as llama.cpp does), so the
//! inner loop is an integer dot product; every other format meets f32
//! activations. Each kernel has an AVX2/FMA/F16C form (x86-64, chosen at run
//! time), a NEON form for the formats that dominate on the Jetson (aarch64),
//! and a portable form.

use half::{bf16, f16};

use crate::quant::Format;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "aarch64")]
mod neon;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Simd {
    pub fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                return Simd::Avx2;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Simd::Neon;
            }
        }
        Simd::Portable
    }

    /// `name`, plus "+avx-vnni" where the integer kernels use it.
    pub fn describe(self) -> &'static str {
        #[cfg(target_arch = "x86_64")]
        if self == Simd::Avx2 && avx2::vnni() {
            return "avx2+avx-vnni";
        }
        self.name()
    }

    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => "avx2",
            #[cfg(target_arch = "aarch64")]
            Simd::Neon => "neon",
        }
    }
}

/// Whether rows of this format take Q8-quantized activations.
pub fn wants_q8(format: Format) -> bool {
    matches!(format, Format::Q8_0 | Format::Q4_0)
}

/// Quantizes `x` into Q8 blocks of 32 the way ggml's SIMD quantize_row_q8_0
/// does for activations: scale 127/amax, round half to even, and the
/// block scale amax/127 rounded through f16.
pub fn quantize_q8(simd: Simd, x: &[f32], qs: &mut [i8], ds: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx2 {
        // SAFETY: Simd::Avx2 is only produced after detecting avx2, fma and f16c.
        return unsafe { avx2::quantize_q8(x, qs, ds) };
    }
    let _ = simd;
    portable_quantize_q8(x, qs, ds)
}

pub fn portable_quantize_q8(x: &[f32], qs: &mut [i8], ds: &mut [f32]) {
    for ((xb, qb), d_out) in x
        .chunks_exact(32)
        .zip(qs.chunks_exact_mut(32))
        .zip(ds.iter_mut())
    {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        for (q, v) in qb.iter_mut().zip(xb) {
            *q = (v * id).round_ties_even() as i8;
        }
        *d_out = f16::from_f32(amax / 127.0).to_f32();
    }
}

/// The i32 block sums `xsum[b]` = Σ of the 32 codes of Q8 block b, which
/// turn a dot with offset weight codes (Q4_0's raw nibbles, value + 8;
/// Q8_0's bytes with the sign bit flipped, value + 128) into the dot with
/// their values: Σ (c − bias)·x = Σ c·x − bias·Σ x.
pub fn q8_block_sums(xq: &[i8], xsum: &mut [i32]) {
    for (s, q) in xsum.iter_mut().zip(xq.chunks_exact(32)) {
        *s = q.iter().map(|v| *v as i32).sum();
    }
}

/// Dot product of one packed row with an activation vector. `xq`/`xd` are
/// the Q8 form of `x` (needed only when `wants_q8(format)`).
#[inline]
pub fn dot(
    simd: Simd,
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
) -> f32 {
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Simd::Avx2 is only produced after detecting avx2, fma and f16c.
        Simd::Avx2 => unsafe { avx2::dot(format, row, tensor_scale, x, xq, xd) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: Simd::Neon is only produced after detecting neon.
        Simd::Neon => unsafe { neon::dot(format, row, tensor_scale, x, xq, xd) },
        Simd::Portable => portable_dot(format, row, tensor_scale, x, xq, xd),
    }
}

/// `out += a · v`, `v` packed in a KV cache format (F32, F16 or BF16).
#[inline]
pub fn axpy(simd: Simd, format: Format, v: &[u8], a: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx2 {
        // SAFETY: Simd::Avx2 is only produced after detecting avx2, fma and f16c.
        return unsafe { avx2::axpy(format, v, a, out) };
    }
    let _ = simd;
    portable_axpy(format, v, a, out)
}

pub fn portable_axpy(format: Format, v: &[u8], a: f32, out: &mut [f32]) {
    match format {
        Format::F32 => {
            for (o, b) in out.iter_mut().zip(v.chunks_exact(4)) {
                *o += a * f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Format::F16 => {
            for (o, b) in out.iter_mut().zip(v.chunks_exact(2)) {
                *o += a * f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        _ => {
            for (o, b) in out.iter_mut().zip(v.chunks_exact(2)) {
                *o += a * bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
    }
}

/// `out[i]` = row i of `rows` (packed, `row_bytes` each) · x: a block of a matvec.
#[allow(clippy::too_many_arguments)]
pub fn dot_rows(
    simd: Simd,
    format: Format,
    rows: &[u8],
    row_bytes: usize,
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
    out: &mut [f32],
) {
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Simd::Avx2 is only produced after detecting avx2, fma and f16c.
        Simd::Avx2 => unsafe {
            avx2::dot_rows(format, rows, row_bytes, tensor_scale, x, xq, xd, out)
        },
        _ => {
            for (o, row) in out.iter_mut().zip(rows.chunks_exact(row_bytes)) {
                *o = dot(simd, format, row, tensor_scale, x, xq, xd);
            }
        }
    }
}

/// Four activation vectors against one row (prefill, batch steps), each
/// result bit-identical to `dot`; `None` where no multi-vector kernel
/// exists, and the caller loops over `dot`.
#[inline]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub fn dot4(
    simd: Simd,
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    xs: [&[f32]; 4],
    xq: [&[i8]; 4],
    xd: [&[f32]; 4],
) -> Option<[f32; 4]> {
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Simd::Avx2 is only produced after detecting avx2, fma and f16c.
        Simd::Avx2 => Some(unsafe { avx2::dot4(format, row, tensor_scale, xs, xq, xd) }),
        _ => None,
    }
}

pub fn portable_dot(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
) -> f32 {
    match format {
        Format::F32 => row
            .chunks_exact(4)
            .zip(x)
            .map(|(b, v)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * v)
            .sum(),
        Format::F16 => row
            .chunks_exact(2)
            .zip(x)
            .map(|(b, v)| f16::from_le_bytes([b[0], b[1]]).to_f32() * v)
            .sum(),
        Format::BF16 => row
            .chunks_exact(2)
            .zip(x)
            .map(|(b, v)| bf16::from_le_bytes([b[0], b[1]]).to_f32() * v)
            .sum(),
        Format::Q8_0 => row
            .chunks_exact(34)
            .zip(xq.chunks_exact(32).zip(xd))
            .map(|(b, (q, dx))| {
                let dw = f16::from_le_bytes([b[0], b[1]]).to_f32();
                let s: i32 = b[2..]
                    .iter()
                    .zip(q)
                    .map(|(w, a)| (*w as i8) as i32 * *a as i32)
                    .sum();
                s as f32 * dw * dx
            })
            .sum(),
        Format::Q4_0 => row
            .chunks_exact(18)
            .zip(xq.chunks_exact(32).zip(xd))
            .map(|(b, (q, dx))| {
                let dw = f16::from_le_bytes([b[0], b[1]]).to_f32();
                let mut s = 0i32;
                for j in 0..16 {
                    s += ((b[2 + j] & 0x0F) as i32 - 8) * q[j] as i32;
                    s += ((b[2 + j] >> 4) as i32 - 8) * q[j + 16] as i32;
                }
                s as f32 * dw * dx
            })
            .sum(),
        Format::NF4 | Format::MXFP4 | Format::NVFP4 => {
            dequant_dot(format, row, tensor_scale, x, |w, x| {
                w.iter().zip(x).map(|(a, b)| a * b).sum()
            })
        }
    }
}

/// For the 4-bit float formats: unpack one block at a time onto the stack
/// and dot it with `dot_f32`.
#[inline]
fn dequant_dot(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    x: &[f32],
    dot_f32: impl Fn(&[f32], &[f32]) -> f32,
) -> f32 {
    let bv = format.block_values();
    let mut buf = [0.0f32; 64];
    let mut acc = 0.0;
    for (b, xb) in row
        .chunks_exact(format.block_bytes())
        .zip(x.chunks_exact(bv))
    {
        crate::quant::dequantize_row(format, b, tensor_scale, &mut buf[..bv]);
        acc += dot_f32(&buf[..bv], xb);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn every_kernel_matches_dequantize_then_dot() {
        let mut rng = SplitMix64::new(3);
        let cols = 256;
        let w = rng.normal_vec(cols * 4, 1.0);
        let x = rng.normal_vec(cols, 1.0);
        let mut xq = vec![0i8; cols];
        let mut xd = vec![0f32; cols / 32];
        quantize_q8(Simd::detect(), &x, &mut xq, &mut xd);
        let xq_f: Vec<f32> = xq
            .iter()
            .enumerate()
            .map(|(i, q)| *q as f32 * xd[i / 32])
            .collect();
        for simd in [Simd::Portable, Simd::detect()] {
            for format in Format::ALL {
                let p = crate::quant::quantize(format, &w, cols).unwrap();
                let rb = format.row_bytes(cols).unwrap();
                for r in 0..4 {
                    let row = &p.bytes[r * rb..(r + 1) * rb];
                    let mut wf = vec![0.0; cols];
                    crate::quant::dequantize_row(format, row, p.tensor_scale, &mut wf);
                    // Q8 kernels see the Q8 activation; the others see x itself.
                    let xa = if wants_q8(format) { &xq_f } else { &x };
                    let want: f64 = wf
                        .iter()
                        .zip(xa)
                        .map(|(a, b)| (*a as f64) * (*b as f64))
                        .sum();
                    let got = dot(simd, format, row, p.tensor_scale, &x, &xq, &xd) as f64;
                    let scale: f64 = wf
                        .iter()
                        .zip(xa)
                        .map(|(a, b)| (*a as f64 * *b as f64).abs())
                        .sum();
                    assert!(
                        (got - want).abs() <= 1e-5 * scale,
                        "{} {format} row {r}: {got} vs {want}",
                        simd.name()
                    );
                }
            }
        }
    }

    #[test]
    fn four_vector_kernel_equals_four_single_dots() {
        let mut rng = SplitMix64::new(8);
        let cols = 256;
        let w = rng.normal_vec(cols, 1.0);
        let xs: Vec<Vec<f32>> = (0..4).map(|_| rng.normal_vec(cols, 1.0)).collect();
        let mut q = vec![vec![0i8; cols]; 4];
        let mut d = vec![vec![0f32; cols / 32]; 4];
        for t in 0..4 {
            quantize_q8(Simd::detect(), &xs[t], &mut q[t], &mut d[t]);
        }
        for format in Format::ALL {
            let p = crate::quant::quantize(format, &w, cols).unwrap();
            let simd = Simd::detect();
            let Some(four) = dot4(
                simd,
                format,
                &p.bytes,
                p.tensor_scale,
                [&xs[0], &xs[1], &xs[2], &xs[3]],
                [&q[0], &q[1], &q[2], &q[3]],
                [&d[0], &d[1], &d[2], &d[3]],
            ) else {
                continue;
            };
            for t in 0..4 {
                let one = dot(simd, format, &p.bytes, p.tensor_scale, &xs[t], &q[t], &d[t]);
                // Prefix reuse and speculative verification rely on equality.
                assert_eq!(
                    one.to_bits(),
                    four[t].to_bits(),
                    "{format} t{t}: {one} vs {}",
                    four[t]
                );
            }
        }
    }

    #[test]
    fn q8_activation_quantization_is_within_one_code_of_the_q8_0_weight_format() {
        let mut rng = SplitMix64::new(4);
        let x = rng.normal_vec(64, 2.0);
        let mut xq = vec![0i8; 64];
        let mut xd = vec![0f32; 2];
        quantize_q8(Simd::detect(), &x, &mut xq, &mut xd);
        let p = crate::quant::quantize(Format::Q8_0, &x, 64).unwrap();
        for b in 0..2 {
            let blk = &p.bytes[b * 34..(b + 1) * 34];
            assert_eq!(f16::from_le_bytes([blk[0], blk[1]]).to_f32(), xd[b]);
            for (w, a) in blk[2..].iter().zip(&xq[b * 32..(b + 1) * 32]) {
                assert!(((*w as i8) as i32 - *a as i32).abs() <= 1);
            }
        }
        // Ties go to even: 0.5 · 127/amax with amax 127 is 0.5 → 0, 1.5 → 2.
        let mut t = [0.0f32; 32];
        t[0] = 127.0;
        t[1] = 0.5;
        t[2] = 1.5;
        quantize_q8(Simd::detect(), &t, &mut xq[..32], &mut xd[..1]);
        assert_eq!((xq[0], xq[1], xq[2]), (127, 0, 2));
    }

    #[test]
    fn simd_activation_quantization_is_bit_identical_to_the_portable_one() {
        let mut rng = SplitMix64::new(9);
        let mut x = rng.normal_vec(32 * 64, 3.0);
        // Exact ties (k + 0.5 after scaling by 127/amax = 1) and an all-zero block.
        x[0] = 127.0;
        for (k, v) in x.iter_mut().enumerate().take(32).skip(1) {
            *v = k as f32 + 0.5;
        }
        x[32..64].fill(0.0);
        let (mut q1, mut d1) = (vec![0i8; x.len()], vec![0f32; x.len() / 32]);
        let (mut q2, mut d2) = (q1.clone(), d1.clone());
        portable_quantize_q8(&x, &mut q1, &mut d1);
        quantize_q8(Simd::detect(), &x, &mut q2, &mut d2);
        assert_eq!(q1, q2);
        assert_eq!(d1, d2);
    }
}
