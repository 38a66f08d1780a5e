//! The G1 message CRC (g1-protocol.md §2).
//!
//! CRC-32 with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection
//! and no final XOR, fed 32-bit little-endian words of the *C struct layout*
//! (natural alignment, zero padding), most significant bit first. The crc word
//! itself is left out. The robot silently drops frames whose CRC is wrong.

const POLY: u32 = 0x04C1_1DB7;

/// Slicing-by-4 tables: `TABLES[0]` is the plain byte table; `TABLES[k][b]` is
/// the CRC contribution of byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 4] = build_tables();

const fn build_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
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
    while k < 4 {
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

/// Incremental CRC over 32-bit words.
#[derive(Debug, Clone, Copy)]
pub struct WordCrc {
    crc: u32,
}

impl Default for WordCrc {
    fn default() -> Self {
        Self::new()
    }
}

impl WordCrc {
    pub const fn new() -> Self {
        WordCrc { crc: 0xFFFF_FFFF }
    }

    /// Feeds one word, most significant byte first.
    #[inline(always)]
    pub fn push(&mut self, word: u32) {
        let x = self.crc ^ word;
        self.crc = TABLES[3][(x >> 24) as usize]
            ^ TABLES[2][((x >> 16) & 0xFF) as usize]
            ^ TABLES[1][((x >> 8) & 0xFF) as usize]
            ^ TABLES[0][(x & 0xFF) as usize];
    }

    #[inline(always)]
    pub fn push_f32(&mut self, value: f32) {
        self.push(value.to_bits());
    }

    pub const fn finish(self) -> u32 {
        self.crc
    }
}

/// CRC of a word slice; the definition the message CRCs are tested against.
pub fn crc32_words(words: &[u32]) -> u32 {
    let mut crc = WordCrc::new();
    for w in words {
        crc.push(*w);
    }
    crc.finish()
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

    #[test]
    fn table_form_equals_bitwise_definition() {
        let mut words = Vec::new();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..600 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            words.push(x);
            assert_eq!(crc32_words(&words), crc32_words_bitwise(&words));
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
                crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ POLY } else { crc << 1 };
            }
        }
        assert_eq!(crc32_words(&words), crc);
    }
}
