//! The safety layer: every command to a motor passes here, in the control
//! thread. It clamps and rate-limits targets, rejects non-finite values, and
//! trips into the damping state (kp 0, kd 8) on stale state, expired chunks,
//! Unitree's termination conditions or an e-stop. A trip latches until the
//! operator resets it; every cause that fires is counted and logged, also
//! while latched. A non-finite robot state is a fault like any other. The
//! operator's wireless remote is read here too (`RemoteCombos`): L2 + B is
//! an e-stop, L2 + R2 + Start releases it. Nothing here allocates or panics.
//!
//! On `rt/arm_sdk` (high-level mode) the same checks apply to the upper
//! body. There the damping command carries blend weight 0, which hands the
//! arms back to the robot's locomotion at once; the daemon then asks the
//! locomotion service for its damping state (FSM 1), so that a fault ends in
//! damping there too.

use std::time::Duration;

use tendon_core::joints::{ALL_JOINTS, ARM_SDK_WEIGHT_SLOT, NUM_BODY_JOINTS};
use tendon_core::{MonoTime, MotorTargets, RemoteButtons, RobotState};

/// Limits and thresholds. Defaults follow design.md and Unitree's deploy code
/// (g1-protocol.md §7), with the stale-state limit far stricter (100 ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SafetyConfig {
    /// Position targets stay this far inside the URDF limits.
    pub joint_margin_rad: f32,
    /// Largest change of a position target per second.
    pub max_target_rate_rad_s: f32,
    /// Upper bounds on the gains a command may carry.
    pub max_kp: f32,
    pub max_kd: f32,
    /// State older than this forces damping.
    pub max_state_age: Duration,
    /// How long to hold the last safe pose after the action chunk ran out,
    /// before damping.
    pub chunk_grace: Duration,
    /// Terminations (each forces damping).
    pub max_tilt_rad: f32,
    pub max_joint_velocity_rad_s: f32,
    pub max_angular_velocity_rad_s: f32,
    pub max_winding_temp_c: i16,
    pub max_casing_temp_c: i16,
    pub min_battery_percent: f32,
}

/// Button combinations of the G1's wireless remote read by the safety
/// layer. They follow Unitree's own remote convention, where L2 + B puts the
/// robot into damping; the release needs three buttons so it cannot happen
/// by accident, and only on a new press while the e-stop combination is up.
pub struct RemoteCombos;

impl RemoteCombos {
    /// Held: e-stop (damping on this cycle).
    pub const E_STOP: u16 = RemoteButtons::L2 | RemoteButtons::B;
    /// Pressed: clears a latched trip (the FSM stays in damp).
    pub const RELEASE: u16 = RemoteButtons::L2 | RemoteButtons::R2 | RemoteButtons::START;

    fn held(buttons: RemoteButtons, combo: u16) -> bool {
        buttons.0 & combo == combo
    }
}

/// The documented range of one safety setting, for validating launch files.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SettingRange {
    pub key: &'static str,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

/// A safety setting outside its range (or not a number).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("safety setting {key} = {value} is outside its range {min}..={max} {unit}")]
pub struct SettingOutOfRange {
    pub key: &'static str,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

impl SettingRange {
    pub fn check(&self, value: f64) -> Result<(), SettingOutOfRange> {
        if value.is_finite() && (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(SettingOutOfRange {
                key: self.key,
                value,
                min: self.min,
                max: self.max,
                unit: self.unit,
            })
        }
    }
}

impl SafetyConfig {
    /// The range each setting must lie in. Wider than Unitree's defaults
    /// where an operator has a reason to tune (a slower link, a hotter
    /// day), never so wide that the check stops meaning anything.
    pub const RANGES: [SettingRange; 12] = [
        SettingRange {
            key: "joint_margin_rad",
            min: 0.0,
            max: 0.2,
            unit: "rad",
        },
        SettingRange {
            key: "max_target_rate_rad_s",
            min: 0.1,
            max: 20.0,
            unit: "rad/s",
        },
        SettingRange {
            key: "max_kp",
            min: 0.0,
            max: 1000.0,
            unit: "N·m/rad",
        },
        SettingRange {
            key: "max_kd",
            min: 0.0,
            max: 100.0,
            unit: "N·m·s/rad",
        },
        SettingRange {
            key: "max_state_age_ms",
            min: 4.0,
            max: 1000.0,
            unit: "ms",
        },
        SettingRange {
            key: "chunk_grace_ms",
            min: 0.0,
            max: 5000.0,
            unit: "ms",
        },
        SettingRange {
            key: "max_tilt_rad",
            min: 0.1,
            max: 1.5,
            unit: "rad",
        },
        SettingRange {
            key: "max_joint_velocity_rad_s",
            min: 1.0,
            max: 40.0,
            unit: "rad/s",
        },
        SettingRange {
            key: "max_angular_velocity_rad_s",
            min: 1.0,
            max: 20.0,
            unit: "rad/s",
        },
        SettingRange {
            key: "max_winding_temp_c",
            min: 40.0,
            max: 150.0,
            unit: "°C",
        },
        SettingRange {
            key: "max_casing_temp_c",
            min: 40.0,
            max: 120.0,
            unit: "°C",
        },
        SettingRange {
            key: "min_battery_percent",
            min: 0.0,
            max: 100.0,
            unit: "%",
        },
    ];

    fn values(&self) -> [f64; 12] {
        [
            self.joint_margin_rad as f64,
            self.max_target_rate_rad_s as f64,
            self.max_kp as f64,
            self.max_kd as f64,
            self.max_state_age.as_secs_f64() * 1e3,
            self.chunk_grace.as_secs_f64() * 1e3,
            self.max_tilt_rad as f64,
            self.max_joint_velocity_rad_s as f64,
            self.max_angular_velocity_rad_s as f64,
            self.max_winding_temp_c as f64,
            self.max_casing_temp_c as f64,
            self.min_battery_percent as f64,
        ]
    }

    /// Every value finite and inside `RANGES`; the error names the first
    /// that is not.
    pub fn validate(&self) -> Result<(), SettingOutOfRange> {
        for (range, value) in Self::RANGES.iter().zip(self.values()) {
            range.check(value)?;
        }
        Ok(())
    }
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            joint_margin_rad: 0.02,
            max_target_rate_rad_s: 6.0,
            max_kp: 500.0,
            max_kd: 50.0,
            max_state_age: Duration::from_millis(100),
            chunk_grace: Duration::from_millis(500),
            max_tilt_rad: 1.0,
            max_joint_velocity_rad_s: 10.0,
            max_angular_velocity_rad_s: 6.0,
            max_winding_temp_c: 120,
            max_casing_temp_c: 85,
            min_battery_percent: 20.0,
        }
    }
}

/// Why the layer forced damping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TripCause {
    EStop,
    StaleState,
    ChunkExpired,
    Tilt,
    JointVelocity,
    AngularVelocity,
    Overheat,
    LowBattery,
    /// A NaN or infinite value in the robot state.
    NonFiniteState,
    /// The e-stop combination on the operator's wireless remote.
    RemoteEStop,
}

pub const ALL_TRIP_CAUSES: [TripCause; 10] = [
    TripCause::EStop,
    TripCause::StaleState,
    TripCause::ChunkExpired,
    TripCause::Tilt,
    TripCause::JointVelocity,
    TripCause::AngularVelocity,
    TripCause::Overheat,
    TripCause::LowBattery,
    TripCause::NonFiniteState,
    TripCause::RemoteEStop,
];

impl TripCause {
    pub const fn name(self) -> &'static str {
        match self {
            TripCause::EStop => "e-stop",
            TripCause::StaleState => "robot state too old",
            TripCause::ChunkExpired => "action chunk expired past its grace period",
            TripCause::Tilt => "body tilt over limit",
            TripCause::JointVelocity => "joint velocity over limit",
            TripCause::AngularVelocity => "body angular velocity over limit",
            TripCause::Overheat => "motor over temperature",
            TripCause::LowBattery => "battery low",
            TripCause::NonFiniteState => "robot state not finite (NaN/Inf)",
            TripCause::RemoteEStop => "e-stop on the wireless remote (L2 + B)",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One trip, for the log. `value` is the measured quantity (age in ms,
/// tilt in rad, …) and `slot` the motor where it applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trip {
    pub at: MonoTime,
    pub cause: TripCause,
    pub value: f32,
    pub slot: Option<usize>,
}

/// A fixed ring of recent trips, read by a non-real-time thread for printing.
#[derive(Debug, Clone, Copy, Default)]
pub struct TripLog {
    entries: [Option<Trip>; 16],
    next: usize,
    total: u64,
}

impl TripLog {
    fn push(&mut self, t: Trip) {
        self.entries[self.next] = Some(t);
        self.next = (self.next + 1) % self.entries.len();
        self.total += 1;
    }

    /// Trips in the order they happened (the last 16 at most).
    pub fn recent(&self) -> impl Iterator<Item = &Trip> {
        let (a, b) = self.entries.split_at(self.next);
        b.iter().chain(a.iter()).flatten()
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

/// What the layer saw this cycle beyond the robot state.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SafetyInputs {
    pub e_stop: bool,
    /// Set when the chunk that drives the joints ran out at this time.
    pub chunk_expired_since: Option<MonoTime>,
    /// Battery state of charge, where a source exists (hg LowState has none).
    pub battery_percent: Option<f32>,
    /// Whether the current mode actively holds the robot; terminations on
    /// motion (tilt, velocities) are checked only then, since a damped or
    /// limp robot is already in the safe sink.
    pub active: bool,
    /// `Some(weight)` when the command goes to `rt/arm_sdk`: only the upper
    /// body (slots 12–28) is commanded, leg slots stay inert, and slot 29
    /// carries the blend weight. `None` for `rt/lowcmd` (the whole body).
    pub arm_sdk_weight: Option<f32>,
}

/// Counters for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SafetyCounters {
    /// Every time a cause starts firing, whether or not a trip was already
    /// latched (a cause that keeps firing counts once).
    pub trips_by_cause: [u64; ALL_TRIP_CAUSES.len()],
    /// Releases by the wireless remote's combination.
    pub remote_releases: u64,
    /// Cycles before the first robot state: damping, but no trip (there is
    /// nothing to recover from, and the link sends nothing until a state arrives).
    pub cycles_without_state: u64,
    pub non_finite_rejected: u64,
    pub clamped_targets: u64,
    pub rate_limited_targets: u64,
}

impl SafetyCounters {
    pub fn trips(&self, cause: TripCause) -> u64 {
        self.trips_by_cause[cause.index()]
    }

    pub fn total_trips(&self) -> u64 {
        self.trips_by_cause.iter().sum()
    }
}

/// The safety layer.
#[derive(Debug, Clone)]
pub struct SafetyLayer {
    config: SafetyConfig,
    tripped: Option<Trip>,
    last_output: Option<MotorTargets>,
    last_time: Option<MonoTime>,
    counters: SafetyCounters,
    log: TripLog,
    /// Causes firing this cycle and last cycle, for counting rising edges.
    firing: [bool; ALL_TRIP_CAUSES.len()],
    fired_last_cycle: [bool; ALL_TRIP_CAUSES.len()],
    remote_last: RemoteButtons,
}

/// The result of one pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SafetyOutput {
    pub targets: MotorTargets,
    /// The latched trip, if the layer is damping.
    pub tripped: Option<Trip>,
}

/// Pelvis tilt from vertical: the angle between body z and world z.
pub fn tilt_rad(quat_wxyz: [f32; 4]) -> f32 {
    let [w, x, y, _z] = quat_wxyz;
    // World z of the body z axis: R[2][2] = 1 - 2(x² + y²).
    let cos_tilt = (1.0 - 2.0 * (x * x + y * y)).clamp(-1.0, 1.0);
    let norm = w * w + x * x + y * y + _z * _z;
    if !(0.5..=1.5).contains(&norm) {
        return f32::INFINITY;
    }
    cos_tilt.acos()
}

impl SafetyLayer {
    pub fn new(config: SafetyConfig) -> Self {
        SafetyLayer {
            config,
            tripped: None,
            last_output: None,
            last_time: None,
            counters: SafetyCounters::default(),
            log: TripLog::default(),
            firing: [false; ALL_TRIP_CAUSES.len()],
            fired_last_cycle: [false; ALL_TRIP_CAUSES.len()],
            remote_last: RemoteButtons::default(),
        }
    }

    pub fn config(&self) -> &SafetyConfig {
        &self.config
    }

    pub fn counters(&self) -> SafetyCounters {
        self.counters
    }

    pub fn trip_log(&self) -> &TripLog {
        &self.log
    }

    pub fn tripped(&self) -> Option<Trip> {
        self.tripped
    }

    /// Clears a latched trip (an operator action). The rate limiter restarts
    /// from the measured pose so that the first command cannot jump.
    pub fn reset(&mut self) {
        self.tripped = None;
        self.last_output = None;
    }

    /// A cause fires: the first one latches the trip; each cause is counted
    /// and logged when it starts firing, latched or not.
    fn trip(&mut self, at: MonoTime, cause: TripCause, value: f32, slot: Option<usize>) {
        let t = Trip {
            at,
            cause,
            value,
            slot,
        };
        if self.tripped.is_none() {
            self.tripped = Some(t);
        }
        if !self.firing[cause.index()] && !self.fired_last_cycle[cause.index()] {
            self.counters.trips_by_cause[cause.index()] += 1;
            self.log.push(t);
        }
        self.firing[cause.index()] = true;
    }

    /// The first non-finite value of a state, as (value, motor slot).
    fn non_finite(state: &RobotState) -> Option<(f32, Option<usize>)> {
        let imu = &state.imu;
        let imu_values = imu
            .quat_wxyz
            .iter()
            .chain(&imu.gyro_rad_s)
            .chain(&imu.accel_m_s2)
            .chain(&imu.rpy_rad);
        if let Some(v) = imu_values.copied().find(|v| !v.is_finite()) {
            return Some((v, None));
        }
        ALL_JOINTS.iter().find_map(|j| {
            let m = &state.motors[j.slot()];
            [m.q_rad, m.dq_rad_s, m.tau_est_nm]
                .into_iter()
                .find(|v| !v.is_finite())
                .map(|v| (v, Some(j.slot())))
        })
    }

    /// The remote's release: a new press of the combination, with the
    /// e-stop combination up, clears a latched trip. Runs before this
    /// cycle's checks, so whatever still fires latches again at once.
    fn remote_release(&mut self, state: &RobotState) {
        let buttons = state.remote.buttons;
        if RemoteCombos::held(buttons, RemoteCombos::RELEASE)
            && !RemoteCombos::held(self.remote_last, RemoteCombos::RELEASE)
            && !RemoteCombos::held(buttons, RemoteCombos::E_STOP)
            && self.tripped.is_some()
        {
            self.counters.remote_releases += 1;
            self.reset();
        }
        self.remote_last = buttons;
    }

    fn check_terminations(&mut self, now: MonoTime, state: &RobotState, inputs: &SafetyInputs) {
        let c = self.config;
        let hot = ALL_JOINTS.iter().find_map(|j| {
            let m = &state.motors[j.slot()];
            if m.temp_winding_c > c.max_winding_temp_c {
                Some((m.temp_winding_c, j.slot()))
            } else if m.temp_casing_c > c.max_casing_temp_c {
                Some((m.temp_casing_c, j.slot()))
            } else {
                None
            }
        });
        if let Some((temp_c, slot)) = hot {
            self.trip(now, TripCause::Overheat, temp_c as f32, Some(slot));
        }
        if let Some(pct) = inputs.battery_percent {
            if pct < c.min_battery_percent {
                self.trip(now, TripCause::LowBattery, pct, None);
            }
        }
        if !inputs.active {
            return;
        }
        let tilt = tilt_rad(state.imu.quat_wxyz);
        if tilt > c.max_tilt_rad {
            self.trip(now, TripCause::Tilt, tilt, None);
        }
        let g = state.imu.gyro_rad_s;
        let w = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt();
        if w > c.max_angular_velocity_rad_s {
            self.trip(now, TripCause::AngularVelocity, w, None);
        }
        let fast = ALL_JOINTS.iter().find_map(|j| {
            let dq = state.motors[j.slot()].dq_rad_s;
            (dq.abs() > c.max_joint_velocity_rad_s).then_some((dq, j.slot()))
        });
        if let Some((dq, slot)) = fast {
            self.trip(now, TripCause::JointVelocity, dq, Some(slot));
        }
    }

    /// Runs every check and returns what may be sent. `desired` comes from
    /// the FSM or the policy; `state` is the newest robot state (if any).
    pub fn apply(
        &mut self,
        now: MonoTime,
        state: Option<&RobotState>,
        desired: &MotorTargets,
        inputs: &SafetyInputs,
    ) -> SafetyOutput {
        let c = self.config;
        self.fired_last_cycle = self.firing;
        self.firing = [false; ALL_TRIP_CAUSES.len()];
        // One scan per cycle: the release below and the fault check share it.
        let non_finite = state.and_then(Self::non_finite);
        let trusted = state.filter(|s| {
            now.saturating_since(s.received_at) <= c.max_state_age && non_finite.is_none()
        });
        if let Some(s) = trusted {
            self.remote_release(s);
        }
        if inputs.e_stop {
            self.trip(now, TripCause::EStop, 1.0, None);
        }
        match state {
            None => self.counters.cycles_without_state += 1,
            Some(s) => {
                let age = now.saturating_since(s.received_at);
                if age > c.max_state_age {
                    self.trip(now, TripCause::StaleState, age.as_secs_f32() * 1e3, None);
                } else if let Some((value, slot)) = non_finite {
                    // Comparisons with NaN are false: no termination below
                    // would see it, and a NaN reference would reach clamp.
                    self.trip(now, TripCause::NonFiniteState, value, slot);
                } else {
                    if RemoteCombos::held(s.remote.buttons, RemoteCombos::E_STOP) {
                        let buttons = s.remote.buttons.0 as f32;
                        self.trip(now, TripCause::RemoteEStop, buttons, None);
                    }
                    self.check_terminations(now, s, inputs);
                }
            }
        }
        if let Some(since) = inputs.chunk_expired_since {
            let late = now.saturating_since(since);
            if late > c.chunk_grace {
                self.trip(now, TripCause::ChunkExpired, late.as_secs_f32() * 1e3, None);
            }
        }
        let dt_s = self
            .last_time
            .map(|t| now.saturating_since(t).as_secs_f32())
            .unwrap_or(0.0);
        self.last_time = Some(now);
        if self.tripped.is_some() || state.is_none() {
            let damp = MotorTargets::damping();
            self.last_output = Some(damp);
            return SafetyOutput {
                targets: damp,
                tripped: self.tripped,
            };
        }
        let mut out = *desired;
        let weight_ok = inputs.arm_sdk_weight.is_none_or(f32::is_finite);
        if !out.all_finite() || !weight_ok {
            // A NaN never reaches a motor: repeat the last safe command.
            self.counters.non_finite_rejected += 1;
            out = self.last_output.unwrap_or_else(MotorTargets::damping);
            return SafetyOutput {
                targets: out,
                tripped: None,
            };
        }
        let max_step = c.max_target_rate_rad_s * dt_s.max(1e-3);
        for (slot, m) in out.motors.iter_mut().enumerate() {
            m.kp = m.kp.clamp(0.0, c.max_kp);
            m.kd = m.kd.clamp(0.0, c.max_kd);
            let joint = tendon_core::JointIndex::from_slot(slot);
            let commanded = match (joint, inputs.arm_sdk_weight) {
                (Some(j), None) => Some(j),
                (Some(j), Some(_)) if j.is_upper_body() => Some(j),
                _ => None,
            };
            let Some(joint) = commanded else {
                // Slots 29–34 drive no motor on the G1, and on rt/arm_sdk
                // the legs belong to the robot's locomotion: keep them inert.
                *m = tendon_core::MotorTarget::default();
                if let (ARM_SDK_WEIGHT_SLOT, Some(w)) = (slot, inputs.arm_sdk_weight) {
                    m.q_rad = w.clamp(0.0, 1.0);
                }
                continue;
            };
            let l = joint.limits();
            m.tau_nm = m.tau_nm.clamp(-l.tau_max_nm, l.tau_max_nm);
            m.dq_rad_s = m.dq_rad_s.clamp(-l.dq_max_rad_s, l.dq_max_rad_s);
            if m.kp > 0.0 {
                let lo = l.q_min_rad + c.joint_margin_rad;
                let hi = l.q_max_rad - c.joint_margin_rad;
                let clamped = m.q_rad.clamp(lo, hi);
                if clamped != m.q_rad {
                    self.counters.clamped_targets += 1;
                    m.q_rad = clamped;
                }
                // Rate limit against the last command, or against the
                // measured position when starting to hold.
                let reference = match (&self.last_output, state) {
                    (Some(last), _) if last.motors[slot].kp > 0.0 => Some(last.motors[slot].q_rad),
                    (_, Some(s)) => Some(s.motors[slot].q_rad),
                    _ => None,
                };
                if let Some(r) = reference {
                    let limited = m.q_rad.clamp(r - max_step, r + max_step);
                    if limited != m.q_rad {
                        self.counters.rate_limited_targets += 1;
                        m.q_rad = limited;
                    }
                }
            }
        }
        debug_assert_eq!(NUM_BODY_JOINTS, 29);
        self.last_output = Some(out);
        SafetyOutput {
            targets: out,
            tripped: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tendon_core::poses::{STAND, STAND_GAINS};

    fn standing_state(at: MonoTime) -> RobotState {
        let mut s = RobotState {
            received_at: at,
            mode_machine: 5,
            ..RobotState::default()
        };
        for (i, q) in STAND.iter().enumerate() {
            s.motors[i].q_rad = *q;
        }
        s
    }

    fn hold(pose: &[f32; 29]) -> MotorTargets {
        crate::fsm::hold_targets(pose, &STAND_GAINS)
    }

    fn ms(n: u64) -> MonoTime {
        MonoTime::from_ns(1_000_000_000 + n * 1_000_000)
    }

    const ACTIVE: SafetyInputs = SafetyInputs {
        e_stop: false,
        chunk_expired_since: None,
        battery_percent: None,
        active: true,
        arm_sdk_weight: None,
    };

    fn is_damping(t: &MotorTargets) -> bool {
        *t == MotorTargets::damping()
    }

    #[test]
    fn passes_a_sane_hold_command_unchanged() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let out = s.apply(ms(0), Some(&standing_state(ms(0))), &hold(&STAND), &ACTIVE);
        assert_eq!(out.tripped, None);
        assert_eq!(out.targets, hold(&STAND));
    }

    #[test]
    fn stale_state_forces_damping_within_one_cycle() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let state = standing_state(ms(0));
        assert!(s
            .apply(ms(100), Some(&state), &hold(&STAND), &ACTIVE)
            .tripped
            .is_none());
        let out = s.apply(ms(102), Some(&state), &hold(&STAND), &ACTIVE);
        assert_eq!(out.tripped.unwrap().cause, TripCause::StaleState);
        assert!(is_damping(&out.targets));
        // Latched: fresh state does not un-trip it.
        let out = s.apply(
            ms(104),
            Some(&standing_state(ms(104))),
            &hold(&STAND),
            &ACTIVE,
        );
        assert!(is_damping(&out.targets));
        assert_eq!(s.counters().trips(TripCause::StaleState), 1);
        s.reset();
        assert!(s
            .apply(
                ms(106),
                Some(&standing_state(ms(106))),
                &hold(&STAND),
                &ACTIVE
            )
            .tripped
            .is_none());
    }

    #[test]
    fn no_state_yet_damps_without_latching() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let out = s.apply(ms(0), None, &hold(&STAND), &ACTIVE);
        assert!(is_damping(&out.targets));
        assert_eq!(out.tripped, None);
        assert_eq!(s.counters().cycles_without_state, 1);
        let out = s.apply(ms(2), Some(&standing_state(ms(2))), &hold(&STAND), &ACTIVE);
        assert_eq!(
            out.targets,
            hold(&STAND),
            "the first state un-blocks the command path"
        );
    }

    #[test]
    fn e_stop_damps_on_the_next_cycle() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let inputs = SafetyInputs {
            e_stop: true,
            ..ACTIVE
        };
        let out = s.apply(ms(0), Some(&standing_state(ms(0))), &hold(&STAND), &inputs);
        assert_eq!(out.tripped.unwrap().cause, TripCause::EStop);
        assert!(is_damping(&out.targets));
        assert_eq!(out.targets.motors[3].kp, 0.0);
        assert_eq!(out.targets.motors[3].kd, 8.0);
    }

    #[test]
    fn nan_target_is_rejected_counted_and_last_command_repeated() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let good = s
            .apply(ms(0), Some(&standing_state(ms(0))), &hold(&STAND), &ACTIVE)
            .targets;
        let mut bad = hold(&STAND);
        bad.motors[18].q_rad = f32::NAN;
        let out = s.apply(ms(2), Some(&standing_state(ms(2))), &bad, &ACTIVE);
        assert_eq!(out.targets, good);
        assert_eq!(out.tripped, None);
        assert_eq!(s.counters().non_finite_rejected, 1);
    }

    #[test]
    fn targets_are_clamped_inside_limits_and_rate_limited() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let state = standing_state(ms(0));
        let mut far = STAND;
        far[3] = 10.0; // knee far past its 2.8798 rad limit
        let out = s.apply(ms(0), Some(&state), &hold(&far), &ACTIVE).targets;
        // First cycle: limited to one step (6 rad/s × 1 ms minimum) from the measured knee.
        assert!(
            (out.motors[3].q_rad - (STAND[3] + 0.006)).abs() < 1e-5,
            "{}",
            out.motors[3].q_rad
        );
        let mut q = out.motors[3].q_rad;
        for k in 1..2000 {
            let st = standing_state(ms(2 * k));
            q = s
                .apply(ms(2 * k), Some(&st), &hold(&far), &ACTIVE)
                .targets
                .motors[3]
                .q_rad;
        }
        assert!(
            (q - (2.8798 - 0.02)).abs() < 1e-5,
            "knee settles at the limit minus margin: {q}"
        );
        assert!(s.counters().clamped_targets > 0 && s.counters().rate_limited_targets > 0);
    }

    #[test]
    fn unitree_terminations_trip() {
        type Mutation = fn(&mut RobotState);
        let cases: [(&str, Mutation, TripCause); 4] = [
            (
                "tilt",
                |s| s.imu.quat_wxyz = [0.8, 0.6, 0.0, 0.0],
                TripCause::Tilt,
            ),
            (
                "joint velocity",
                |s| s.motors[9].dq_rad_s = 12.0,
                TripCause::JointVelocity,
            ),
            (
                "gyro",
                |s| s.imu.gyro_rad_s = [0.0, 7.0, 0.0],
                TripCause::AngularVelocity,
            ),
            (
                "overheat",
                |s| s.motors[3].temp_winding_c = 121,
                TripCause::Overheat,
            ),
        ];
        for (name, mutate, cause) in cases {
            let mut s = SafetyLayer::new(SafetyConfig::default());
            let mut st = standing_state(ms(0));
            mutate(&mut st);
            let out = s.apply(ms(0), Some(&st), &hold(&STAND), &ACTIVE);
            assert_eq!(out.tripped.map(|t| t.cause), Some(cause), "{name}");
            assert!(is_damping(&out.targets), "{name}");
        }
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let inputs = SafetyInputs {
            battery_percent: Some(15.0),
            ..ACTIVE
        };
        assert_eq!(
            s.apply(ms(0), Some(&standing_state(ms(0))), &hold(&STAND), &inputs)
                .tripped
                .map(|t| t.cause),
            Some(TripCause::LowBattery)
        );
    }

    #[test]
    fn motion_terminations_are_not_checked_while_passive() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let mut st = standing_state(ms(0));
        st.imu.quat_wxyz = [0.0, 1.0, 0.0, 0.0]; // upside down, already limp
        let inputs = SafetyInputs {
            active: false,
            ..ACTIVE
        };
        assert_eq!(
            s.apply(ms(0), Some(&st), &MotorTargets::damping(), &inputs)
                .tripped,
            None
        );
    }

    #[test]
    fn chunk_expiry_holds_through_grace_then_damps() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let inputs = SafetyInputs {
            chunk_expired_since: Some(ms(0)),
            ..ACTIVE
        };
        let out = s.apply(
            ms(400),
            Some(&standing_state(ms(400))),
            &hold(&STAND),
            &inputs,
        );
        assert_eq!(out.tripped, None, "inside the 500 ms grace");
        let out = s.apply(
            ms(502),
            Some(&standing_state(ms(502))),
            &hold(&STAND),
            &inputs,
        );
        assert_eq!(out.tripped.map(|t| t.cause), Some(TripCause::ChunkExpired));
        assert!(is_damping(&out.targets));
        assert_eq!(s.trip_log().recent().count(), 1);
    }

    #[test]
    fn arm_sdk_commands_only_the_upper_body_and_carries_the_clamped_weight() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let st = standing_state(ms(0));
        let desired = crate::fsm::hold_targets(&STAND, &tendon_core::poses::ARM_SDK_GAINS);
        for (weight, sent) in [(0.4, 0.4), (1.7, 1.0), (-0.2, 0.0)] {
            let inputs = SafetyInputs {
                arm_sdk_weight: Some(weight),
                ..ACTIVE
            };
            let out = s.apply(ms(0), Some(&st), &desired, &inputs).targets;
            assert_eq!(out.motors[ARM_SDK_WEIGHT_SLOT].q_rad, sent);
            for slot in 0..12 {
                assert_eq!(
                    out.motors[slot],
                    tendon_core::MotorTarget::default(),
                    "leg {slot}"
                );
            }
            for slot in 12..29 {
                assert_eq!(out.motors[slot], desired.motors[slot], "upper body {slot}");
                assert!(out.motors[slot].kp >= 60.0);
            }
        }
    }

    #[test]
    fn arm_sdk_rejects_a_nan_weight_and_damps_with_weight_zero() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let st = standing_state(ms(0));
        let desired = crate::fsm::hold_targets(&STAND, &tendon_core::poses::ARM_SDK_GAINS);
        let good = SafetyInputs {
            arm_sdk_weight: Some(0.5),
            ..ACTIVE
        };
        let first = s.apply(ms(0), Some(&st), &desired, &good).targets;
        let bad = SafetyInputs {
            arm_sdk_weight: Some(f32::NAN),
            ..ACTIVE
        };
        let out = s.apply(ms(2), Some(&standing_state(ms(2))), &desired, &bad);
        assert_eq!(out.targets, first, "the last safe command repeats");
        assert_eq!(s.counters().non_finite_rejected, 1);
        let stop = SafetyInputs {
            e_stop: true,
            ..good
        };
        let out = s.apply(ms(4), Some(&standing_state(ms(4))), &desired, &stop);
        assert!(is_damping(&out.targets));
        assert_eq!(
            out.targets.motors[ARM_SDK_WEIGHT_SLOT].q_rad, 0.0,
            "a trip hands the arms back to the locomotion"
        );
    }

    #[test]
    fn non_finite_state_trips_into_damping_without_panicking() {
        type Mutation = fn(&mut RobotState);
        let cases: [(&str, Mutation, Option<usize>); 5] = [
            ("nan q", |s| s.motors[3].q_rad = f32::NAN, Some(3)),
            ("nan dq", |s| s.motors[20].dq_rad_s = f32::NAN, Some(20)),
            (
                "inf tau",
                |s| s.motors[0].tau_est_nm = f32::INFINITY,
                Some(0),
            ),
            ("nan gyro", |s| s.imu.gyro_rad_s[1] = f32::NAN, None),
            ("nan quaternion", |s| s.imu.quat_wxyz[2] = f32::NAN, None),
        ];
        for (name, mutate, slot) in cases {
            for active in [true, false] {
                let mut s = SafetyLayer::new(SafetyConfig::default());
                let inputs = SafetyInputs { active, ..ACTIVE };
                // A held pose first, so the rate limiter has a reference.
                s.apply(ms(0), Some(&standing_state(ms(0))), &hold(&STAND), &inputs);
                let mut st = standing_state(ms(2));
                mutate(&mut st);
                let out = s.apply(ms(2), Some(&st), &hold(&STAND), &inputs);
                let trip = out.tripped.expect(name);
                assert_eq!(trip.cause, TripCause::NonFiniteState, "{name}");
                assert_eq!(trip.slot, slot, "{name}");
                assert!(is_damping(&out.targets), "{name}");
            }
        }
    }

    fn with_remote(mut s: RobotState, buttons: u16) -> RobotState {
        // The bytes a G1 puts in LowState.wireless_remote, decoded as the bridge does.
        let mut raw = [0u8; 40];
        raw[2..4].copy_from_slice(&buttons.to_le_bytes());
        s.remote = tendon_core::RemoteState::from_wireless_remote(&raw);
        s
    }

    #[test]
    fn remote_e_stop_damps_on_this_cycle_and_the_release_combo_clears_it() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let out = s.apply(ms(0), Some(&standing_state(ms(0))), &hold(&STAND), &ACTIVE);
        assert_eq!(out.tripped, None);
        // L2 alone, or B alone, is not an e-stop.
        for b in [RemoteButtons::L2, RemoteButtons::B] {
            let st = with_remote(standing_state(ms(2)), b);
            assert_eq!(
                s.apply(ms(2), Some(&st), &hold(&STAND), &ACTIVE).tripped,
                None
            );
        }
        let st = with_remote(standing_state(ms(4)), RemoteCombos::E_STOP);
        let out = s.apply(ms(4), Some(&st), &hold(&STAND), &ACTIVE);
        assert_eq!(out.tripped.map(|t| t.cause), Some(TripCause::RemoteEStop));
        assert!(is_damping(&out.targets));
        // Releasing while the e-stop is still held does nothing.
        let both = with_remote(
            standing_state(ms(6)),
            RemoteCombos::E_STOP | RemoteCombos::RELEASE,
        );
        assert!(s
            .apply(ms(6), Some(&both), &hold(&STAND), &ACTIVE)
            .tripped
            .is_some());
        // Buttons up: still latched.
        let up = standing_state(ms(8));
        assert!(s
            .apply(ms(8), Some(&up), &hold(&STAND), &ACTIVE)
            .tripped
            .is_some());
        // The release combination, pressed anew, clears the latch.
        let release = with_remote(standing_state(ms(10)), RemoteCombos::RELEASE);
        let out = s.apply(ms(10), Some(&release), &hold(&STAND), &ACTIVE);
        assert_eq!(out.tripped, None);
        assert_eq!(s.counters().remote_releases, 1);
        // A release while the console's e-stop is still raised does not
        // get past it: the e-stop latches again on the same cycle.
        let e_stop = SafetyInputs {
            e_stop: true,
            ..ACTIVE
        };
        s.apply(
            ms(12),
            Some(&standing_state(ms(12))),
            &hold(&STAND),
            &e_stop,
        );
        let again = with_remote(standing_state(ms(14)), RemoteCombos::RELEASE);
        let out = s.apply(ms(14), Some(&again), &hold(&STAND), &e_stop);
        assert_eq!(out.tripped.map(|t| t.cause), Some(TripCause::EStop));
        assert!(is_damping(&out.targets));
        assert_eq!(
            s.counters().trips(TripCause::RemoteEStop),
            1,
            "held for 2 cycles, counted once"
        );
    }

    #[test]
    fn every_cause_that_fires_is_counted_and_logged_while_latched() {
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let old = standing_state(ms(0));
        s.apply(ms(0), Some(&old), &hold(&STAND), &ACTIVE);
        // Stale state latches first...
        for t in [102, 104, 106] {
            let out = s.apply(ms(t), Some(&old), &hold(&STAND), &ACTIVE);
            assert_eq!(out.tripped.map(|t| t.cause), Some(TripCause::StaleState));
        }
        // ...then the operator presses e-stop during it, for three cycles.
        let e_stop = SafetyInputs {
            e_stop: true,
            ..ACTIVE
        };
        for t in [108, 110, 112] {
            let out = s.apply(ms(t), Some(&old), &hold(&STAND), &e_stop);
            assert_eq!(
                out.tripped.map(|t| t.cause),
                Some(TripCause::StaleState),
                "the first trip stays latched"
            );
        }
        let c = s.counters();
        assert_eq!(c.trips(TripCause::StaleState), 1);
        assert_eq!(
            c.trips(TripCause::EStop),
            1,
            "the e-stop is counted though latched"
        );
        let logged: Vec<TripCause> = s.trip_log().recent().map(|t| t.cause).collect();
        assert_eq!(logged, [TripCause::StaleState, TripCause::EStop]);
        // Several terminations at once each count.
        let mut s = SafetyLayer::new(SafetyConfig::default());
        let mut st = standing_state(ms(0));
        st.imu.quat_wxyz = [0.8, 0.6, 0.0, 0.0];
        st.motors[9].dq_rad_s = 12.0;
        s.apply(ms(0), Some(&st), &hold(&STAND), &ACTIVE);
        assert_eq!(s.counters().trips(TripCause::Tilt), 1);
        assert_eq!(s.counters().trips(TripCause::JointVelocity), 1);
    }

    #[test]
    fn safety_settings_outside_their_range_are_named() {
        assert_eq!(SafetyConfig::default().validate(), Ok(()));
        let nan_tilt = SafetyConfig {
            max_tilt_rad: f32::NAN,
            ..SafetyConfig::default()
        };
        let e = nan_tilt.validate().unwrap_err();
        assert_eq!(e.key, "max_tilt_rad");
        let msg = e.to_string();
        assert!(
            msg.contains("max_tilt_rad = NaN") && msg.contains("0.1..=1.5"),
            "{msg}"
        );
        let slow = SafetyConfig {
            max_state_age: Duration::from_secs(30),
            ..SafetyConfig::default()
        };
        assert_eq!(slow.validate().unwrap_err().key, "max_state_age_ms");
    }

    #[test]
    fn tilt_of_upright_and_tipped_bodies() {
        assert!(tilt_rad([1.0, 0.0, 0.0, 0.0]) < 1e-6);
        let half = std::f32::consts::FRAC_PI_4.sin();
        assert!((tilt_rad([half, half, 0.0, 0.0]) - std::f32::consts::FRAC_PI_2).abs() < 1e-4);
        assert!(
            tilt_rad([0.0, 0.0, 0.0, 0.0]).is_infinite(),
            "a zero quaternion is not trusted"
        );
    }
}
