//! The robot's state and the per-motor targets, in the G1's 35-slot layout.

use crate::time::MonoTime;

/// Motor slots in hg messages. Slots 0–28 are body joints; 29–34 are unused
/// (slot 29's `q` carries the arm_sdk blend weight on `rt/arm_sdk`).
pub const NUM_MOTOR_SLOTS: usize = 35;

/// One motor's measured state.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MotorState {
    pub q_rad: f32,
    pub dq_rad_s: f32,
    pub tau_est_nm: f32,
    /// Casing temperature, °C.
    pub temp_casing_c: i16,
    /// Winding temperature, °C.
    pub temp_winding_c: i16,
    /// Motor error code (0 = none).
    pub error_code: u32,
}

/// Pelvis IMU, body frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuState {
    /// Orientation quaternion (w, x, y, z), body → world.
    pub quat_wxyz: [f32; 4],
    pub gyro_rad_s: [f32; 3],
    pub accel_m_s2: [f32; 3],
    pub rpy_rad: [f32; 3],
    pub temperature_c: i16,
}

impl Default for ImuState {
    fn default() -> Self {
        ImuState {
            quat_wxyz: [1.0, 0.0, 0.0, 0.0],
            gyro_rad_s: [0.0; 3],
            accel_m_s2: [0.0; 3],
            rpy_rad: [0.0; 3],
            temperature_c: 0,
        }
    }
}

/// Button bits of the wireless remote, in the order of `wireless_remote[2..4]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteButtons(pub u16);

impl RemoteButtons {
    pub const R1: u16 = 1 << 0;
    pub const L1: u16 = 1 << 1;
    pub const START: u16 = 1 << 2;
    pub const SELECT: u16 = 1 << 3;
    pub const R2: u16 = 1 << 4;
    pub const L2: u16 = 1 << 5;
    pub const F1: u16 = 1 << 6;
    pub const F2: u16 = 1 << 7;
    pub const A: u16 = 1 << 8;
    pub const B: u16 = 1 << 9;
    pub const X: u16 = 1 << 10;
    pub const Y: u16 = 1 << 11;
    pub const UP: u16 = 1 << 12;
    pub const RIGHT: u16 = 1 << 13;
    pub const DOWN: u16 = 1 << 14;
    pub const LEFT: u16 = 1 << 15;

    pub const fn pressed(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
}

/// The wireless remote, decoded from LowState's `wireless_remote[40]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RemoteState {
    pub buttons: RemoteButtons,
    pub lx: f32,
    pub rx: f32,
    pub ry: f32,
    pub l2: f32,
    pub ly: f32,
}

impl RemoteState {
    /// Decodes the layout in g1-protocol.md §1: u16 buttons @2, then f32
    /// lx @4, rx @8, ry @12, L2 @16, ly @20, all little-endian.
    pub fn from_wireless_remote(raw: &[u8; 40]) -> RemoteState {
        let f = |at: usize| f32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        RemoteState {
            buttons: RemoteButtons(u16::from_le_bytes([raw[2], raw[3]])),
            lx: f(4),
            rx: f(8),
            ry: f(12),
            l2: f(16),
            ly: f(20),
        }
    }
}

/// Everything the robot reports in one LowState, plus when it arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobotState {
    pub motors: [MotorState; NUM_MOTOR_SLOTS],
    pub imu: ImuState,
    /// Robot-type id (5 = 29-DoF, 4 = 23-DoF, 0 in some simulators).
    pub mode_machine: u8,
    /// 0 = PR ankle mode, 1 = AB.
    pub mode_pr: u8,
    /// Robot tick, ms.
    pub tick_ms: u32,
    pub remote: RemoteState,
    /// Local monotonic time at which this state was received.
    pub received_at: MonoTime,
}

impl Default for RobotState {
    fn default() -> Self {
        RobotState {
            motors: [MotorState::default(); NUM_MOTOR_SLOTS],
            imu: ImuState::default(),
            mode_machine: 0,
            mode_pr: 0,
            tick_ms: 0,
            remote: RemoteState::default(),
            received_at: MonoTime::ZERO,
        }
    }
}

/// One motor's command: the firmware applies
/// `tau + kp·(q − q_meas) + kd·(dq − dq_meas)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MotorTarget {
    pub enabled: bool,
    pub q_rad: f32,
    pub dq_rad_s: f32,
    pub tau_nm: f32,
    pub kp: f32,
    pub kd: f32,
}

impl MotorTarget {
    pub fn is_finite(&self) -> bool {
        self.q_rad.is_finite()
            && self.dq_rad_s.is_finite()
            && self.tau_nm.is_finite()
            && self.kp.is_finite()
            && self.kd.is_finite()
    }
}

/// Targets for all 35 slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotorTargets {
    pub motors: [MotorTarget; NUM_MOTOR_SLOTS],
}

impl Default for MotorTargets {
    fn default() -> Self {
        MotorTargets {
            motors: [MotorTarget::default(); NUM_MOTOR_SLOTS],
        }
    }
}

impl MotorTargets {
    /// Damping gain of the reference safe state (g1-protocol.md §5).
    pub const DAMPING_KD: f32 = 8.0;

    /// The safe sink state: every motor enabled, kp 0, kd 8, no feed-forward.
    pub fn damping() -> MotorTargets {
        MotorTargets {
            motors: [MotorTarget {
                enabled: true,
                kd: Self::DAMPING_KD,
                ..MotorTarget::default()
            }; NUM_MOTOR_SLOTS],
        }
    }

    /// Every motor enabled with zero gains and zero torque.
    pub fn zero_torque() -> MotorTargets {
        MotorTargets {
            motors: [MotorTarget {
                enabled: true,
                ..MotorTarget::default()
            }; NUM_MOTOR_SLOTS],
        }
    }

    /// True if every value is finite; NaN/Inf must never reach a motor.
    pub fn all_finite(&self) -> bool {
        self.motors.iter().all(MotorTarget::is_finite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damping_has_zero_stiffness_and_positive_damping() {
        let d = MotorTargets::damping();
        for m in d.motors {
            assert!(m.enabled);
            assert_eq!(m.kp, 0.0);
            assert_eq!(m.kd, 8.0);
            assert_eq!((m.q_rad, m.dq_rad_s, m.tau_nm), (0.0, 0.0, 0.0));
        }
    }

    #[test]
    fn nan_target_is_not_finite() {
        let mut t = MotorTargets::damping();
        assert!(t.all_finite());
        t.motors[17].q_rad = f32::NAN;
        assert!(!t.all_finite());
        t.motors[17].q_rad = 0.0;
        t.motors[3].kd = f32::INFINITY;
        assert!(!t.all_finite());
    }

    #[test]
    fn wireless_remote_layout() {
        let mut raw = [0u8; 40];
        raw[2..4].copy_from_slice(&(RemoteButtons::A | RemoteButtons::L1).to_le_bytes());
        raw[4..8].copy_from_slice(&0.25f32.to_le_bytes());
        raw[20..24].copy_from_slice(&(-0.5f32).to_le_bytes());
        let r = RemoteState::from_wireless_remote(&raw);
        assert!(r.buttons.pressed(RemoteButtons::A));
        assert!(r.buttons.pressed(RemoteButtons::L1));
        assert!(!r.buttons.pressed(RemoteButtons::B));
        assert_eq!(r.lx, 0.25);
        assert_eq!(r.ly, -0.5);
    }
}
