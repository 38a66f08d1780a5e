//! The async runner: chunks stamped with the observation time, equal to a
//! direct greedy decode of the same prompt, and per-stage timing reported.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use tendon_core::time::MonoTime;
use tendon_policy::action::{decode_actions, DecodedActions};
use tendon_policy::engine::{Engine, EngineOptions};
use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::rng::SplitMix64;
use tendon_policy::runner::{Observation, PolicyRunner, RunnerConfig, Stage};
use tendon_policy::testmodel::tiny_policy_config;

fn observation(t_ns: u64, seed: u64) -> Observation {
    let mut rng = SplitMix64::new(seed);
    Observation {
        t_obs: MonoTime::from_ns(t_ns),
        text: vec![3, 9, 27],
        vision_patches: (0..4).map(|_| rng.normal_vec(128, 1.0)).collect(),
        audio_patches: vec![rng.normal_vec(64, 1.0)],
        state: Some(rng.normal_vec(64, 1.0)),
    }
}

#[test]
fn runner_chunks_carry_observation_time_and_match_direct_decoding() {
    let model =
        Arc::new(Model::random(tiny_policy_config(), 4, &PrecisionPolicy::default()).unwrap());
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel();
    let hold = [0.1; tendon_core::joints::NUM_BODY_JOINTS];
    let runner = PolicyRunner::spawn(
        Engine::new(model.clone(), opts).unwrap(),
        RunnerConfig {
            joint_slots: vec![12, 13, 14],
            hold,
        },
        move |c| tx.send(c).unwrap(),
    )
    .unwrap();
    let mut direct = Engine::new(model, opts).unwrap();
    for (k, seed) in [(1u64, 10u64), (2, 11), (3, 12)] {
        let obs = observation(k * 1_000_000_000, seed);
        runner.submit(obs.clone());
        let chunk = rx.recv_timeout(Duration::from_secs(20)).expect("a chunk");
        assert_eq!(chunk.t_obs, obs.t_obs);
        assert_eq!(chunk.len, 4);
        assert_eq!(chunk.dt, Duration::from_millis(20));
        let mut inputs: Vec<Input> = obs.text.iter().map(|t| Input::Token(*t)).collect();
        inputs.extend(obs.vision_patches.iter().map(|p| Input::Vision(p)));
        inputs.extend(obs.audio_patches.iter().map(|p| Input::Audio(p)));
        inputs.push(Input::State(obs.state.as_ref().unwrap()));
        let mut want = DecodedActions::new();
        direct.reset();
        decode_actions(&mut direct, &inputs, &mut want).unwrap();
        for step in 0..4 {
            for (j, slot) in [12, 13, 14].into_iter().enumerate() {
                assert_eq!(chunk.steps[step][slot], want.values[step * 3 + j]);
            }
            assert_eq!(chunk.steps[step][0], 0.1, "undriven joints hold");
        }
    }
    assert_eq!(runner.last_error(), None);
    let report = runner.report();
    assert_eq!(report.chunks, 3);
    for (stage, s) in &report.stages {
        assert_eq!(s.count, 3, "{stage:?}");
        assert!(s.p50 <= s.p95 && s.p95 <= s.max, "{stage:?}");
        if matches!(stage, Stage::Vision | Stage::Prefill | Stage::Decode) {
            assert!(s.max > Duration::ZERO, "{stage:?} was timed");
        }
    }
}

#[test]
fn runner_rejects_a_joint_map_that_does_not_fit_the_action_head() {
    let model =
        Arc::new(Model::random(tiny_policy_config(), 4, &PrecisionPolicy::default()).unwrap());
    let e = Engine::new(model, EngineOptions::default()).unwrap();
    let err = PolicyRunner::spawn(
        e,
        RunnerConfig {
            joint_slots: vec![1],
            hold: [0.0; 29],
        },
        |_| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("3 dims"), "{err}");
}
