//! The seam between the policy's callers (action decoding, the async
//! runner) and the hardware that runs the transformer. The CPU [`Engine`]
//! is the implementation today; a TensorRT engine on the Jetson (a later
//! cargo feature) implements the same trait, and the runner and action
//! decoding run on it unchanged.
//!
//! The contract is a causal decoder with a KV cache: `forward` appends
//! positions and returns the logits of the last one; `forward_prompt`
//! replaces the whole sequence, reusing what it can of the cached prefix;
//! `forward_actions` does the same and then runs the parallel action head.

use crate::config::ModelConfig;
use crate::engine::{Engine, StageTimes};
use crate::error::Result;
use crate::model::Input;

pub trait Backend: Send {
    /// The config of the model it runs: vocabulary ranges, action head.
    fn config(&self) -> &ModelConfig;

    /// Which backend and kernels, for logs and benchmark output
    /// (e.g. `cpu-avx2`).
    fn name(&self) -> String;

    /// Positions held in the KV cache.
    fn pos(&self) -> usize;

    /// Forgets every cached position.
    fn reset(&mut self);

    /// Appends `inputs` after the cached positions; the logits of the last.
    fn forward(&mut self, inputs: &[Input]) -> Result<&[f32]>;

    /// Runs `prompt` as the whole sequence, reusing the cached KV of its
    /// longest matching prefix; the last logits and how many positions
    /// were reused.
    fn forward_prompt(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)>;

    /// Runs `prompt` as the whole sequence (prefix reuse as in
    /// `forward_prompt`), then the parallel action head: the chunk's
    /// normalised values [H, D] and how many positions were reused. The
    /// action queries do not stay in the cache.
    fn forward_actions(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)>;

    /// Time spent projecting vision and audio inputs since the last call.
    fn take_stage_times(&mut self) -> StageTimes;
}

impl Backend for Engine {
    fn config(&self) -> &ModelConfig {
        &self.model().config
    }

    fn name(&self) -> String {
        format!("cpu-{}", self.simd().name())
    }

    fn pos(&self) -> usize {
        Engine::pos(self)
    }

    fn reset(&mut self) {
        Engine::reset(self)
    }

    fn forward(&mut self, inputs: &[Input]) -> Result<&[f32]> {
        Engine::forward(self, inputs)
    }

    fn forward_prompt(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)> {
        Engine::forward_prompt(self, prompt)
    }

    fn forward_actions(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)> {
        Engine::forward_actions(self, prompt)
    }

    fn take_stage_times(&mut self) -> StageTimes {
        std::mem::take(&mut self.stage_times)
    }
}
