//! Model files: GGUF (llama architecture) and safetensors (our naming + JSON config).

pub mod gguf;
pub mod safetensors;

use std::path::Path;

use crate::error::{PolicyError, Result};
use crate::model::Model;

/// Loads a model by file extension: `.gguf` or `.safetensors`.
pub fn load_model(path: &Path) -> Result<Model> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("gguf") => gguf::GgufFile::open(path)?.to_model(),
        Some("safetensors") => safetensors::load(path),
        _ => Err(PolicyError::Input(format!(
            "model file '{}' has an unknown extension; use .gguf or .safetensors",
            path.display()
        ))),
    }
}
