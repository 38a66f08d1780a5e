//! The `Backend` seam: a second implementation slots into action decoding
//! and the async runner unchanged. Here it is the plain reference forward
//! pass behind the trait (no KV cache: it recomputes the whole sequence on
//! every call), standing in for the TensorRT backend a later issue brings.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use tendon_core::time::MonoTime;
use tendon_policy::action::{decode_actions, DecodedActions};
use tendon_policy::backend::Backend;
use tendon_policy::config::ModelConfig;
use tendon_policy::engine::{Engine, EngineOptions, StageTimes};
use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::reference::Reference;
use tendon_policy::rng::SplitMix64;
use tendon_policy::runner::{Observation, PolicyRunner, RunnerConfig};
use tendon_policy::testmodel::tiny_policy_config;
use tendon_policy::Result;

enum OwnedInput {
    Token(u32),
    Vision(Vec<f32>),
    Audio(Vec<f32>),
    AudioCode(u32),
    State(Vec<f32>),
    ActionQuery(u32),
}

impl OwnedInput {
    fn from(input: &Input) -> OwnedInput {
        match *input {
            Input::Token(t) => OwnedInput::Token(t),
            Input::Vision(v) => OwnedInput::Vision(v.to_vec()),
            Input::Audio(a) => OwnedInput::Audio(a.to_vec()),
            Input::AudioCode(c) => OwnedInput::AudioCode(c),
            Input::State(s) => OwnedInput::State(s.to_vec()),
            Input::ActionQuery(k) => OwnedInput::ActionQuery(k),
        }
    }

    fn as_input(&self) -> Input<'_> {
        match self {
            OwnedInput::Token(t) => Input::Token(*t),
            OwnedInput::Vision(v) => Input::Vision(v),
            OwnedInput::Audio(a) => Input::Audio(a),
            OwnedInput::AudioCode(c) => Input::AudioCode(*c),
            OwnedInput::State(s) => Input::State(s),
            OwnedInput::ActionQuery(k) => Input::ActionQuery(*k),
        }
    }
}

/// The reference pass as a backend: the "cache" is the input sequence.
struct ReferenceBackendForTest {
    config: ModelConfig,
    reference: Reference,
    sequence: Vec<OwnedInput>,
    logits: Vec<f32>,
}

impl ReferenceBackendForTest {
    fn new(model: &Model) -> Self {
        ReferenceBackendForTest {
            config: model.config.clone(),
            reference: Reference::new(model),
            sequence: Vec::new(),
            logits: Vec::new(),
        }
    }
}

impl Backend for ReferenceBackendForTest {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn name(&self) -> String {
        "reference-for-test".into()
    }

    fn pos(&self) -> usize {
        self.sequence.len()
    }

    fn reset(&mut self) {
        self.sequence.clear();
    }

    fn forward(&mut self, inputs: &[Input]) -> Result<&[f32]> {
        self.sequence.extend(inputs.iter().map(OwnedInput::from));
        let all: Vec<Input> = self.sequence.iter().map(OwnedInput::as_input).collect();
        let mut rows = self.reference.forward(&all)?;
        self.logits = rows.pop().expect("at least one position");
        Ok(&self.logits)
    }

    fn forward_prompt(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)> {
        self.reset();
        Ok((self.forward(prompt)?, 0))
    }

    fn forward_actions(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)> {
        self.reset();
        self.sequence.extend(prompt.iter().map(OwnedInput::from));
        self.logits = self.reference.parallel_actions(prompt)?;
        Ok((&self.logits, 0))
    }

    fn take_stage_times(&mut self) -> StageTimes {
        StageTimes::default()
    }
}

fn f32_model() -> Arc<Model> {
    Arc::new(Model::random(tiny_policy_config(), 21, &PrecisionPolicy::all_f32()).unwrap())
}

fn observation(t_ns: u64, seed: u64) -> Observation {
    let mut rng = SplitMix64::new(seed);
    Observation {
        t_obs: MonoTime::from_ns(t_ns),
        text: vec![5, 8],
        vision_patches: (0..3).map(|_| rng.normal_vec(128, 1.0)).collect(),
        audio_patches: vec![rng.normal_vec(64, 1.0)],
        state: Some(rng.normal_vec(64, 1.0)),
    }
}

fn prompt(obs: &Observation) -> Vec<Input<'_>> {
    let mut inputs: Vec<Input> = obs.text.iter().map(|t| Input::Token(*t)).collect();
    inputs.extend(obs.vision_patches.iter().map(|p| Input::Vision(p)));
    inputs.extend(obs.audio_patches.iter().map(|p| Input::Audio(p)));
    inputs.push(Input::State(obs.state.as_ref().unwrap()));
    inputs
}

#[test]
fn the_cpu_engine_and_another_backend_decode_the_same_action_chunk() {
    let model = f32_model();
    let mut engine = Engine::new(model.clone(), EngineOptions::default()).unwrap();
    let mut reference = ReferenceBackendForTest::new(&model);
    assert!(Backend::name(&engine).starts_with("cpu-"));

    for seed in [1u64, 2, 3] {
        let obs = observation(seed, seed);
        let inputs = prompt(&obs);
        let (mut from_engine, mut from_reference) = (DecodedActions::new(), DecodedActions::new());
        decode_actions(&mut engine, &inputs, &mut from_engine).unwrap();
        decode_actions(&mut reference, &inputs, &mut from_reference).unwrap();
        assert_eq!(from_engine.bins, from_reference.bins, "seed {seed}");
        assert_eq!(from_engine.intent, from_reference.intent, "seed {seed}");
        // Both decoded the whole chunk through the same trait calls.
        assert_eq!(Backend::pos(&engine), Backend::pos(&reference));
    }
}

#[test]
fn the_runner_runs_on_any_backend() {
    let model = f32_model();
    let (tx, rx) = mpsc::channel();
    let runner = PolicyRunner::spawn(
        ReferenceBackendForTest::new(&model),
        RunnerConfig {
            joint_slots: vec![15, 16, 17],
            hold: [0.0; tendon_core::joints::NUM_BODY_JOINTS],
        },
        move |c| tx.send(c).unwrap(),
    )
    .unwrap();
    let mut engine = Engine::new(model, EngineOptions::default()).unwrap();
    let obs = observation(7_000_000_000, 9);
    runner.submit(obs.clone());
    let chunk = rx.recv_timeout(Duration::from_secs(30)).expect("a chunk");
    assert_eq!(chunk.t_obs, obs.t_obs);
    let mut want = DecodedActions::new();
    decode_actions(&mut engine, &prompt(&obs), &mut want).unwrap();
    for step in 0..4 {
        for (j, slot) in [15, 16, 17].into_iter().enumerate() {
            assert_eq!(chunk.steps[step][slot], want.values[step * 3 + j]);
        }
    }
    assert_eq!(runner.last_error(), None);
}
