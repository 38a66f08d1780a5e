//! Reference joint poses and PD gains for the G1 (g1-protocol.md §5), shared
//! by the controller's low-level FSM and the simulator's emulation of the
//! robot's own locomotion service.

use crate::joints::NUM_BODY_JOINTS;

/// Joint positions for the 29 body joints, rad, in hg slot order.
pub type JointPose = [f32; NUM_BODY_JOINTS];

const fn legs_waist_arms(leg: [f32; 6], waist: [f32; 3], left_arm: [f32; 7]) -> JointPose {
    let mut q = [0.0; NUM_BODY_JOINTS];
    let mut i = 0;
    while i < 6 {
        q[i] = leg[i];
        // The right leg mirrors the left: roll and yaw change sign.
        q[6 + i] = if i == 1 || i == 2 || i == 5 {
            -leg[i]
        } else {
            leg[i]
        };
        i += 1;
    }
    q[12] = waist[0];
    q[13] = waist[1];
    q[14] = waist[2];
    let mut j = 0;
    while j < 7 {
        q[15 + j] = left_arm[j];
        // The right arm mirrors the left: roll and yaw change sign.
        q[22 + j] = if j == 1 || j == 2 || j == 4 || j == 6 {
            -left_arm[j]
        } else {
            left_arm[j]
        };
        j += 1;
    }
    q
}

/// Arms of the MuJoCo G1's `stand` keyframe. rl_lab's fixed-stand arms
/// (0, 0.25, 0, 0.97, 0.15, 0, 0) tip the simulated G1 forward with plain PD
/// at `STAND_GAINS` (measured: it falls within 2 s of release); these hold it.
const ARMS_AT_REST: [f32; 7] = [0.2, 0.2, 0.0, 1.28, 0.0, 0.0, 0.0];

/// Legs of Unitree's rl_gym / rl_lab fixed stand, arms of the MuJoCo keyframe.
pub const STAND: JointPose =
    legs_waist_arms([-0.1, 0.0, 0.0, 0.3, -0.2, 0.0], [0.0; 3], ARMS_AT_REST);

/// A squat: knees bent, hips and ankles compensating to keep the feet flat
/// and the centre of mass over them. Tuned in MuJoCo with `STAND_GAINS`:
/// the pelvis holds at 0.72 m; deeper poses (knee ≥ 1.1) tip the plain-PD
/// G1 over backwards.
pub const SQUAT: JointPose =
    legs_waist_arms([-0.4, 0.0, 0.0, 0.9, -0.5, 0.0], [0.0; 3], ARMS_AT_REST);

/// A low crouch (pelvis at 0.60 m in MuJoCo), the pose the robot settles
/// into before it is damped. Plain PD cannot lower the G1 onto the floor
/// without a balance controller, so "sit" stops here.
pub const SIT: JointPose =
    legs_waist_arms([-0.7, 0.0, 0.0, 1.5, -0.85, 0.0], [0.0; 3], ARMS_AT_REST);

/// Per-joint PD gains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gains {
    pub kp: [f32; NUM_BODY_JOINTS],
    pub kd: [f32; NUM_BODY_JOINTS],
}

const fn gains(leg_kp: [f32; 6], leg_kd: [f32; 6], waist: (f32, f32), arm: (f32, f32)) -> Gains {
    let mut kp = [0.0; NUM_BODY_JOINTS];
    let mut kd = [0.0; NUM_BODY_JOINTS];
    let mut i = 0;
    while i < 6 {
        kp[i] = leg_kp[i];
        kp[6 + i] = leg_kp[i];
        kd[i] = leg_kd[i];
        kd[6 + i] = leg_kd[i];
        i += 1;
    }
    let mut w = 12;
    while w < 15 {
        kp[w] = waist.0;
        kd[w] = waist.1;
        w += 1;
    }
    let mut a = 15;
    while a < NUM_BODY_JOINTS {
        kp[a] = arm.0;
        kd[a] = arm.1;
        a += 1;
    }
    Gains { kp, kd }
}

/// Gains that hold the G1 standing with plain PD at 2 ms in MuJoCo
/// (g1-protocol.md §5): hip/knee/waist kp 300 kd 8, ankle kp 200 kd 5,
/// arms kp 40 kd 1.
pub const STAND_GAINS: Gains = gains(
    [300.0, 300.0, 300.0, 300.0, 200.0, 200.0],
    [8.0, 8.0, 8.0, 8.0, 5.0, 5.0],
    (300.0, 8.0),
    (40.0, 1.0),
);

/// Upper-body gains on `rt/arm_sdk`: arms kp 60 kd 1.5 as in Unitree's arm
/// SDK example. That example gives the waist the same kp 60, but the waist
/// carries the whole torso: at 60 the MuJoCo G1 sags forward and trips the
/// tilt limit once the weight reaches 1, so the waist keeps the standing
/// gains (kp 300 kd 8). Leg slots carry none: the locomotion owns the legs.
pub const ARM_SDK_GAINS: Gains = gains([0.0; 6], [0.0; 6], (300.0, 8.0), (60.0, 1.5));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::joints::{JointIndex, ALL_JOINTS};

    #[test]
    fn poses_respect_joint_limits() {
        for (name, pose) in [("stand", STAND), ("squat", SQUAT), ("sit", SIT)] {
            for j in ALL_JOINTS {
                let l = j.limits();
                let q = pose[j.slot()];
                assert!(
                    q >= l.q_min_rad && q <= l.q_max_rad,
                    "{name}: {j} = {q} outside [{}, {}]",
                    l.q_min_rad,
                    l.q_max_rad
                );
            }
        }
    }

    #[test]
    fn stand_pose_has_rl_lab_legs_and_keyframe_arms() {
        assert_eq!(STAND[JointIndex::LeftKnee.slot()], 0.3);
        assert_eq!(STAND[JointIndex::RightAnklePitch.slot()], -0.2);
        assert_eq!(STAND[JointIndex::LeftShoulderRoll.slot()], 0.2);
        assert_eq!(STAND[JointIndex::RightShoulderRoll.slot()], -0.2);
        assert_eq!(STAND[JointIndex::RightElbow.slot()], 1.28);
    }

    #[test]
    fn stand_gains_match_protocol_doc() {
        assert_eq!(STAND_GAINS.kp[JointIndex::RightKnee.slot()], 300.0);
        assert_eq!(STAND_GAINS.kd[JointIndex::LeftAnkleRoll.slot()], 5.0);
        assert_eq!(STAND_GAINS.kp[JointIndex::WaistPitch.slot()], 300.0);
        assert_eq!(STAND_GAINS.kp[JointIndex::RightWristYaw.slot()], 40.0);
    }
}
