//! One control cycle as a plain struct: FSM → chunk blending → safety. The
//! real-time thread (`runtime`) and the in-process simulator runner both
//! call `Controller::tick`; neither adds logic of its own.

use tendon_core::poses::STAND_GAINS;
use tendon_core::{ActionChunk, ChunkError, FsmId, MonoTime, MotorTargets, RobotState};

use crate::blend::{BlendConfig, BlendCounters, BlendTarget, ChunkBlender};
use crate::fsm::{hold_targets, FsmConfig, LowLevelFsm, TransitionRefused};
use crate::safety::{SafetyConfig, SafetyCounters, SafetyInputs, SafetyLayer, Trip};

/// Everything configurable about a controller.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ControllerConfig {
    pub safety: SafetyConfig,
    pub blend: BlendConfig,
    pub fsm: FsmConfig,
}

/// What arrives for one cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleInputs<'a> {
    pub now: MonoTime,
    pub state: Option<&'a RobotState>,
    pub new_chunk: Option<&'a ActionChunk>,
    pub fsm_request: Option<FsmId>,
    pub e_stop: bool,
    /// Operator reset of a latched safety trip.
    pub reset: bool,
}

/// What one cycle produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleOutput {
    /// The command to send: already through the safety layer.
    pub targets: MotorTargets,
    pub fsm: FsmId,
    pub tripped: Option<Trip>,
    pub fsm_result: Option<Result<FsmId, TransitionRefused>>,
    pub chunk_result: Option<Result<(), ChunkError>>,
}

/// Counters of one controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControllerCounters {
    pub cycles: u64,
    pub safety: SafetyCounters,
    pub chunks: BlendCounters,
    pub fsm_refused: u64,
}

/// The control law of one cycle.
#[derive(Debug, Clone)]
pub struct Controller {
    fsm: LowLevelFsm,
    blender: ChunkBlender,
    safety: SafetyLayer,
    /// The last target that came from a chunk, held through a chunk gap.
    last_chunk_pose: Option<[f32; 29]>,
    cycles: u64,
    fsm_refused: u64,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            fsm: LowLevelFsm::new(config.fsm),
            blender: ChunkBlender::new(config.blend),
            safety: SafetyLayer::new(config.safety),
            last_chunk_pose: None,
            cycles: 0,
            fsm_refused: 0,
        }
    }

    pub fn fsm_state(&self) -> FsmId {
        self.fsm.state()
    }

    pub fn safety(&self) -> &SafetyLayer {
        &self.safety
    }

    pub fn counters(&self) -> ControllerCounters {
        ControllerCounters {
            cycles: self.cycles,
            safety: self.safety.counters(),
            chunks: self.blender.counters(),
            fsm_refused: self.fsm_refused,
        }
    }

    pub fn tick(&mut self, input: &CycleInputs<'_>) -> CycleOutput {
        self.cycles += 1;
        let now = input.now;
        if input.reset {
            self.safety.reset();
        }
        let fsm_result = input.fsm_request.map(|to| {
            if self.safety.tripped().is_some() && to != FsmId::Damp {
                self.fsm_refused += 1;
                return Err(TransitionRefused {
                    from: self.fsm.state(),
                    to,
                    reason: "the safety layer has tripped; reset it first",
                });
            }
            let Some(state) = input.state else {
                self.fsm_refused += 1;
                return Err(TransitionRefused {
                    from: self.fsm.state(),
                    to,
                    reason: "no robot state yet",
                });
            };
            let r = self.fsm.request(to, now, state).map(|_| to);
            if r.is_err() {
                self.fsm_refused += 1;
            }
            if to != FsmId::Start {
                self.blender.clear();
                self.last_chunk_pose = None;
            }
            r
        });
        let chunk_result = input.new_chunk.map(|c| self.blender.accept(c, now));

        let mut desired = self.fsm.targets(now);
        let mut chunk_expired_since = None;
        if self.fsm.state() == FsmId::Start {
            let mut pose = [0.0; 29];
            match self.blender.target(now, &mut pose) {
                BlendTarget::Target => {
                    self.last_chunk_pose = Some(pose);
                    desired = hold_targets(&pose, &STAND_GAINS);
                }
                BlendTarget::NoChunk => {}
                BlendTarget::Expired { at } => {
                    chunk_expired_since = Some(at);
                    if let Some(p) = &self.last_chunk_pose {
                        desired = hold_targets(p, &STAND_GAINS);
                    }
                }
            }
        }
        let safety_in = SafetyInputs {
            e_stop: input.e_stop,
            chunk_expired_since,
            battery_percent: None,
            active: self.fsm.is_active(),
        };
        let out = self.safety.apply(now, input.state, &desired, &safety_in);
        if out.tripped.is_some() && self.fsm.state() != FsmId::Damp {
            self.fsm.force_damp();
            self.blender.clear();
        }
        CycleOutput {
            targets: out.targets,
            fsm: self.fsm.state(),
            tripped: out.tripped,
            fsm_result,
            chunk_result,
        }
    }
}
