//! Several sequences decoded together, for several robots or requests, with
//! continuous batching: each sequence has its own KV cache and position, one
//! `step` advances every listed sequence by one token in a single pass over
//! the weights (each weight row is read once and dotted with all of the
//! step's activation vectors), and a finished sequence's slot takes a new
//! sequence while the others go on.
//!
//! A new sequence's prompt is prefilled when it is admitted, in its own
//! pass, not inside a decode step: a step then costs the same for every
//! sequence in it, and the prompt gets the chunked prefill path (many
//! positions per weight read). The sequences already running wait for that
//! one prefill.
//!
//! All scratch (activations, logits, KV caches) is sized up front for
//! `max_seqs` sequences of `positions_per_seq` positions, so steps, admissions
//! and finishes allocate nothing.

use std::sync::Arc;

use crate::engine::{Engine, EngineOptions};
use crate::error::{PolicyError, Result};
use crate::model::{Input, Model};

/// A sequence in a `Batch`: the slot it occupies until `finish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqId(pub usize);

pub struct Batch {
    engine: Engine,
    active: Vec<bool>,
    entries: Vec<(usize, Input<'static>)>,
    inputs: Vec<Input<'static>>,
    caches: Vec<usize>,
}

impl Batch {
    /// Room for `max_seqs` sequences of up to `positions_per_seq` positions
    /// each (capped at the model's max_seq_len). `opts.max_batch` (the
    /// prefill chunk) is raised to `max_seqs` if smaller; early exit is not
    /// used in batched steps.
    pub fn new(
        model: Arc<Model>,
        opts: EngineOptions,
        max_seqs: usize,
        positions_per_seq: usize,
    ) -> Result<Batch> {
        if max_seqs == 0 {
            return Err(PolicyError::Input(
                "a batch needs room for at least one sequence".into(),
            ));
        }
        let opts = EngineOptions {
            max_batch: opts.max_batch.max(max_seqs),
            early_exit: None,
            ..opts
        };
        Ok(Batch {
            engine: Engine::with_caches(model, opts, max_seqs, positions_per_seq)?,
            active: vec![false; max_seqs],
            entries: Vec::with_capacity(max_seqs),
            inputs: Vec::with_capacity(max_seqs),
            caches: Vec::with_capacity(max_seqs),
        })
    }

    pub fn max_seqs(&self) -> usize {
        self.active.len()
    }

    /// Sequences admitted and not finished.
    pub fn active(&self) -> usize {
        self.active.iter().filter(|a| **a).count()
    }

    /// Positions sequence `id` holds.
    pub fn pos(&self, id: SeqId) -> usize {
        self.engine.cache_pos(id.0)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Takes a free slot and prefills `prompt` into it; returns the new
    /// sequence and the logits of its last prompt position.
    pub fn admit(&mut self, prompt: &[Input]) -> Result<(SeqId, &[f32])> {
        let Some(slot) = self.active.iter().position(|a| !a) else {
            return Err(PolicyError::Input(format!(
                "all {} sequence slots are busy; finish a sequence before admitting another",
                self.active.len()
            )));
        };
        self.engine.set_cache_pos(slot, 0);
        let logits = self.engine.forward_in(slot, prompt)?;
        self.active[slot] = true;
        Ok((SeqId(slot), logits))
    }

    /// Frees `id`'s slot for the next admission.
    pub fn finish(&mut self, id: SeqId) {
        if let Some(a) = self.active.get_mut(id.0) {
            *a = false;
        }
    }

    /// The parallel action head for each listed sequence, in one pass (H
    /// query rows per sequence, at most `max_batch` rows): the normalised
    /// chunks, [ids.len() · H, D] in the order of `ids`. The sequences keep
    /// their positions, so the next observation can reuse their prompts.
    pub fn actions(&mut self, ids: &[SeqId]) -> Result<&[f32]> {
        self.caches.clear();
        for &id in ids {
            if !self.active.get(id.0).copied().unwrap_or(false) {
                return Err(PolicyError::Input(format!(
                    "sequence {} is not active; admit it first",
                    id.0
                )));
            }
            self.caches.push(id.0);
        }
        self.engine.action_queries(&self.caches)
    }

    /// One decode step: each listed sequence takes its next token. Returns
    /// the logits, [next.len(), vocab], in the order of `next`.
    pub fn step(&mut self, next: &[(SeqId, u32)]) -> Result<&[f32]> {
        self.entries.clear();
        for (i, &(id, tok)) in next.iter().enumerate() {
            if !self.active.get(id.0).copied().unwrap_or(false) {
                return Err(PolicyError::Input(format!(
                    "sequence {} is not active; admit it first",
                    id.0
                )));
            }
            if next[..i].iter().any(|(other, _)| *other == id) {
                return Err(PolicyError::Input(format!(
                    "sequence {} is listed twice in one step",
                    id.0
                )));
            }
            self.entries.push((id.0, Input::Token(tok)));
        }
        self.engine.forward_rows(&self.entries, &mut self.inputs)
    }
}
