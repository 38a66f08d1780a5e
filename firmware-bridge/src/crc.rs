//! The G1 message CRC (g1-protocol.md §2).
//!
//! CRC-32 with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection
//! and no final XOR, fed 32-bit little-endian words of the *C struct layout*
//! (natural alignment, zero padding), most significant bit first. The crc word
//! itself is left out. The robot silently drops frames whose CRC is wrong.

const POLY: u32 = 0x04C1_1DB7;

/// Slicing-by-16 tables (the portable form, and the last step of the
/// carry-less form): `TABLES[0]` is the plain byte table; `TABLES[k][b]`
/// is the CRC contribution of byte `b` followed by `k` zero bytes. 16 KiB,
/// which stays in L1; four words per step shortens the dependency chain.
static TABLES: [[u32; 256]; 16] = build_tables();

const fn build_tables() -> [[u32; 256]; 16] {
    let mut t = [[0u32; 256]; 16];
    let mut b = 0;
    while b < 256 {
        let mut crc = (b as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev << 8) ^ t[0][(prev >> 24) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

#[inline(always)]
fn bytes_of(word: u32, first_table: usize) -> u32 {
    TABLES[first_table][(word >> 24) as usize]
        ^ TABLES[first_table - 1][((word >> 16) & 0xFF) as usize]
        ^ TABLES[first_table - 2][((word >> 8) & 0xFF) as usize]
        ^ TABLES[first_table - 3][(word & 0xFF) as usize]
}

/// The CRC of a sequence of words, each fed most significant byte first,
/// by the fastest form this CPU has (`crc32_form`).
pub fn crc32_words(words: &[u32]) -> u32 {
    match crc32_form() {
        // SAFETY (both arms): `crc32_form` found the features the function
        // is compiled for.
        #[cfg(target_arch = "x86_64")]
        CrcForm::Pclmulqdq => unsafe { clmul_x86::crc32_words(words) },
        #[cfg(target_arch = "aarch64")]
        CrcForm::Pmull => unsafe { clmul_arm::crc32_words(words) },
        _ => crc32_words_table(words),
    }
}

/// How `crc32_words` computes: carry-less multiplication where the CPU has
/// it, else the slicing-by-16 tables. All three are checked against
/// `crc32_words_bitwise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcForm {
    /// x86-64 PCLMULQDQ (with SSE4.1).
    Pclmulqdq,
    /// aarch64 PMULL (`vmull_p64`).
    Pmull,
    /// The portable tables.
    SlicingBy16,
}

impl CrcForm {
    pub fn name(self) -> &'static str {
        match self {
            CrcForm::Pclmulqdq => "pclmulqdq",
            CrcForm::Pmull => "pmull",
            CrcForm::SlicingBy16 => "slicing-by-16",
        }
    }
}

/// The form this CPU runs (std caches the feature detection).
pub fn crc32_form() -> CrcForm {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        return CrcForm::Pclmulqdq;
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("pmull") {
        return CrcForm::Pmull;
    }
    CrcForm::SlicingBy16
}

/// The portable form: slicing-by-16 tables, four words per step.
pub fn crc32_words_table(words: &[u32]) -> u32 {
    table_continue(0xFFFF_FFFF, words)
}

/// Continues a CRC register over more words with the tables.
fn table_continue(mut crc: u32, words: &[u32]) -> u32 {
    let mut quads = words.chunks_exact(4);
    for q in &mut quads {
        crc = bytes_of(crc ^ q[0], 15) ^ bytes_of(q[1], 11) ^ bytes_of(q[2], 7) ^ bytes_of(q[3], 3);
    }
    for w in quads.remainder() {
        crc = bytes_of(crc ^ w, 3);
    }
    crc
}

/// `x^n mod P`, a polynomial over GF(2) of degree < 32.
const fn x_pow_mod_poly(n: u32) -> u64 {
    let mut r: u64 = 1;
    let mut i = 0;
    while i < n {
        r <<= 1;
        if r & (1 << 32) != 0 {
            r ^= (1 << 32) | POLY as u64;
        }
        i += 1;
    }
    r
}

// Folding. The message, read as one polynomial (first bit highest), is kept
// as a 128-bit accumulator `A` congruent to it mod P. Appending the next 16
// bytes `B` gives `A·x^128 + B`; with `A = H·x^64 + L` that is
// `H·(x^192 mod P) + L·(x^128 mod P) + B`: two 64×32-bit carry-less products
// that fit in 128 bits. At the end the register is `(A·x^32) mod P`, which is
// the zero-initialised table CRC of A's four words, so one table step
// finishes it and no Barrett reduction is needed.
const FOLD_X128: u64 = x_pow_mod_poly(128);
const FOLD_X192: u64 = x_pow_mod_poly(192);

/// The register after the folded blocks, then the words left over.
fn finish_fold(acc_words_high_first: [u32; 4], tail: &[u32]) -> u32 {
    let crc = table_continue(0, &acc_words_high_first);
    table_continue(crc, tail)
}

#[cfg(target_arch = "x86_64")]
mod clmul_x86 {
    use std::arch::x86_64::*;

    /// Four words as the 128-bit polynomial `w0·x^96 + w1·x^64 + w2·x^32 + w3`
    /// (memory holds w0 in the lowest lane, so the lanes are reversed).
    #[inline(always)]
    unsafe fn load_block(words: &[u32]) -> __m128i {
        let v = _mm_loadu_si128(words.as_ptr().cast());
        _mm_shuffle_epi32::<0x1B>(v)
    }

    #[target_feature(enable = "pclmulqdq,sse4.1")]
    pub unsafe fn crc32_words(words: &[u32]) -> u32 {
        if words.len() < 8 {
            return super::crc32_words_table(words);
        }
        let mut blocks = words.chunks_exact(4);
        // The initial register 0xFFFFFFFF is the same as XOR-ing it into the
        // first word with a zero register.
        let init = _mm_set_epi32(-1, 0, 0, 0);
        let mut acc = _mm_xor_si128(load_block(blocks.next().unwrap_unchecked()), init);
        let k = _mm_set_epi64x(super::FOLD_X192 as i64, super::FOLD_X128 as i64);
        for b in &mut blocks {
            let from_high = _mm_clmulepi64_si128::<0x11>(acc, k);
            let from_low = _mm_clmulepi64_si128::<0x00>(acc, k);
            acc = _mm_xor_si128(_mm_xor_si128(from_high, from_low), load_block(b));
        }
        let acc_words = [
            _mm_extract_epi32::<3>(acc) as u32,
            _mm_extract_epi32::<2>(acc) as u32,
            _mm_extract_epi32::<1>(acc) as u32,
            _mm_extract_epi32::<0>(acc) as u32,
        ];
        super::finish_fold(acc_words, blocks.remainder())
    }
}

#[cfg(target_arch = "aarch64")]
mod clmul_arm {
    use std::arch::aarch64::*;

    /// Four words as (high, low) 64-bit halves of the 128-bit polynomial
    /// `w0·x^96 + w1·x^64 + w2·x^32 + w3`.
    #[inline(always)]
    fn block_halves(w: &[u32]) -> (u64, u64) {
        (
            (w[0] as u64) << 32 | w[1] as u64,
            (w[2] as u64) << 32 | w[3] as u64,
        )
    }

    #[target_feature(enable = "neon,aes")]
    pub unsafe fn crc32_words(words: &[u32]) -> u32 {
        if words.len() < 8 {
            return super::crc32_words_table(words);
        }
        let mut blocks = words.chunks_exact(4);
        let (h0, l0) = block_halves(blocks.next().unwrap_unchecked());
        let (mut high, mut low) = (h0 ^ 0xFFFF_FFFF_0000_0000, l0);
        for b in &mut blocks {
            let folded = vmull_p64(high, super::FOLD_X192) ^ vmull_p64(low, super::FOLD_X128);
            let (bh, bl) = block_halves(b);
            high = (folded >> 64) as u64 ^ bh;
            low = folded as u64 ^ bl;
        }
        let acc_words = [
            (high >> 32) as u32,
            high as u32,
            (low >> 32) as u32,
            low as u32,
        ];
        super::finish_fold(acc_words, blocks.remainder())
    }
}

/// The bit-at-a-time form of the algorithm, straight from its definition.
/// Slow; kept to check the table-driven form.
pub fn crc32_words_bitwise(words: &[u32]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &word in words {
        for bit in (0..32).rev() {
            let data_bit = (word >> bit) & 1;
            let top = crc >> 31;
            crc <<= 1;
            if top ^ data_bit == 1 {
                crc ^= POLY;
            }
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random word strings of every length up to 600 (tails of 0–3 words,
    /// the under-8-word path, LowCmd's 250 and LowState's 522), plus the
    /// extreme contents: all zeros and all ones.
    fn cases() -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        let mut words = Vec::new();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..600 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            words.push(x);
            out.push(words.clone());
        }
        for n in [1, 4, 7, 8, 9, 64, 250, 522] {
            out.push(vec![0; n]);
            out.push(vec![u32::MAX; n]);
        }
        out
    }

    #[test]
    fn table_form_equals_bitwise_definition() {
        for words in cases() {
            assert_eq!(
                crc32_words_table(&words),
                crc32_words_bitwise(&words),
                "{} words",
                words.len()
            );
        }
    }

    #[test]
    fn dispatched_form_equals_bitwise_definition() {
        for words in cases() {
            assert_eq!(
                crc32_words(&words),
                crc32_words_bitwise(&words),
                "{} words",
                words.len()
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn pclmulqdq_form_equals_bitwise_definition() {
        assert_eq!(
            crc32_form(),
            CrcForm::Pclmulqdq,
            "this x86-64 CPU has no PCLMULQDQ; the carry-less form cannot be tested here"
        );
        for words in cases() {
            // SAFETY: `crc32_form` found the features above.
            let got = unsafe { clmul_x86::crc32_words(&words) };
            assert_eq!(got, crc32_words_bitwise(&words), "{} words", words.len());
        }
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn pmull_form_equals_bitwise_definition() {
        assert_eq!(
            crc32_form(),
            CrcForm::Pmull,
            "this aarch64 CPU (or qemu model) has no PMULL; the carry-less form cannot be tested here"
        );
        for words in cases() {
            // SAFETY: `crc32_form` found the feature above.
            let got = unsafe { clmul_arm::crc32_words(&words) };
            assert_eq!(got, crc32_words_bitwise(&words), "{} words", words.len());
        }
    }

    #[test]
    fn equals_crc32_mpeg2_over_byte_swapped_words() {
        // The standard check value of CRC-32/MPEG-2 over "123456789" is 0x0376E6E7.
        // Pad to whole words by feeding the big-endian words of "12345678" and
        // compare with the same bytes fed as an MPEG-2 stream.
        let bytes = b"12345678";
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut crc: u32 = 0xFFFF_FFFF;
        for &b in bytes {
            crc ^= (b as u32) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ POLY
                } else {
                    crc << 1
                };
            }
        }
        assert_eq!(crc32_words(&words), crc);
    }
}
