//! AVX2 + FMA + F16C kernels (x86-64), with AVX-VNNI's dpbusd for the
//! Q8·Q8 and Q4·Q8 integer dot where the CPU has it.

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

/// One row against one activation vector (see `tile`).
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
) -> f32 {
    tile::<1, 1>(format, [row], tensor_scale, [x], [xq], [xd])[0][0]
}

/// One row against four activation vectors (see `tile`).
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot4(
    format: Format,
    row: &[u8],
    tensor_scale: f32,
    xs: [&[f32]; 4],
    xq: [&[i8]; 4],
    xd: [&[f32]; 4],
) -> [f32; 4] {
    tile::<1, 4>(format, [row], tensor_scale, xs, xq, xd)[0]
}

/// `R` rows of any format against `T` activation vectors (`xq`/`xd`: their
/// Q8 form, for Q8_0/Q4_0). Each (row, vector) result is summed in the same
/// order whatever R and T are, so the decode matvec (4×1), prefill and
/// batch steps (2×4) and single dots agree bit for bit (prefix reuse,
/// speculative verification and batching rely on it).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const R: usize, const T: usize>(
    format: Format,
    rows: [&[u8]; R],
    tensor_scale: f32,
    xs: [&[f32]; T],
    xq: [&[i8]; T],
    xd: [&[f32]; T],
) -> [[f32; T]; R] {
    match format {
        Format::Q8_0 | Format::Q4_0 => {
            let bb = format.block_bytes();
            let nb = rows.iter().fold(usize::MAX, |m, r| m.min(r.len() / bb));
            let nb = xq
                .iter()
                .zip(&xd)
                .fold(nb, |m, (q, d)| m.min(q.len() / 32).min(d.len()));
            q8_tile(
                format,
                rows.map(|r| r.as_ptr()),
                xq.map(|q| q.as_ptr()),
                xd.map(|d| d.as_ptr()),
                nb,
            )
        }
        Format::F32 => float_tile::<R, T, 0>(rows, xs),
        Format::F16 => float_tile::<R, T, 1>(rows, xs),
        Format::BF16 => float_tile::<R, T, 2>(rows, xs),
        Format::NF4 | Format::MXFP4 | Format::NVFP4 => {
            unpacked_tile(format, rows, tensor_scale, xs)
        }
    }
}

/// The integer dot of 32 unsigned by 32 signed bytes, as 8 i32 lane sums.
/// No pair of products can saturate maddubs' i16: |w| ≤ 128 and |x| ≤ 127
/// (activations are quantized to ±127), so it equals AVX-VNNI's dpbusd.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn udot_avx2(aw: __m256i, sx: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1))
}

#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
unsafe fn udot_vnni(aw: __m256i, sx: __m256i) -> __m256i {
    _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), aw, sx)
}

/// Q8_0/Q4_0 rows against Q8 activation vectors, `R` rows × `T` vectors at
/// a time: each weight block is loaded, unpacked and sign-split once for
/// the `T` vectors, each activation block loaded once for the `R` rows.
/// Each block's integer dot of a pair is summed to one i32 (exact, so it
/// does not matter which pairs share the reduction), and every (row,
/// vector) pair has one f32 lane of a single accumulator, summed over the
/// blocks in order, so a result does not depend on R or T: decode (R×1),
/// prefill and batch steps (R×4) give bit-identical dots. Reducing before
/// the float work leaves one convert and one FMA per block for up to eight
/// pairs instead of one per pair. The integer dot uses
/// llama.cpp's sign trick (maddubs needs one unsigned operand, so |w| meets
/// sign(w)·x).
macro_rules! q8_tile {
    ($name:ident, $features:literal, $udot:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name<const R: usize, const T: usize, const Q4: bool>(
            rows: [*const u8; R],
            xq: [*const i8; T],
            xd: [*const f32; T],
            nb: usize,
        ) -> [[f32; T]; R] {
            let bb = if Q4 { 18 } else { 34 };
            let m4 = _mm_set1_epi8(0x0F);
            let eight = _mm256_set1_epi8(8);
            const { assert!(R * T <= 8) };
            let mut acc = _mm256_setzero_ps();
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
                let mut v = [_mm256_setzero_si256(); 8];
                for t in 0..T {
                    let q = _mm256_loadu_si256(xq[t].add(b * 32) as *const __m256i);
                    for r in 0..R {
                        v[r * T + t] = $udot(aw[r], _mm256_sign_epi8(q, w[r]));
                    }
                }
                let s = if R == 2 && T == 4 {
                    let dx = _mm_set_ps(*xd[3].add(b), *xd[2].add(b), *xd[1].add(b), *xd[0].add(b));
                    let dwv = _mm256_set_m128(_mm_set1_ps(dw[1]), _mm_set1_ps(dw[0]));
                    _mm256_mul_ps(dwv, _mm256_set_m128(dx, dx))
                } else {
                    let mut dwl = [0.0f32; 8];
                    let mut dxl = [0.0f32; 8];
                    for t in 0..T {
                        for r in 0..R {
                            dwl[r * T + t] = dw[r];
                            dxl[r * T + t] = *xd[t].add(b);
                        }
                    }
                    _mm256_mul_ps(_mm256_loadu_ps(dwl.as_ptr()), _mm256_loadu_ps(dxl.as_ptr()))
                };
                acc = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(lane_sums8(v)), acc);
            }
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            let mut out = [[0.0f32; T]; R];
            for r in 0..R {
                for t in 0..T {
                    out[r][t] = lanes[r * T + t];
                }
            }
            out
        }
    };
}

/// The eight i32 lanes of each of `v[0..8]` summed: lane p of the result
/// is the sum of `v[p]` (exact integers, so the grouping does not matter).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lane_sums8(v: [__m256i; 8]) -> __m256i {
    let g1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    let g2 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    _mm256_add_epi32(
        _mm256_permute2x128_si256(g1, g2, 0x20),
        _mm256_permute2x128_si256(g1, g2, 0x31),
    )
}

q8_tile!(q8_tile_avx2, "avx2,fma,f16c", udot_avx2);
// Measured on the 110M Q8_0 GGUF, one thread: prefill about 10 % faster
// than maddubs + madd.
q8_tile!(q8_tile_vnni, "avx2,fma,f16c,avxvnni", udot_vnni);

/// `q8_tile_*` for a Q8_0 or Q4_0 row, with AVX-VNNI's dpbusd where the
/// CPU has it (the same integers in one instruction instead of two).
#[inline]
unsafe fn q8_tile<const R: usize, const T: usize>(
    format: Format,
    rows: [*const u8; R],
    xq: [*const i8; T],
    xd: [*const f32; T],
    nb: usize,
) -> [[f32; T]; R] {
    match (format == Format::Q4_0, is_x86_feature_detected!("avxvnni")) {
        (true, true) => q8_tile_vnni::<R, T, true>(rows, xq, xd, nb),
        (true, false) => q8_tile_avx2::<R, T, true>(rows, xq, xd, nb),
        (false, true) => q8_tile_vnni::<R, T, false>(rows, xq, xd, nb),
        (false, false) => q8_tile_avx2::<R, T, false>(rows, xq, xd, nb),
    }
}

/// F32 (`E` = 0), F16 (1) or BF16 (2) rows against f32 vectors: each
/// 8-value piece of a row is loaded and widened once for the `T` vectors,
/// each piece of a vector once for the `R` rows; one accumulator per pair.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn float_tile<const R: usize, const T: usize, const E: u8>(
    rows: [&[u8]; R],
    xs: [&[f32]; T],
) -> [[f32; T]; R] {
    let es = if E == 0 { 4 } else { 2 };
    let n = rows.iter().fold(usize::MAX, |m, r| m.min(r.len() / es));
    let n = xs.iter().fold(n, |m, x| m.min(x.len()));
    let load = |p: *const u8| -> __m256 {
        match E {
            0 => _mm256_loadu_ps(p as *const f32),
            1 => _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
            _ => {
                let h = _mm_loadu_si128(p as *const __m128i);
                _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
            }
        }
    };
    let mut acc = [[_mm256_setzero_ps(); T]; R];
    let mut i = 0;
    while i + 8 <= n {
        let mut w = [_mm256_setzero_ps(); R];
        for r in 0..R {
            w[r] = load(rows[r].as_ptr().add(es * i));
        }
        for t in 0..T {
            let x = _mm256_loadu_ps(xs[t].as_ptr().add(i));
            for r in 0..R {
                acc[r][t] = _mm256_fmadd_ps(w[r], x, acc[r][t]);
            }
        }
        i += 8;
    }
    let format = [Format::F32, Format::F16, Format::BF16][E as usize];
    let mut out = [[0.0f32; T]; R];
    for r in 0..R {
        for t in 0..T {
            out[r][t] = hsum(acc[r][t]);
            if i < n {
                out[r][t] += super::portable_dot(
                    format,
                    &rows[r][es * i..es * n],
                    1.0,
                    &xs[t][i..n],
                    &[],
                    &[],
                );
            }
        }
    }
    out
}

/// NF4, MXFP4 or NVFP4 rows against f32 vectors: each block is unpacked
/// onto the stack once for the `T` vectors.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpacked_tile<const R: usize, const T: usize>(
    format: Format,
    rows: [&[u8]; R],
    tensor_scale: f32,
    xs: [&[f32]; T],
) -> [[f32; T]; R] {
    let (bv, bb) = (format.block_values(), format.block_bytes());
    let mut buf = [0.0f32; 64];
    let mut out = [[0.0f32; T]; R];
    for r in 0..R {
        for (b, blk) in rows[r].chunks_exact(bb).enumerate() {
            crate::quant::dequantize_row(format, blk, tensor_scale, &mut buf[..bv]);
            for t in 0..T {
                if let Some(x) = xs[t].get(b * bv..(b + 1) * bv) {
                    out[r][t] += dot_f32(&buf[..bv], x);
                }
            }
        }
    }
    out
}

/// Widest Q4_0 row (in blocks of 32) that `matmul_rows` widens on the stack.
const WIDE_BLOCKS: usize = 256;

/// Q4_0 blocks → Q8_0 blocks holding the same values (nibble − 8).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn widen_q4_0(src: &[u8], dst: &mut [u8]) {
    let m4 = _mm_set1_epi8(0x0F);
    let eight = _mm256_set1_epi8(8);
    for (b, d) in src.chunks_exact(18).zip(dst.chunks_exact_mut(34)) {
        let bytes = _mm_loadu_si128(b.as_ptr().add(2) as *const __m128i);
        let lo = _mm_and_si128(bytes, m4);
        let hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), m4);
        let w = _mm256_sub_epi8(_mm256_set_m128i(hi, lo), eight);
        d[0] = b[0];
        d[1] = b[1];
        _mm256_storeu_si256(d.as_mut_ptr().add(2) as *mut __m256i, w);
    }
}

/// Asks for `bytes[from..to]` (clamped) to be brought into cache: the next
/// tile's rows, so their loads overlap this tile's arithmetic. Decode reads
/// every weight once, and the hardware prefetcher alone left it waiting on
/// memory (Q8_0 decode 40 → 57 tok/s on one thread with this).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn prefetch_rows(bytes: &[u8], from: usize, to: usize) {
    for off in (from.min(bytes.len())..to.min(bytes.len())).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(off) as *const i8);
    }
}

/// `out[i] = row(first_row + i) · x` for consecutive rows: the decode
/// matvec, four rows at a time.
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
    let row = |k: usize| &rows[k * row_bytes..(k + 1) * row_bytes];
    let mut k = 0;
    while k + 4 <= n_rows {
        prefetch_rows(rows, (k + 4) * row_bytes, (k + 8) * row_bytes);
        let v = tile::<4, 1>(
            format,
            [row(k), row(k + 1), row(k + 2), row(k + 3)],
            tensor_scale,
            [x],
            [xq],
            [xd],
        );
        for r in 0..4 {
            out[k + r] = v[r][0];
        }
        k += 4;
    }
    for k in k..n_rows {
        out[k] = tile::<1, 1>(format, [row(k)], tensor_scale, [x], [xq], [xd])[0][0];
    }
}

/// Prefill and batch steps: rows `first_row..first_row + k` (packed in
/// `rows`) against `n` activation vectors; `out[i·out_stride + r]`. Tiles
/// of 2 rows × 4 vectors: each weight piece is read once per 4 vectors.
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
    let row = |k: usize| &rows[k * row_bytes..(k + 1) * row_bytes];
    let x = |i: usize| &xs[i * cols..(i + 1) * cols];
    let q = |i: usize| {
        if q8 {
            &xq[i * cols..(i + 1) * cols]
        } else {
            &[][..]
        }
    };
    let d = |i: usize| {
        if q8 {
            &xd[i * nb..(i + 1) * nb]
        } else {
            &[][..]
        }
    };
    let mut k = 0;
    if q8 {
        // Straight to the Q8 tile with raw pointers: the slices and bounds
        // of the generic path measurably slowed this, the hottest loop.
        assert!(
            xq.len() >= n * cols && xd.len() >= n * nb && row_bytes >= nb * format.block_bytes()
        );
        let rp = |k: usize| rows.as_ptr().add(k * row_bytes);
        let qp = |i: usize| xq.as_ptr().add(i * cols);
        let dp = |i: usize| xd.as_ptr().add(i * nb);
        // Q4_0 rows met by many vectors are widened once to Q8_0 blocks on
        // the stack (same scale, nibble − 8 as i8): the tile then skips the
        // nibble unpacking it would otherwise repeat for every group of four
        // vectors, and its integers, hence its results, are unchanged.
        let widen = format == Format::Q4_0 && n >= 8 && nb <= WIDE_BLOCKS;
        let mut wide = [0u8; 2 * WIDE_BLOCKS * 34];
        let wide_ptr = wide.as_mut_ptr();
        let tile_format = if widen { Format::Q8_0 } else { format };
        let rp = |k: usize| {
            if widen {
                wide_ptr.add((k & 1) * WIDE_BLOCKS * 34) as *const u8
            } else {
                rp(k)
            }
        };
        while k + 2 <= n_rows {
            prefetch_rows(rows, (k + 2) * row_bytes, (k + 4) * row_bytes);
            if widen {
                for r in 0..2 {
                    let src = &rows[(k + r) * row_bytes..(k + r + 1) * row_bytes];
                    // SAFETY: r < 2, so this is one half of `wide`, not
                    // otherwise borrowed while the tile is not running.
                    let dst = std::slice::from_raw_parts_mut(
                        wide_ptr.add(r * WIDE_BLOCKS * 34),
                        WIDE_BLOCKS * 34,
                    );
                    widen_q4_0(src, dst);
                }
            }
            let mut i = 0;
            while i + 4 <= n {
                let v = q8_tile::<2, 4>(
                    tile_format,
                    [rp(k), rp(k + 1)],
                    [qp(i), qp(i + 1), qp(i + 2), qp(i + 3)],
                    [dp(i), dp(i + 1), dp(i + 2), dp(i + 3)],
                    nb,
                );
                for (r, v) in v.iter().enumerate() {
                    for (t, v) in v.iter().enumerate() {
                        *out.add((i + t) * out_stride + first_row + k + r) = *v;
                    }
                }
                i += 4;
            }
            for i in i..n {
                let v = q8_tile::<2, 1>(tile_format, [rp(k), rp(k + 1)], [qp(i)], [dp(i)], nb);
                *out.add(i * out_stride + first_row + k) = v[0][0];
                *out.add(i * out_stride + first_row + k + 1) = v[1][0];
            }
            k += 2;
        }
    }
    // Rows in blocks: a group of four activation vectors stays in L1 while
    // the block's rows pass over it. Streaming a whole chunk's f32
    // activations (128 tokens × d_ff = 1 MB) from L2 once per row pair kept
    // the F16 tile waiting on L2 (F16 prefill +12–16 % with this; the same
    // blocking of the Q8 path above measured no better).
    const ROW_BLOCK: usize = 16;
    while k < n_rows {
        let k_end = (k + ROW_BLOCK).min(n_rows);
        prefetch_rows(rows, k_end * row_bytes, (k_end + 2) * row_bytes);
        let mut i = 0;
        while i + 4 <= n {
            let (xs4, q4, d4) = (
                [x(i), x(i + 1), x(i + 2), x(i + 3)],
                [q(i), q(i + 1), q(i + 2), q(i + 3)],
                [d(i), d(i + 1), d(i + 2), d(i + 3)],
            );
            let mut kk = k;
            while kk < k_end {
                let pair = kk + 2 <= k_end;
                let v: &[[f32; 4]] = &if pair {
                    tile::<2, 4>(format, [row(kk), row(kk + 1)], tensor_scale, xs4, q4, d4)
                } else {
                    let [v] = tile::<1, 4>(format, [row(kk)], tensor_scale, xs4, q4, d4);
                    [v, [0.0; 4]]
                }[..1 + pair as usize];
                for (r, v) in v.iter().enumerate() {
                    for (t, v) in v.iter().enumerate() {
                        *out.add((i + t) * out_stride + first_row + kk + r) = *v;
                    }
                }
                kk += 1 + pair as usize;
            }
            i += 4;
        }
        for i in i..n {
            let mut kk = k;
            while kk < k_end {
                if kk + 2 <= k_end {
                    let v = tile::<2, 1>(
                        format,
                        [row(kk), row(kk + 1)],
                        tensor_scale,
                        [x(i)],
                        [q(i)],
                        [d(i)],
                    );
                    *out.add(i * out_stride + first_row + kk) = v[0][0];
                    *out.add(i * out_stride + first_row + kk + 1) = v[1][0];
                    kk += 2;
                } else {
                    let v = tile::<1, 1>(format, [row(kk)], tensor_scale, [x(i)], [q(i)], [d(i)]);
                    *out.add(i * out_stride + first_row + kk) = v[0][0];
                    kk += 1;
                }
            }
        }
        k = k_end;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn vnni_and_avx2_integer_dots_are_bit_identical_even_at_the_extremes() {
        if !(is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
            && is_x86_feature_detected!("avxvnni"))
        {
            return;
        }
        let mut rng = SplitMix64::new(12);
        let cols = 256;
        let nb = cols / 32;
        let w = rng.normal_vec(2 * cols, 1.0);
        let mut q = crate::quant::quantize(Format::Q8_0, &w, cols)
            .unwrap()
            .bytes;
        // Extreme codes: -128 (outside what our quantizer writes, legal in a
        // GGUF) and 127 against ±127 activations, the largest maddubs pair sums.
        for b in 0..2 * nb {
            for j in 0..32 {
                q[b * 34 + 2 + j] = if j % 2 == 0 { 0x80 } else { 0x7f };
            }
        }
        let x = rng.normal_vec(4 * cols, 1.0);
        let mut xq = vec![0i8; 4 * cols];
        let mut xd = vec![0f32; 4 * nb];
        super::super::quantize_q8(super::super::Simd::Avx2, &x, &mut xq, &mut xd);
        for v in xq.iter_mut().step_by(3) {
            *v = if *v >= 0 { 127 } else { -127 };
        }
        let rows = [q.as_ptr(), q.as_ptr().wrapping_add(nb * 34)];
        let xs = [0, 1, 2, 3].map(|t| xq.as_ptr().wrapping_add(t * cols));
        let ds = [0, 1, 2, 3].map(|t| xd.as_ptr().wrapping_add(t * nb));
        // SAFETY: the features were detected above; pointers cover nb blocks.
        let (a, v) = unsafe {
            (
                q8_tile_avx2::<2, 4, false>(rows, xs, ds, nb),
                q8_tile_vnni::<2, 4, false>(rows, xs, ds, nb),
            )
        };
        for r in 0..2 {
            for t in 0..4 {
                assert_eq!(a[r][t].to_bits(), v[r][t].to_bits(), "row {r} vector {t}");
            }
        }
    }
}
