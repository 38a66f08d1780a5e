//! A named, possibly quantized tensor whose bytes live in a memory map or
//! in memory. Matrices are row-major [out_features, in_features], one packed
//! row per output, as in ggml (ne0 = in_features).

use std::sync::Arc;

use memmap2::Mmap;

use crate::error::{PolicyError, Result};
use crate::quant::{self, Format};

#[derive(Clone)]
pub enum Bytes {
    Owned(Arc<Vec<u8>>),
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    },
}

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped { map, start, len } => &map[*start..*start + *len],
        }
    }
}

#[derive(Clone)]
pub struct Tensor {
    pub name: String,
    pub format: Format,
    /// Outermost first: a matrix is [rows, cols].
    pub shape: Vec<usize>,
    pub data: Bytes,
    /// NVFP4's per-tensor scale; 1.0 otherwise.
    pub tensor_scale: f32,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {}", self.name, self.shape, self.format)
    }
}

impl Tensor {
    /// Quantizes f32 values (row-major, last dim contiguous) into `format`.
    pub fn quantize(name: &str, shape: &[usize], values: &[f32], format: Format) -> Result<Tensor> {
        let cols = *shape.last().unwrap_or(&1);
        let p = quant::quantize(format, values, cols)?;
        Ok(Tensor {
            name: name.to_string(),
            format,
            shape: shape.to_vec(),
            data: Bytes::Owned(Arc::new(p.bytes)),
            tensor_scale: p.tensor_scale,
        })
    }

    pub fn cols(&self) -> usize {
        *self.shape.last().unwrap_or(&1)
    }

    pub fn rows(&self) -> usize {
        self.numel() / self.cols().max(1)
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> &[u8] {
        self.data.as_slice()
    }

    pub fn row_bytes(&self) -> usize {
        self.format
            .row_bytes(self.cols())
            .expect("row alignment checked at load")
    }

    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.bytes()[r * rb..(r + 1) * rb]
    }

    pub fn to_f32(&self) -> Vec<f32> {
        quant::dequantize(self.format, self.bytes(), self.tensor_scale, self.numel())
    }

    pub fn row_to_f32(&self, r: usize, out: &mut [f32]) {
        quant::dequantize_row(self.format, self.row(r), self.tensor_scale, out);
    }

    /// Checks that the byte length matches shape and format, so later row
    /// slicing cannot go out of bounds.
    pub fn check_size(&self, path: &std::path::Path) -> Result<()> {
        let expect = self
            .format
            .row_bytes(self.cols())
            .map(|rb| rb * self.rows())
            .map_err(|_| PolicyError::Corrupt {
                path: path.to_path_buf(),
                kind: "model",
                detail: format!(
                    "tensor '{}' has rows of {} values, not a multiple of {}'s block of {}",
                    self.name,
                    self.cols(),
                    self.format,
                    self.format.block_values()
                ),
            })?;
        if self.bytes().len() != expect {
            return Err(PolicyError::Corrupt {
                path: path.to_path_buf(),
                kind: "model",
                detail: format!(
                    "tensor '{}' {:?} {} needs {} bytes, file has {}",
                    self.name,
                    self.shape,
                    self.format,
                    expect,
                    self.bytes().len()
                ),
            });
        }
        Ok(())
    }
}
