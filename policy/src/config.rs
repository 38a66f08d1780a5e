//! Model configuration: the JSON file next to the weights (`model.safetensors`
//! → `model.json`). GGUF files carry theirs in their metadata instead.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};
use crate::precision::PrecisionPolicy;

/// A decoder-only transformer: pre-norm RMSNorm, RoPE, grouped-query
/// attention and a SwiGLU feed-forward block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// Hidden width of the SwiGLU block; 4·d_model when absent.
    #[serde(default)]
    pub d_ff: Option<usize>,
    #[serde(default = "default_rms_eps")]
    pub rms_eps: f32,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    /// Longest sequence the KV cache holds.
    pub max_seq_len: usize,
    pub vocab: VocabConfig,
    #[serde(default)]
    pub action: Option<ActionConfig>,
    #[serde(default)]
    pub inputs: InputsConfig,
    #[serde(default)]
    pub precision: PrecisionPolicy,
}

fn default_rms_eps() -> f32 {
    1e-5
}
fn default_rope_theta() -> f32 {
    10_000.0
}
fn default_action_bins() -> usize {
    256
}

/// Token id ranges, in this order: text, action bins, special, intents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocabConfig {
    pub text: usize,
    #[serde(default = "default_action_bins")]
    pub action_bins: usize,
    #[serde(default)]
    pub special: usize,
    #[serde(default)]
    pub intents: usize,
}

impl VocabConfig {
    pub fn size(&self) -> usize {
        self.text + self.action_bins + self.special + self.intents
    }
    pub fn action_base(&self) -> u32 {
        self.text as u32
    }
    pub fn special_base(&self) -> u32 {
        (self.text + self.action_bins) as u32
    }
    pub fn intent_base(&self) -> u32 {
        (self.text + self.action_bins + self.special) as u32
    }
}

/// How action tokens become an H × D chunk of continuous values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Steps per chunk (H).
    pub horizon: usize,
    /// Values per step (D).
    pub dims: usize,
    /// Per-dimension [low, high]; bin b of n maps to low + (b + 0.5)/n · (high − low).
    pub ranges: Vec<[f32; 2]>,
    /// Time between chunk steps.
    pub step_ms: f32,
    /// How the chunk is decoded: direct bins (one token per value) or the
    /// parallel head (every value from one pass).
    #[serde(default)]
    pub head: ActionHead,
}

/// The two ways a chunk comes out of the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionHead {
    /// Autoregressive: H×D action-bin tokens, then the intent token.
    #[default]
    DirectBins,
    /// OpenVLA-OFT style: H learned action-query positions after the prompt
    /// attend to the prompt and to each other (bidirectionally), and a
    /// regression MLP maps each query's final hidden state to the D values
    /// of its step, normalised to [-1, 1] over the dimension's range.
    /// Tensors `action.queries.weight` [H, d], `action.fc1.{weight,bias}`
    /// [d, d], `action.fc2.{weight,bias}` [D, d].
    Parallel,
}

/// The non-text inputs. Each is optional: a model without a vision
/// projection cannot take vision patches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    /// Flattened patch width, 768 for 16×16×3.
    #[serde(default)]
    pub vision_patch_dim: Option<usize>,
    #[serde(default)]
    pub audio: Option<AudioInput>,
    /// Robot state vector width for the state MLP (d_state → d_model → d_model).
    #[serde(default)]
    pub state_dim: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioInput {
    /// Log-mel patches (16×16 = 256) through a linear projection.
    Patches { patch_dim: usize },
    /// Discrete audio-codebook ids through an embedding table.
    Codebook { size: usize },
}

impl ModelConfig {
    pub fn d_ff(&self) -> usize {
        self.d_ff.unwrap_or(4 * self.d_model)
    }
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }
    pub fn kv_dim(&self) -> usize {
        self.head_dim() * self.n_kv_heads
    }
    pub fn vocab_size(&self) -> usize {
        self.vocab.size()
    }

    /// Checks the invariants the engine relies on.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |detail: String| {
            Err(PolicyError::BadConfig {
                path: path.to_path_buf(),
                detail,
            })
        };
        if self.d_model == 0 || self.n_layers == 0 || self.n_heads == 0 || self.n_kv_heads == 0 {
            return bad("d_model, n_layers, n_heads and n_kv_heads must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.n_heads) || !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "d_model {} must split into {} heads of even width",
                self.d_model, self.n_heads
            ));
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!(
                "n_heads {} must be a multiple of n_kv_heads {} (grouped-query attention)",
                self.n_heads, self.n_kv_heads
            ));
        }
        if self.max_seq_len == 0 || self.vocab_size() == 0 {
            return bad("max_seq_len and the vocabulary must be non-empty".into());
        }
        if let Some(a) = &self.action {
            if a.ranges.len() != a.dims {
                return bad(format!(
                    "action.ranges has {} entries; action.dims is {}",
                    a.ranges.len(),
                    a.dims
                ));
            }
            let chunk_positions = match a.head {
                ActionHead::DirectBins => {
                    if self.vocab.action_bins < 2 {
                        return bad("a direct-bin action head needs vocab.action_bins ≥ 2".into());
                    }
                    a.horizon * a.dims
                }
                ActionHead::Parallel => a.horizon,
            };
            if chunk_positions + 1 > self.max_seq_len {
                return bad("max_seq_len cannot hold one action chunk".into());
            }
            if a.horizon == 0 || a.horizon > tendon_core::MAX_CHUNK_STEPS {
                return bad(format!(
                    "action.horizon = {} must be 1..={} (the control loop's chunk capacity)",
                    a.horizon,
                    tendon_core::MAX_CHUNK_STEPS
                ));
            }
            if !(a.step_ms.is_finite() && (1.0..=1000.0).contains(&a.step_ms)) {
                return bad(format!(
                    "action.step_ms = {} must be a number of milliseconds in 1..=1000",
                    a.step_ms
                ));
            }
            if let Some((j, r)) = a
                .ranges
                .iter()
                .enumerate()
                .find(|(_, [lo, hi])| !(lo.is_finite() && hi.is_finite() && lo < hi))
            {
                return bad(format!(
                    "action.ranges[{j}] = {r:?} must be finite with low < high"
                ));
            }
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0) {
            return bad(format!(
                "rms_eps = {} must be a positive number",
                self.rms_eps
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(format!(
                "rope_theta = {} must be a positive number",
                self.rope_theta
            ));
        }
        Ok(())
    }

    pub fn from_json_file(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::ConfigIo {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: ModelConfig = serde_json::from_str(&text).map_err(|e| PolicyError::BadConfig {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// `model.safetensors` → `model.json`.
    pub fn path_next_to(weights: &Path) -> PathBuf {
        weights.with_extension("json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_action(step_ms: f32, ranges: Vec<[f32; 2]>) -> ModelConfig {
        let mut c = crate::testmodel::tiny_policy_config();
        let a = c
            .action
            .as_mut()
            .expect("the tiny policy has an action head");
        a.step_ms = step_ms;
        a.dims = ranges.len();
        a.ranges = ranges;
        c
    }

    #[test]
    fn bad_action_timing_and_ranges_are_refused_when_the_config_loads() {
        let p = Path::new("model.json");
        let dims = crate::testmodel::tiny_policy_config().action.unwrap().dims;
        assert!(with_action(20.0, vec![[-1.0, 1.0]; dims])
            .validate(p)
            .is_ok());
        for (step_ms, ranges, want) in [
            (-20.0, vec![[-1.0, 1.0]; dims], "action.step_ms = -20"),
            (f32::NAN, vec![[-1.0, 1.0]; dims], "action.step_ms = NaN"),
            (20.0, vec![[1.0, -1.0]; dims], "action.ranges[0]"),
            (20.0, vec![[f32::NAN, 1.0]; dims], "action.ranges[0]"),
        ] {
            let e = with_action(step_ms, ranges)
                .validate(p)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("model.json"), "{e}");
        }
    }
}
