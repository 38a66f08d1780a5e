//! The action heads. Direct bins: H×D action tokens decoded one at a time
//! into continuous values, then one intent token (one token per value,
//! `action_bins` shared by every dimension, per-dimension ranges; see README
//! for why). Parallel: every value of the chunk from one pass over H action
//! queries, a regression on [-1, 1] per dimension.

use std::time::Duration;

use tendon_core::action::{ActionChunk, ChunkError};
use tendon_core::poses::JointPose;
use tendon_core::time::MonoTime;

use crate::backend::Backend;
use crate::config::{ActionConfig, ActionHead, ModelConfig};
use crate::error::{PolicyError, Result};
use crate::model::Input;

/// Continuous value of `bin` (of `n_bins`) in `[lo, hi]`: the bin's centre.
pub fn bin_to_value(bin: u32, n_bins: usize, [lo, hi]: [f32; 2]) -> f32 {
    lo + (bin as f32 + 0.5) / n_bins as f32 * (hi - lo)
}

/// A parallel-head output on [-1, 1] mapped onto `[lo, hi]` (clamped: the
/// head was trained on that range, and a value outside it is not an action
/// the model has seen).
pub fn denormalise(y: f32, [lo, hi]: [f32; 2]) -> f32 {
    lo + (y.clamp(-1.0, 1.0) + 1.0) * 0.5 * (hi - lo)
}

/// The bin whose centre is nearest `v` (clamped into range).
pub fn value_to_bin(v: f32, n_bins: usize, [lo, hi]: [f32; 2]) -> u32 {
    let t = ((v - lo) / (hi - lo) * n_bins as f32).floor();
    t.clamp(0.0, n_bins as f32 - 1.0) as u32
}

/// Index of the largest logit within `range`.
fn argmax_in(logits: &[f32], range: std::ops::Range<usize>) -> u32 {
    let start = range.start;
    let mut best = start;
    for i in range {
        if logits[i] > logits[best] {
            best = i;
        }
    }
    (best - start) as u32
}

/// One decoded chunk: `values` is H×D, step-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedActions {
    pub values: Vec<f32>,
    pub bins: Vec<u32>,
    /// Intent index (0-based within the intent tokens), if the model has any.
    pub intent: Option<u32>,
    /// Time of the prompt pass (before the first action token); for the
    /// parallel head, of the whole chunk.
    pub prefill_time: std::time::Duration,
    /// Prompt positions whose KV came from the prefix cache.
    pub reused_positions: usize,
}

impl DecodedActions {
    pub fn new() -> Self {
        Self::default()
    }
}

fn action_config(cfg: &ModelConfig) -> Result<&ActionConfig> {
    cfg.action
        .as_ref()
        .ok_or_else(|| PolicyError::Input("this model has no action head (config.action)".into()))
}

/// Runs `prompt` (reusing the engine's cached KV for the longest matching
/// prefix) and decodes one action chunk with the model's own head.
pub fn decode_actions<B: Backend + ?Sized>(
    engine: &mut B,
    prompt: &[Input],
    out: &mut DecodedActions,
) -> Result<()> {
    let head = action_config(engine.config())?.head;
    decode_actions_with(engine, head, prompt, out)
}

/// `decode_actions` with the head chosen by the caller: a model that has
/// parallel-head weights also has an LM head, so both paths can run on the
/// same weights (the benchmark compares them).
pub fn decode_actions_with<B: Backend + ?Sized>(
    engine: &mut B,
    head: ActionHead,
    prompt: &[Input],
    out: &mut DecodedActions,
) -> Result<()> {
    match head {
        ActionHead::DirectBins => decode_direct_bins(engine, prompt, out),
        ActionHead::Parallel => decode_parallel(engine, prompt, out),
    }
}

fn decode_parallel<B: Backend + ?Sized>(
    engine: &mut B,
    prompt: &[Input],
    out: &mut DecodedActions,
) -> Result<()> {
    out.values.clear();
    out.bins.clear();
    out.intent = None;
    let started = std::time::Instant::now();
    let (normalised, reused) = engine.forward_actions(prompt)?;
    out.values.extend_from_slice(normalised);
    out.reused_positions = reused;
    let a = action_config(engine.config())?;
    for (k, y) in out.values.iter_mut().enumerate() {
        *y = denormalise(*y, a.ranges[k % a.dims]);
    }
    out.prefill_time = started.elapsed();
    Ok(())
}

/// Greedy direct-bin decoding, each token constrained to the action bins,
/// then the intent token.
fn decode_direct_bins<B: Backend + ?Sized>(
    engine: &mut B,
    prompt: &[Input],
    out: &mut DecodedActions,
) -> Result<()> {
    let cfg = engine.config().clone();
    let a = action_config(&cfg)?;
    let v = &cfg.vocab;
    let base = v.action_base() as usize;
    out.values.clear();
    out.bins.clear();
    let started = std::time::Instant::now();
    let (mut logits, reused) = engine.forward_prompt(prompt)?;
    out.reused_positions = reused;
    out.prefill_time = started.elapsed();
    for k in 0..a.horizon * a.dims {
        let bin = argmax_in(logits, base..base + v.action_bins);
        out.bins.push(bin);
        out.values
            .push(bin_to_value(bin, v.action_bins, a.ranges[k % a.dims]));
        logits = engine.forward(&[Input::Token(base as u32 + bin)])?;
    }
    out.intent = (v.intents > 0).then(|| {
        let ib = v.intent_base() as usize;
        argmax_in(logits, ib..ib + v.intents)
    });
    Ok(())
}

/// Turns decoded values into a chunk for the control loop: action dimension
/// j drives joint slot `joint_slots[j]`; other joints hold `hold`.
pub fn to_action_chunk(
    a: &ActionConfig,
    values: &[f32],
    joint_slots: &[usize],
    hold: &JointPose,
    t_obs: MonoTime,
) -> std::result::Result<ActionChunk, ChunkError> {
    let mut steps = [*hold; tendon_core::action::MAX_CHUNK_STEPS];
    let h = a.horizon.min(steps.len());
    for (k, step) in steps.iter_mut().take(h).enumerate() {
        for (j, &slot) in joint_slots.iter().enumerate().take(a.dims) {
            if let Some(q) = step.get_mut(slot) {
                *q = values[k * a.dims + j];
            }
        }
    }
    // The config was validated when it loaded; a step that is still not a
    // duration becomes the chunk's own period error, never a panic.
    let dt = Duration::try_from_secs_f32(a.step_ms / 1000.0).unwrap_or(Duration::ZERO);
    ActionChunk::from_steps(t_obs, dt, &steps[..h])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_map_to_centres_and_back() {
        let r = [-1.0, 1.0];
        assert_eq!(bin_to_value(0, 256, r), -1.0 + 1.0 / 256.0);
        assert_eq!(bin_to_value(255, 256, r), 1.0 - 1.0 / 256.0);
        for b in 0..256 {
            assert_eq!(value_to_bin(bin_to_value(b, 256, r), 256, r), b);
        }
        assert_eq!(value_to_bin(5.0, 256, r), 255);
        assert_eq!(value_to_bin(-5.0, 256, r), 0);
    }

    #[test]
    fn parallel_outputs_map_onto_each_range_and_are_clamped() {
        assert_eq!(denormalise(-1.0, [0.0, 2.0]), 0.0);
        assert_eq!(denormalise(0.0, [0.0, 2.0]), 1.0);
        assert_eq!(denormalise(1.0, [-0.5, 0.5]), 0.5);
        assert_eq!(denormalise(7.0, [-0.5, 0.5]), 0.5);
        assert_eq!(denormalise(-7.0, [-0.5, 0.5]), -0.5);
    }

    #[test]
    fn chunk_places_dims_on_their_joint_slots() {
        let a = ActionConfig {
            horizon: 2,
            dims: 2,
            ranges: vec![[-1.0, 1.0]; 2],
            step_ms: 20.0,
            head: crate::config::ActionHead::DirectBins,
        };
        let hold = [0.25; tendon_core::joints::NUM_BODY_JOINTS];
        let c = to_action_chunk(
            &a,
            &[1.0, 2.0, 3.0, 4.0],
            &[3, 7],
            &hold,
            MonoTime::from_ns(5),
        )
        .unwrap();
        assert_eq!(c.len, 2);
        assert_eq!(
            (c.steps[0][3], c.steps[0][7], c.steps[1][3], c.steps[1][7]),
            (1.0, 2.0, 3.0, 4.0)
        );
        assert_eq!(c.steps[1][0], 0.25);
        assert_eq!(c.dt, Duration::from_millis(20));
        assert_eq!(c.t_obs, MonoTime::from_ns(5));
    }
}
