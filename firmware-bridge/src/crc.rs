//! The G1 message CRC (g1-protocol.md §2).
//!
//! CRC-32 with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection
//! and no final XOR, fed 32-bit little-endian words of the *C struct layout*
//! (natural alignment, zero padding), most significant bit first. The crc word
//! itself is left out. The robot silently drops frames whose CRC is wrong.

const POLY: u32 = 0x04C1_1DB7;

/// Slicing-by-16 tables: `TABLES[0]` is the plain byte table; `TABLES[k][b]`
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

/// Streaming form of `crc32_words`: words are buffered four at a time, so a
/// message can be checksummed field by field without first laying it out in
/// memory.
#[derive(Debug, Clone, Copy)]
pub struct WordCrc {
    crc: u32,
    pending: [u32; 4],
    n_pending: usize,
}

impl Default for WordCrc {
    fn default() -> Self {
        Self::new()
    }
}

impl WordCrc {
    pub const fn new() -> Self {
        WordCrc {
            crc: 0xFFFF_FFFF,
            pending: [0; 4],
            n_pending: 0,
        }
    }

    #[inline(always)]
    pub fn push(&mut self, word: u32) {
        self.pending[self.n_pending] = word;
        self.n_pending += 1;
        if self.n_pending == 4 {
            let q = self.pending;
            self.crc = bytes_of(self.crc ^ q[0], 15)
                ^ bytes_of(q[1], 11)
                ^ bytes_of(q[2], 7)
                ^ bytes_of(q[3], 3);
            self.n_pending = 0;
        }
    }

    #[inline(always)]
    pub fn push_f32(&mut self, v: f32) {
        self.push(v.to_bits());
    }

    pub fn finish(self) -> u32 {
        let mut crc = self.crc;
        for w in &self.pending[..self.n_pending] {
            crc = bytes_of(crc ^ w, 3);
        }
        crc
    }
}

/// CRC of a sequence of words, each fed most significant byte first.
pub fn crc32_words(words: &[u32]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    let mut quads = words.chunks_exact(4);
    for q in &mut quads {
        crc = bytes_of(crc ^ q[0], 15) ^ bytes_of(q[1], 11) ^ bytes_of(q[2], 7) ^ bytes_of(q[3], 3);
    }
    for w in quads.remainder() {
        crc = bytes_of(crc ^ w, 3);
    }
    crc
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
    fn streaming_form_equals_slice_form() {
        let words: Vec<u32> = (0..37u32).map(|w| w.wrapping_mul(2_654_435_761)).collect();
        for n in 0..words.len() {
            let mut c = WordCrc::new();
            for w in &words[..n] {
                c.push(*w);
            }
            assert_eq!(c.finish(), crc32_words(&words[..n]), "{n} words");
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
