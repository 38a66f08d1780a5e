//! Speculative decoding against plain greedy decoding of the main model.

use std::sync::Arc;

use tendon_policy::engine::{Engine, EngineOptions};
use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::quant::Format;
use tendon_policy::speculative::{speculative_decode, Acceptance};
use tendon_policy::testmodel::tiny_policy_config;

fn engines() -> (Arc<Model>, Vec<(&'static str, Arc<Model>)>) {
    let mut cfg = tiny_policy_config();
    cfg.max_seq_len = 128;
    let main =
        Arc::new(Model::random(cfg.clone(), 1, &PrecisionPolicy::uniform(Format::F16)).unwrap());
    let close = Arc::new(
        main.requantize(&PrecisionPolicy::uniform(Format::Q4_0), |_| {})
            .unwrap(),
    );
    let mut small = cfg;
    small.n_layers = 1;
    let unrelated =
        Arc::new(Model::random(small, 99, &PrecisionPolicy::uniform(Format::Q8_0)).unwrap());
    (
        main,
        vec![("Q4_0 copy", close), ("unrelated 1-layer", unrelated)],
    )
}

const PROMPT: [Input<'static>; 4] = [
    Input::Token(1),
    Input::Token(20),
    Input::Token(33),
    Input::Token(4),
];

#[test]
fn forward_all_rows_equal_one_at_a_time_forward() {
    let (main, _) = engines();
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    let mut a = Engine::new(main.clone(), opts).unwrap();
    let mut b = Engine::new(main.clone(), opts).unwrap();
    a.forward(&PROMPT).unwrap();
    b.forward(&PROMPT).unwrap();
    let toks = [7, 8, 9].map(Input::Token);
    let all = a.forward_all(&toks).unwrap().to_vec();
    let v = main.config.vocab_size();
    for (i, t) in toks.iter().enumerate() {
        assert_eq!(
            &all[i * v..(i + 1) * v],
            b.forward(std::slice::from_ref(t)).unwrap()
        );
    }
}

#[test]
fn greedy_exact_speculation_equals_plain_greedy_for_every_draft_and_k() {
    let (main, drafts) = engines();
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    let mut plain = Engine::new(main.clone(), opts).unwrap();
    let mut want = Vec::new();
    plain.greedy(&PROMPT, 40, &mut want).unwrap();
    for (name, draft) in drafts {
        for k in [1, 4, 8, 16] {
            let mut m = Engine::new(main.clone(), opts).unwrap();
            let mut d = Engine::new(draft.clone(), opts).unwrap();
            let mut got = Vec::new();
            let stats = speculative_decode(
                &mut m,
                &mut d,
                &PROMPT,
                40,
                k,
                Acceptance::GreedyExact,
                &mut got,
            )
            .unwrap();
            assert_eq!(got, want, "draft {name}, k {k}");
            assert!(stats.accepted <= stats.drafted);
            if name == "Q4_0 copy" {
                assert!(
                    stats.accepted * 2 > stats.drafted / k.max(1),
                    "draft {name} k {k}: {stats:?}"
                );
                assert!(
                    stats.main_passes < 40,
                    "fewer main passes than tokens: {stats:?}"
                );
            }
        }
    }
}

#[test]
fn top_k_speculation_emits_only_tokens_in_the_main_models_top_k() {
    let (main, drafts) = engines();
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    let topk = 3;
    for (name, draft) in drafts {
        let mut m = Engine::new(main.clone(), opts).unwrap();
        let mut d = Engine::new(draft, opts).unwrap();
        let mut got = Vec::new();
        speculative_decode(
            &mut m,
            &mut d,
            &PROMPT,
            30,
            8,
            Acceptance::TopK(topk),
            &mut got,
        )
        .unwrap();
        assert_eq!(got.len(), 30);
        // Walk the main model through the output: every token is in its top k.
        let mut check = Engine::new(main.clone(), opts).unwrap();
        let mut logits = check.forward(&PROMPT).unwrap().to_vec();
        for (i, t) in got.iter().enumerate() {
            let v = logits[*t as usize];
            let rank = logits.iter().filter(|&&x| x > v).count();
            assert!(rank < topk, "draft {name}: token {i} ({t}) has rank {rank}");
            logits = check.forward(&[Input::Token(*t)]).unwrap().to_vec();
        }
    }
}
