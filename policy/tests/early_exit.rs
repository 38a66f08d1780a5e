//! Early exit: never exiting changes nothing; always exiting after layer 1
//! equals running the model cut to its first layer (the skipped layer's
//! K/V is propagated, and layer 1 alone never reads it).

use std::sync::Arc;

use tendon_policy::config::InputsConfig;
use tendon_policy::engine::{EarlyExit, Engine, EngineOptions};
use tendon_policy::model::{Input, Layer, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::reference::argmax;
use tendon_policy::testmodel::tiny_policy_config;

fn text_model() -> Model {
    let mut cfg = tiny_policy_config();
    cfg.inputs = InputsConfig::default();
    cfg.action = None;
    Model::random(cfg, 6, &PrecisionPolicy::default()).unwrap()
}

fn first_layer_only(m: &Model) -> Model {
    let l = &m.layers[0];
    let mut config = m.config.clone();
    config.n_layers = 1;
    Model {
        config,
        embed: m.embed.clone(),
        layers: vec![Layer {
            attn_norm: l.attn_norm.clone(),
            wq: l.wq.clone(),
            wk: l.wk.clone(),
            wv: l.wv.clone(),
            wo: l.wo.clone(),
            ffn_norm: l.ffn_norm.clone(),
            w_gate: l.w_gate.clone(),
            w_up: l.w_up.clone(),
            w_down: l.w_down.clone(),
        }],
        norm: m.norm.clone(),
        head: m.head.clone(),
        vision: None,
        audio: None,
        state: None,
        parallel_head: None,
    }
}

const PROMPT: [Input<'static>; 3] = [Input::Token(3), Input::Token(30), Input::Token(50)];

#[test]
fn a_threshold_above_one_never_exits_and_changes_nothing() {
    let model = Arc::new(text_model());
    let mut plain = Engine::new(
        model.clone(),
        EngineOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let ee = EarlyExit {
        every_layers: 1,
        threshold: 2.0,
    };
    let mut e = Engine::new(
        model,
        EngineOptions {
            threads: 2,
            early_exit: Some(ee),
            ..Default::default()
        },
    )
    .unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    plain.greedy(&PROMPT, 20, &mut a).unwrap();
    e.greedy(&PROMPT, 20, &mut b).unwrap();
    assert_eq!(a, b);
    let st = e.exit_stats;
    assert_eq!((st.tokens, st.exited_tokens, st.checks), (19, 0, 19));
    assert_eq!(st.layers_run, st.layers_total);
}

#[test]
fn exiting_after_layer_one_equals_the_one_layer_model_and_counts_the_saving() {
    let model = text_model();
    let cut = Arc::new(first_layer_only(&model));
    let model = Arc::new(model);
    let ee = EarlyExit {
        every_layers: 1,
        threshold: 0.0,
    };
    let mut e = Engine::new(
        model,
        EngineOptions {
            threads: 2,
            early_exit: Some(ee),
            ..Default::default()
        },
    )
    .unwrap();
    let mut got = Vec::new();
    e.greedy(&PROMPT, 16, &mut got).unwrap();
    // The prompt runs every layer; each decode step stops after layer 1.
    let mut one = Engine::new(
        cut,
        EngineOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    one.forward(&PROMPT).unwrap();
    for w in got.windows(2) {
        assert_eq!(argmax(one.forward(&[Input::Token(w[0])]).unwrap()), w[1]);
    }
    let st = e.exit_stats;
    assert_eq!((st.tokens, st.exited_tokens), (15, 15));
    assert_eq!(
        (st.layers_run, st.layers_total),
        (15, 30),
        "half the layers saved"
    );
}

fn top_probability(logits: &[f32]) -> f32 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
    1.0 / logits.iter().map(|v| (v - max).exp()).sum::<f32>()
}

fn engine(model: Arc<Model>, early_exit: Option<EarlyExit>) -> Engine {
    Engine::new(
        model,
        EngineOptions {
            threads: 2,
            early_exit,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A threshold between 0 and 1, so some decode steps exit after layer 1 and
/// others run both layers and attend to the exited positions' layer-2 K/V.
/// In a 2-layer model the K/V propagated from an exit after layer 1 is
/// exactly what the full model computes there (layer 2's input is layer 1's
/// output either way), so: an exiting step's logits are the 1-layer model's,
/// a running step's are the full model's, both fed the same tokens. A
/// missing or wrong K/V for the skipped layer changes the running steps.
#[test]
fn mixed_exits_keep_the_skipped_layer_cache_right() {
    let model = text_model();
    let cut = Arc::new(first_layer_only(&model));
    let model = Arc::new(model);
    // The exit probabilities along the full model's own greedy path.
    let mut probe_cut = engine(cut.clone(), None);
    let mut probe_full = engine(model.clone(), None);
    probe_cut.forward(&PROMPT).unwrap();
    let mut tok = argmax(probe_full.forward(&PROMPT).unwrap());
    let mut probs = Vec::new();
    for _ in 0..24 {
        probs.push(top_probability(
            probe_cut.forward(&[Input::Token(tok)]).unwrap(),
        ));
        tok = argmax(probe_full.forward(&[Input::Token(tok)]).unwrap());
    }
    probs.sort_by(f32::total_cmp);
    let threshold = (probs[11] + probs[12]) / 2.0;

    let ee = EarlyExit {
        every_layers: 1,
        threshold,
    };
    let mut early = engine(model.clone(), Some(ee));
    let mut full = engine(model, None);
    let mut one = engine(cut, None);
    early.forward(&PROMPT).unwrap();
    one.forward(&PROMPT).unwrap();
    let mut tok = argmax(full.forward(&PROMPT).unwrap());
    let (mut exited, mut ran) = (0, 0);
    for step in 0..24 {
        let got = early.forward(&[Input::Token(tok)]).unwrap().to_vec();
        let cut_logits = one.forward(&[Input::Token(tok)]).unwrap().to_vec();
        let full_logits = full.forward(&[Input::Token(tok)]).unwrap().to_vec();
        let p = top_probability(&cut_logits);
        if (p - threshold).abs() < 1e-4 {
            panic!("step {step}: exit probability {p} too close to the threshold to judge");
        }
        let want = if p >= threshold {
            exited += 1;
            &cut_logits
        } else {
            ran += 1;
            &full_logits
        };
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-4,
            "step {step} ({}): logits differ by {diff}",
            if p >= threshold {
                "exited"
            } else {
                "ran both layers"
            }
        );
        tok = argmax(want);
    }
    assert!(
        exited >= 4 && ran >= 4,
        "{exited} exited, {ran} ran: not mixed"
    );
    assert_eq!(early.exit_stats.exited_tokens, exited);
}
