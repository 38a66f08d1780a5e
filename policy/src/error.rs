//! Errors of the policy crate. Each names the problem and, where there is one, the fix.

use std::path::PathBuf;

use crate::quant::Format;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    // The source is printed by the caller's error chain (`{:#}`), not here.
    #[error("cannot read model file '{path}'")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read model config '{path}': a safetensors model needs its JSON config beside it (same name, .json; `tendon models quantize` writes both)")]
    ConfigIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model file '{path}' is not a valid {kind} file: {detail}")]
    Corrupt {
        path: PathBuf,
        kind: &'static str,
        detail: String,
    },
    #[error("model file '{path}' has tensor '{tensor}' of type {found}, which this build does not support; supported: {supported}")]
    UnsupportedType {
        path: PathBuf,
        tensor: String,
        found: String,
        supported: &'static str,
    },
    #[error("model file '{path}' lacks tensor '{tensor}' (expected {expected})")]
    MissingTensor {
        path: PathBuf,
        tensor: String,
        expected: String,
    },
    #[error("model file '{path}': tensor '{tensor}' has shape {found:?}, expected {expected:?}")]
    BadShape {
        path: PathBuf,
        tensor: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("model config '{path}' is invalid: {detail}")]
    BadConfig { path: PathBuf, detail: String },
    #[error("a {format} row needs a multiple of {block} values; got {len} (pad the matrix or pick F16/F32 for this component)")]
    RowNotBlockAligned {
        format: Format,
        block: usize,
        len: usize,
    },
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, PolicyError>;
