//! Batched decoding with continuous batching: every row of a batch step
//! against the reference forward pass (each weight format, the tolerances of
//! engine_vs_reference.rs), greedy tokens in a batch equal to the same
//! sequence decoded alone, and a sequence admitted mid-flight into a
//! finished sequence's slot equal to itself alone.

mod common;

use std::sync::Arc;

use common::CASES;

use tendon_policy::batch::{Batch, SeqId};
use tendon_policy::engine::{Engine, EngineOptions};
use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::quant::Format;
use tendon_policy::reference::{argmax, Reference};
use tendon_policy::rng::SplitMix64;
use tendon_policy::testmodel::tiny_policy_config;

fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
        * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

/// Five prompts of different lengths; the first carries vision and state inputs.
fn prompts(feats: &[Vec<f32>]) -> Vec<Vec<Input<'_>>> {
    let mut out = vec![vec![
        Input::Vision(&feats[0]),
        Input::State(&feats[1]),
        Input::Token(5),
        Input::Token(9),
    ]];
    for (k, len) in [3usize, 7, 1, 5].into_iter().enumerate() {
        out.push(
            (0..len)
                .map(|i| Input::Token(((i * 13 + k * 7 + 1) % 64) as u32))
                .collect(),
        );
    }
    out
}

fn feats() -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(21);
    vec![rng.normal_vec(128, 1.0), rng.normal_vec(64, 1.0)]
}

#[test]
fn every_row_of_a_batch_step_matches_the_reference_for_every_format() {
    let f = feats();
    let ps = prompts(&f);
    for (format, kv_format, tol) in CASES {
        let model = Arc::new(
            Model::random(tiny_policy_config(), 1, &PrecisionPolicy::uniform(format)).unwrap(),
        );
        let reference = Reference::new(&model);
        for (threads, portable) in [(1, true), (2, false)] {
            let opts = EngineOptions {
                threads,
                kv_format,
                portable,
                ..Default::default()
            };
            let mut batch = Batch::new(model.clone(), opts, ps.len(), 32).unwrap();
            let ids: Vec<SeqId> = ps.iter().map(|p| batch.admit(p).unwrap().0).collect();
            // Two steps, so the second reads KV written by a batched step.
            let toks = [[3u32, 11, 60, 0, 42], [7, 1, 33, 2, 19]];
            let mut got = Vec::new();
            for t in toks {
                let next: Vec<(SeqId, u32)> = ids.iter().copied().zip(t).collect();
                got = batch.step(&next).unwrap().to_vec();
            }
            let vocab = model.config.vocab_size();
            for (s, p) in ps.iter().enumerate() {
                let mut full = p.clone();
                full.extend(toks.map(|t| Input::Token(t[s])));
                let want = reference.forward(&full).unwrap();
                let last = want.last().unwrap();
                let row = &got[s * vocab..(s + 1) * vocab];
                let err = row
                    .iter()
                    .zip(last)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                let what = format!(
                    "{format} kv {kv_format} threads {threads} portable {portable} seq {s}"
                );
                assert!(
                    err <= tol * max_abs(last),
                    "{what}: max |Δ| {err} vs max |logit| {}",
                    max_abs(last)
                );
                assert!(
                    cosine(row, last) > 0.999,
                    "{what}: cosine {}",
                    cosine(row, last)
                );
            }
        }
    }
}

/// Greedy tokens of `prompt` decoded alone on a plain engine, with the
/// logits of every step.
fn alone(model: &Arc<Model>, prompt: &[Input], n: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
    let mut e = Engine::new(
        model.clone(),
        EngineOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut logits = vec![e.forward(prompt).unwrap().to_vec()];
    let mut toks = vec![argmax(&logits[0])];
    while toks.len() < n {
        logits.push(
            e.forward(&[Input::Token(*toks.last().unwrap())])
                .unwrap()
                .to_vec(),
        );
        toks.push(argmax(logits.last().unwrap()));
    }
    (toks, logits)
}

#[test]
fn a_sequence_in_a_batch_decodes_the_same_tokens_as_alone() {
    let f = feats();
    let ps = prompts(&f);
    // Default precision: Q8_0 Q/K/V, Q4_0 FFN, F16 embeddings (mixed kernels).
    for policy in [
        PrecisionPolicy::default(),
        PrecisionPolicy::uniform(Format::F16),
    ] {
        let model = Arc::new(Model::random(tiny_policy_config(), 4, &policy).unwrap());
        let n = 16;
        let opts = EngineOptions {
            threads: 2,
            ..Default::default()
        };
        let mut batch = Batch::new(model.clone(), opts, ps.len(), 64).unwrap();
        let mut toks: Vec<Vec<u32>> = Vec::new();
        let mut ids = Vec::new();
        for p in &ps {
            let (id, logits) = batch.admit(p).unwrap();
            toks.push(vec![argmax(logits)]);
            ids.push(id);
        }
        let vocab = model.config.vocab_size();
        let mut logits: Vec<Vec<Vec<f32>>> = vec![Vec::new(); ps.len()];
        for _ in 1..n {
            let next: Vec<(SeqId, u32)> = ids
                .iter()
                .zip(&toks)
                .map(|(id, t)| (*id, *t.last().unwrap()))
                .collect();
            let out = batch.step(&next).unwrap();
            for (s, t) in toks.iter_mut().enumerate() {
                let row = &out[s * vocab..(s + 1) * vocab];
                logits[s].push(row.to_vec());
                t.push(argmax(row));
            }
        }
        for (s, p) in ps.iter().enumerate() {
            let (want, want_logits) = alone(&model, p, n);
            assert_eq!(toks[s], want, "sequence {s}");
            // The multi-vector kernels keep each dot's summation order, so the
            // batch is bit-identical to decoding alone, not just close.
            assert_eq!(logits[s], want_logits[1..], "sequence {s} logits");
        }
    }
}

#[test]
fn a_sequence_admitted_mid_flight_decodes_the_same_tokens_as_alone() {
    let f = feats();
    let ps = prompts(&f);
    let model =
        Arc::new(Model::random(tiny_policy_config(), 6, &PrecisionPolicy::default()).unwrap());
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    let mut batch = Batch::new(model.clone(), opts, 2, 64).unwrap();
    let vocab = model.config.vocab_size();
    // A runs 5 tokens and finishes; C takes its slot while B goes on.
    let (a, la) = batch.admit(&ps[1]).unwrap();
    let mut ta = vec![argmax(la)];
    let (b, lb) = batch.admit(&ps[0]).unwrap();
    let mut tb = vec![argmax(lb)];
    let mut tc: Vec<u32> = Vec::new();
    let mut c = None;
    for _ in 0..20 {
        let mut next = vec![(b, *tb.last().unwrap())];
        if ta.len() < 5 {
            next.push((a, *ta.last().unwrap()));
        } else if let Some(c) = c {
            next.push((c, *tc.last().unwrap()));
        }
        let out = batch.step(&next).unwrap().to_vec();
        tb.push(argmax(&out[..vocab]));
        if next.len() == 2 {
            let t = argmax(&out[vocab..2 * vocab]);
            if c.is_some() {
                tc.push(t)
            } else {
                ta.push(t)
            }
        }
        if ta.len() == 5 && c.is_none() {
            assert!(batch.admit(&ps[3]).is_err(), "both slots are busy");
            batch.finish(a);
            let (id, lc) = batch.admit(&ps[2]).unwrap();
            tc.push(argmax(lc));
            assert_eq!(id, a, "C reuses A's slot");
            assert_eq!(batch.pos(id), ps[2].len(), "C starts from an empty cache");
            c = Some(id);
        }
    }
    assert_eq!(batch.active(), 2);
    assert!(tc.len() >= 10, "C ran {} steps", tc.len());
    assert_eq!(ta, alone(&model, &ps[1], ta.len()).0, "A");
    assert_eq!(tb, alone(&model, &ps[0], tb.len()).0, "B");
    assert_eq!(
        tc,
        alone(&model, &ps[2], tc.len()).0,
        "C, admitted mid-flight"
    );
}

#[test]
fn bad_batch_calls_are_errors_not_panics() {
    let model =
        Arc::new(Model::random(tiny_policy_config(), 1, &PrecisionPolicy::default()).unwrap());
    let mut batch = Batch::new(model.clone(), EngineOptions::default(), 2, 4).unwrap();
    let (a, _) = batch.admit(&[Input::Token(1), Input::Token(2)]).unwrap();
    let err = batch.step(&[(SeqId(1), 3)]).unwrap_err().to_string();
    assert!(err.contains("not active"), "{err}");
    let err = batch.step(&[(a, 3), (a, 4)]).unwrap_err().to_string();
    assert!(err.contains("twice"), "{err}");
    let err = batch.step(&[]).unwrap_err().to_string();
    assert!(err.contains("1..="), "{err}");
    batch.step(&[(a, 3)]).unwrap();
    batch.step(&[(a, 3)]).unwrap();
    let err = batch.step(&[(a, 3)]).unwrap_err().to_string();
    assert!(err.contains("4 positions reserved"), "{err}");
    let err = batch.admit(&[Input::Token(1); 5]).unwrap_err().to_string();
    assert!(err.contains("reserved per sequence"), "{err}");
    assert_eq!(batch.active(), 1, "a failed admission leaves the slot free");
    assert!(Batch::new(model, EngineOptions::default(), 0, 4).is_err());
}
