//! The async policy runner: a thread that takes the latest observation,
//! runs the model and hands out an `ActionChunk` stamped with the
//! observation's time. Observations that arrive while it is busy replace
//! each other (latest wins, the dropped ones are counted), so a slow policy
//! never builds a backlog of stale inputs.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tendon_core::action::ActionChunk;
use tendon_core::poses::JointPose;
use tendon_core::time::MonoTime;

use crate::action::{decode_actions, to_action_chunk, DecodedActions};
use crate::backend::Backend;
use crate::error::{PolicyError, Result};
use crate::model::Input;

/// What the policy sees at one instant.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub t_obs: MonoTime,
    /// Instruction token ids; placed first, so repeated instructions hit the prefix cache.
    pub text: Vec<u32>,
    pub vision_patches: Vec<Vec<f32>>,
    pub audio_patches: Vec<Vec<f32>>,
    pub state: Option<Vec<f32>>,
}

impl Observation {
    fn inputs(&self) -> Vec<Input<'_>> {
        let mut v: Vec<Input> = self.text.iter().map(|t| Input::Token(*t)).collect();
        v.extend(self.vision_patches.iter().map(|p| Input::Vision(p)));
        v.extend(self.audio_patches.iter().map(|p| Input::Audio(p)));
        v.extend(self.state.iter().map(|s| Input::State(s)));
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Vision,
    Audio,
    Prefill,
    Decode,
    Detokenize,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Vision,
        Stage::Audio,
        Stage::Prefill,
        Stage::Decode,
        Stage::Detokenize,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Stage::Vision => "vision",
            Stage::Audio => "audio",
            Stage::Prefill => "prefill",
            Stage::Decode => "decode",
            Stage::Detokenize => "detokenize",
        }
    }
}

/// The last `WINDOW` durations of each stage.
const WINDOW: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageStats {
    pub count: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub max: Duration,
}

#[derive(Default)]
struct Timings {
    samples: [Vec<Duration>; 5],
    next: [usize; 5],
    dropped_observations: u64,
    chunks: u64,
}

impl Timings {
    fn record(&mut self, s: Stage, d: Duration) {
        let i = s as usize;
        if self.samples[i].len() < WINDOW {
            self.samples[i].push(d);
        } else {
            self.samples[i][self.next[i]] = d;
            self.next[i] = (self.next[i] + 1) % WINDOW;
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunnerReport {
    pub stages: Vec<(Stage, StageStats)>,
    pub chunks: u64,
    pub dropped_observations: u64,
}

struct Shared {
    slot: Mutex<(Option<Observation>, bool)>,
    wake: Condvar,
    timings: Mutex<Timings>,
    error: Mutex<Option<String>>,
}

/// How decoded action dimensions reach the robot's joints.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Joint slot driven by each action dimension.
    pub joint_slots: Vec<usize>,
    /// Targets of the joints no action dimension drives.
    pub hold: JointPose,
}

pub struct PolicyRunner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PolicyRunner {
    /// Starts the runner thread on `engine` (the CPU `Engine`, or any other
    /// [`Backend`]); every chunk goes to `on_chunk`.
    pub fn spawn<B: Backend + 'static>(
        mut engine: B,
        cfg: RunnerConfig,
        mut on_chunk: impl FnMut(ActionChunk) + Send + 'static,
    ) -> Result<PolicyRunner> {
        let action = engine.config().action.clone().ok_or_else(|| {
            PolicyError::Input("the runner needs a model with an action head".into())
        })?;
        if cfg.joint_slots.len() != action.dims {
            return Err(PolicyError::Input(format!(
                "runner maps {} joint slots; the model's action head has {} dims",
                cfg.joint_slots.len(),
                action.dims
            )));
        }
        let shared = Arc::new(Shared {
            slot: Mutex::new((None, false)),
            wake: Condvar::new(),
            timings: Mutex::new(Timings::default()),
            error: Mutex::new(None),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("policy-runner".into())
            .spawn(move || {
                let mut decoded = DecodedActions::new();
                loop {
                    let obs = {
                        let mut g = sh.slot.lock().unwrap();
                        loop {
                            if g.1 {
                                return;
                            }
                            if let Some(o) = g.0.take() {
                                break o;
                            }
                            g = sh.wake.wait(g).unwrap();
                        }
                    };
                    let inputs = obs.inputs();
                    let t0 = Instant::now();
                    let run = (|| -> Result<ActionChunk> {
                        engine.take_stage_times();
                        decode_actions(&mut engine, &inputs, &mut decoded)?;
                        let t_decode = t0.elapsed().saturating_sub(decoded.prefill_time);
                        let t_prefill = decoded.prefill_time;
                        let tk = Instant::now();
                        let chunk = to_action_chunk(
                            &action,
                            &decoded.values,
                            &cfg.joint_slots,
                            &cfg.hold,
                            obs.t_obs,
                        )
                        .map_err(|e| PolicyError::Input(e.to_string()))?;
                        let mut t = sh.timings.lock().unwrap();
                        let st = engine.take_stage_times();
                        t.record(Stage::Vision, st.vision);
                        t.record(Stage::Audio, st.audio);
                        t.record(
                            Stage::Prefill,
                            t_prefill.saturating_sub(st.vision + st.audio),
                        );
                        t.record(Stage::Decode, t_decode);
                        t.record(Stage::Detokenize, tk.elapsed());
                        t.chunks += 1;
                        Ok(chunk)
                    })();
                    match run {
                        Ok(chunk) => on_chunk(chunk),
                        Err(e) => *sh.error.lock().unwrap() = Some(e.to_string()),
                    }
                }
            })
            .map_err(|e| {
                PolicyError::Input(format!("cannot start the policy runner thread: {e}"))
            })?;
        Ok(PolicyRunner {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands the runner a new observation; an unprocessed older one is dropped.
    pub fn submit(&self, obs: Observation) {
        let mut g = self.shared.slot.lock().unwrap();
        if g.0.replace(obs).is_some() {
            self.shared.timings.lock().unwrap().dropped_observations += 1;
        }
        self.shared.wake.notify_one();
    }

    /// The last error the runner met, if any (the runner keeps going).
    pub fn last_error(&self) -> Option<String> {
        self.shared.error.lock().unwrap().clone()
    }

    /// Per-stage p50/p95/max over the last 1024 chunks.
    pub fn report(&self) -> RunnerReport {
        let t = self.shared.timings.lock().unwrap();
        let stages = Stage::ALL
            .iter()
            .map(|&s| {
                let mut v = t.samples[s as usize].clone();
                v.sort();
                let pick = |p: f64| {
                    v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
                        .copied()
                        .unwrap_or_default()
                };
                (
                    s,
                    StageStats {
                        count: v.len(),
                        p50: pick(0.5),
                        p95: pick(0.95),
                        max: v.last().copied().unwrap_or_default(),
                    },
                )
            })
            .collect();
        RunnerReport {
            stages,
            chunks: t.chunks,
            dropped_observations: t.dropped_observations,
        }
    }
}

impl Drop for PolicyRunner {
    fn drop(&mut self) {
        self.shared.slot.lock().unwrap().1 = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
