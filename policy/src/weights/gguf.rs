//! A GGUF reader (v2 and v3): header, metadata key/values, tensor infos and
//! the aligned data section, memory-mapped. Llama-architecture files map onto
//! our tensor names (`model.rs`), so a GGUF model runs in the same engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use crate::config::{InputsConfig, ModelConfig, VocabConfig};
use crate::error::{PolicyError, Result};
use crate::model::Model;
use crate::precision::PrecisionPolicy;
use crate::quant::Format;
use crate::tensor::{Bytes, Tensor};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// GGUF formats this build reads; the error for any other type lists them.
pub const GGUF_SUPPORTED: &str = "F32, F16, BF16, Q8_0, Q4_0, MXFP4";

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => self.as_u64().map(|v| v as f32),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Short human form (arrays summarised).
    pub fn display(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::Array(a) => match a.first() {
                Some(f) => format!("[{} items, first {}]", a.len(), f.display()),
                None => "[]".into(),
            },
            Value::F32(v) => format!("{v}"),
            Value::F64(v) => format!("{v}"),
            Value::Bool(v) => format!("{v}"),
            v => v
                .as_u64()
                .map_or_else(|| format!("{v:?}"), |u| u.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: ne[0] is the contiguous (column) dimension.
    pub ne: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
}

pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    pub data_offset: usize,
    map: Arc<Mmap>,
}

/// ggml type ids (ggml.h `enum ggml_type`).
pub fn ggml_type_name(t: u32) -> String {
    let names = [
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K",
        "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
        "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
    ];
    match t {
        39 => "MXFP4".into(),
        _ => names
            .get(t as usize)
            .map_or_else(|| format!("type {t}"), |s| s.to_string()),
    }
}

fn format_of(t: u32) -> Option<Format> {
    Some(match t {
        0 => Format::F32,
        1 => Format::F16,
        2 => Format::Q4_0,
        8 => Format::Q8_0,
        30 => Format::BF16,
        39 => Format::MXFP4,
        _ => return None,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn corrupt(&self, detail: String) -> PolicyError {
        PolicyError::Corrupt {
            path: self.path.to_path_buf(),
            kind: "GGUF",
            detail,
        }
    }
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.b.len() - self.at < n {
            return Err(self.corrupt(format!(
                "truncated at byte {} (wanted {n} more bytes of {})",
                self.at,
                self.b.len()
            )));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.u64()?;
        if n > (self.b.len() - self.at) as u64 {
            return Err(self.corrupt(format!("{what} length {n} runs past the end of the file")));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.len("string")?;
        let at = self.at;
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| self.corrupt(format!("string at byte {at} is not UTF-8")))
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8()?),
            1 => Value::I8(self.u8()? as i8),
            2 => Value::U16(self.u16()?),
            3 => Value::I16(self.u16()? as i16),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(self.u32()? as i32),
            6 => Value::F32(f32::from_bits(self.u32()?)),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 if depth == 0 => {
                let ety = self.u32()?;
                let n = self.len("array")?;
                let mut v = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    v.push(self.value(ety, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            _ => return Err(self.corrupt(format!("unknown metadata value type {ty}"))),
        })
    }
}

impl GgufFile {
    /// Maps `path` lazily: pages are read when first touched (`inspect`).
    pub fn open(path: &Path) -> Result<GgufFile> {
        Self::open_mapped(path, false)
    }

    /// Maps `path` with every page read in up front (`super::map_model`), for
    /// running the model.
    pub fn open_populated(path: &Path) -> Result<GgufFile> {
        Self::open_mapped(path, true)
    }

    fn open_mapped(path: &Path, populate: bool) -> Result<GgufFile> {
        let map = super::map_model(path, populate)?;
        let mut r = Reader {
            b: &map,
            at: 0,
            path,
        };
        if r.take(4)? != MAGIC {
            return Err(r.corrupt("it does not start with the magic 'GGUF'".into()));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(r.corrupt(format!("version {version}; this reader handles 2 and 3")));
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let ty = r.u32()?;
            let v = r.value(ty, 0)?;
            metadata.insert(key, v);
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims > 4 {
                return Err(r.corrupt(format!("tensor '{name}' has {n_dims} dimensions (max 4)")));
            }
            let ne = (0..n_dims).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
            let ggml_type = r.u32()?;
            let offset = r.u64()?;
            tensors.push(TensorInfo {
                name,
                ne,
                ggml_type,
                offset,
            });
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT);
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(r.corrupt(format!(
                "general.alignment {alignment} is not a power of two"
            )));
        }
        let data_offset = (r.at as u64).div_ceil(alignment) * alignment;
        Ok(GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            alignment,
            data_offset: data_offset as usize,
            map,
        })
    }

    /// The tensor's bytes as one of our formats, or a clear error.
    pub fn tensor(&self, info: &TensorInfo) -> Result<Tensor> {
        let format = format_of(info.ggml_type).ok_or_else(|| PolicyError::UnsupportedType {
            path: self.path.clone(),
            tensor: info.name.clone(),
            found: ggml_type_name(info.ggml_type),
            supported: GGUF_SUPPORTED,
        })?;
        let corrupt = |detail: String| PolicyError::Corrupt {
            path: self.path.clone(),
            kind: "GGUF",
            detail,
        };
        // Every size and offset comes from the file: a crafted or damaged
        // one must end in this error, never in an overflow panic.
        let too_large = || {
            corrupt(format!(
                "tensor '{}' has dims {:?} and offset {}, which do not fit in the file ({} bytes); the file is damaged or not a GGUF model",
                info.name,
                info.ne,
                info.offset,
                self.map.len()
            ))
        };
        let shape: Vec<usize> = info
            .ne
            .iter()
            .rev()
            .map(|&d| usize::try_from(d).map_err(|_| too_large()))
            .collect::<Result<_>>()?;
        let cols = *shape.last().unwrap_or(&1);
        let rows = shape
            .iter()
            .rev()
            .skip(1)
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(too_large)?;
        let row_bytes = format.row_bytes(cols).map_err(|_| {
            if cols.is_multiple_of(format.block_values()) {
                too_large()
            } else {
                corrupt(format!(
                    "tensor '{}' has rows of {cols}, not a multiple of {format}'s block",
                    info.name
                ))
            }
        })?;
        let len = row_bytes.checked_mul(rows).ok_or_else(too_large)?;
        let start = (self.data_offset as u64)
            .checked_add(info.offset)
            .ok_or_else(too_large)?;
        let end = start.checked_add(len as u64).ok_or_else(too_large)?;
        if !info.offset.is_multiple_of(self.alignment) || end > self.map.len() as u64 {
            return Err(corrupt(format!(
                "tensor '{}' at offset {} ({len} bytes) lies outside the data section or is misaligned (file is {} bytes)",
                info.name,
                info.offset,
                self.map.len()
            )));
        }
        Ok(Tensor {
            name: info.name.clone(),
            format,
            shape,
            data: Bytes::Mapped {
                map: self.map.clone(),
                start: start as usize,
                len,
            },
            tensor_scale: 1.0,
        })
    }

    fn meta(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| PolicyError::Corrupt {
            path: self.path.clone(),
            kind: "GGUF",
            detail: format!("metadata key '{key}' is missing"),
        })
    }

    /// A llama-architecture model from this file.
    pub fn to_model(&self) -> Result<Model> {
        let arch = self.meta("general.architecture")?.as_str().unwrap_or("");
        if arch != "llama" {
            return Err(PolicyError::Corrupt {
                path: self.path.clone(),
                kind: "GGUF",
                detail: format!("architecture '{arch}' is not supported; this build runs 'llama'"),
            });
        }
        let num = |k: &str| -> Result<usize> {
            let v = self.meta(&format!("llama.{k}"))?;
            v.as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| PolicyError::Corrupt {
                    path: self.path.clone(),
                    kind: "GGUF",
                    detail: format!("llama.{k} is not an integer"),
                })
        };
        let f = |k: &str, d: f32| {
            self.metadata
                .get(&format!("llama.{k}"))
                .and_then(Value::as_f32)
                .unwrap_or(d)
        };
        let d = num("embedding_length")?;
        let n_heads = num("attention.head_count")?;
        let embd = self
            .tensors
            .iter()
            .find(|t| t.name == "token_embd.weight")
            .ok_or_else(|| PolicyError::MissingTensor {
                path: self.path.clone(),
                tensor: "token_embd.weight".into(),
                expected: "the token embedding of a llama model".into(),
            })?;
        let vocab = embd.ne.get(1).copied().unwrap_or(0) as usize;
        if let Some(rd) = self
            .metadata
            .get("llama.rope.dimension_count")
            .and_then(Value::as_u64)
        {
            if rd as usize != d / n_heads {
                return Err(PolicyError::Corrupt {
                    path: self.path.clone(),
                    kind: "GGUF",
                    detail: format!(
                        "partial RoPE ({rd} of {} dims) is not supported",
                        d / n_heads
                    ),
                });
            }
        }
        let config = ModelConfig {
            d_model: d,
            n_layers: num("block_count")?,
            n_heads,
            n_kv_heads: num("attention.head_count_kv").unwrap_or(n_heads),
            d_ff: Some(num("feed_forward_length")?),
            rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5),
            rope_theta: f("rope.freq_base", 10_000.0),
            max_seq_len: num("context_length")?.min(8192),
            vocab: VocabConfig {
                text: vocab,
                action_bins: 0,
                special: 0,
                intents: 0,
            },
            action: None,
            inputs: InputsConfig::default(),
            precision: PrecisionPolicy::default(),
        };
        let mut tensors = BTreeMap::new();
        for info in &self.tensors {
            let Some(ours) = our_name(&info.name) else {
                continue;
            };
            let mut t = self.tensor(info)?;
            t.name = ours.clone();
            tensors.insert(ours, t);
        }
        Model::from_tensors(config, tensors, &self.path)
    }
}

/// llama.cpp's LLAMA tensor names → ours. RoPE-frequency and other
/// auxiliary tensors have no counterpart and are skipped.
fn our_name(gguf: &str) -> Option<String> {
    match gguf {
        "token_embd.weight" => return Some("embed.weight".into()),
        "output_norm.weight" => return Some("norm.weight".into()),
        "output.weight" => return Some("head.weight".into()),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (i, part) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let ours = match part {
        "attn_norm.weight" => "attn_norm.weight",
        "attn_q.weight" => "attn.q.weight",
        "attn_k.weight" => "attn.k.weight",
        "attn_v.weight" => "attn.v.weight",
        "attn_output.weight" => "attn.o.weight",
        "ffn_norm.weight" => "ffn_norm.weight",
        "ffn_gate.weight" => "ffn.gate.weight",
        "ffn_up.weight" => "ffn.up.weight",
        "ffn_down.weight" => "ffn.down.weight",
        _ => return None,
    };
    Some(format!("layers.{i}.{ours}"))
}
