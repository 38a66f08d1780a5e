//! The low-level FSM: what each G1 FSM id means when tendon itself writes
//! `rt/lowcmd`, and which transitions are allowed. Motions interpolate from
//! the measured pose with a smoothstep, using gains that hold the G1.

use std::time::Duration;

use tendon_core::poses::{Gains, JointPose, SIT, SQUAT, STAND, STAND_GAINS};
use tendon_core::{FsmId, MonoTime, MotorTarget, MotorTargets, RobotState};

/// A refused FSM request, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("FSM transition {from} → {to} refused: {reason}")]
pub struct TransitionRefused {
    pub from: FsmId,
    pub to: FsmId,
    pub reason: &'static str,
}

/// The allowed-transition table of low-level mode. Damp is always allowed:
/// it is the safe sink.
pub fn check_transition(from: FsmId, to: FsmId) -> Result<(), TransitionRefused> {
    use FsmId::*;
    let refuse = |reason| Err(TransitionRefused { from, to, reason });
    if to == Damp || to == from {
        return Ok(());
    }
    match to {
        StartWaist3Dof | LieToStand | SquatToStand | WalkRun => refuse(
            "this FSM runs only on the robot's own locomotion controller; use high-level mode",
        ),
        ZeroTorque => match from {
            Damp => Ok(()),
            _ => refuse("zero torque would drop a robot that is being held; damp first"),
        },
        StandUp => match from {
            ZeroTorque | Squat | Sit | Start => Ok(()),
            _ => refuse(
                "stand up from damping needs zero torque first (the robot must be supported)",
            ),
        },
        Squat | Sit => match from {
            StandUp | Squat | Sit | Start => Ok(()),
            _ => refuse("stand up first"),
        },
        Start => match from {
            StandUp => Ok(()),
            _ => refuse("start only from the standing pose; stand up first"),
        },
        Damp => Ok(()),
    }
}

/// Motion durations and target poses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsmConfig {
    pub stand_up: Duration,
    pub squat: Duration,
    pub sit: Duration,
    pub stand_pose: JointPose,
    pub squat_pose: JointPose,
    pub sit_pose: JointPose,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            stand_up: Duration::from_millis(2500),
            squat: Duration::from_millis(2000),
            sit: Duration::from_millis(2500),
            stand_pose: STAND,
            squat_pose: SQUAT,
            sit_pose: SIT,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Motion {
    from: JointPose,
    to: JointPose,
    start: MonoTime,
    duration: Duration,
}

impl Motion {
    fn pose_at(&self, now: MonoTime) -> JointPose {
        let s = (now.saturating_since(self.start).as_secs_f32()
            / self.duration.as_secs_f32().max(1e-6))
        .clamp(0.0, 1.0);
        let w = s * s * (3.0 - 2.0 * s);
        let mut q = self.from;
        for (qi, (to, from)) in q.iter_mut().zip(self.to.iter().zip(&self.from)) {
            *qi += (to - from) * w;
        }
        q
    }

    fn done(&self, now: MonoTime) -> bool {
        now.saturating_since(self.start) >= self.duration
    }
}

/// PD targets holding `pose` with `gains`; slots 29–34 stay disabled.
pub fn hold_targets(pose: &JointPose, gains: &Gains) -> MotorTargets {
    let mut t = MotorTargets::default();
    for (i, q) in pose.iter().enumerate() {
        t.motors[i] = MotorTarget {
            enabled: true,
            q_rad: *q,
            kp: gains.kp[i],
            kd: gains.kd[i],
            ..MotorTarget::default()
        };
    }
    t
}

/// The low-level FSM.
#[derive(Debug, Clone)]
pub struct LowLevelFsm {
    config: FsmConfig,
    state: FsmId,
    motion: Option<Motion>,
    /// Where the previous motion ended; start and squat/sit hold it.
    held: JointPose,
}

impl LowLevelFsm {
    /// Starts in damping, the safe sink.
    pub fn new(config: FsmConfig) -> Self {
        LowLevelFsm {
            config,
            state: FsmId::Damp,
            motion: None,
            held: config.stand_pose,
        }
    }

    pub fn state(&self) -> FsmId {
        self.state
    }

    /// True while a motion (stand up, squat, sit) is still moving.
    pub fn in_motion(&self, now: MonoTime) -> bool {
        self.motion.is_some_and(|m| !m.done(now))
    }

    /// Whether this state actively holds the robot (terminations apply).
    pub fn is_active(&self) -> bool {
        !matches!(self.state, FsmId::Damp | FsmId::ZeroTorque)
    }

    /// Requests a transition; on success the new state starts now, from the
    /// measured joint positions.
    pub fn request(
        &mut self,
        to: FsmId,
        now: MonoTime,
        measured: &RobotState,
    ) -> Result<(), TransitionRefused> {
        check_transition(self.state, to)?;
        if to == self.state {
            return Ok(());
        }
        // From a holding state, continue from the commanded pose: under
        // gravity the measured pose sits a little off the target, and that
        // offset is the PD torque that holds the robot up. Restarting from
        // the measured pose would drop it and tip the robot over (seen in
        // MuJoCo). From a limp state, start from where the joints are.
        let mut from = [0.0; 29];
        if self.is_active() {
            from = self.commanded_pose(now);
        } else {
            for (i, q) in from.iter_mut().enumerate() {
                *q = measured.motors[i].q_rad;
            }
        }
        let target = match to {
            FsmId::StandUp => Some((self.config.stand_pose, self.config.stand_up)),
            FsmId::Squat => Some((self.config.squat_pose, self.config.squat)),
            FsmId::Sit => Some((self.config.sit_pose, self.config.sit)),
            _ => None,
        };
        self.motion = target.map(|(to, duration)| Motion {
            from,
            to,
            start: now,
            duration,
        });
        if let Some((pose, _)) = target {
            self.held = pose;
        }
        self.state = to;
        Ok(())
    }

    /// The pose the current state commands at `now`.
    fn commanded_pose(&self, now: MonoTime) -> JointPose {
        match &self.motion {
            Some(m) => m.pose_at(now),
            None => self.held,
        }
    }

    /// Forces damping (after a safety trip), whatever the table says.
    pub fn force_damp(&mut self) {
        self.state = FsmId::Damp;
        self.motion = None;
    }

    /// The pose held in `Start` when no chunk drives the joints.
    pub fn fallback_pose(&self) -> &JointPose {
        &self.held
    }

    /// Targets for states that do not execute chunks. `Start` returns the
    /// fallback hold; the controller overrides it with chunk targets.
    pub fn targets(&self, now: MonoTime) -> MotorTargets {
        match self.state {
            FsmId::ZeroTorque => MotorTargets::zero_torque(),
            FsmId::Damp => MotorTargets::damping(),
            _ => hold_targets(&self.commanded_pose(now), &STAND_GAINS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tendon_core::fsm::ALL_FSM_IDS;

    fn ms(n: u64) -> MonoTime {
        MonoTime::from_ns(5_000_000_000 + n * 1_000_000)
    }

    #[test]
    fn damp_is_reachable_from_everywhere_and_every_id_has_an_answer() {
        for from in ALL_FSM_IDS {
            assert!(check_transition(from, FsmId::Damp).is_ok(), "{from}");
            for to in ALL_FSM_IDS {
                let r = check_transition(from, to);
                if let Err(e) = r {
                    assert!(!e.reason.is_empty());
                    assert!(e.to_string().contains("refused"), "{e}");
                }
            }
        }
    }

    #[test]
    fn dangerous_transitions_are_refused_with_reasons() {
        let e = check_transition(FsmId::StandUp, FsmId::ZeroTorque).unwrap_err();
        assert!(e.reason.contains("damp first"));
        assert!(check_transition(FsmId::Damp, FsmId::Start).is_err());
        assert!(check_transition(FsmId::Damp, FsmId::Squat).is_err());
        assert!(check_transition(FsmId::StandUp, FsmId::WalkRun)
            .unwrap_err()
            .reason
            .contains("high-level"));
        assert!(check_transition(FsmId::ZeroTorque, FsmId::StandUp).is_ok());
        assert!(check_transition(FsmId::StandUp, FsmId::Start).is_ok());
    }

    #[test]
    fn stand_up_interpolates_smoothly_from_the_measured_pose() {
        let mut fsm = LowLevelFsm::new(FsmConfig::default());
        let limp = RobotState::default(); // all joints at 0
        fsm.request(FsmId::ZeroTorque, ms(0), &limp).unwrap();
        assert_eq!(fsm.targets(ms(1)), MotorTargets::zero_torque());
        fsm.request(FsmId::StandUp, ms(10), &limp).unwrap();
        let knee = 3;
        assert_eq!(fsm.targets(ms(10)).motors[knee].q_rad, 0.0);
        let mid = fsm.targets(ms(10 + 1250)).motors[knee].q_rad;
        assert!(
            (mid - STAND[knee] / 2.0).abs() < 1e-5,
            "half way at half time: {mid}"
        );
        let end = fsm.targets(ms(10 + 2500)).motors[knee];
        assert_eq!(end.q_rad, STAND[knee]);
        assert_eq!((end.kp, end.kd), (300.0, 8.0));
        assert!(!fsm.in_motion(ms(2600)));
        assert!(fsm.is_active());

        // From a held pose the next motion starts at the commanded pose, not
        // at the measured one (which sags under gravity).
        let mut sagging = limp;
        sagging.motors[knee].q_rad = STAND[knee] + 0.05;
        fsm.request(FsmId::Squat, ms(3000), &sagging).unwrap();
        assert_eq!(fsm.targets(ms(3000)).motors[knee].q_rad, STAND[knee]);
    }
}
