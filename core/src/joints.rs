//! G1 joint names, motor slots and limits (g1-protocol.md §5, from the
//! g1_29dof_rev_1_0 URDF). Positions in rad, torque in N·m, velocity in rad/s.

// The limits are the URDF's decimal values (0.5236, 1.0472, …), not π fractions.
#![allow(clippy::approx_constant)]

use std::fmt;

/// Limits of one joint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointLimits {
    pub q_min_rad: f32,
    pub q_max_rad: f32,
    pub tau_max_nm: f32,
    pub dq_max_rad_s: f32,
}

/// The 29 body joints of the G1, by their hg motor slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum JointIndex {
    LeftHipPitch = 0,
    LeftHipRoll = 1,
    LeftHipYaw = 2,
    LeftKnee = 3,
    LeftAnklePitch = 4,
    LeftAnkleRoll = 5,
    RightHipPitch = 6,
    RightHipRoll = 7,
    RightHipYaw = 8,
    RightKnee = 9,
    RightAnklePitch = 10,
    RightAnkleRoll = 11,
    WaistYaw = 12,
    WaistRoll = 13,
    WaistPitch = 14,
    LeftShoulderPitch = 15,
    LeftShoulderRoll = 16,
    LeftShoulderYaw = 17,
    LeftElbow = 18,
    LeftWristRoll = 19,
    LeftWristPitch = 20,
    LeftWristYaw = 21,
    RightShoulderPitch = 22,
    RightShoulderRoll = 23,
    RightShoulderYaw = 24,
    RightElbow = 25,
    RightWristRoll = 26,
    RightWristPitch = 27,
    RightWristYaw = 28,
}

/// Number of body joints on the 29-DoF G1.
pub const NUM_BODY_JOINTS: usize = 29;

/// The first upper-body slot (waist yaw). `rt/arm_sdk` drives slots 12–28,
/// the waist and both arms, while the robot's locomotion keeps the legs.
pub const FIRST_UPPER_BODY_SLOT: usize = 12;

/// On `rt/arm_sdk`, `motor_cmd[29].q` carries the blend weight between the
/// robot's locomotion (0) and our upper-body targets (1) (g1-protocol.md §2).
pub const ARM_SDK_WEIGHT_SLOT: usize = 29;

use JointIndex::*;

/// All 29 joints in slot order.
pub const ALL_JOINTS: [JointIndex; NUM_BODY_JOINTS] = [
    LeftHipPitch,
    LeftHipRoll,
    LeftHipYaw,
    LeftKnee,
    LeftAnklePitch,
    LeftAnkleRoll,
    RightHipPitch,
    RightHipRoll,
    RightHipYaw,
    RightKnee,
    RightAnklePitch,
    RightAnkleRoll,
    WaistYaw,
    WaistRoll,
    WaistPitch,
    LeftShoulderPitch,
    LeftShoulderRoll,
    LeftShoulderYaw,
    LeftElbow,
    LeftWristRoll,
    LeftWristPitch,
    LeftWristYaw,
    RightShoulderPitch,
    RightShoulderRoll,
    RightShoulderYaw,
    RightElbow,
    RightWristRoll,
    RightWristPitch,
    RightWristYaw,
];

const fn lim(q_min_rad: f32, q_max_rad: f32, tau_max_nm: f32, dq_max_rad_s: f32) -> JointLimits {
    JointLimits {
        q_min_rad,
        q_max_rad,
        tau_max_nm,
        dq_max_rad_s,
    }
}

const HIP_PITCH: JointLimits = lim(-2.5307, 2.8798, 88.0, 32.0);
const HIP_YAW: JointLimits = lim(-2.7576, 2.7576, 88.0, 32.0);
const KNEE: JointLimits = lim(-0.087267, 2.8798, 139.0, 20.0);
const ANKLE_PITCH: JointLimits = lim(-0.87267, 0.5236, 35.0, 30.0);
const ANKLE_ROLL: JointLimits = lim(-0.2618, 0.2618, 35.0, 30.0);
const WAIST_RP: JointLimits = lim(-0.52, 0.52, 35.0, 30.0);
const SHOULDER_PITCH: JointLimits = lim(-3.0892, 2.6704, 25.0, 37.0);
const SHOULDER_YAW: JointLimits = lim(-2.618, 2.618, 25.0, 37.0);
const ELBOW: JointLimits = lim(-1.0472, 2.0944, 25.0, 37.0);
const WRIST_ROLL: JointLimits = lim(-1.97222, 1.97222, 25.0, 37.0);
const WRIST_PY: JointLimits = lim(-1.61443, 1.61443, 5.0, 22.0);

impl JointIndex {
    /// The hg motor slot (index into `motor_cmd` / `motor_state`).
    pub const fn slot(self) -> usize {
        self as usize
    }

    pub const fn from_slot(slot: usize) -> Option<JointIndex> {
        if slot < NUM_BODY_JOINTS {
            Some(ALL_JOINTS[slot])
        } else {
            None
        }
    }

    /// Waist or arm: a joint that `rt/arm_sdk` may drive.
    pub const fn is_upper_body(self) -> bool {
        self.slot() >= FIRST_UPPER_BODY_SLOT
    }

    /// URDF limits of this joint.
    pub const fn limits(self) -> JointLimits {
        match self {
            LeftHipPitch | RightHipPitch => HIP_PITCH,
            LeftHipRoll => lim(-0.5236, 2.9671, 139.0, 20.0),
            RightHipRoll => lim(-2.9671, 0.5236, 139.0, 20.0),
            LeftHipYaw | RightHipYaw => HIP_YAW,
            LeftKnee | RightKnee => KNEE,
            LeftAnklePitch | RightAnklePitch => ANKLE_PITCH,
            LeftAnkleRoll | RightAnkleRoll => ANKLE_ROLL,
            WaistYaw => lim(-2.618, 2.618, 88.0, 32.0),
            WaistRoll | WaistPitch => WAIST_RP,
            LeftShoulderPitch | RightShoulderPitch => SHOULDER_PITCH,
            LeftShoulderRoll => lim(-1.5882, 2.2515, 25.0, 37.0),
            RightShoulderRoll => lim(-2.2515, 1.5882, 25.0, 37.0),
            LeftShoulderYaw | RightShoulderYaw => SHOULDER_YAW,
            LeftElbow | RightElbow => ELBOW,
            LeftWristRoll | RightWristRoll => WRIST_ROLL,
            LeftWristPitch | LeftWristYaw | RightWristPitch | RightWristYaw => WRIST_PY,
        }
    }

    /// snake_case name, as in the URDF without the `_joint` suffix.
    pub const fn name(self) -> &'static str {
        match self {
            LeftHipPitch => "left_hip_pitch",
            LeftHipRoll => "left_hip_roll",
            LeftHipYaw => "left_hip_yaw",
            LeftKnee => "left_knee",
            LeftAnklePitch => "left_ankle_pitch",
            LeftAnkleRoll => "left_ankle_roll",
            RightHipPitch => "right_hip_pitch",
            RightHipRoll => "right_hip_roll",
            RightHipYaw => "right_hip_yaw",
            RightKnee => "right_knee",
            RightAnklePitch => "right_ankle_pitch",
            RightAnkleRoll => "right_ankle_roll",
            WaistYaw => "waist_yaw",
            WaistRoll => "waist_roll",
            WaistPitch => "waist_pitch",
            LeftShoulderPitch => "left_shoulder_pitch",
            LeftShoulderRoll => "left_shoulder_roll",
            LeftShoulderYaw => "left_shoulder_yaw",
            LeftElbow => "left_elbow",
            LeftWristRoll => "left_wrist_roll",
            LeftWristPitch => "left_wrist_pitch",
            LeftWristYaw => "left_wrist_yaw",
            RightShoulderPitch => "right_shoulder_pitch",
            RightShoulderRoll => "right_shoulder_roll",
            RightShoulderYaw => "right_shoulder_yaw",
            RightElbow => "right_elbow",
            RightWristRoll => "right_wrist_roll",
            RightWristPitch => "right_wrist_pitch",
            RightWristYaw => "right_wrist_yaw",
        }
    }
}

impl fmt::Display for JointIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which G1 body the robot reports (LowState `mode_machine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G1Variant {
    /// g1_29dof_rev_1_0 (mode_machine 5; 6 with the waist locked).
    Dof29,
    /// g1_23dof_rev_1_0 (mode_machine 4): no waist roll/pitch, no wrist pitch/yaw.
    Dof23,
}

impl G1Variant {
    /// Maps LowState's `mode_machine`; simulators that report 0 are treated as 29-DoF.
    pub const fn from_mode_machine(mode_machine: u8) -> Option<G1Variant> {
        match mode_machine {
            4 => Some(G1Variant::Dof23),
            0 | 5 | 6 => Some(G1Variant::Dof29),
            _ => None,
        }
    }

    pub const fn has_joint(self, joint: JointIndex) -> bool {
        match self {
            G1Variant::Dof29 => true,
            G1Variant::Dof23 => !matches!(
                joint,
                WaistRoll
                    | WaistPitch
                    | LeftWristPitch
                    | LeftWristYaw
                    | RightWristPitch
                    | RightWristYaw
            ),
        }
    }

    /// The joints this body actually has, in slot order.
    pub fn joints(self) -> impl Iterator<Item = JointIndex> {
        ALL_JOINTS.into_iter().filter(move |j| self.has_joint(*j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_hg_order() {
        for (slot, joint) in ALL_JOINTS.iter().enumerate() {
            assert_eq!(joint.slot(), slot);
            assert_eq!(JointIndex::from_slot(slot), Some(*joint));
        }
        assert_eq!(JointIndex::from_slot(29), None);
        assert_eq!(LeftKnee.slot(), 3);
        assert_eq!(RightWristYaw.slot(), 28);
    }

    #[test]
    fn limits_are_ordered_and_mirrored() {
        for j in ALL_JOINTS {
            let l = j.limits();
            assert!(l.q_min_rad < l.q_max_rad, "{j}");
            assert!(l.tau_max_nm > 0.0 && l.dq_max_rad_s > 0.0, "{j}");
        }
        assert_eq!(
            LeftHipRoll.limits().q_min_rad,
            -RightHipRoll.limits().q_max_rad
        );
        assert_eq!(
            LeftShoulderRoll.limits().q_max_rad,
            -RightShoulderRoll.limits().q_min_rad
        );
        assert_eq!(LeftKnee.limits().tau_max_nm, 139.0);
    }

    #[test]
    fn dof23_lacks_six_slots() {
        assert_eq!(G1Variant::Dof23.joints().count(), 23);
        let missing: Vec<usize> = ALL_JOINTS
            .iter()
            .filter(|j| !G1Variant::Dof23.has_joint(**j))
            .map(|j| j.slot())
            .collect();
        assert_eq!(missing, vec![13, 14, 20, 21, 27, 28]);
        assert_eq!(G1Variant::from_mode_machine(4), Some(G1Variant::Dof23));
        assert_eq!(G1Variant::from_mode_machine(5), Some(G1Variant::Dof29));
        assert_eq!(G1Variant::from_mode_machine(9), None);
    }
}
