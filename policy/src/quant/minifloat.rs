//! The small floating-point element and scale types of the microscaling
//! formats: E2M1 (FP4, OCP MX v1.0 §5.3.3), FP8 E4M3 (OCP FP8 "E4M3FN": no
//! infinities, S.1111.111 is NaN) and E8M0 (the MX shared scale: 2^(e−127),
//! 0xFF is NaN). Decoding is a table built from the spec formula; encoding
//! rounds to nearest, ties to the even code (the spec's roundTiesToEven), and
//! saturates to the largest finite value as the MX conversion rules allow.

/// E2M1 magnitudes for codes 0..8 (sign is bit 3).
pub const E2M1_MAGNITUDES: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The 16 E2M1 values by code.
pub const E2M1_VALUES: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

#[inline]
pub fn e2m1_decode(code: u8) -> f32 {
    E2M1_VALUES[(code & 0x0F) as usize]
}

/// Nearest E2M1 code to `x` (ties to the code with an even mantissa bit),
/// saturating at ±6. NaN maps to 0.
pub fn e2m1_encode(x: f32) -> u8 {
    let sign = if x.is_sign_negative() { 8u8 } else { 0 };
    let mag = x.abs();
    if mag.is_nan() {
        return 0;
    }
    let mut best = 0u8;
    let mut best_err = f32::INFINITY;
    for (code, &v) in E2M1_MAGNITUDES.iter().enumerate() {
        let err = (mag - v).abs();
        if err < best_err || (err == best_err && code & 1 == 0) {
            best = code as u8;
            best_err = err;
        }
    }
    // A magnitude that rounds to zero keeps its sign only if nonzero: -0 is a
    // valid code but +0 keeps the packed data canonical.
    if best == 0 {
        0
    } else {
        best | sign
    }
}

/// Nearest E2M1 code with ties to the smaller magnitude: ggml's
/// `best_index_mxfp4` (first minimum over the value table), which GGUF MXFP4
/// files are written with.
pub fn e2m1_encode_ties_to_smaller(x: f32) -> u8 {
    let mag = x.abs();
    if mag.is_nan() {
        return 0;
    }
    let mut best = 0u8;
    let mut best_err = mag;
    for (code, &v) in E2M1_MAGNITUDES.iter().enumerate().skip(1) {
        let err = (mag - v).abs();
        if err < best_err {
            best = code as u8;
            best_err = err;
        }
    }
    if best == 0 || !x.is_sign_negative() {
        best
    } else {
        best | 8
    }
}

/// FP8 E4M3 (OCP, "FN" variant) to f32.
pub fn e4m3_decode(code: u8) -> f32 {
    let sign = if code & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((code >> 3) & 0x0F) as i32;
    let man = (code & 0x07) as f32;
    if exp == 0x0F && code & 0x07 == 0x07 {
        return f32::NAN;
    }
    if exp == 0 {
        sign * (man / 8.0) * 2f32.powi(-6)
    } else {
        sign * (1.0 + man / 8.0) * 2f32.powi(exp - 7)
    }
}

/// Largest finite E4M3 value.
pub const E4M3_MAX: f32 = 448.0;

/// Nearest non-negative E4M3 code to `x` (ties to even code), saturating at
/// 448. Used for NVFP4 block scales, which are always positive.
pub fn e4m3_encode_positive(x: f32) -> u8 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    if x >= E4M3_MAX {
        return 0x7E;
    }
    // Positive finite codes 0..=0x7E are increasing in value: binary search.
    let (mut lo, mut hi) = (0u8, 0x7Eu8);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if e4m3_decode(mid) <= x {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (vlo, vhi) = (e4m3_decode(lo), e4m3_decode(hi));
    let (dlo, dhi) = (x - vlo, vhi - x);
    if dlo < dhi || (dlo == dhi && lo & 1 == 0) {
        lo
    } else {
        hi
    }
}

/// E8M0 scale to f32: 2^(code − 127); 0xFF is NaN.
pub fn e8m0_decode(code: u8) -> f32 {
    if code == 0xFF {
        return f32::NAN;
    }
    // 2^-127 is subnormal in f32; powi keeps it exact.
    2f32.powi(code as i32 - 127)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e2m1_every_code_matches_the_spec_formula() {
        for code in 0u8..16 {
            let s = if code & 8 != 0 { -1.0f32 } else { 1.0 };
            let e = ((code >> 1) & 3) as i32;
            let m = (code & 1) as f32;
            // Bias 1; exponent 0 is subnormal: 2^(1−bias) · (m/2).
            let expect = if e == 0 {
                s * (m / 2.0)
            } else {
                s * 2f32.powi(e - 1) * (1.0 + m / 2.0)
            };
            assert_eq!(
                e2m1_decode(code).to_bits(),
                expect.to_bits(),
                "code {code:#x}"
            );
        }
    }

    #[test]
    fn e2m1_encode_is_nearest_with_ties_to_even_and_saturates() {
        for code in 0u8..16 {
            let v = e2m1_decode(code);
            let back = e2m1_encode(v);
            assert_eq!(e2m1_decode(back), v, "code {code:#x} round-trips");
        }
        // Midpoints go to the even-mantissa neighbour.
        for (x, want) in [
            (0.25, 0.0),
            (0.75, 1.0),
            (1.25, 1.0),
            (1.75, 2.0),
            (2.5, 2.0),
            (3.5, 4.0),
            (5.0, 4.0),
            (-5.0, -4.0),
            (100.0, 6.0),
            (-7.0, -6.0),
            (0.26, 0.5),
        ] {
            assert_eq!(e2m1_decode(e2m1_encode(x)), want, "x = {x}");
        }
        for (x, want) in [
            (0.25, 0.0),
            (0.75, 0.5),
            (1.75, 1.5),
            (-3.5, -3.0),
            (5.0, 4.0),
            (9.0, 6.0),
        ] {
            assert_eq!(e2m1_decode(e2m1_encode_ties_to_smaller(x)), want, "x = {x}");
        }
    }

    #[test]
    fn e4m3_every_code_matches_the_spec_formula() {
        let mut finite = 0;
        for code in 0u16..256 {
            let code = code as u8;
            let v = e4m3_decode(code);
            let s = if code & 0x80 != 0 { -1.0f64 } else { 1.0 };
            let e = ((code >> 3) & 0xF) as i32;
            let m = (code & 7) as f64;
            if e == 15 && m == 7.0 {
                assert!(v.is_nan(), "code {code:#x} is NaN");
                continue;
            }
            finite += 1;
            let expect = if e == 0 {
                s * m / 8.0 * 2f64.powi(-6)
            } else {
                s * (1.0 + m / 8.0) * 2f64.powi(e - 7)
            };
            assert_eq!(v as f64, expect, "code {code:#x}");
        }
        assert_eq!(finite, 254, "E4M3FN has two NaNs and no infinities");
        assert_eq!(e4m3_decode(0x7E), 448.0);
        assert_eq!(e4m3_decode(0x01), 2f32.powi(-9), "smallest subnormal");
    }

    #[test]
    fn e4m3_encode_round_trips_every_positive_code_and_rounds_to_nearest() {
        for code in 0u8..=0x7E {
            assert_eq!(e4m3_encode_positive(e4m3_decode(code)), code);
        }
        // Between 1.0 (0x38) and 1.125 (0x39) the midpoint goes to the even code.
        assert_eq!(e4m3_encode_positive(1.0625), 0x38);
        assert_eq!(e4m3_encode_positive(1.07), 0x39);
        assert_eq!(e4m3_encode_positive(1e6), 0x7E, "saturates");
        assert_eq!(e4m3_encode_positive(-3.0), 0, "scales are non-negative");
    }

    #[test]
    fn e8m0_every_code_is_a_power_of_two() {
        for code in 0u8..255 {
            let v = e8m0_decode(code) as f64;
            assert_eq!(v, 2f64.powi(code as i32 - 127), "code {code}");
        }
        assert!(e8m0_decode(0xFF).is_nan());
        assert_eq!(e8m0_decode(127), 1.0);
    }
}
