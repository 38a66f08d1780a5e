//! Small model configurations shared by tests, benchmarks and the
//! sensitivity report.

use crate::config::{ActionConfig, ActionHead, AudioInput, InputsConfig, ModelConfig, VocabConfig};
use crate::precision::PrecisionPolicy;

/// A tiny multimodal policy model: every input kind and an action head.
pub fn tiny_policy_config() -> ModelConfig {
    ModelConfig {
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        d_ff: Some(128),
        rms_eps: 1e-5,
        rope_theta: 10_000.0,
        max_seq_len: 128,
        vocab: VocabConfig {
            text: 64,
            action_bins: 32,
            special: 2,
            intents: 4,
        },
        action: Some(ActionConfig {
            horizon: 4,
            dims: 3,
            ranges: vec![[-1.0, 1.0], [0.0, 2.0], [-0.5, 0.5]],
            step_ms: 20.0,
            head: ActionHead::DirectBins,
        }),
        inputs: InputsConfig {
            vision_patch_dim: Some(128),
            audio: Some(AudioInput::Patches { patch_dim: 64 }),
            state_dim: Some(64),
        },
        precision: PrecisionPolicy::default(),
    }
}

/// `tiny_policy_config` with the parallel action head (4 steps × 3 values
/// from one pass); it keeps the LM head, so direct bins run on it too.
pub fn tiny_parallel_config() -> ModelConfig {
    let mut c = tiny_policy_config();
    if let Some(a) = c.action.as_mut() {
        a.head = ActionHead::Parallel;
    }
    c
}
