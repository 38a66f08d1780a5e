//! AVX2 + FMA + F16C kernels (x86-64).

//!
//! Safety, for every function here: the CPU has AVX2, FMA and F16C
//! (`Simd::detect` returned `Simd::Avx2`), and slices hold the lengths
//! their row and block counts imply.
#![allow(clippy::needless_range_loop)] // raw-pointer block loops read clearer indexed
#![allow(clippy::missing_safety_doc)] // stated once above

use std::arch::x86_64::*;

use crate::quant::Format;

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_scalar(lo: u8, hi: u8) -> f32 {
    let bits = u16::from_le_bytes([lo, hi]) as i32;
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    let n = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut a0 = _mm256_setzero_ps();
    let mut a1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wp.add(i)), _mm256_loadu_ps(xp.add(i)), a0);
        a1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(wp.add(i + 8)),
            _mm256_loadu_ps(xp.add(i + 8)),
            a1,
        );
        i += 16;
    }
    let mut s = hsum(_mm256_add_ps(a0, a1));
    while i < n {
        s += w[i] * x[i];
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
) -> f32 {
    let rp = row.as_ptr();
    let xp = x.as_ptr();
    match format {
        Format::F32 => {
            let n = (row.len() / 4).min(x.len());
            let mut a0 = _mm256_setzero_ps();
            let mut a1 = _mm256_setzero_ps();
            let mut i = 0;
            while i + 16 <= n {
                let w0 = _mm256_loadu_ps(rp.add(4 * i) as *const f32);
                let w1 = _mm256_loadu_ps(rp.add(4 * i + 32) as *const f32);
                a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp.add(i)), a0);
                a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp.add(i + 8)), a1);
                i += 16;
            }
            let mut s = hsum(_mm256_add_ps(a0, a1));
            while i < n {
                let b = &row[4 * i..4 * i + 4];
                s += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * x[i];
                i += 1;
            }
            s
        }
        Format::F16 | Format::BF16 => {
            let n = (row.len() / 2).min(x.len());
            let mut a0 = _mm256_setzero_ps();
            let mut a1 = _mm256_setzero_ps();
            let load = |p: *const u8| -> __m256 {
                let h = _mm_loadu_si128(p as *const __m128i);
                if format == Format::F16 {
                    _mm256_cvtph_ps(h)
                } else {
                    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                }
            };
            let mut i = 0;
            while i + 16 <= n {
                a0 = _mm256_fmadd_ps(load(rp.add(2 * i)), _mm256_loadu_ps(xp.add(i)), a0);
                a1 = _mm256_fmadd_ps(load(rp.add(2 * i + 16)), _mm256_loadu_ps(xp.add(i + 8)), a1);
                i += 16;
            }
            let mut s = hsum(_mm256_add_ps(a0, a1));
            if i < n {
                s += super::portable_dot(format, &row[2 * i..], tensor_scale, &x[i..], xq, xd);
            }
            s
        }
        Format::Q8_0 | Format::Q4_0 => {
            let nb = (row.len() / format.block_bytes())
                .min(xd.len())
                .min(xq.len() / 32);
            q8_tile::<1, 1>(format, [rp], [xq.as_ptr()], [xd.as_ptr()], nb)[0][0]
        }
        Format::NF4 | Format::MXFP4 | Format::NVFP4 => {
            super::dequant_dot(format, row, tensor_scale, x, |w, x| dot_f32(w, x))
        }
    }
}

/// The integer dot of 32 unsigned by 32 signed bytes, as 8 i32 lane sums.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn udot(aw: __m256i, sx: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1))
}

/// Q8_0/Q4_0 rows against Q8 activation vectors, `R` rows × `T` vectors at
/// a time: each weight block is loaded, unpacked and sign-split once for
/// the `T` vectors, each activation block loaded once for the `R` rows.
/// Every (row, vector) pair has one accumulator, summed over the blocks in
/// order, so a result does not depend on R or T: decode (R×1), prefill and
/// batch steps (R×4) give bit-identical dots. The integer dot uses
/// llama.cpp's sign trick (maddubs needs one unsigned operand, so |w| meets
/// sign(w)·x).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_tile_q<const R: usize, const T: usize, const Q4: bool>(
    rows: [*const u8; R],
    xq: [*const i8; T],
    xd: [*const f32; T],
    nb: usize,
) -> [[f32; T]; R] {
    let bb = if Q4 { 18 } else { 34 };
    let m4 = _mm_set1_epi8(0x0F);
    let eight = _mm256_set1_epi8(8);
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    for b in 0..nb {
        let mut w = [_mm256_setzero_si256(); R];
        let mut aw = [_mm256_setzero_si256(); R];
        let mut dw = [0.0f32; R];
        for r in 0..R {
            let bp = rows[r].add(b * bb);
            dw[r] = f16_scalar(*bp, *bp.add(1));
            w[r] = if Q4 {
                let bytes = _mm_loadu_si128(bp.add(2) as *const __m128i);
                let lo = _mm_and_si128(bytes, m4);
                let hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), m4);
                _mm256_sub_epi8(_mm256_set_m128i(hi, lo), eight)
            } else {
                _mm256_loadu_si256(bp.add(2) as *const __m256i)
            };
            aw[r] = _mm256_sign_epi8(w[r], w[r]);
        }
        for t in 0..T {
            let q = _mm256_loadu_si256(xq[t].add(b * 32) as *const __m256i);
            let dx = *xd[t].add(b);
            for r in 0..R {
                let p = _mm256_cvtepi32_ps(udot(aw[r], _mm256_sign_epi8(q, w[r])));
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), p, acc[r][t]);
            }
        }
    }
    let mut out = [[0.0f32; T]; R];
    for r in 0..R {
        for t in 0..T {
            out[r][t] = hsum(acc[r][t]);
        }
    }
    out
}

/// `q8_tile_q` for a Q8_0 or Q4_0 row.
#[inline]
unsafe fn q8_tile<const R: usize, const T: usize>(
    format: Format,
    rows: [*const u8; R],
    xq: [*const i8; T],
    xd: [*const f32; T],
    nb: usize,
) -> [[f32; T]; R] {
    if format == Format::Q4_0 {
        q8_tile_q::<R, T, true>(rows, xq, xd, nb)
    } else {
        q8_tile_q::<R, T, false>(rows, xq, xd, nb)
    }
}

/// One F32, F16 or BF16 row against four f32 activation vectors: each
/// 8-value piece of the row is loaded and widened once for all four. Same
/// accumulators and order as `dot`, so bit-identical to four `dot` calls.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot4_float(format: Format, row: &[u8], xs: [&[f32]; 4]) -> [f32; 4] {
    let es = if format == Format::F32 { 4 } else { 2 };
    let n = xs.iter().fold(row.len() / es, |m, x| m.min(x.len()));
    let rp = row.as_ptr();
    let load = |p: *const u8| -> __m256 {
        match format {
            Format::F32 => _mm256_loadu_ps(p as *const f32),
            Format::F16 => _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
            _ => {
                let h = _mm_loadu_si128(p as *const __m128i);
                _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
            }
        }
    };
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    let mut i = 0;
    while i + 16 <= n {
        let w0 = load(rp.add(es * i));
        let w1 = load(rp.add(es * (i + 8)));
        for t in 0..4 {
            let xp = xs[t].as_ptr();
            acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp.add(i)), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp.add(i + 8)), acc[t][1]);
        }
        i += 16;
    }
    let mut out = [0.0f32; 4];
    for t in 0..4 {
        let mut s = hsum(_mm256_add_ps(acc[t][0], acc[t][1]));
        if format == Format::F32 {
            for j in i..n {
                let b = &row[4 * j..4 * j + 4];
                s += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * xs[t][j];
            }
        } else if i < n {
            s += super::portable_dot(format, &row[2 * i..], 1.0, &xs[t][i..], &[], &[]);
        }
        out[t] = s;
    }
    out
}

/// One NF4, MXFP4 or NVFP4 row against four f32 activation vectors: each
/// block is unpacked once for all four (same order as `dot`).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot4_unpacked(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    xs: [&[f32]; 4],
) -> [f32; 4] {
    let (bv, bb) = (format.block_values(), format.block_bytes());
    let mut buf = [0.0f32; 64];
    let mut acc = [0.0f32; 4];
    for (b, blk) in row.chunks_exact(bb).enumerate() {
        crate::quant::dequantize_row(format, blk, tensor_scale, &mut buf[..bv]);
        for t in 0..4 {
            acc[t] += dot_f32(&buf[..bv], &xs[t][b * bv..(b + 1) * bv]);
        }
    }
    acc
}

/// One row of any format against four activation vectors, bit-identical
/// to four `dot` calls: the prefill and batch tile.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot4(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    xs: [&[f32]; 4],
    xq: [&[i8]; 4],
    xd: [&[f32]; 4],
) -> [f32; 4] {
    match format {
        Format::Q8_0 | Format::Q4_0 => {
            let nb = xd
                .iter()
                .fold(row.len() / format.block_bytes(), |m, d| m.min(d.len()));
            q8_tile::<1, 4>(
                format,
                [row.as_ptr()],
                xq.map(|q| q.as_ptr()),
                xd.map(|d| d.as_ptr()),
                nb,
            )[0]
        }
        Format::F32 | Format::F16 | Format::BF16 => dot4_float(format, row, xs),
        Format::NF4 | Format::MXFP4 | Format::NVFP4 => dot4_unpacked(format, row, tensor_scale, xs),
    }
}

/// `out[i] = row(first_row + i) · x` for consecutive rows: the decode matvec.
/// The loop sits inside the target-feature region so `dot` inlines into it.
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn dot_rows(
    format: Format,
    rows: &[u8],
    row_bytes: usize,
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
    out: &mut [f32],
) {
    let n_rows = out.len().min(rows.len() / row_bytes.max(1));
    let mut k = 0;
    if matches!(format, Format::Q8_0 | Format::Q4_0) {
        let nb = (row_bytes / format.block_bytes())
            .min(xd.len())
            .min(xq.len() / 32);
        let rp = |k: usize| rows.as_ptr().add(k * row_bytes);
        while k + 4 <= n_rows {
            let v = q8_tile::<4, 1>(
                format,
                [rp(k), rp(k + 1), rp(k + 2), rp(k + 3)],
                [xq.as_ptr()],
                [xd.as_ptr()],
                nb,
            );
            for r in 0..4 {
                out[k + r] = v[r][0];
            }
            k += 4;
        }
    }
    for k in k..n_rows {
        out[k] = dot(
            format,
            &rows[k * row_bytes..(k + 1) * row_bytes],
            tensor_scale,
            x,
            xq,
            xd,
        );
    }
}

/// Prefill and batch steps: rows `first_row..first_row + k` (packed in
/// `rows`) against `n` activation vectors; `out[i·out_stride + r]`. Every
/// format takes four vectors per weight load.
///
/// # Safety
/// AVX2/FMA/F16C present; `out` valid for `n·out_stride` writes, and no other
/// thread writes the same rows.
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_rows(
    format: Format,
    rows: &[u8],
    row_bytes: usize,
    first_row: usize,
    tensor_scale: f32,
    xs: &[f32],
    xq: &[i8],
    xd: &[f32],
    cols: usize,
    n: usize,
    out: *mut f32,
    out_stride: usize,
) {
    let q8 = matches!(format, Format::Q8_0 | Format::Q4_0);
    let nb = cols / 32;
    let n_rows = rows.len() / row_bytes;
    let mut k0 = 0;
    if q8 {
        assert!(xq.len() >= n * cols && xd.len() >= n * nb);
        let rp = |k: usize| rows.as_ptr().add(k * row_bytes);
        let qp = |i: usize| xq.as_ptr().add(i * cols);
        let dp = |i: usize| xd.as_ptr().add(i * nb);
        while k0 + 2 <= n_rows {
            let mut i = 0;
            while i + 4 <= n {
                let v = q8_tile::<2, 4>(
                    format,
                    [rp(k0), rp(k0 + 1)],
                    [qp(i), qp(i + 1), qp(i + 2), qp(i + 3)],
                    [dp(i), dp(i + 1), dp(i + 2), dp(i + 3)],
                    nb,
                );
                for (r, v) in v.iter().enumerate() {
                    for (t, v) in v.iter().enumerate() {
                        *out.add((i + t) * out_stride + first_row + k0 + r) = *v;
                    }
                }
                i += 4;
            }
            for i in i..n {
                let v = q8_tile::<2, 1>(format, [rp(k0), rp(k0 + 1)], [qp(i)], [dp(i)], nb);
                *out.add(i * out_stride + first_row + k0) = v[0][0];
                *out.add(i * out_stride + first_row + k0 + 1) = v[1][0];
            }
            k0 += 2;
        }
    }
    for (k, row) in rows.chunks_exact(row_bytes).enumerate().skip(k0) {
        let r = first_row + k;
        let mut i = 0;
        while i + 4 <= n {
            let x = |t: usize| &xs[(i + t) * cols..(i + t + 1) * cols];
            let (qs, ds): ([&[i8]; 4], [&[f32]; 4]) = if q8 {
                let q = |t: usize| &xq[(i + t) * cols..(i + t + 1) * cols];
                let d = |t: usize| &xd[(i + t) * nb..(i + t + 1) * nb];
                ([q(0), q(1), q(2), q(3)], [d(0), d(1), d(2), d(3)])
            } else {
                ([&[]; 4], [&[]; 4])
            };
            let v = dot4(format, row, tensor_scale, [x(0), x(1), x(2), x(3)], qs, ds);
            for (t, v) in v.into_iter().enumerate() {
                *out.add((i + t) * out_stride + r) = v;
            }
            i += 4;
        }
        for i in i..n {
            let (q, d) = if q8 {
                (&xq[i * cols..(i + 1) * cols], &xd[i * nb..(i + 1) * nb])
            } else {
                (&[][..], &[][..])
            };
            *out.add(i * out_stride + r) = dot(
                format,
                row,
                tensor_scale,
                &xs[i * cols..(i + 1) * cols],
                q,
                d,
            );
        }
    }
}

/// `quantize_q8` with AVX2, ggml's SIMD quantize_row_q8_0: the same
/// multiply and round-half-to-even, so bit-identical to the scalar form.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8(x: &[f32], qs: &mut [i8], ds: &mut [f32]) {
    let nb = (x.len() / 32).min(qs.len() / 32).min(ds.len());
    let sign = _mm256_set1_ps(-0.0);
    let perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for b in 0..nb {
        let xp = x.as_ptr().add(b * 32);
        let v = [0, 8, 16, 24].map(|o| _mm256_loadu_ps(xp.add(o)));
        let m = v.iter().fold(_mm256_setzero_ps(), |m, v| {
            _mm256_max_ps(m, _mm256_andnot_ps(sign, *v))
        });
        let amax = {
            let h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)))
        };
        let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
        let i = v.map(|v| {
            _mm256_cvtps_epi32(_mm256_round_ps(
                _mm256_mul_ps(v, id),
                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
            ))
        });
        let p = _mm256_packs_epi16(
            _mm256_packs_epi32(i[0], i[1]),
            _mm256_packs_epi32(i[2], i[3]),
        );
        let p = _mm256_permutevar8x32_epi32(p, perm);
        _mm256_storeu_si256(qs.as_mut_ptr().add(b * 32) as *mut __m256i, p);
        ds[b] = half::f16::from_f32(amax / 127.0).to_f32();
    }
}

/// `out += a · v`, `v` a K/V cache row in F32, F16 or BF16 (attention's
/// weighted sum of values).
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn axpy(format: Format, v: &[u8], a: f32, out: &mut [f32]) {
    let es = if format == Format::F32 { 4 } else { 2 };
    let n = (v.len() / es).min(out.len());
    let (vp, op) = (v.as_ptr(), out.as_mut_ptr());
    let av = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        let w = match format {
            Format::F32 => _mm256_loadu_ps(vp.add(4 * i) as *const f32),
            Format::F16 => _mm256_cvtph_ps(_mm_loadu_si128(vp.add(2 * i) as *const __m128i)),
            _ => {
                let h = _mm_loadu_si128(vp.add(2 * i) as *const __m128i);
                _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
            }
        };
        _mm256_storeu_ps(
            op.add(i),
            _mm256_fmadd_ps(av, w, _mm256_loadu_ps(op.add(i))),
        );
        i += 8;
    }
    if i < n {
        super::portable_axpy(format, &v[es * i..], a, &mut out[i..]);
    }
}
