//! Speculative decoding: a small draft model proposes k tokens one at a
//! time, the main model checks all of them in one batched pass
//! (`Engine::forward_all`) and keeps the longest acceptable run plus one
//! token of its own.

use crate::engine::Engine;
use crate::error::{PolicyError, Result};
use crate::model::Input;
use crate::reference::argmax;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// A draft token is kept only if it is the main model's argmax: the
    /// output equals plain greedy decoding of the main model.
    GreedyExact,
    /// A draft token is kept if it is among the main model's top k.
    TopK(usize),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecStats {
    pub drafted: usize,
    pub accepted: usize,
    /// Batched verification passes of the main model.
    pub main_passes: usize,
}

/// Whether `tok` is among the `k` largest of `logits` (ties counted against it).
fn in_top_k(logits: &[f32], tok: u32, k: usize) -> bool {
    let v = logits[tok as usize];
    logits.iter().filter(|&&x| x > v).count() < k
}

/// Decodes `n` tokens after `prompt`. `k` draft tokens per round (1..max_batch−1).
pub fn speculative_decode(
    main: &mut Engine,
    draft: &mut Engine,
    prompt: &[Input],
    n: usize,
    k: usize,
    mode: Acceptance,
    out: &mut Vec<u32>,
) -> Result<SpecStats> {
    let vocab = main.model().config.vocab_size();
    if draft.model().config.vocab_size() != vocab {
        return Err(PolicyError::Input(format!(
            "draft vocabulary {} differs from the main model's {vocab}",
            draft.model().config.vocab_size()
        )));
    }
    if k == 0 {
        return Err(PolicyError::Input(
            "speculative decoding needs k ≥ 1 draft tokens".into(),
        ));
    }
    let mut stats = SpecStats::default();
    main.reset();
    draft.reset();
    let mut next = argmax(main.forward(prompt)?);
    draft.forward(prompt)?;
    let start = out.len();
    out.push(next);
    let mut proposals = [0u32; 64];
    let mut inputs = [Input::Token(0); 65];
    let k = k.min(63);
    while out.len() - start < n {
        // Draft: k tokens after `next`.
        let (mp, dp) = (main.pos(), draft.pos());
        let mut tok = next;
        for p in proposals.iter_mut().take(k) {
            tok = argmax(draft.forward(&[Input::Token(tok)])?);
            *p = tok;
        }
        stats.drafted += k;
        // Verify: main sees next, d0..d(k−1) at once; row j predicts what follows input j.
        inputs[0] = Input::Token(next);
        for j in 0..k {
            inputs[j + 1] = Input::Token(proposals[j]);
        }
        let rows = main.forward_all(&inputs[..k + 1])?;
        stats.main_passes += 1;
        let mut accepted = 0;
        let mut last = 0;
        for j in 0..=k {
            let row = &rows[j * vocab..(j + 1) * vocab];
            let pred = argmax(row);
            let ok = j < k
                && match mode {
                    Acceptance::GreedyExact => proposals[j] == pred,
                    Acceptance::TopK(t) => in_top_k(row, proposals[j], t),
                };
            if ok {
                accepted += 1;
                last = proposals[j];
                out.push(last);
            } else {
                last = pred;
                out.push(pred);
                break;
            }
        }
        stats.accepted += accepted;
        // Keep the KV of next and the accepted drafts; `last` is not in either cache yet.
        main.truncate(mp + accepted + 1);
        draft.truncate(dp + (accepted + 1).min(k));
        if accepted == k {
            draft.forward(&[Input::Token(proposals[k - 1])])?;
        }
        next = last;
    }
    out.truncate(start + n);
    Ok(stats)
}
