//! `LocoEmulator`: the G1's own locomotion service (`sport`/`loco`,
//! g1-protocol.md §6) as a plain state machine. It keeps the FSM id, checks
//! transitions, stores velocity commands, and yields the motor targets the
//! robot's internal controller would apply: damp → kp 0 kd 8, zero torque →
//! nothing, stand up → ramp to a stand, squat/sit → ramp to SQUAT/SIT, start →
//! hold the stand (`STAND`). There is no walking policy: velocity commands are stored and
//! acknowledged, but the robot stands still. While a locomotion FSM runs,
//! `blend_arm_sdk` mixes an `rt/arm_sdk` command into these targets.

use tendon_bridge::loco::api;
use tendon_bridge::rpc::{RpcCode, RpcReply};
use tendon_core::joints::{ARM_SDK_WEIGHT_SLOT, FIRST_UPPER_BODY_SLOT, NUM_BODY_JOINTS};
use tendon_core::poses::{JointPose, SIT, SQUAT, STAND, STAND_GAINS};
use tendon_core::{FsmId, MotorTarget, MotorTargets};

/// Ramp time from the current pose to STAND for stand up / lie to stand, s.
pub const STAND_UP_DURATION_S: f64 = 2.5;
/// Ramp time to SQUAT / SIT and back, s.
pub const POSE_DURATION_S: f64 = 2.0;
/// Ramp time into locomotion's STAND when coming from another pose, s.
pub const START_DURATION_S: f64 = 1.0;

/// Velocity limits of Unitree's rl_gym deploy code; commands are clamped to them.
pub const MAX_VX_M_S: f32 = 0.8;
pub const MAX_VY_M_S: f32 = 0.5;
pub const MAX_WZ_RAD_S: f32 = 1.57;

/// Why the service refused a request; `code()` is the status code it answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocoError {
    #[error("FSM id {id} is not one the G1 locomotion service knows (code 7302); valid ids: 0, 1, 2, 3, 4, 500, 501, 702, 706, 801")]
    InvalidFsmId { id: i64 },
    #[error("the locomotion service cannot go from {from} to {to} (code 7301); damp (1) first, then stand up (4), then start (500)")]
    TransitionNotAllowed { from: FsmId, to: FsmId },
    #[error("{what} needs a locomotion FSM (start 500, 501 or walk-run 801); the robot is in {fsm} (code 7301)")]
    NotInLocomotion { what: &'static str, fsm: FsmId },
    #[error("arm task {task} is not one the service knows (code 7303); valid: 0 wave, 1 wave and turn, 2/3 shake hand")]
    InvalidTaskId { task: i64 },
    #[error("parameter {parameter:?} of api {api_id} is malformed: {why} (code 3204)")]
    BadParameter {
        api_id: i64,
        parameter: String,
        why: &'static str,
    },
    #[error("api {api_id} is not implemented by the simulator's locomotion service (code 3203)")]
    NotImplemented { api_id: i64 },
}

impl LocoError {
    pub fn code(&self) -> RpcCode {
        match self {
            LocoError::InvalidFsmId { .. } => RpcCode::InvalidFsmId,
            LocoError::TransitionNotAllowed { .. } | LocoError::NotInLocomotion { .. } => {
                RpcCode::StateNotAvailable
            }
            LocoError::InvalidTaskId { .. } => RpcCode::InvalidTaskId,
            LocoError::BadParameter { .. } => RpcCode::BadParameter,
            LocoError::NotImplemented { .. } => RpcCode::NotImplemented,
        }
    }
}

/// The stored velocity command (body frame).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VelocityCommand {
    pub vx_m_s: f32,
    pub vy_m_s: f32,
    pub wz_rad_s: f32,
    /// Sim time until which the command holds, s.
    pub until_s: f64,
}

// One per emulator; boxing the poses would only add an allocation per FSM change.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq)]
enum Drive {
    ZeroTorque,
    Damp,
    /// Linear ramp from `from` to `to` over `duration_s`, then hold `to`.
    Pose {
        from: JointPose,
        to: JointPose,
        start_s: f64,
        duration_s: f64,
    },
}

/// Is `from → to` a transition the service accepts?
///
/// Zero torque and damp are always reachable (they are the safe sinks).
/// Standing up starts from damp or any standing/crouched pose; squat and sit
/// start from a standing pose; locomotion starts from a stand; lie-to-stand
/// starts from damp (robot on the floor); squat-to-stand from squat or stand.
pub fn transition_allowed(from: FsmId, to: FsmId) -> bool {
    use FsmId::*;
    let standing = matches!(
        from,
        StandUp | Start | StartWaist3Dof | WalkRun | SquatToStand | LieToStand
    );
    match to {
        ZeroTorque | Damp => true,
        StandUp => from == Damp || standing || matches!(from, Squat | Sit),
        Squat | Sit => standing || matches!(from, Squat | Sit),
        Start | StartWaist3Dof | WalkRun => standing,
        LieToStand => from == Damp,
        SquatToStand => standing || from == Squat,
    }
}

/// The emulated locomotion service.
#[derive(Debug, Clone)]
pub struct LocoEmulator {
    fsm: FsmId,
    drive: Drive,
    velocity: VelocityCommand,
    arm_task: Option<u32>,
    transitions: u64,
}

impl Default for LocoEmulator {
    fn default() -> Self {
        LocoEmulator::new()
    }
}

impl LocoEmulator {
    /// Starts in zero torque, like a freshly booted robot.
    pub fn new() -> LocoEmulator {
        LocoEmulator {
            fsm: FsmId::ZeroTorque,
            drive: Drive::ZeroTorque,
            velocity: VelocityCommand::default(),
            arm_task: None,
            transitions: 0,
        }
    }

    pub fn fsm(&self) -> FsmId {
        self.fsm
    }

    /// GetFsmMode: 0 (standing still); the emulator never walks.
    pub fn fsm_mode(&self) -> u32 {
        0
    }

    /// How many FSM changes were accepted; a caller can watch it to learn that
    /// the service took the motors back from low-level control.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// The velocity command in force at `now_s` (zero once it expired).
    pub fn velocity(&self, now_s: f64) -> VelocityCommand {
        if now_s <= self.velocity.until_s {
            self.velocity
        } else {
            VelocityCommand::default()
        }
    }

    pub fn arm_task(&self) -> Option<u32> {
        self.arm_task
    }

    /// SetFsmId. `q_now` is the joint pose at `now_s`, where ramps start.
    pub fn set_fsm(&mut self, id: i64, now_s: f64, q_now: &JointPose) -> Result<(), LocoError> {
        let to = u32::try_from(id)
            .ok()
            .and_then(FsmId::from_id)
            .ok_or(LocoError::InvalidFsmId { id })?;
        if !transition_allowed(self.fsm, to) {
            return Err(LocoError::TransitionNotAllowed { from: self.fsm, to });
        }
        let ramp = |to_pose: &JointPose, duration_s: f64| Drive::Pose {
            from: *q_now,
            to: *to_pose,
            start_s: now_s,
            duration_s,
        };
        self.drive = match to {
            FsmId::ZeroTorque => Drive::ZeroTorque,
            FsmId::Damp => Drive::Damp,
            FsmId::StandUp | FsmId::LieToStand => ramp(&STAND, STAND_UP_DURATION_S),
            FsmId::Squat => ramp(&SQUAT, POSE_DURATION_S),
            FsmId::Sit => ramp(&SIT, POSE_DURATION_S),
            // Squat-to-stand toggles between the two.
            FsmId::SquatToStand if self.fsm == FsmId::Squat => ramp(&STAND, POSE_DURATION_S),
            FsmId::SquatToStand => ramp(&SQUAT, POSE_DURATION_S),
            FsmId::Start | FsmId::StartWaist3Dof | FsmId::WalkRun => match self.drive {
                // Already holding (or ramping to) STAND: keep the ramp going.
                Drive::Pose { to, .. } if to == STAND => self.drive,
                _ => ramp(&STAND, START_DURATION_S),
            },
        };
        if !to.allows_arm_actions() {
            self.velocity = VelocityCommand::default();
            self.arm_task = None;
        }
        self.fsm = to;
        self.transitions += 1;
        Ok(())
    }

    /// SetVelocity: stored (clamped to Unitree's limits) for `duration_s`;
    /// only in locomotion FSMs. The emulator has no walking policy.
    pub fn set_velocity(
        &mut self,
        v: [f32; 3],
        duration_s: f64,
        now_s: f64,
    ) -> Result<(), LocoError> {
        if !self.fsm.allows_arm_actions() {
            return Err(LocoError::NotInLocomotion {
                what: "SetVelocity",
                fsm: self.fsm,
            });
        }
        self.velocity = VelocityCommand {
            vx_m_s: v[0].clamp(-MAX_VX_M_S, MAX_VX_M_S),
            vy_m_s: v[1].clamp(-MAX_VY_M_S, MAX_VY_M_S),
            wz_rad_s: v[2].clamp(-MAX_WZ_RAD_S, MAX_WZ_RAD_S),
            until_s: now_s + duration_s.max(0.0),
        };
        Ok(())
    }

    /// SetArmTask: only in 500/501/801 (7301 otherwise), task 0..=3 (7303 otherwise).
    pub fn set_arm_task(&mut self, task: i64) -> Result<(), LocoError> {
        if !self.fsm.allows_arm_actions() {
            return Err(LocoError::NotInLocomotion {
                what: "SetArmTask",
                fsm: self.fsm,
            });
        }
        if !(0..=3).contains(&task) {
            return Err(LocoError::InvalidTaskId { task });
        }
        self.arm_task = Some(task as u32);
        Ok(())
    }

    /// Answers one request of the loco API: 7001 GetFsmId, 7002 GetFsmMode,
    /// 7101 SetFsmId, 7105 SetVelocity, 7106 SetArmTask; 3203 for the rest.
    pub fn handle(
        &mut self,
        api_id: i64,
        parameter: &str,
        now_s: f64,
        q_now: &JointPose,
    ) -> RpcReply {
        let bad = |why| LocoError::BadParameter {
            api_id,
            parameter: parameter.to_string(),
            why,
        };
        let result = match api_id {
            api::GET_FSM_ID => return RpcReply::ok(format!("{{\"data\": {}}}", self.fsm.id())),
            api::GET_FSM_MODE => return RpcReply::ok(format!("{{\"data\": {}}}", self.fsm_mode())),
            api::SET_FSM_ID => match json_integer(parameter, "data") {
                Some(id) => self.set_fsm(id, now_s, q_now),
                None => Err(bad("expected {\"data\": <fsm id>}")),
            },
            api::SET_VELOCITY => {
                match (
                    json_f64_array3(parameter, "velocity"),
                    json_f64(parameter, "duration"),
                ) {
                    (Some(v), d) => {
                        let v = [v[0] as f32, v[1] as f32, v[2] as f32];
                        // Unitree's client defaults the duration to 1 s.
                        self.set_velocity(v, d.unwrap_or(1.0), now_s)
                    }
                    _ => Err(bad(
                        "expected {\"velocity\": [vx, vy, wz], \"duration\": s}",
                    )),
                }
            }
            api::SET_ARM_TASK => match json_integer(parameter, "data") {
                Some(task) => self.set_arm_task(task),
                None => Err(bad("expected {\"data\": <task id>}")),
            },
            other => Err(LocoError::NotImplemented { api_id: other }),
        };
        match result {
            Ok(()) => RpcReply::ok(""),
            Err(e) => {
                log::info!("loco emulator: {e}");
                RpcReply::error(e.code())
            }
        }
    }

    /// The targets the robot's internal controller applies at `now_s`.
    pub fn targets(&self, now_s: f64) -> MotorTargets {
        match self.drive {
            Drive::ZeroTorque => MotorTargets::zero_torque(),
            Drive::Damp => MotorTargets::damping(),
            Drive::Pose {
                from,
                to,
                start_s,
                duration_s,
            } => {
                let a = if duration_s > 0.0 {
                    ((now_s - start_s) / duration_s).clamp(0.0, 1.0) as f32
                } else {
                    1.0
                };
                let mut t = MotorTargets::default();
                for j in 0..NUM_BODY_JOINTS {
                    t.motors[j] = MotorTarget {
                        enabled: true,
                        q_rad: from[j] + a * (to[j] - from[j]),
                        dq_rad_s: 0.0,
                        tau_nm: 0.0,
                        kp: STAND_GAINS.kp[j],
                        kd: STAND_GAINS.kd[j],
                    };
                }
                t
            }
        }
    }

    /// True once a pose ramp has finished (or the drive is not a ramp).
    pub fn ramp_done(&self, now_s: f64) -> bool {
        match self.drive {
            Drive::Pose {
                start_s,
                duration_s,
                ..
            } => now_s >= start_s + duration_s,
            _ => true,
        }
    }
}

/// The text after `"key":` in a flat JSON object, leading blanks removed.
fn json_after_key<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = json;
    loop {
        let at = rest.find('"')?;
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix(key).and_then(|t| t.strip_prefix('"')) {
            return tail.trim_start().strip_prefix(':').map(str::trim_start);
        }
        rest = after;
    }
}

fn leading_number(s: &str) -> Option<f64> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
        .unwrap_or(s.len());
    s[..end].parse::<f64>().ok().filter(|v| v.is_finite())
}

fn json_f64(json: &str, key: &str) -> Option<f64> {
    leading_number(json_after_key(json, key)?)
}

fn json_integer(json: &str, key: &str) -> Option<i64> {
    let v = json_f64(json, key)?;
    (v.fract() == 0.0 && v.abs() < 1e15).then_some(v as i64)
}

fn json_f64_array3(json: &str, key: &str) -> Option<[f64; 3]> {
    let inner = json_after_key(json, key)?.strip_prefix('[')?;
    let inner = &inner[..inner.find(']')?];
    let mut out = [0.0; 3];
    let mut n = 0;
    for part in inner.split(',') {
        if n == 3 {
            return None;
        }
        out[n] = leading_number(part.trim())?;
        n += 1;
    }
    (n == 3).then_some(out)
}

/// The robot's locomotion blending an `rt/arm_sdk` command into its own
/// targets (g1-protocol.md §2, §4): on the waist and arm slots each field
/// becomes `w · arm + (1 − w) · locomotion`, with `w = motor_cmd[29].q`
/// clamped to 0..=1; the legs stay the locomotion's. A command with a
/// NaN/Inf anywhere is ignored, as the firmware ignores one on `rt/lowcmd`.
pub fn blend_arm_sdk(locomotion: &MotorTargets, arm: &MotorTargets) -> MotorTargets {
    if !arm.all_finite() {
        return *locomotion;
    }
    let w = arm.motors[ARM_SDK_WEIGHT_SLOT].q_rad.clamp(0.0, 1.0);
    let mut out = *locomotion;
    for slot in FIRST_UPPER_BODY_SLOT..NUM_BODY_JOINTS {
        let (l, a) = (locomotion.motors[slot], arm.motors[slot]);
        let mix = |ours: f32, theirs: f32| w * ours + (1.0 - w) * theirs;
        out.motors[slot] = MotorTarget {
            enabled: l.enabled || (w > 0.0 && a.enabled),
            q_rad: mix(a.q_rad, l.q_rad),
            dq_rad_s: mix(a.dq_rad_s, l.dq_rad_s),
            tau_nm: mix(a.tau_nm, l.tau_nm),
            kp: mix(a.kp, l.kp),
            kd: mix(a.kd, l.kd),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q0: JointPose = [0.0; NUM_BODY_JOINTS];

    fn code(reply: &RpcReply) -> i32 {
        reply.code
    }

    #[test]
    fn parses_the_parameters_unitree_clients_send() {
        assert_eq!(json_integer("{\"data\": 500}", "data"), Some(500));
        assert_eq!(json_integer("{\"data\":4}", "data"), Some(4));
        assert_eq!(json_integer("{\"data\": 4.5}", "data"), None);
        assert_eq!(json_integer("{}", "data"), None);
        assert_eq!(
            json_f64_array3(
                "{\"velocity\": [0.3, -0.1, 0.0], \"duration\": 2.0}",
                "velocity"
            ),
            Some([0.3, -0.1, 0.0])
        );
        assert_eq!(
            json_f64(
                "{\"velocity\": [0.3, -0.1, 0.0], \"duration\": 2.0}",
                "duration"
            ),
            Some(2.0)
        );
        assert_eq!(
            json_f64_array3("{\"velocity\": [0.3, 1]}", "velocity"),
            None
        );
    }

    #[test]
    fn stand_up_requires_damp_first_and_start_requires_a_stand() {
        let mut loco = LocoEmulator::new();
        assert_eq!(
            loco.set_fsm(4, 0.0, &Q0),
            Err(LocoError::TransitionNotAllowed {
                from: FsmId::ZeroTorque,
                to: FsmId::StandUp
            })
        );
        assert_eq!(
            loco.set_fsm(500, 0.0, &Q0).unwrap_err().code(),
            RpcCode::StateNotAvailable
        );
        loco.set_fsm(1, 0.0, &Q0).unwrap();
        assert_eq!(loco.set_fsm(500, 0.0, &Q0).unwrap_err().code().code(), 7301);
        loco.set_fsm(4, 0.0, &Q0).unwrap();
        loco.set_fsm(500, 1.0, &Q0).unwrap();
        assert_eq!(loco.fsm(), FsmId::Start);
        loco.set_fsm(3, 2.0, &Q0).unwrap();
        assert_eq!(loco.set_fsm(500, 3.0, &Q0).unwrap_err().code().code(), 7301);
        loco.set_fsm(0, 4.0, &Q0).unwrap();
        assert_eq!(loco.transitions(), 5);
    }

    #[test]
    fn unknown_fsm_id_is_7302() {
        let mut loco = LocoEmulator::new();
        for id in [5, 99, 803, -1, 1 << 40] {
            assert_eq!(
                loco.set_fsm(id, 0.0, &Q0).unwrap_err().code().code(),
                7302,
                "id {id}"
            );
        }
        let r = loco.handle(api::SET_FSM_ID, "{\"data\": 9}", 0.0, &Q0);
        assert_eq!(code(&r), 7302);
    }

    #[test]
    fn every_fsm_reaches_damp_and_zero_torque() {
        for from in tendon_core::fsm::ALL_FSM_IDS {
            assert!(transition_allowed(from, FsmId::Damp), "{from}");
            assert!(transition_allowed(from, FsmId::ZeroTorque), "{from}");
        }
    }

    #[test]
    fn rpc_answers_getters_setters_and_unknown_apis() {
        let mut loco = LocoEmulator::new();
        let r = loco.handle(api::GET_FSM_ID, "", 0.0, &Q0);
        assert_eq!((r.code, r.data.as_str()), (0, "{\"data\": 0}"));
        assert_eq!(
            loco.handle(api::SET_FSM_ID, "{\"data\": 1}", 0.0, &Q0).code,
            0
        );
        assert_eq!(
            loco.handle(api::GET_FSM_ID, "", 0.0, &Q0).data,
            "{\"data\": 1}"
        );
        assert_eq!(
            loco.handle(api::GET_FSM_MODE, "", 0.0, &Q0).data,
            "{\"data\": 0}"
        );
        // Arm tasks and velocity need locomotion.
        assert_eq!(
            loco.handle(api::SET_ARM_TASK, "{\"data\": 0}", 0.0, &Q0)
                .code,
            7301
        );
        assert_eq!(
            loco.handle(
                api::SET_VELOCITY,
                "{\"velocity\": [0.2, 0, 0], \"duration\": 1}",
                0.0,
                &Q0
            )
            .code,
            7301
        );
        assert_eq!(
            loco.handle(api::SET_FSM_ID, "{\"data\": 4}", 0.0, &Q0).code,
            0
        );
        assert_eq!(
            loco.handle(api::SET_FSM_ID, "{\"data\": 500}", 0.0, &Q0)
                .code,
            0
        );
        assert_eq!(
            loco.handle(api::SET_ARM_TASK, "{\"data\": 0}", 0.0, &Q0)
                .code,
            0
        );
        assert_eq!(
            loco.handle(api::SET_ARM_TASK, "{\"data\": 7}", 0.0, &Q0)
                .code,
            7303
        );
        let r = loco.handle(
            api::SET_VELOCITY,
            "{\"velocity\": [2.0, 0, 0.1], \"duration\": 1.5}",
            10.0,
            &Q0,
        );
        assert_eq!(r.code, 0);
        let v = loco.velocity(11.0);
        assert_eq!((v.vx_m_s, v.wz_rad_s, v.until_s), (MAX_VX_M_S, 0.1, 11.5));
        assert_eq!(loco.velocity(12.0), VelocityCommand::default());
        assert_eq!(
            loco.handle(api::SET_FSM_ID, "{\"dat\": 4}", 0.0, &Q0).code,
            3204
        );
        assert_eq!(
            loco.handle(api::SET_BALANCE_MODE, "{\"data\": 1}", 0.0, &Q0)
                .code,
            3203
        );
        assert_eq!(
            loco.handle(api::SWITCH_TO_USER_CTRL, "", 0.0, &Q0).code,
            3203
        );
    }

    #[test]
    fn stand_up_ramps_linearly_to_stand_with_stand_gains() {
        let mut loco = LocoEmulator::new();
        assert_eq!(loco.targets(0.0), MotorTargets::zero_torque());
        loco.set_fsm(1, 0.0, &Q0).unwrap();
        assert_eq!(loco.targets(0.0), MotorTargets::damping());
        loco.set_fsm(4, 1.0, &Q0).unwrap();
        let knee = tendon_core::JointIndex::LeftKnee.slot();
        let half = loco.targets(1.0 + STAND_UP_DURATION_S / 2.0);
        assert!((half.motors[knee].q_rad - STAND[knee] / 2.0).abs() < 1e-6);
        assert_eq!(half.motors[knee].kp, STAND_GAINS.kp[knee]);
        assert!(!loco.ramp_done(2.0));
        let end = loco.targets(100.0);
        assert_eq!(end.motors[knee].q_rad, STAND[knee]);
        assert_eq!(STAND[knee], STAND[knee]);
        assert!(loco.ramp_done(100.0));
        // Slots 29..34 stay disabled.
        assert!(!end.motors[30].enabled);
    }

    #[test]
    fn arm_sdk_blends_waist_and_arms_by_the_weight_and_never_the_legs() {
        let mut loco = LocoEmulator::new();
        loco.set_fsm(1, 0.0, &Q0).unwrap();
        loco.set_fsm(4, 0.0, &Q0).unwrap();
        loco.set_fsm(500, 3.0, &STAND).unwrap();
        let base = loco.targets(10.0);
        let mut arm = MotorTargets::default();
        for m in &mut arm.motors[..NUM_BODY_JOINTS] {
            *m = MotorTarget {
                enabled: true,
                q_rad: 1.0,
                dq_rad_s: 0.0,
                tau_nm: 2.0,
                kp: 60.0,
                kd: 1.5,
            };
        }
        for w in [0.0f32, 0.25, 1.0] {
            arm.motors[ARM_SDK_WEIGHT_SLOT].q_rad = w;
            let out = blend_arm_sdk(&base, &arm);
            assert_eq!(
                out.motors[..FIRST_UPPER_BODY_SLOT],
                base.motors[..FIRST_UPPER_BODY_SLOT]
            );
            for slot in FIRST_UPPER_BODY_SLOT..NUM_BODY_JOINTS {
                let (o, b) = (out.motors[slot], base.motors[slot]);
                assert!(
                    (o.q_rad - (w + (1.0 - w) * b.q_rad)).abs() < 1e-6,
                    "slot {slot} w {w}"
                );
                assert!((o.kp - (w * 60.0 + (1.0 - w) * b.kp)).abs() < 1e-4);
                assert!((o.tau_nm - 2.0 * w).abs() < 1e-6);
            }
        }
        arm.motors[20].q_rad = f32::NAN;
        assert_eq!(blend_arm_sdk(&base, &arm), base, "a NaN command is ignored");
    }
}
