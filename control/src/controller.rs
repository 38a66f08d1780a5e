//! One control cycle as a plain struct: FSM → chunk blending → safety. The
//! real-time thread (`runtime`) and the in-process simulator runner both
//! call `Controller::tick`; neither adds logic of its own.
//!
//! In `CommandScope::UpperBody` (high-level mode, `rt/arm_sdk`) the robot's
//! own locomotion owns the FSM and the legs: FSM requests are refused here
//! (the daemon sends them over the loco service), and the cycle commands the
//! waist and arms — the pose held at engage time, or the action chunks —
//! with the blend weight ramped by `WeightRamp`.

use std::time::Duration;

use tendon_core::joints::FIRST_UPPER_BODY_SLOT;
use tendon_core::poses::{JointPose, ARM_SDK_GAINS, STAND_GAINS};
use tendon_core::{ActionChunk, ChunkError, FsmId, MonoTime, MotorTargets, RobotState};

use crate::arm_sdk::{ArmRequest, WeightRamp, DEFAULT_ARM_RAMP};
use crate::blend::{BlendConfig, BlendCounters, BlendTarget, ChunkBlender};
use crate::fsm::{hold_targets, FsmConfig, LowLevelFsm, TransitionRefused};
use crate::safety::{SafetyConfig, SafetyCounters, SafetyInputs, SafetyLayer, Trip};

/// Which part of the robot the controller commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandScope {
    /// Low-level mode: every joint, on `rt/lowcmd`.
    #[default]
    WholeBody,
    /// High-level mode: waist and arms on `rt/arm_sdk`, blended into the
    /// robot's own locomotion with a ramped weight.
    UpperBody,
}

/// Everything configurable about a controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerConfig {
    pub safety: SafetyConfig,
    pub blend: BlendConfig,
    pub fsm: FsmConfig,
    pub scope: CommandScope,
    /// Time of a full 0 → 1 blend-weight ramp on `rt/arm_sdk`.
    pub arm_ramp: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            safety: SafetyConfig::default(),
            blend: BlendConfig::default(),
            fsm: FsmConfig::default(),
            scope: CommandScope::WholeBody,
            arm_ramp: DEFAULT_ARM_RAMP,
        }
    }
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
    /// Take or release the upper body (`CommandScope::UpperBody` only).
    pub arm_request: Option<ArmRequest>,
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
    /// The `rt/arm_sdk` blend weight sent (0 in `CommandScope::WholeBody`).
    pub arm_weight: f32,
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
    scope: CommandScope,
    arm_weight: WeightRamp,
    /// Upper-body pose held while engaged and no chunk drives it.
    arm_hold: Option<JointPose>,
    last_tick: Option<MonoTime>,
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
            scope: config.scope,
            arm_weight: WeightRamp::new(config.arm_ramp),
            arm_hold: None,
            last_tick: None,
        }
    }

    pub fn scope(&self) -> CommandScope {
        self.scope
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
        if self.scope == CommandScope::UpperBody {
            return self.tick_upper_body(input);
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
            arm_sdk_weight: None,
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
            arm_weight: 0.0,
        }
    }

    fn tick_upper_body(&mut self, input: &CycleInputs<'_>) -> CycleOutput {
        let now = input.now;
        let dt_s = self
            .last_tick
            .map(|t| now.saturating_since(t).as_secs_f32())
            .unwrap_or(0.0);
        self.last_tick = Some(now);
        let fsm_result = input.fsm_request.map(|to| {
            self.fsm_refused += 1;
            Err(TransitionRefused {
                from: self.fsm.state(),
                to,
                reason: "high-level mode: the robot's locomotion owns the FSM; request it over the loco service",
            })
        });
        match input.arm_request {
            Some(ArmRequest::Engage) if self.safety.tripped().is_none() => {
                if let Some(state) = input.state {
                    if !self.arm_weight.is_engaged() || self.arm_hold.is_none() {
                        let mut hold = [0.0; 29];
                        for (q, m) in hold.iter_mut().zip(state.motors.iter()) {
                            *q = m.q_rad;
                        }
                        self.arm_hold = Some(hold);
                    }
                    self.arm_weight.request(ArmRequest::Engage);
                }
            }
            Some(ArmRequest::Engage) => {}
            Some(ArmRequest::Release) => {
                self.arm_weight.request(ArmRequest::Release);
                self.blender.clear();
                self.last_chunk_pose = None;
            }
            None => {}
        }
        let chunk_result = input.new_chunk.map(|c| self.blender.accept(c, now));

        let mut pose = self.last_chunk_pose.or(self.arm_hold);
        let mut chunk_expired_since = None;
        if self.arm_weight.is_engaged() {
            let mut from_chunk = [0.0; 29];
            match self.blender.target(now, &mut from_chunk) {
                BlendTarget::Target => {
                    self.last_chunk_pose = Some(from_chunk);
                    pose = Some(from_chunk);
                }
                BlendTarget::NoChunk => {}
                BlendTarget::Expired { at } => chunk_expired_since = Some(at),
            }
        }
        let weight = self.arm_weight.step(dt_s);
        let desired = match pose {
            Some(p) => {
                let mut t = hold_targets(&p, &ARM_SDK_GAINS);
                for m in &mut t.motors[..FIRST_UPPER_BODY_SLOT] {
                    *m = Default::default();
                }
                t
            }
            None => MotorTargets::damping(),
        };
        let safety_in = SafetyInputs {
            e_stop: input.e_stop,
            chunk_expired_since,
            battery_percent: None,
            active: weight > 0.0,
            arm_sdk_weight: Some(if pose.is_some() { weight } else { 0.0 }),
        };
        let out = self.safety.apply(now, input.state, &desired, &safety_in);
        if out.tripped.is_some() {
            self.arm_weight.release_now();
            self.arm_hold = None;
            self.last_chunk_pose = None;
            self.blender.clear();
        }
        CycleOutput {
            targets: out.targets,
            fsm: self.fsm.state(),
            tripped: out.tripped,
            fsm_result,
            chunk_result,
            arm_weight: out.targets.motors[tendon_core::joints::ARM_SDK_WEIGHT_SLOT].q_rad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::ScriptedProducer;
    use crate::safety::TripCause;
    use tendon_core::joints::{JointIndex, ARM_SDK_WEIGHT_SLOT};
    use tendon_core::poses::STAND;

    fn ms(n: u64) -> MonoTime {
        MonoTime::from_ns(1_000_000_000 + n * 1_000_000)
    }

    fn state_at(now: MonoTime) -> RobotState {
        let mut s = RobotState {
            received_at: now,
            mode_machine: 5,
            ..RobotState::default()
        };
        for (m, q) in s.motors.iter_mut().zip(STAND.iter()) {
            m.q_rad = *q;
        }
        s
    }

    fn upper_body() -> Controller {
        Controller::new(ControllerConfig {
            scope: CommandScope::UpperBody,
            ..ControllerConfig::default()
        })
    }

    /// Ticks every 2 ms from `from_ms` to `to_ms` with fresh state.
    fn run(c: &mut Controller, from_ms: u64, to_ms: u64) -> Vec<CycleOutput> {
        (from_ms..to_ms)
            .step_by(2)
            .map(|t| {
                c.tick(&CycleInputs {
                    now: ms(t),
                    state: Some(&state_at(ms(t))),
                    ..Default::default()
                })
            })
            .collect()
    }

    #[test]
    fn upper_body_refuses_fsm_requests_and_stays_released_until_engaged() {
        let mut c = upper_body();
        let out = c.tick(&CycleInputs {
            now: ms(0),
            state: Some(&state_at(ms(0))),
            fsm_request: Some(FsmId::StandUp),
            ..Default::default()
        });
        let refused = out.fsm_result.unwrap().unwrap_err();
        assert!(refused.reason.contains("loco service"), "{refused}");
        assert!(run(&mut c, 2, 1000).iter().all(|o| o.arm_weight == 0.0));
    }

    #[test]
    fn engaging_ramps_the_weight_over_two_seconds_and_holds_the_measured_arms() {
        let mut c = upper_body();
        c.tick(&CycleInputs {
            now: ms(0),
            state: Some(&state_at(ms(0))),
            arm_request: Some(ArmRequest::Engage),
            ..Default::default()
        });
        let outs = run(&mut c, 2, 2600);
        let weights: Vec<f32> = outs.iter().map(|o| o.arm_weight).collect();
        assert!(weights.windows(2).all(|w| w[1] >= w[0]), "monotonic");
        let full_at = weights.iter().position(|w| *w == 1.0).unwrap();
        assert!(
            (990..=1010).contains(&full_at),
            "full after {full_at} cycles"
        );
        let t = &outs.last().unwrap().targets;
        assert_eq!(t.motors[ARM_SDK_WEIGHT_SLOT].q_rad, 1.0);
        for j in tendon_core::joints::ALL_JOINTS {
            let m = t.motors[j.slot()];
            if j.is_upper_body() {
                let kp = tendon_core::poses::ARM_SDK_GAINS.kp[j.slot()];
                assert_eq!((m.q_rad, m.kp), (STAND[j.slot()], kp), "{}", j.name());
                assert!(kp >= 60.0);
            } else {
                assert_eq!(m, tendon_core::MotorTarget::default(), "{}", j.name());
            }
        }
    }

    #[test]
    fn chunks_drive_the_arms_then_expiry_releases_them_after_the_grace() {
        let mut c = upper_body();
        let wave =
            ScriptedProducer::parse("t_s,left_shoulder_roll\n0,0.2\n0.5,1.0\n1,0.2\n").unwrap();
        let chunk = wave
            .chunk(ms(0), ms(0), Duration::from_millis(20), 50)
            .unwrap();
        let out = c.tick(&CycleInputs {
            now: ms(0),
            state: Some(&state_at(ms(0))),
            arm_request: Some(ArmRequest::Engage),
            new_chunk: Some(&chunk),
            ..Default::default()
        });
        assert_eq!(out.chunk_result, Some(Ok(())));
        let outs = run(&mut c, 2, 1000);
        let roll = JointIndex::LeftShoulderRoll.slot();
        let peak = outs
            .iter()
            .map(|o| o.targets.motors[roll].q_rad)
            .fold(0.0f32, f32::max);
        assert!(peak > 0.9, "the chunk's wave reached the target: {peak}");
        // The chunk ends at 1 s; grace 500 ms: still holding at 1.4 s, released by 1.6 s.
        let outs = run(&mut c, 1000, 1600);
        let at_1400 = &outs[(1400 - 1000) / 2];
        assert!(at_1400.tripped.is_none() && at_1400.arm_weight > 0.0);
        let last = outs.last().unwrap();
        assert_eq!(last.tripped.map(|t| t.cause), Some(TripCause::ChunkExpired));
        assert_eq!(last.arm_weight, 0.0);
        assert!(last.targets.motors[roll].kp == 0.0 && last.targets.motors[roll].kd > 0.0);
    }

    #[test]
    fn e_stop_and_stale_state_release_the_arms_on_the_next_cycle() {
        for stale in [false, true] {
            let mut c = upper_body();
            c.tick(&CycleInputs {
                now: ms(0),
                state: Some(&state_at(ms(0))),
                arm_request: Some(ArmRequest::Engage),
                ..Default::default()
            });
            run(&mut c, 2, 2200);
            let old = state_at(ms(2200));
            let out = c.tick(&CycleInputs {
                now: ms(if stale { 2302 } else { 2202 }),
                state: Some(&old),
                e_stop: !stale,
                ..Default::default()
            });
            assert!(out.tripped.is_some(), "stale={stale}");
            assert_eq!(out.arm_weight, 0.0);
            assert_eq!(out.targets, MotorTargets::damping());
            // Engaging again is refused until the operator resets the trip.
            let out = c.tick(&CycleInputs {
                now: ms(2304),
                state: Some(&state_at(ms(2304))),
                arm_request: Some(ArmRequest::Engage),
                ..Default::default()
            });
            assert_eq!(out.arm_weight, 0.0);
        }
    }
}
