//! Model files: GGUF (llama architecture) and safetensors (our naming + JSON config).

pub mod gguf;
pub mod safetensors;

use std::path::Path;
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

use crate::error::{PolicyError, Result};
use crate::model::Model;

/// Loads a model by file extension: `.gguf` or `.safetensors`.
pub fn load_model(path: &Path) -> Result<Model> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("gguf") => gguf::GgufFile::open_populated(path)?.to_model(),
        Some("safetensors") => safetensors::load(path),
        _ => Err(PolicyError::Input(format!(
            "model file '{}' has an unknown extension; use .gguf or .safetensors",
            path.display()
        ))),
    }
}

/// Maps a model file read-only. `populate` reads every page in now
/// (MAP_POPULATE on Linux, as llama.cpp's loader does): otherwise the first
/// forward pass, a robot's first policy call, pays a page fault per 4 KiB
/// of weights (about 29,000 for the 110M-parameter Q8_0 GGUF).
pub(crate) fn map_model(path: &Path, populate: bool) -> Result<Arc<Mmap>> {
    let io = |source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut options = MmapOptions::new();
    if populate {
        options.populate();
    }
    // SAFETY: the map is read-only; a model file changed underneath a running
    // process is outside what we defend against (as for llama.cpp's mmap).
    Ok(Arc::new(unsafe { options.map(&file) }.map_err(io)?))
}
