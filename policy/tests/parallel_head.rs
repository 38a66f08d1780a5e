//! The parallel action head (OpenVLA-OFT style): H action queries after the
//! prompt, attending to the prompt and to each other, one pass for the whole
//! chunk. Against the reference pass for every weight format; bit-identical
//! across the prefix cache, thread counts and batching; bidirectional
//! attention among the queries shown by its effect; clear errors.

mod common;

use std::sync::Arc;

use common::CASES;

use tendon_policy::action::{decode_actions, decode_actions_with, denormalise, DecodedActions};
use tendon_policy::batch::Batch;
use tendon_policy::config::ActionHead;
use tendon_policy::engine::{Engine, EngineOptions};
use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::quant::Format;
use tendon_policy::reference::Reference;
use tendon_policy::rng::SplitMix64;
use tendon_policy::tensor::Tensor;
use tendon_policy::testmodel::{tiny_parallel_config, tiny_policy_config};

const HORIZON: usize = 4;
const DIMS: usize = 3;

fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

struct Feats {
    vision: Vec<Vec<f32>>,
    audio: Vec<f32>,
    states: Vec<Vec<f32>>,
}

fn feats() -> Feats {
    let mut rng = SplitMix64::new(31);
    Feats {
        vision: (0..5).map(|_| rng.normal_vec(128, 1.0)).collect(),
        audio: rng.normal_vec(64, 1.0),
        states: (0..3).map(|_| rng.normal_vec(64, 1.0)).collect(),
    }
}

/// Tokens, vision, audio, then the state last: the part that changes per
/// observation.
fn prompt(f: &Feats, state: usize) -> Vec<Input<'_>> {
    let mut p: Vec<Input> = [3u32, 17, 9].map(Input::Token).to_vec();
    p.extend(f.vision.iter().map(|v| Input::Vision(v)));
    p.push(Input::Audio(&f.audio));
    p.push(Input::State(&f.states[state]));
    p
}

fn model(format: Format, seed: u64) -> Arc<Model> {
    Arc::new(
        Model::random(
            tiny_parallel_config(),
            seed,
            &PrecisionPolicy::uniform(format),
        )
        .unwrap(),
    )
}

fn engine(model: &Arc<Model>, threads: usize, max_batch: usize, portable: bool) -> Engine {
    Engine::new(
        model.clone(),
        EngineOptions {
            threads,
            max_batch,
            portable,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn the_engine_matches_the_reference_for_every_format() {
    let f = feats();
    let p = prompt(&f, 0);
    for (format, kv_format, tol) in CASES {
        let m = model(format, 1);
        let want = Reference::new(&m).parallel_actions(&p).unwrap();
        assert_eq!(want.len(), HORIZON * DIMS);
        assert!(max_abs(&want) > 0.0);
        // max_batch 4: the prompt runs in chunks and the 4 queries in one pass.
        for (threads, portable, max_batch) in [(1, true, 64), (3, false, 64), (2, false, 4)] {
            let mut e = Engine::new(
                m.clone(),
                EngineOptions {
                    threads,
                    kv_format,
                    max_batch,
                    portable,
                    early_exit: None,
                },
            )
            .unwrap();
            let (got, reused) = e.forward_actions(&p).unwrap();
            assert_eq!(reused, 0);
            let err = got
                .iter()
                .zip(&want)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= tol * max_abs(&want),
                "{format} kv {kv_format} threads {threads} portable {portable} batch {max_batch}: max |Δ| {err} vs max |value| {}",
                max_abs(&want)
            );
            assert_eq!(e.pos(), p.len(), "the queries do not stay in the cache");
        }
    }
}

#[test]
fn the_queries_attend_to_each_other() {
    // Change only the last query's embedding: under causal attention the
    // first step could not see it; bidirectionally every step changes.
    let f = feats();
    let p = prompt(&f, 0);
    let m = model(Format::F32, 2);
    let before = engine(&m, 2, 64, false)
        .forward_actions(&p)
        .unwrap()
        .0
        .to_vec();
    let mut cfg_model = Model::random(
        tiny_parallel_config(),
        2,
        &PrecisionPolicy::uniform(Format::F32),
    )
    .unwrap();
    let head = cfg_model.parallel_head.as_mut().unwrap();
    let mut q = head.queries.to_f32();
    let d = head.queries.cols();
    for v in &mut q[(HORIZON - 1) * d..] {
        *v = -*v + 0.5;
    }
    head.queries = Tensor::quantize(
        &head.queries.name,
        &head.queries.shape,
        &q,
        head.queries.format,
    )
    .unwrap();
    let changed = Arc::new(cfg_model);
    let after = engine(&changed, 2, 64, false)
        .forward_actions(&p)
        .unwrap()
        .0
        .to_vec();
    let reference = Reference::new(&changed).parallel_actions(&p).unwrap();
    for step in 0..HORIZON {
        let (b, a) = (
            &before[step * DIMS..(step + 1) * DIMS],
            &after[step * DIMS..(step + 1) * DIMS],
        );
        assert!(
            b.iter().zip(a).any(|(x, y)| (x - y).abs() > 1e-5),
            "step {step} did not see the last query: {b:?} vs {a:?}"
        );
    }
    for (g, r) in after.iter().zip(&reference) {
        // The F16 KV cache's tolerance, as in CASES.
        assert!((g - r).abs() <= 1e-2 * max_abs(&reference), "{g} vs {r}");
    }
}

#[test]
fn prefix_reuse_threads_and_batching_give_bit_identical_chunks() {
    let f = feats();
    let m = model(Format::Q8_0, 3);
    let mut cached = engine(&m, 2, 64, false);
    let cold = cached.forward_actions(&prompt(&f, 0)).unwrap().0.to_vec();
    // A new state: everything before it comes from the cache.
    let p1 = prompt(&f, 1);
    let (warm, reused) = cached.forward_actions(&p1).unwrap();
    let warm = warm.to_vec();
    assert_eq!(reused, p1.len() - 1);
    assert_ne!(warm, cold, "a different state gives a different chunk");
    let fresh = engine(&m, 2, 64, false)
        .forward_actions(&p1)
        .unwrap()
        .0
        .to_vec();
    assert_eq!(warm, fresh, "prefix reuse is bit-identical to a fresh pass");
    // The same observation again reuses the whole prompt.
    let (again, reused) = cached.forward_actions(&p1).unwrap();
    assert_eq!((again, reused), (&fresh[..], p1.len()));
    for threads in [1, 3] {
        let got = engine(&m, threads, 64, false)
            .forward_actions(&p1)
            .unwrap()
            .0
            .to_vec();
        assert_eq!(got, fresh, "{threads} threads");
    }
    // Three observations in one batch pass, each equal to itself alone.
    let mut batch = Batch::new(m.clone(), EngineOptions::default(), 3, 64).unwrap();
    let prompts: Vec<Vec<Input>> = (0..3).map(|s| prompt(&f, s)).collect();
    let ids: Vec<_> = prompts.iter().map(|p| batch.admit(p).unwrap().0).collect();
    let together = batch.actions(&ids).unwrap().to_vec();
    assert_eq!(together.len(), 3 * HORIZON * DIMS);
    for (k, p) in prompts.iter().enumerate() {
        let alone = engine(&m, 2, 64, false)
            .forward_actions(p)
            .unwrap()
            .0
            .to_vec();
        assert_eq!(
            &together[k * HORIZON * DIMS..(k + 1) * HORIZON * DIMS],
            &alone[..],
            "sequence {k}"
        );
        assert_eq!(batch.pos(ids[k]), p.len());
    }
}

#[test]
fn decode_actions_uses_the_models_head_and_maps_onto_the_ranges() {
    let f = feats();
    let p = prompt(&f, 0);
    let m = model(Format::F16, 4);
    let mut e = engine(&m, 2, 64, false);
    let normalised = e.forward_actions(&p).unwrap().0.to_vec();
    let mut out = DecodedActions::new();
    decode_actions(&mut e, &p, &mut out).unwrap();
    let ranges = &m.config.action.as_ref().unwrap().ranges;
    assert_eq!(out.values.len(), HORIZON * DIMS);
    assert!(out.bins.is_empty() && out.intent.is_none());
    assert_eq!(out.reused_positions, p.len());
    for (k, (v, y)) in out.values.iter().zip(&normalised).enumerate() {
        let r = ranges[k % DIMS];
        assert_eq!(*v, denormalise(*y, r));
        assert!((r[0]..=r[1]).contains(v));
    }
    // The same weights still decode direct bins through the LM head.
    let mut bins = DecodedActions::new();
    decode_actions_with(&mut e, ActionHead::DirectBins, &p, &mut bins).unwrap();
    assert_eq!(bins.bins.len(), HORIZON * DIMS);
    assert!(bins.intent.is_some());
}

#[test]
fn a_model_without_the_head_and_a_too_small_batch_are_clear_errors() {
    let f = feats();
    let p = prompt(&f, 0);
    let plain =
        Arc::new(Model::random(tiny_policy_config(), 5, &PrecisionPolicy::default()).unwrap());
    let err = engine(&plain, 1, 64, false)
        .forward_actions(&p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no parallel action head"), "{err}");
    let err = engine(&model(Format::F16, 5), 1, HORIZON - 1, false)
        .forward_actions(&p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_batch is 3"), "{err}");
    // A query id past the horizon is an input error, not a panic.
    let err = engine(&model(Format::F16, 5), 1, 64, false)
        .forward(&[Input::ActionQuery(HORIZON as u32)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside"), "{err}");
}
