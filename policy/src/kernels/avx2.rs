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
/// (activations are quantized to ±127).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn udot_avx2(aw: __m256i, sx: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1))
}

/// Q8_0/Q4_0 rows against Q8 activation vectors, `R` rows × `T` vectors at
/// a time: each weight block is loaded and unpacked once for the `T`
/// vectors, each activation block loaded once for the `R` rows. Each
/// block's integer dot of a pair is summed to one i32 (exact, so it does
/// not matter which pairs share the reduction), and every (row, vector)
/// pair has one f32 lane of a single accumulator, summed over the blocks in
/// order, so a result does not depend on R or T: decode (R×1), prefill and
/// batch steps (R×4) give bit-identical dots. Reducing before the float
/// work leaves one convert and one FMA per block for up to eight pairs
/// instead of one per pair.
///
/// The integer dot needs one unsigned operand. Q4_0 rows (and Q8_0 rows
/// with AVX-VNNI) use offset codes, unsigned: raw nibbles (value + 8) or
/// bytes with the sign bit flipped (value + 128); each vector's lanes then
/// start from −bias · Σ x of their 4 codes, computed once for the R rows,
/// so every lane ends holding the dot of the values. Q8_0 without VNNI
/// keeps llama.cpp's sign trick (|w| meets sign(w)·x), since maddubs would
/// saturate on codes up to 255.
macro_rules! q8_tile {
    ($name:ident, $features:literal, $vnni:literal) => {
        #[target_feature(enable = $features)]
        unsafe fn $name<const R: usize, const T: usize, const Q4: bool>(
            rows: [*const u8; R],
            xq: [*const i8; T],
            xd: [*const f32; T],
            nb: usize,
        ) -> [[f32; T]; R] {
            let bb = if Q4 { 18 } else { 34 };
            let offset = Q4 || $vnni;
            let m4 = _mm_set1_epi8(0x0F);
            // 8 or 128 as unsigned bytes; 128 is also the sign bit to flip.
            let bias = _mm256_set1_epi8(if Q4 { 8 } else { -128 });
            let ones = _mm256_set1_epi16(1);
            // Unsigned × signed bytes, 4 products per i32 lane, onto `acc`.
            // Without VNNI only Q4_0's codes (≤ 15) or the bias 8 meet
            // maddubs here: pair sums within ±3810, no saturation.
            let udot_acc = |acc: __m256i, u: __m256i, x: __m256i| -> __m256i {
                if $vnni {
                    _mm256_dpbusd_avx_epi32(acc, u, x)
                } else {
                    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), ones))
                }
            };
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
                        _mm256_set_m128i(hi, lo)
                    } else {
                        let raw = _mm256_loadu_si256(bp.add(2) as *const __m256i);
                        if offset {
                            _mm256_xor_si256(raw, bias)
                        } else {
                            raw
                        }
                    };
                    if !offset {
                        aw[r] = _mm256_sign_epi8(w[r], w[r]);
                    }
                }
                let mut v = [_mm256_setzero_si256(); 8];
                for t in 0..T {
                    let q = _mm256_loadu_si256(xq[t].add(b * 32) as *const __m256i);
                    if offset {
                        let zero = _mm256_setzero_si256();
                        let start = _mm256_sub_epi32(zero, udot_acc(zero, bias, q));
                        for r in 0..R {
                            v[r * T + t] = udot_acc(start, w[r], q);
                        }
                    } else {
                        for r in 0..R {
                            v[r * T + t] = udot_avx2(aw[r], _mm256_sign_epi8(q, w[r]));
                        }
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

q8_tile!(q8_tile_avx2, "avx2,fma,f16c", false);
// Measured on the 110M Q8_0 GGUF, one thread: prefill about 10 % faster
// than maddubs + madd (before the interleaved prefill tiles).
q8_tile!(q8_tile_vnni, "avx2,fma,f16c,avxvnni", true);

/// Whether the integer kernels use AVX-VNNI: the CPU has it and
/// `TENDON_POLICY_NO_VNNI` is unset (or 0). Setting it compares us fairly
/// with engines built without VNNI, and runs the AVX2-only integer paths on
/// a VNNI machine (`scripts/test.sh` runs the policy tests both ways).
pub fn vnni() -> bool {
    static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| {
        is_x86_feature_detected!("avxvnni")
            && std::env::var_os("TENDON_POLICY_NO_VNNI").is_none_or(|v| v == "0")
    })
}

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
    match (format == Format::Q4_0, vnni()) {
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

/// Widest row (in blocks of 32) that `matmul_rows` interleaves on the stack.
const WIDE_BLOCKS: usize = 256;

/// Rows per interleaved group (`interleave_group`).
const GROUP_ROWS: usize = 8;
/// Bytes of one block of an interleaved group: the 8 rows' scales as f32,
/// then 8 vectors of 32 unsigned codes.
const GROUP_BLOCK: usize = 4 * GROUP_ROWS + 8 * 32;

/// Interleaves 8 Q4_0 or Q8_0 rows of `nb` blocks into `dst` (`nb ·
/// GROUP_BLOCK` bytes) for `group_tile_*`: per block, the rows' scales as
/// f32, then 8 vectors in which i32 lane r holds 4 consecutive codes of row
/// r as u8, value + `group_bias(format)` (Q4_0's raw nibbles; Q8_0's bytes
/// with the sign bit flipped); vector g holds elements 4g..4g+4 of the
/// block. This is the layout that lets one integer multiply-add serve 8
/// rows at once (and llama.cpp's reason to repack Q4_0 rows 8-interleaved).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn interleave_group(format: Format, rows: [*const u8; GROUP_ROWS], nb: usize, dst: *mut u8) {
    let q4 = format == Format::Q4_0;
    let bb = format.block_bytes();
    let m4 = _mm256_set1_epi8(0x0F);
    let flip = _mm256_set1_epi8(-128);
    // 4×4 transpose of i32 lanes: in[r] lane c → out[c] lane r.
    let transpose = |v: [__m128i; 4]| -> [__m128i; 4] {
        let a = _mm_unpacklo_epi32(v[0], v[1]);
        let b = _mm_unpackhi_epi32(v[0], v[1]);
        let c = _mm_unpacklo_epi32(v[2], v[3]);
        let d = _mm_unpackhi_epi32(v[2], v[3]);
        [
            _mm_unpacklo_epi64(a, c),
            _mm_unpackhi_epi64(a, c),
            _mm_unpacklo_epi64(b, d),
            _mm_unpackhi_epi64(b, d),
        ]
    };
    // The 16 bytes at `off` of each row, as 4 vectors of 4 bytes × 8 rows.
    let gather = |blk: &[*const u8; GROUP_ROWS], off: usize| -> [__m256i; 4] {
        let q = blk.map(|bp| _mm_loadu_si128(bp.add(off) as *const __m128i));
        let lo = transpose([q[0], q[1], q[2], q[3]]);
        let hi = transpose([q[4], q[5], q[6], q[7]]);
        [0, 1, 2, 3].map(|c| _mm256_set_m128i(hi[c], lo[c]))
    };
    for b in 0..nb {
        let blk = rows.map(|r| r.add(b * bb));
        let out = dst.add(b * GROUP_BLOCK);
        for (r, bp) in blk.iter().enumerate() {
            *(out as *mut f32).add(r) = f16_scalar(**bp, *bp.add(1));
        }
        let vec_at = |g: usize| out.add(4 * GROUP_ROWS + 32 * g) as *mut __m256i;
        let first = gather(&blk, 2);
        if q4 {
            // Byte j holds element j (low nibble) and j + 16 (high).
            for c in 0..4 {
                _mm256_storeu_si256(vec_at(c), _mm256_and_si256(first[c], m4));
                let high = _mm256_and_si256(_mm256_srli_epi16(first[c], 4), m4);
                _mm256_storeu_si256(vec_at(4 + c), high);
            }
        } else {
            let second = gather(&blk, 18);
            for c in 0..4 {
                _mm256_storeu_si256(vec_at(c), _mm256_xor_si256(first[c], flip));
                _mm256_storeu_si256(vec_at(4 + c), _mm256_xor_si256(second[c], flip));
            }
        }
    }
}

/// The offset of `interleave_group`'s unsigned codes: code = value + bias.
const fn group_bias(q4: bool) -> i32 {
    if q4 {
        8
    } else {
        128
    }
}

/// One interleaved group (8 rows, `interleave_group`) against `T` Q8
/// activation vectors: result t has lane r = row r · vector t. Per block,
/// each weight vector meets a broadcast of the same 4 activation codes in
/// every lane, so the integer dots land one row per lane with no
/// horizontal sums, and Σ value·x = Σ code·x − bias·Σ x (`xsum`, exact in
/// i32). The float work is then the `q8_tile` sequence (one scale product,
/// one convert and one FMA per block, blocks in order), which keeps results
/// bit-identical to every other path.
macro_rules! group_tile {
    ($name:ident, $features:literal, $vnni:literal) => {
        #[target_feature(enable = $features)]
        unsafe fn $name<const T: usize, const Q4: bool>(input: GroupInput<T>) -> [__m256; T] {
            let GroupInput {
                group,
                xq,
                xd,
                xsum,
                nb,
            } = input;
            // maddubs' i16 pair sums would saturate on Q8_0's codes (≤ 255).
            const { assert!($vnni || Q4) };
            let bias = group_bias(Q4);
            let mut acc = [_mm256_setzero_ps(); T];
            for b in 0..nb {
                let gp = group.add(b * GROUP_BLOCK);
                // Two integer sums per vector (even and odd g) halve the
                // dependency chain of the multiply-adds.
                let mut s = [[_mm256_setzero_si256(); 2]; T];
                for g in 0..8 {
                    let w = _mm256_loadu_si256(gp.add(4 * GROUP_ROWS + 32 * g) as *const __m256i);
                    for t in 0..T {
                        let x = _mm256_set1_epi32(
                            (xq[t].add(32 * b + 4 * g) as *const i32).read_unaligned(),
                        );
                        s[t][g & 1] = if $vnni {
                            _mm256_dpbusd_avx_epi32(s[t][g & 1], w, x)
                        } else {
                            // Nibbles ≤ 15 and codes within ±127: each i16
                            // pair sum is within ±3810, four of them ±15240.
                            _mm256_add_epi16(s[t][g & 1], _mm256_maddubs_epi16(w, x))
                        };
                    }
                }
                let dw = _mm256_loadu_ps(gp as *const f32);
                for t in 0..T {
                    let dot = if $vnni {
                        _mm256_add_epi32(s[t][0], s[t][1])
                    } else {
                        _mm256_madd_epi16(_mm256_add_epi16(s[t][0], s[t][1]), _mm256_set1_epi16(1))
                    };
                    let dot = _mm256_sub_epi32(dot, _mm256_set1_epi32(bias * *xsum[t].add(b)));
                    let scale = _mm256_mul_ps(dw, _mm256_set1_ps(*xd[t].add(b)));
                    acc[t] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(dot), acc[t]);
                }
            }
            acc
        }
    };
}

group_tile!(group_tile_avx2, "avx2,fma,f16c", false);
group_tile!(group_tile_vnni, "avx2,fma,f16c,avxvnni", true);

/// Whether `matmul_rows` interleaves rows of `format` (`group_tile_*`):
/// Q4_0 always, Q8_0 only with AVX-VNNI's dpbusd.
fn groups(format: Format, vnni: bool) -> bool {
    format == Format::Q4_0 || (format == Format::Q8_0 && vnni)
}

/// What one `group_tile_*` call reads: an interleaved group of `nb`
/// blocks, and `T` activation vectors' Q8 codes, scales and block sums.
#[derive(Clone, Copy)]
struct GroupInput<const T: usize> {
    group: *const u8,
    xq: [*const i8; T],
    xd: [*const f32; T],
    xsum: [*const i32; T],
    nb: usize,
}

impl<const T: usize> GroupInput<T> {
    /// `group` against vectors `i..i + T` of activations `cols` codes apart.
    fn at(group: *const u8, xq: &[i8], xd: &[f32], xsum: &[i32], cols: usize, i: usize) -> Self {
        let nb = cols / 32;
        GroupInput {
            group,
            xq: std::array::from_fn(|t| xq.as_ptr().wrapping_add((i + t) * cols)),
            xd: std::array::from_fn(|t| xd.as_ptr().wrapping_add((i + t) * nb)),
            xsum: std::array::from_fn(|t| xsum.as_ptr().wrapping_add((i + t) * nb)),
            nb,
        }
    }
}

#[inline]
unsafe fn group_tile<const T: usize>(
    format: Format,
    vnni: bool,
    input: GroupInput<T>,
) -> [__m256; T] {
    match (format == Format::Q4_0, vnni) {
        (true, true) => group_tile_vnni::<T, true>(input),
        (true, false) => group_tile_avx2::<T, true>(input),
        (false, true) => group_tile_vnni::<T, false>(input),
        (false, false) => unreachable!("`groups` excludes Q8_0 without AVX-VNNI"),
    }
}

/// A stack buffer on a cache-line boundary, so the tiles' 32-byte loads
/// from it never straddle two lines wherever address-space randomisation
/// puts the stack (an A/B against an unaligned buffer showed no difference
/// beyond this VM's noise; it is kept as the layout the loads assume).
#[repr(C, align(64))]
struct CacheAligned<T>(T);

/// f32 values `matmul_rows` widens F16/BF16 rows into on the stack (64 KiB).
const WIDE_FLOATS: usize = 16 * 1024;

/// `cols` F16 or BF16 values of `src` → f32 at `dst`, exactly.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn widen_floats(format: Format, src: &[u8], dst: *mut f32, cols: usize) {
    let mut i = 0;
    while i + 8 <= cols {
        let h = _mm_loadu_si128(src.as_ptr().add(2 * i) as *const __m128i);
        let v = if format == Format::F16 {
            _mm256_cvtph_ps(h)
        } else {
            _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
        };
        _mm256_storeu_ps(dst.add(i), v);
        i += 8;
    }
    for i in i..cols {
        let b = [src[2 * i], src[2 * i + 1]];
        *dst.add(i) = if format == Format::F16 {
            half::f16::from_le_bytes(b).to_f32()
        } else {
            half::bf16::from_le_bytes(b).to_f32()
        };
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
    let mut k = 0;
    // Eight rows per pass: the integer tile's lane reduction then sums 8
    // useful (row, vector) pairs instead of 4.
    while k + 8 <= n_rows {
        rows_pass::<8>(format, rows, row_bytes, k, tensor_scale, x, xq, xd, out);
        k += 8;
    }
    while k + 4 <= n_rows {
        rows_pass::<4>(format, rows, row_bytes, k, tensor_scale, x, xq, xd, out);
        k += 4;
    }
    for k in k..n_rows {
        rows_pass::<1>(format, rows, row_bytes, k, tensor_scale, x, xq, xd, out);
    }
}

/// `out[k..k + R]` = rows `k..k + R` · x through one `R × 1` tile, with the
/// next `R` rows prefetched.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_pass<const R: usize>(
    format: Format,
    rows: &[u8],
    row_bytes: usize,
    k: usize,
    tensor_scale: f32,
    x: &[f32],
    xq: &[i8],
    xd: &[f32],
    out: &mut [f32],
) {
    prefetch_rows(rows, (k + R) * row_bytes, (k + 2 * R) * row_bytes);
    let row = |r: usize| &rows[(k + r) * row_bytes..(k + r + 1) * row_bytes];
    let v = tile::<R, 1>(
        format,
        std::array::from_fn(row),
        tensor_scale,
        [x],
        [xq],
        [xd],
    );
    for r in 0..R {
        out[k + r] = v[r][0];
    }
}

/// Prefill and batch steps: rows `first_row..first_row + k` (packed in
/// `rows`) against `n` activation vectors; `out[i·out_stride + r]`. From 8
/// vectors on, Q4_0 (and Q8_0 with AVX-VNNI) rows are interleaved 8 at a
/// time (`group_tile_*`: 8 rows × 4 vectors per pass), F16/BF16 rows are
/// widened to f32 and run 3 rows × 4 vectors; otherwise tiles of 2 rows ×
/// 4 vectors. `xsum`: the activations' Q8 block sums (`q8_block_sums`).
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
    xsum: &[i32],
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
        // Rows met by many vectors: interleave 8 rows at a time on the stack
        // (`interleave_group`), once for all n vectors.
        let vnni = vnni();
        if groups(format, vnni) && n >= 8 && nb <= WIDE_BLOCKS {
            assert!(xsum.len() >= n * nb);
            let mut group =
                std::mem::MaybeUninit::<CacheAligned<[u8; WIDE_BLOCKS * GROUP_BLOCK]>>::uninit();
            let gp = group.as_mut_ptr() as *mut u8;
            while k + GROUP_ROWS <= n_rows {
                prefetch_rows(
                    rows,
                    (k + GROUP_ROWS) * row_bytes,
                    (k + 2 * GROUP_ROWS) * row_bytes,
                );
                interleave_group(format, std::array::from_fn(|r| rp(k + r)), nb, gp);
                let mut i = 0;
                while i + 4 <= n {
                    let v =
                        group_tile(format, vnni, GroupInput::<4>::at(gp, xq, xd, xsum, cols, i));
                    for (t, v) in v.iter().enumerate() {
                        _mm256_storeu_ps(out.add((i + t) * out_stride + first_row + k), *v);
                    }
                    i += 4;
                }
                for i in i..n {
                    let [v] =
                        group_tile(format, vnni, GroupInput::<1>::at(gp, xq, xd, xsum, cols, i));
                    _mm256_storeu_ps(out.add(i * out_stride + first_row + k), v);
                }
                k += GROUP_ROWS;
            }
        }
        while k + 2 <= n_rows {
            prefetch_rows(rows, (k + 2) * row_bytes, (k + 4) * row_bytes);
            let mut i = 0;
            while i + 4 <= n {
                let v = q8_tile::<2, 4>(
                    format,
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
                let v = q8_tile::<2, 1>(format, [rp(k), rp(k + 1)], [qp(i)], [dp(i)], nb);
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
    // F16/BF16 rows met by several vectors are widened to f32 once per
    // block, on the stack: the tile then loads instead of converting for
    // every group of vectors, and its products, hence its results, are
    // unchanged (the conversions are exact).
    let widen = matches!(format, Format::F16 | Format::BF16) && n >= 4 && 2 * cols <= WIDE_FLOATS;
    let block_rows = if widen {
        // Whole triples for the 3-row tile.
        ((WIDE_FLOATS / cols.max(1)).min(ROW_BLOCK) / 3 * 3).max(2)
    } else {
        ROW_BLOCK
    };
    let mut wide = std::mem::MaybeUninit::<CacheAligned<[f32; WIDE_FLOATS]>>::uninit();
    let wide_ptr = wide.as_mut_ptr() as *mut f32;
    let tile_format = if widen { Format::F32 } else { format };
    while k < n_rows {
        let k_end = (k + block_rows).min(n_rows);
        prefetch_rows(rows, k_end * row_bytes, (k_end + 2) * row_bytes);
        if widen {
            for kk in k..k_end {
                widen_floats(format, row(kk), wide_ptr.add((kk - k) * cols), cols);
            }
        }
        let row = |kk: usize| -> &[u8] {
            if widen {
                // SAFETY: rows k..k_end were just written to `wide`.
                std::slice::from_raw_parts(wide_ptr.add((kk - k) * cols) as *const u8, 4 * cols)
            } else {
                row(kk)
            }
        };
        let format = tile_format;
        // R rows × T vectors through `tile`, results to `out`.
        let put = |kk: usize, i: usize, v: &[&[f32]]| {
            for (r, v) in v.iter().enumerate() {
                for (t, v) in v.iter().enumerate() {
                    *out.add((i + t) * out_stride + first_row + kk + r) = *v;
                }
            }
        };
        let mut i = 0;
        while i + 4 <= n {
            let (xs4, q4, d4) = (
                [x(i), x(i + 1), x(i + 2), x(i + 3)],
                [q(i), q(i + 1), q(i + 2), q(i + 3)],
                [d(i), d(i + 1), d(i + 2), d(i + 3)],
            );
            let mut kk = k;
            while kk < k_end {
                let rows_left = k_end - kk;
                if rows_left >= 3 && format == Format::F32 {
                    // 12 accumulators: more FMAs in flight per load.
                    let rs = [row(kk), row(kk + 1), row(kk + 2)];
                    let v = float_tile::<3, 4, 0>(rs, xs4);
                    put(kk, i, &[&v[0], &v[1], &v[2]]);
                    kk += 3;
                } else if rows_left == 2 {
                    let rs = [row(kk), row(kk + 1)];
                    let v = tile::<2, 4>(format, rs, tensor_scale, xs4, q4, d4);
                    put(kk, i, &[&v[0], &v[1]]);
                    kk += 2;
                } else {
                    let v = tile::<1, 4>(format, [row(kk)], tensor_scale, xs4, q4, d4);
                    put(kk, i, &[&v[0]]);
                    kk += 1;
                }
            }
            i += 4;
        }
        for i in i..n {
            let (xs1, q1, d1) = ([x(i)], [q(i)], [d(i)]);
            let mut kk = k;
            while kk < k_end {
                if kk + 2 <= k_end {
                    let rs = [row(kk), row(kk + 1)];
                    let v = tile::<2, 1>(format, rs, tensor_scale, xs1, q1, d1);
                    put(kk, i, &[&v[0], &v[1]]);
                    kk += 2;
                } else {
                    let v = tile::<1, 1>(format, [row(kk)], tensor_scale, xs1, q1, d1);
                    put(kk, i, &[&v[0]]);
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

    fn has_avx2_fma_f16c() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }

    /// `n` activation vectors of `cols` values and their Q8 form.
    struct TestActs {
        x: Vec<f32>,
        xq: Vec<i8>,
        xd: Vec<f32>,
        xsum: Vec<i32>,
        cols: usize,
        n: usize,
    }

    impl TestActs {
        /// `x` with its Q8 form and block sums; `extremes`: every other code
        /// forced to ±127, the largest integer products.
        fn new(x: Vec<f32>, cols: usize, n: usize, extremes: bool) -> TestActs {
            let nb = cols / 32;
            let (mut xq, mut xd, mut xsum) =
                (vec![0i8; n * cols], vec![0f32; n * nb], vec![0; n * nb]);
            super::super::quantize_q8(super::super::Simd::Avx2, &x, &mut xq, &mut xd);
            if extremes {
                for v in xq.iter_mut().step_by(2) {
                    *v = if *v >= 0 { 127 } else { -127 };
                }
            }
            super::super::q8_block_sums(&xq, &mut xsum);
            TestActs {
                x,
                xq,
                xd,
                xsum,
                cols,
                n,
            }
        }
    }

    /// Runs `matmul_rows` over rows `0..split` and `split..rows` (as two
    /// threads' chunks would) and `dot_rows` per vector, and asserts that
    /// every result equals the single `dot`, bit for bit.
    fn assert_rows_paths_match_single_dots(
        format: Format,
        bytes: &[u8],
        tensor_scale: f32,
        rows: usize,
        a: &TestActs,
        split: usize,
    ) {
        let (cols, n, nb) = (a.cols, a.n, a.cols / 32);
        let rb = format.row_bytes(cols).unwrap();
        let mut out = vec![f32::NAN; n * rows];
        for (from, to) in [(0, split), (split, rows)] {
            // SAFETY: callers checked AVX2/FMA/F16C; `out` holds n·rows.
            unsafe {
                matmul_rows(
                    format,
                    &bytes[from * rb..to * rb],
                    rb,
                    from,
                    tensor_scale,
                    &a.x,
                    &a.xq,
                    &a.xd,
                    &a.xsum,
                    cols,
                    n,
                    out.as_mut_ptr(),
                    rows,
                )
            };
        }
        let q8 = super::super::wants_q8(format);
        for i in 0..n {
            let xs = &a.x[i * cols..(i + 1) * cols];
            let (qs, ds) = if q8 {
                (&a.xq[i * cols..(i + 1) * cols], &a.xd[i * nb..(i + 1) * nb])
            } else {
                (&[][..], &[][..])
            };
            // The decode matvec over the same rows.
            let mut decoded = vec![f32::NAN; rows];
            // SAFETY: as above.
            unsafe { dot_rows(format, bytes, rb, tensor_scale, xs, qs, ds, &mut decoded) };
            for r in 0..rows {
                let row = &bytes[r * rb..(r + 1) * rb];
                // SAFETY: as above.
                let want = unsafe { dot(format, row, tensor_scale, xs, qs, ds) };
                let got = out[i * rows + r];
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{format} row {r} vector {i}: {got} vs {want}"
                );
                assert_eq!(
                    decoded[r].to_bits(),
                    want.to_bits(),
                    "{format} decode row {r}"
                );
            }
        }
    }

    #[test]
    fn matmul_rows_and_dot_rows_give_the_single_dot_bits_for_every_format() {
        if !has_avx2_fma_f16c() {
            return;
        }
        let mut rng = SplitMix64::new(14);
        let (rows, n) = (23, 13);
        for format in Format::ALL {
            // A float row length that leaves a tail after the 8-wide pieces.
            let cols = if format.block_values() == 1 { 100 } else { 128 };
            let p =
                crate::quant::quantize(format, &rng.normal_vec(rows * cols, 1.0), cols).unwrap();
            let acts = TestActs::new(rng.normal_vec(n * cols, 1.0), cols, n, false);
            assert_rows_paths_match_single_dots(format, &p.bytes, p.tensor_scale, rows, &acts, 7);
        }
    }

    #[test]
    fn interleaved_groups_give_the_single_dot_bits_on_every_integer_path() {
        if !has_avx2_fma_f16c() {
            return;
        }
        let vnni = is_x86_feature_detected!("avxvnni");
        let mut rng = SplitMix64::new(13);
        let (cols, rows, n) = (96, 21, 13);
        let nb = cols / 32;
        for format in [Format::Q4_0, Format::Q8_0] {
            let (bb, q4) = (format.block_bytes(), format == Format::Q4_0);
            let rb = nb * bb;
            let w = rng.normal_vec(rows * cols, 1.0);
            let mut q = crate::quant::quantize(format, &w, cols).unwrap().bytes;
            // Extreme codes in the first block of rows 0 and 1 (Q4_0: −8 and
            // 7; Q8_0: −128, legal in a GGUF though our quantizer never
            // writes it, and 127) against ±127 activations.
            let (lowest, highest) = if q4 { (0x00, 0xFF) } else { (0x80, 0x7F) };
            q[2..bb].fill(lowest);
            q[rb + 2..rb + bb].fill(highest);
            let acts = TestActs::new(rng.normal_vec(n * cols, 1.0), cols, n, true);
            // Rows 0..5 (too few for a group) and 5..21 (two groups of 8).
            assert_rows_paths_match_single_dots(format, &q, 1.0, rows, &acts, 5);
            let (xq, xd, xsum) = (&acts.xq, &acts.xd, &acts.xsum);
            let single = |r: usize, i: usize| {
                let (xs, qs, ds) = (
                    &acts.x[i * cols..(i + 1) * cols],
                    &xq[i * cols..(i + 1) * cols],
                    &xd[i * nb..(i + 1) * nb],
                );
                // SAFETY: the features were detected above.
                unsafe { dot(format, &q[r * rb..(r + 1) * rb], 1.0, xs, qs, ds) }
            };
            // Each integer path directly, on the group of rows 0..8.
            let mut group = vec![0u8; nb * GROUP_BLOCK];
            // SAFETY: the features were detected above (VNNI only where
            // present); pointers cover nb blocks of 8 rows and 4 vectors.
            let paths = unsafe {
                interleave_group(
                    format,
                    std::array::from_fn(|r| q.as_ptr().add(r * rb)),
                    nb,
                    group.as_mut_ptr(),
                );
                let g = GroupInput::<4>::at(group.as_ptr(), xq, xd, xsum, cols, 0);
                match (q4, vnni) {
                    (true, true) => {
                        vec![group_tile_avx2::<4, true>(g), group_tile_vnni::<4, true>(g)]
                    }
                    (true, false) => vec![group_tile_avx2::<4, true>(g)],
                    (false, true) => vec![group_tile_vnni::<4, false>(g)],
                    (false, false) => vec![],
                }
            };
            for lanes in &paths {
                for (t, v) in lanes.iter().enumerate() {
                    let mut got = [0.0f32; 8];
                    // SAFETY: 8 f32 into an 8-element array.
                    unsafe { _mm256_storeu_ps(got.as_mut_ptr(), *v) };
                    for (r, g) in got.iter().enumerate() {
                        let want = single(r, t).to_bits();
                        assert_eq!(g.to_bits(), want, "{format} row {r} vector {t}");
                    }
                }
            }
        }
    }

    #[test]
    fn vnni_and_avx2_integer_dots_are_bit_identical_even_at_the_extremes() {
        if !(has_avx2_fma_f16c() && is_x86_feature_detected!("avxvnni")) {
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
