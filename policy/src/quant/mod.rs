//! Weight formats: what a row of a matrix looks like in memory, how to pack
//! f32 values into it and how to unpack it. Every block format packs a row as
//! consecutive blocks; a row's length must be a multiple of the block size.
//!
//! | format | values/block | bytes/block | layout |
//! |---|---|---|---|
//! | F32 | 1 | 4 | IEEE binary32, little-endian |
//! | F16 | 1 | 2 | IEEE binary16 |
//! | BF16 | 1 | 2 | bfloat16 (top half of binary32) |
//! | Q8_0 | 32 | 34 | ggml: f16 scale d, 32 × i8; x = d·q |
//! | Q4_0 | 32 | 18 | ggml: f16 scale d, 16 bytes; byte j holds value j (low nibble) and j+16 (high); x = d·(q−8) |
//! | NF4 | 64 | 36 | f32 absmax, 32 bytes of 4-bit NormalFloat codes (QLoRA), nibbles as Q4_0; x = absmax·NF4[q] |
//! | MXFP4 | 32 | 17 | OCP MX: E8M0 scale byte, 16 bytes of E2M1 codes, nibbles as Q4_0 (ggml's block_mxfp4); x = 2^(e−127)·E2M1[q] |
//! | NVFP4 | 16 | 9 | FP8-E4M3 scale byte, 8 bytes of E2M1 codes, nibbles as Q4_0; x = s_tensor·E4M3[s]·E2M1[q] |
//!
//! MXFP4 rounds ties to the smaller magnitude as ggml does (so our files match
//! GGUF's byte for byte); NVFP4 rounds ties to even.
//!
//! All 4-bit formats share the Q4_0 nibble order so one unpacking routine
//! serves every kernel.

pub mod minifloat;

mod blocks;
pub use blocks::{NF4_LEVELS, NVFP4_TENSOR_DIVISOR};

use crate::error::{PolicyError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    NF4,
    MXFP4,
    NVFP4,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::F32,
        Format::F16,
        Format::BF16,
        Format::Q8_0,
        Format::Q4_0,
        Format::NF4,
        Format::MXFP4,
        Format::NVFP4,
    ];

    pub const SUPPORTED_LIST: &'static str = "F32, F16, BF16, Q8_0, Q4_0, NF4, MXFP4, NVFP4";

    pub fn name(self) -> &'static str {
        match self {
            Format::F32 => "F32",
            Format::F16 => "F16",
            Format::BF16 => "BF16",
            Format::Q8_0 => "Q8_0",
            Format::Q4_0 => "Q4_0",
            Format::NF4 => "NF4",
            Format::MXFP4 => "MXFP4",
            Format::NVFP4 => "NVFP4",
        }
    }

    /// Parses a format name, case-insensitively.
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
    }

    pub fn block_values(self) -> usize {
        match self {
            Format::F32 | Format::F16 | Format::BF16 => 1,
            Format::Q8_0 | Format::Q4_0 | Format::MXFP4 => 32,
            Format::NF4 => 64,
            Format::NVFP4 => 16,
        }
    }

    pub fn block_bytes(self) -> usize {
        match self {
            Format::F32 => 4,
            Format::F16 | Format::BF16 => 2,
            Format::Q8_0 => 34,
            Format::Q4_0 => 18,
            Format::NF4 => 36,
            Format::MXFP4 => 17,
            Format::NVFP4 => 9,
        }
    }

    pub fn bits_per_value(self) -> f64 {
        self.block_bytes() as f64 * 8.0 / self.block_values() as f64
    }

    /// Bytes of one packed row of `cols` values.
    pub fn row_bytes(self, cols: usize) -> Result<usize> {
        let block = self.block_values();
        if !cols.is_multiple_of(block) {
            return Err(PolicyError::RowNotBlockAligned {
                format: self,
                block,
                len: cols,
            });
        }
        (cols / block)
            .checked_mul(self.block_bytes())
            .ok_or(PolicyError::RowNotBlockAligned {
                format: self,
                block,
                len: cols,
            })
    }
}

/// A packed row-major matrix and the single tensor-wide scale NVFP4 needs
/// (1.0 for every other format).
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    pub bytes: Vec<u8>,
    pub tensor_scale: f32,
}

/// Packs `values` (rows of `cols`) into `format`.
pub fn quantize(format: Format, values: &[f32], cols: usize) -> Result<Packed> {
    let row_bytes = format.row_bytes(cols)?;
    if cols == 0 || !values.len().is_multiple_of(cols) {
        return Err(PolicyError::Input(format!(
            "cannot quantize {} values as rows of {cols}",
            values.len()
        )));
    }
    let rows = values.len() / cols;
    let tensor_scale = match format {
        Format::NVFP4 => blocks::nvfp4_tensor_scale(values),
        _ => 1.0,
    };
    let mut bytes = vec![0u8; rows * row_bytes];
    let bv = format.block_values();
    let bb = format.block_bytes();
    for (x, out) in values.chunks_exact(bv).zip(bytes.chunks_exact_mut(bb)) {
        blocks::quantize_block(format, x, out, tensor_scale);
    }
    Ok(Packed {
        bytes,
        tensor_scale,
    })
}

/// Unpacks one row. `out.len()` values are read from `row`.
pub fn dequantize_row(format: Format, row: &[u8], tensor_scale: f32, out: &mut [f32]) {
    let bv = format.block_values();
    let bb = format.block_bytes();
    for (b, o) in row.chunks_exact(bb).zip(out.chunks_exact_mut(bv)) {
        blocks::dequantize_block(format, b, o, tensor_scale);
    }
}

/// Unpacks a whole tensor.
pub fn dequantize(format: Format, bytes: &[u8], tensor_scale: f32, n_values: usize) -> Vec<f32> {
    let mut out = vec![0.0; n_values];
    dequantize_row(format, bytes, tensor_scale, &mut out);
    out
}

#[cfg(test)]
mod tests;
