//! The in-memory model: the config plus every weight tensor in its own
//! format, whatever file it came from (safetensors in our naming, or GGUF).
//!
//! Tensor names (ours; GGUF names are mapped onto them at load):
//! `embed.weight` [vocab, d], `layers.N.attn_norm.weight` [d],
//! `layers.N.attn.{q,k,v,o}.weight`, `layers.N.ffn_norm.weight`,
//! `layers.N.ffn.{gate,up,down}.weight`, `norm.weight`, `head.weight`
//! (absent: tied to `embed.weight`), `vision.proj.{weight,bias}`,
//! `audio.proj.{weight,bias}` or `audio.codebook.weight`,
//! `state.fc1.{weight,bias}`, `state.fc2.{weight,bias}`, and for the
//! parallel action head `action.queries.weight`, `action.fc1.{weight,bias}`,
//! `action.fc2.{weight,bias}`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{ActionHead, AudioInput, ModelConfig};
use crate::error::{PolicyError, Result};
use crate::precision::{Component, PrecisionPolicy};
use crate::quant::Format;
use crate::rng::SplitMix64;
use crate::tensor::Tensor;

pub struct Layer {
    pub attn_norm: Tensor,
    pub wq: Tensor,
    pub wk: Tensor,
    pub wv: Tensor,
    pub wo: Tensor,
    pub ffn_norm: Tensor,
    pub w_gate: Tensor,
    pub w_up: Tensor,
    pub w_down: Tensor,
}

/// A linear map with a bias, for the modality inputs.
pub struct Affine {
    pub weight: Tensor,
    pub bias: Tensor,
}

pub enum AudioWeights {
    Patches(Affine),
    Codebook(Tensor),
}

/// Two affine maps with SiLU between them.
pub struct StateMlp {
    pub fc1: Affine,
    pub fc2: Affine,
}

/// The parallel action head (`ActionHead::Parallel`): one learned query
/// embedding per chunk step and the regression MLP (d → d → D).
pub struct ParallelHead {
    pub queries: Tensor,
    pub mlp: StateMlp,
}

pub struct Model {
    pub config: ModelConfig,
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    pub norm: Tensor,
    pub head: Tensor,
    pub vision: Option<Affine>,
    pub audio: Option<AudioWeights>,
    pub state: Option<StateMlp>,
    pub parallel_head: Option<ParallelHead>,
}

/// One position of the input sequence.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Token(u32),
    /// One flattened vision patch (vision_patch_dim values).
    Vision(&'a [f32]),
    /// One log-mel patch (audio patch_dim values).
    Audio(&'a [f32]),
    AudioCode(u32),
    /// The robot state vector (state_dim values).
    State(&'a [f32]),
    /// The learned query of chunk step k (parallel action head only).
    ActionQuery(u32),
}

/// Which precision component a tensor belongs to.
pub fn component_of(name: &str) -> Component {
    if name == "embed.weight" {
        Component::Embeddings
    } else if name == "head.weight" {
        Component::LmHead
    } else if name.ends_with("norm.weight") || name.ends_with(".bias") {
        Component::Norms
    } else if name.contains(".attn.o.") {
        Component::AttnOut
    } else if name.contains(".attn.") {
        Component::Qkv
    } else if name.contains(".ffn.") {
        Component::Ffn
    } else {
        Component::Inputs
    }
}

/// Expected (name, shape) of every tensor the config calls for.
pub fn expected_tensors(cfg: &ModelConfig, tied_head: bool) -> Vec<(String, Vec<usize>)> {
    let d = cfg.d_model;
    let kv = cfg.kv_dim();
    let ff = cfg.d_ff();
    let v = cfg.vocab_size();
    let mut t = vec![("embed.weight".to_string(), vec![v, d])];
    for i in 0..cfg.n_layers {
        let p = format!("layers.{i}");
        t.push((format!("{p}.attn_norm.weight"), vec![d]));
        t.push((format!("{p}.attn.q.weight"), vec![d, d]));
        t.push((format!("{p}.attn.k.weight"), vec![kv, d]));
        t.push((format!("{p}.attn.v.weight"), vec![kv, d]));
        t.push((format!("{p}.attn.o.weight"), vec![d, d]));
        t.push((format!("{p}.ffn_norm.weight"), vec![d]));
        t.push((format!("{p}.ffn.gate.weight"), vec![ff, d]));
        t.push((format!("{p}.ffn.up.weight"), vec![ff, d]));
        t.push((format!("{p}.ffn.down.weight"), vec![d, ff]));
    }
    t.push(("norm.weight".to_string(), vec![d]));
    if !tied_head {
        t.push(("head.weight".to_string(), vec![v, d]));
    }
    if let Some(pv) = cfg.inputs.vision_patch_dim {
        t.push(("vision.proj.weight".to_string(), vec![d, pv]));
        t.push(("vision.proj.bias".to_string(), vec![d]));
    }
    match cfg.inputs.audio {
        Some(AudioInput::Patches { patch_dim }) => {
            t.push(("audio.proj.weight".to_string(), vec![d, patch_dim]));
            t.push(("audio.proj.bias".to_string(), vec![d]));
        }
        Some(AudioInput::Codebook { size }) => {
            t.push(("audio.codebook.weight".to_string(), vec![size, d]));
        }
        None => {}
    }
    if let Some(s) = cfg.inputs.state_dim {
        t.push(("state.fc1.weight".to_string(), vec![d, s]));
        t.push(("state.fc1.bias".to_string(), vec![d]));
        t.push(("state.fc2.weight".to_string(), vec![d, d]));
        t.push(("state.fc2.bias".to_string(), vec![d]));
    }
    if let Some(a) = cfg
        .action
        .as_ref()
        .filter(|a| a.head == ActionHead::Parallel)
    {
        t.push(("action.queries.weight".to_string(), vec![a.horizon, d]));
        t.push(("action.fc1.weight".to_string(), vec![d, d]));
        t.push(("action.fc1.bias".to_string(), vec![d]));
        t.push(("action.fc2.weight".to_string(), vec![a.dims, d]));
        t.push(("action.fc2.bias".to_string(), vec![a.dims]));
    }
    t
}

impl Model {
    /// Assembles a model from named tensors, checking names, shapes and sizes.
    pub fn from_tensors(
        config: ModelConfig,
        mut tensors: BTreeMap<String, Tensor>,
        path: &Path,
    ) -> Result<Model> {
        config.validate(path)?;
        let tied = !tensors.contains_key("head.weight");
        for (name, shape) in expected_tensors(&config, tied) {
            let t = tensors
                .get(&name)
                .ok_or_else(|| PolicyError::MissingTensor {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    expected: format!("shape {shape:?}"),
                })?;
            let found = t.shape.clone();
            if found != shape {
                return Err(PolicyError::BadShape {
                    path: path.to_path_buf(),
                    tensor: name,
                    found,
                    expected: shape,
                });
            }
            t.check_size(path)?;
        }
        let t = &mut tensors;
        let take =
            |t: &mut BTreeMap<String, Tensor>, name: &str| t.remove(name).expect("checked above");
        let affine = |t: &mut BTreeMap<String, Tensor>, w: &str, b: &str| Affine {
            weight: take(t, w),
            bias: take(t, b),
        };
        let embed = take(t, "embed.weight");
        let layers = (0..config.n_layers)
            .map(|i| {
                let p = format!("layers.{i}");
                Layer {
                    attn_norm: take(t, &format!("{p}.attn_norm.weight")),
                    wq: take(t, &format!("{p}.attn.q.weight")),
                    wk: take(t, &format!("{p}.attn.k.weight")),
                    wv: take(t, &format!("{p}.attn.v.weight")),
                    wo: take(t, &format!("{p}.attn.o.weight")),
                    ffn_norm: take(t, &format!("{p}.ffn_norm.weight")),
                    w_gate: take(t, &format!("{p}.ffn.gate.weight")),
                    w_up: take(t, &format!("{p}.ffn.up.weight")),
                    w_down: take(t, &format!("{p}.ffn.down.weight")),
                }
            })
            .collect();
        let norm = take(t, "norm.weight");
        let head = if tied {
            let mut h = embed.clone();
            h.name = "head.weight".into();
            h
        } else {
            take(t, "head.weight")
        };
        let vision = config
            .inputs
            .vision_patch_dim
            .map(|_| affine(t, "vision.proj.weight", "vision.proj.bias"));
        let audio = match config.inputs.audio {
            Some(AudioInput::Patches { .. }) => Some(AudioWeights::Patches(affine(
                t,
                "audio.proj.weight",
                "audio.proj.bias",
            ))),
            Some(AudioInput::Codebook { .. }) => {
                Some(AudioWeights::Codebook(take(t, "audio.codebook.weight")))
            }
            None => None,
        };
        let state = config.inputs.state_dim.map(|_| StateMlp {
            fc1: affine(t, "state.fc1.weight", "state.fc1.bias"),
            fc2: affine(t, "state.fc2.weight", "state.fc2.bias"),
        });
        let parallel_head = config
            .action
            .as_ref()
            .filter(|a| a.head == ActionHead::Parallel)
            .map(|_| ParallelHead {
                queries: take(t, "action.queries.weight"),
                mlp: StateMlp {
                    fc1: affine(t, "action.fc1.weight", "action.fc1.bias"),
                    fc2: affine(t, "action.fc2.weight", "action.fc2.bias"),
                },
            });
        Ok(Model {
            config,
            embed,
            layers,
            norm,
            head,
            vision,
            audio,
            state,
            parallel_head,
        })
    }

    /// A model with Gaussian weights (std 0.02·scaled, norms near 1) stored
    /// per `policy`. For tests, benchmarks and the sensitivity report: a seed
    /// names the same model on every machine.
    pub fn random(config: ModelConfig, seed: u64, policy: &PrecisionPolicy) -> Result<Model> {
        let mut rng = SplitMix64::new(seed);
        let mut tensors = BTreeMap::new();
        for (name, shape) in expected_tensors(&config, false) {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with("norm.weight") {
                (0..n).map(|_| 1.0 + 0.1 * rng.normal()).collect()
            } else if name.ends_with(".bias") {
                rng.normal_vec(n, 0.02)
            } else {
                let fan_in = *shape.last().unwrap() as f32;
                rng.normal_vec(n, 1.0 / fan_in.sqrt())
            };
            let format = policy.get(component_of(&name));
            let t = Tensor::quantize(&name, &shape, &values, format)?;
            tensors.insert(name, t);
        }
        Model::from_tensors(config, tensors, Path::new("<random>"))
    }

    /// Every tensor, in a stable order (the tied head appears once, as embed).
    pub fn tensors(&self) -> Vec<&Tensor> {
        let mut v = vec![&self.embed];
        for l in &self.layers {
            v.extend([
                &l.attn_norm,
                &l.wq,
                &l.wk,
                &l.wv,
                &l.wo,
                &l.ffn_norm,
                &l.w_gate,
                &l.w_up,
                &l.w_down,
            ]);
        }
        v.push(&self.norm);
        if !self.head_is_tied() {
            v.push(&self.head);
        }
        if let Some(a) = &self.vision {
            v.extend([&a.weight, &a.bias]);
        }
        match &self.audio {
            Some(AudioWeights::Patches(a)) => v.extend([&a.weight, &a.bias]),
            Some(AudioWeights::Codebook(t)) => v.push(t),
            None => {}
        }
        if let Some(s) = &self.state {
            v.extend([&s.fc1.weight, &s.fc1.bias, &s.fc2.weight, &s.fc2.bias]);
        }
        if let Some(p) = &self.parallel_head {
            let m = &p.mlp;
            v.extend([
                &p.queries,
                &m.fc1.weight,
                &m.fc1.bias,
                &m.fc2.weight,
                &m.fc2.bias,
            ]);
        }
        v
    }

    pub fn head_is_tied(&self) -> bool {
        std::ptr::eq(self.head.bytes().as_ptr(), self.embed.bytes().as_ptr())
    }

    /// The same weights stored per `policy` (each tensor unpacked to f32 and
    /// packed again; a tensor already in its target format is shared).
    pub fn requantize(
        &self,
        policy: &PrecisionPolicy,
        mut progress: impl FnMut(&str),
    ) -> Result<Model> {
        let mut tensors = BTreeMap::new();
        for t in self.tensors() {
            progress(&t.name);
            let target = policy.get(component_of(&t.name));
            let block_ok = target.row_bytes(t.cols()).is_ok();
            let nt = if t.format == target || !block_ok {
                // A row that does not fit the target's block stays as it is.
                t.clone()
            } else {
                Tensor::quantize(&t.name, &t.shape, &t.to_f32(), target)?
            };
            tensors.insert(t.name.clone(), nt);
        }
        let mut config = self.config.clone();
        config.precision = *policy;
        Model::from_tensors(config, tensors, Path::new("<requantized>"))
    }

    /// Bytes of weights, counting a tied head once.
    pub fn weight_bytes(&self) -> usize {
        self.tensors().iter().map(|t| t.bytes().len()).sum()
    }

    /// Formats present and how many tensors use each.
    pub fn format_summary(&self) -> Vec<(Format, usize)> {
        let mut m: BTreeMap<&str, (Format, usize)> = BTreeMap::new();
        for t in self.tensors() {
            m.entry(t.format.name()).or_insert((t.format, 0)).1 += 1;
        }
        m.into_values().collect()
    }
}
