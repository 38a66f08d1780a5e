//! safetensors in our tensor naming, memory-mapped. Float tensors use the
//! native dtypes (F32, F16, BF16). Block-quantized tensors are stored as U8
//! [rows, row_bytes]; the `__metadata__` map records each one's format,
//! logical shape and (NVFP4) tensor scale under `tendon.format.NAME`,
//! `tendon.shape.NAME` and `tendon.scale.NAME`.

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::config::ModelConfig;
use crate::error::{PolicyError, Result};
use crate::model::Model;
use crate::quant::Format;
use crate::tensor::{Bytes, Tensor};

fn corrupt(path: &Path, detail: String) -> PolicyError {
    PolicyError::Corrupt {
        path: path.to_path_buf(),
        kind: "safetensors",
        detail,
    }
}

/// Loads `path` with its config from `path` with the extension `.json`.
pub fn load(path: &Path) -> Result<Model> {
    let config = ModelConfig::from_json_file(&ModelConfig::path_next_to(path))?;
    let tensors = read_tensors(path)?;
    Model::from_tensors(config, tensors, path)
}

pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let map = super::map_model(path, true)?;
    let st = SafeTensors::deserialize(&map).map_err(|e| corrupt(path, e.to_string()))?;
    let (_, meta) = SafeTensors::read_metadata(&map).map_err(|e| corrupt(path, e.to_string()))?;
    let info = meta.metadata().clone().unwrap_or_default();
    let base = map.as_ptr() as usize;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let start = view.data().as_ptr() as usize - base;
        let len = view.data().len();
        let (format, shape) = match view.dtype() {
            Dtype::F32 => (Format::F32, view.shape().to_vec()),
            Dtype::F16 => (Format::F16, view.shape().to_vec()),
            Dtype::BF16 => (Format::BF16, view.shape().to_vec()),
            Dtype::U8 => {
                let fname = info.get(&format!("tendon.format.{name}")).ok_or_else(|| {
                    corrupt(
                        path,
                        format!("U8 tensor '{name}' has no tendon.format.{name} metadata"),
                    )
                })?;
                let format = Format::parse(fname).ok_or_else(|| PolicyError::UnsupportedType {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    found: fname.clone(),
                    supported: Format::SUPPORTED_LIST,
                })?;
                let shape = info
                    .get(&format!("tendon.shape.{name}"))
                    .and_then(|s| {
                        s.split(',')
                            .map(|d| d.trim().parse().ok())
                            .collect::<Option<Vec<usize>>>()
                    })
                    .ok_or_else(|| {
                        corrupt(
                            path,
                            format!("tensor '{name}' lacks a valid tendon.shape.{name}"),
                        )
                    })?;
                (format, shape)
            }
            other => {
                return Err(PolicyError::UnsupportedType {
                    path: path.to_path_buf(),
                    tensor: name,
                    found: format!("{other:?}"),
                    supported: Format::SUPPORTED_LIST,
                })
            }
        };
        let tensor_scale = match info.get(&format!("tendon.scale.{name}")) {
            Some(s) => s.parse().map_err(|_| {
                corrupt(path, format!("tendon.scale.{name} = '{s}' is not a number"))
            })?,
            None => 1.0,
        };
        let t = Tensor {
            name: name.clone(),
            format,
            shape,
            data: Bytes::Mapped {
                map: map.clone(),
                start,
                len,
            },
            tensor_scale,
        };
        t.check_size(path)?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Writes `model` to `path` and its config to `path` with `.json`.
pub fn save(model: &Model, path: &Path) -> Result<()> {
    let io = |p: &Path, source| PolicyError::Io {
        path: p.to_path_buf(),
        source,
    };
    let mut meta = HashMap::new();
    let mut views = Vec::new();
    for t in model.tensors() {
        let (dtype, shape) = match t.format {
            Format::F32 => (Dtype::F32, t.shape.clone()),
            Format::F16 => (Dtype::F16, t.shape.clone()),
            Format::BF16 => (Dtype::BF16, t.shape.clone()),
            f => {
                meta.insert(format!("tendon.format.{}", t.name), f.name().to_string());
                let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
                meta.insert(format!("tendon.shape.{}", t.name), dims.join(","));
                if f == Format::NVFP4 {
                    meta.insert(
                        format!("tendon.scale.{}", t.name),
                        format!("{:e}", t.tensor_scale),
                    );
                }
                (Dtype::U8, vec![t.rows(), t.row_bytes()])
            }
        };
        let view =
            TensorView::new(dtype, shape, t.bytes()).map_err(|e| corrupt(path, e.to_string()))?;
        views.push((t.name.clone(), view));
    }
    safetensors::serialize_to_file(views, Some(meta), path)
        .map_err(|e| corrupt(path, e.to_string()))?;
    let cfg_path = ModelConfig::path_next_to(path);
    let json = serde_json::to_string_pretty(&model.config).expect("config serialises");
    std::fs::write(&cfg_path, json).map_err(|e| io(&cfg_path, e))?;
    Ok(())
}
