//! `G1Sim`: the MuJoCo G1 world and the motor firmware that runs in it.
//!
//! The menagerie model's 29 position servos are turned into pure torque motors,
//! and the firmware PD of the real robot runs every 1 ms on the newest LowCmd
//! (g1-protocol.md §8): `tau = tau_ff + kp·(q_des − q) + kd·(dq_des − dq)`,
//! clamped to the joint's torque limit. Actuator i is hg motor slot i; its
//! joint's qpos address is 7 + i and its qvel address 6 + i.

use std::path::{Path, PathBuf};

use mujoco_rs::prelude::*;
use tendon_bridge::hg::{LowCmd, LowState};
use tendon_core::joints::NUM_BODY_JOINTS;
use tendon_core::poses::JointPose;
use tendon_core::MotorTargets;

use crate::error::SimError;

/// Physics (and firmware PD) period: 1 ms, like the robot's motor firmware.
pub const PHYSICS_DT_S: f64 = 0.001;
/// `mode_machine` of a g1_29dof_rev_1_0 (g1-protocol.md §1).
pub const MODE_MACHINE_G1_29DOF: u8 = 5;
/// Standard gravity, m/s².
pub const GRAVITY_M_S2: f64 = 9.81;

const PELVIS_BODY: &str = "pelvis";
const TORSO_BODY: &str = "torso_link";
const STAND_KEY: &str = "stand";
const PELVIS_GYRO: &str = "imu-pelvis-angular-velocity";
const PELVIS_ACCEL: &str = "imu-pelvis-linear-acceleration";

/// Plausible constant temperatures, °C (the model has no thermal state).
const MOTOR_TEMP_CASING_C: i16 = 35;
const MOTOR_TEMP_WINDING_C: i16 = 40;
const IMU_TEMP_C: i16 = 38;
/// Motor supply voltage, V (the G1's battery is nominally 54 V... 58.8 V full).
const MOTOR_SUPPLY_V: f32 = 54.0;

/// The scene the simulator loads when none is given: `TENDON_G1_SCENE`, else
/// `${TENDON_CACHE:-~/.cache/tendon}/g1/unitree_g1/scene.xml`. Fails, naming
/// scripts/install-sim.sh, when the file is missing.
pub fn default_scene_path() -> Result<PathBuf, SimError> {
    let path = if let Some(p) = std::env::var_os("TENDON_G1_SCENE") {
        PathBuf::from(p)
    } else {
        let cache = match std::env::var_os("TENDON_CACHE") {
            Some(c) => PathBuf::from(c),
            None => PathBuf::from(std::env::var_os("HOME").ok_or(SimError::NoSceneLocation)?)
                .join(".cache/tendon"),
        };
        cache.join("g1/unitree_g1/scene.xml")
    };
    if !path.is_file() {
        return Err(SimError::SceneMissing { path });
    }
    Ok(path)
}

/// A spring-damper that holds the pelvis towards an anchor point, like
/// unitree_mujoco's ElasticBand: the robot can hang in zero torque, stand up,
/// and then be released.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElasticBand {
    pub stiffness_n_m: f64,
    pub damping_n_s_m: f64,
    /// Damps the pelvis's rotation so a hanging robot does not swing for long.
    pub angular_damping_nm_s: f64,
    /// Keeps the pelvis upright (roll and pitch; yaw is free), as a gantry
    /// harness on the shoulders does. Without it a limp robot hangs pitched
    /// by ~0.5 rad and falls over when released.
    pub upright_stiffness_nm_rad: f64,
}

impl Default for ElasticBand {
    fn default() -> Self {
        // Unitree's band values; with the G1's ~35 kg this is ~0.85 of critical damping.
        ElasticBand {
            stiffness_n_m: 10_000.0,
            damping_n_s_m: 1_000.0,
            angular_damping_nm_s: 50.0,
            upright_stiffness_nm_rad: 300.0,
        }
    }
}

/// How the world starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimOptions {
    /// Start hanging in the band (on), pelvis `lift_m` above the `stand` keyframe;
    /// otherwise start standing on the floor at the keyframe with the band off.
    pub start_hanging: bool,
    /// How far above the keyframe's 0.79 m the band holds the pelvis, m.
    pub lift_m: f64,
    pub band: ElasticBand,
    /// Shadows and floor reflection: prettier, ~2.5× slower frames on llvmpipe.
    pub render_shadows: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            start_hanging: true,
            lift_m: 0.05,
            band: ElasticBand::default(),
            render_shadows: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Motor {
    qadr: usize,
    vadr: usize,
    tau_max_nm: f64,
}

/// Counters of the emulated firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirmwareStats {
    /// 1 ms physics steps taken.
    pub steps: u64,
    /// LowCmds accepted (CRC and finiteness OK).
    pub commands_accepted: u64,
    /// LowCmds ignored because their CRC was wrong (the robot drops them silently).
    pub crc_errors: u64,
    /// LowCmds ignored because a value was NaN/Inf.
    pub non_finite: u64,
}

/// The simulated G1: MuJoCo world + motor firmware + elastic band.
pub struct G1Sim {
    data: MjData<Box<MjModel>>,
    scene: PathBuf,
    options: SimOptions,
    motors: [Motor; NUM_BODY_JOINTS],
    pelvis_body: usize,
    torso_body: usize,
    stand_key: usize,
    gyro_adr: usize,
    accel_adr: usize,
    total_mass_kg: f64,
    band_on: bool,
    band_anchor_m: [f64; 3],
    /// Newest accepted low-level command, as targets.
    lowcmd: Option<MotorTargets>,
    /// A LowCmd with non-zero gains or torque owns the motors until released.
    low_level_engaged: bool,
    /// Targets of the robot's own locomotion service (the loco emulator).
    service_targets: Option<MotorTargets>,
    tau_nm: [f64; NUM_BODY_JOINTS],
    enabled: [bool; NUM_BODY_JOINTS],
    state_paused: bool,
    stats: FirmwareStats,
}

fn mismatch(path: &Path, detail: impl Into<String>) -> SimError {
    SimError::ModelMismatch {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

impl G1Sim {
    /// Loads the G1 scene with the default options (hanging in the band).
    pub fn load(scene: &Path) -> Result<G1Sim, SimError> {
        G1Sim::load_with(scene, SimOptions::default())
    }

    /// Loads `scene`, turns the actuators into torque motors, sets the physics
    /// step to 1 ms and resets to the start pose of `options`.
    pub fn load_with(scene: &Path, options: SimOptions) -> Result<G1Sim, SimError> {
        if !scene.is_file() {
            return Err(SimError::SceneMissing {
                path: scene.to_path_buf(),
            });
        }
        let mut model = MjModel::from_xml(scene).map_err(|e| SimError::Load {
            path: scene.to_path_buf(),
            detail: e.to_string(),
        })?;
        let nu = model.nu() as usize;
        if nu != NUM_BODY_JOINTS {
            return Err(mismatch(
                scene,
                format!("it has {nu} actuators, expected {NUM_BODY_JOINTS}"),
            ));
        }
        let id = |kind: MjtObjBase, name: &str, what: &str| {
            model
                .name_to_id(kind, name)
                .ok_or_else(|| mismatch(scene, format!("no {what} named '{name}'")))
        };
        let pelvis_body = id(MjtObjBase::mjOBJ_BODY, PELVIS_BODY, "body")?;
        let torso_body = id(MjtObjBase::mjOBJ_BODY, TORSO_BODY, "body")?;
        let stand_key = id(MjtObjBase::mjOBJ_KEY, STAND_KEY, "keyframe")?;
        let gyro = id(MjtObjBase::mjOBJ_SENSOR, PELVIS_GYRO, "sensor")?;
        let accel = id(MjtObjBase::mjOBJ_SENSOR, PELVIS_ACCEL, "sensor")?;
        let gyro_adr = model.sensor_adr()[gyro] as usize;
        let accel_adr = model.sensor_adr()[accel] as usize;

        let mut motors = [Motor::default(); NUM_BODY_JOINTS];
        for (slot, motor) in motors.iter_mut().enumerate() {
            let joint = model.actuator_trnid()[slot][0] as usize;
            let qadr = model.jnt_qposadr()[joint] as usize;
            let vadr = model.jnt_dofadr()[joint] as usize;
            if qadr != 7 + slot || vadr != 6 + slot {
                return Err(mismatch(
                    scene,
                    format!("actuator {slot} drives a joint at qpos {qadr}/qvel {vadr}, expected {}/{} (hg slot order)", 7 + slot, 6 + slot),
                ));
            }
            let range = model.jnt_actfrcrange()[joint];
            let tau_max_nm = range[1].min(-range[0]);
            if !(tau_max_nm.is_finite() && tau_max_nm > 0.0) {
                return Err(mismatch(
                    scene,
                    format!("joint of actuator {slot} has no actuator force range"),
                ));
            }
            *motor = Motor {
                qadr,
                vadr,
                tau_max_nm,
            };
            // Position servo -> torque motor: force = 1·ctrl (the dampratio term
            // lives in biasprm[2] and goes too). ctrlrange was the joint range in
            // rad (inheritrange); it becomes the torque limit.
            // SAFETY: plain numeric parameters; no sizes or addresses change.
            unsafe {
                let g = &mut model.actuator_gainprm_mut()[slot];
                g.fill(0.0);
                g[0] = 1.0;
            }
            model.actuator_biasprm_mut()[slot].fill(0.0);
            model.actuator_ctrlrange_mut()[slot] = [-tau_max_nm, tau_max_nm];
        }
        model.opt_mut().timestep = PHYSICS_DT_S;
        if !options.render_shadows {
            model.vis_mut().quality.shadowsize = 0;
            model.mat_reflectance_mut().fill(0.0);
        }
        let total_mass_kg = model.body_mass().iter().sum();

        let data = MjData::new(Box::new(model));
        let mut sim = G1Sim {
            data,
            scene: scene.to_path_buf(),
            options,
            motors,
            pelvis_body,
            torso_body,
            stand_key,
            gyro_adr,
            accel_adr,
            total_mass_kg,
            band_on: false,
            band_anchor_m: [0.0; 3],
            lowcmd: None,
            low_level_engaged: false,
            service_targets: None,
            tau_nm: [0.0; NUM_BODY_JOINTS],
            enabled: [false; NUM_BODY_JOINTS],
            state_paused: false,
            stats: FirmwareStats::default(),
        };
        sim.reset();
        Ok(sim)
    }

    /// Back to the start pose: keyframe `stand`, lifted into the band when
    /// `start_hanging`; no command, zero torque, time 0.
    pub fn reset(&mut self) {
        // The key exists (checked at load), so this cannot fail.
        let _ = self.data.reset_keyframe(self.stand_key);
        // The key's ctrl holds joint angles; for torque motors they would be torques.
        self.data.ctrl_mut().fill(0.0);
        let lift = if self.options.start_hanging {
            self.options.lift_m
        } else {
            0.0
        };
        self.data.qpos_mut()[2] += lift;
        let p = &self.data.qpos()[0..3];
        // Anchor above the start point so that the band's rest sag m·g/k lands there.
        let sag = self.total_mass_kg * GRAVITY_M_S2 / self.options.band.stiffness_n_m;
        self.band_anchor_m = [p[0], p[1], p[2] + sag];
        self.band_on = self.options.start_hanging;
        self.data.xfrc_applied_mut()[self.pelvis_body] = [0.0; 6];
        self.data.forward();
        self.lowcmd = None;
        self.low_level_engaged = false;
        self.service_targets = None;
        self.tau_nm = [0.0; NUM_BODY_JOINTS];
        self.enabled = [false; NUM_BODY_JOINTS];
        self.state_paused = false;
        self.stats = FirmwareStats::default();
    }

    pub fn scene_path(&self) -> &Path {
        &self.scene
    }

    pub fn options(&self) -> &SimOptions {
        &self.options
    }

    /// The MuJoCo model (after the torque-motor conversion).
    pub fn model(&self) -> &MjModel {
        self.data.model()
    }

    /// Low-level access for rendering and scenario code.
    pub fn data_mut(&mut self) -> &mut MjData<Box<MjModel>> {
        &mut self.data
    }

    pub fn total_mass_kg(&self) -> f64 {
        self.total_mass_kg
    }

    /// Switches the elastic band on or off. Switching it on re-anchors it above
    /// the pelvis's current position (same sag as at the start).
    pub fn set_band(&mut self, on: bool) {
        if on && !self.band_on {
            let p = &self.data.qpos()[0..3];
            let sag = self.total_mass_kg * GRAVITY_M_S2 / self.options.band.stiffness_n_m;
            self.band_anchor_m = [p[0], p[1], p[2] + sag];
        }
        self.band_on = on;
        if !on {
            self.data.xfrc_applied_mut()[self.pelvis_body] = [0.0; 6];
        }
    }

    pub fn band_on(&self) -> bool {
        self.band_on
    }

    /// Stores the newest low-level command; the firmware keeps applying it
    /// until the next one (g1-protocol.md §8). A command with a wrong CRC or a
    /// NaN/Inf is ignored and counted. Returns whether it was accepted.
    ///
    /// A command with any non-zero gain or torque takes the motors from the
    /// locomotion service (the real robot's motion switcher must be released
    /// first; here low level simply wins) until `release_low_level`.
    pub fn apply_lowcmd(&mut self, cmd: &LowCmd) -> bool {
        if cmd.check_crc().is_err() {
            self.stats.crc_errors += 1;
            return false;
        }
        if cmd.check_finite().is_err() {
            self.stats.non_finite += 1;
            return false;
        }
        let targets = cmd.to_targets();
        let active = targets.motors[..NUM_BODY_JOINTS]
            .iter()
            .any(|m| m.enabled && (m.kp != 0.0 || m.kd != 0.0 || m.tau_nm != 0.0));
        if active {
            self.low_level_engaged = true;
        }
        self.lowcmd = Some(targets);
        self.stats.commands_accepted += 1;
        true
    }

    /// Targets of the robot's own locomotion service, used while no low-level
    /// command owns the motors. `None` = the service drives nothing.
    pub fn set_service_targets(&mut self, targets: Option<MotorTargets>) {
        self.service_targets = targets;
    }

    /// The locomotion service takes the motors back (it accepted a new FSM).
    pub fn release_low_level(&mut self) {
        self.low_level_engaged = false;
    }

    /// True while a low-level command with gains owns the motors.
    pub fn low_level_engaged(&self) -> bool {
        self.low_level_engaged
    }

    /// One 1 ms firmware + physics step. Allocation-free.
    pub fn step_1ms(&mut self) {
        let targets = match (self.low_level_engaged, &self.service_targets) {
            (false, Some(service)) => Some(service),
            _ => self.lowcmd.as_ref(),
        };
        {
            let qpos = self.data.qpos();
            let qvel = self.data.qvel();
            for (slot, m) in self.motors.iter().enumerate() {
                let (tau, enabled) = match targets {
                    Some(t) if t.motors[slot].enabled => {
                        let c = &t.motors[slot];
                        let raw = c.tau_nm as f64
                            + c.kp as f64 * (c.q_rad as f64 - qpos[m.qadr])
                            + c.kd as f64 * (c.dq_rad_s as f64 - qvel[m.vadr]);
                        (raw.clamp(-m.tau_max_nm, m.tau_max_nm), true)
                    }
                    _ => (0.0, false),
                };
                self.tau_nm[slot] = tau;
                self.enabled[slot] = enabled;
            }
        }
        self.data.ctrl_mut().copy_from_slice(&self.tau_nm);
        if self.band_on {
            let wrench = self.band_wrench();
            self.data.xfrc_applied_mut()[self.pelvis_body] = wrench;
        }
        self.data.step();
        self.stats.steps += 1;
    }

    /// Force (world frame, N) and torque (N·m) of the band on the pelvis.
    fn band_wrench(&self) -> [f64; 6] {
        let b = &self.options.band;
        let q = self.data.qpos();
        let v = self.data.qvel();
        let mut w = [0.0; 6];
        for k in 0..3 {
            w[k] = b.stiffness_n_m * (self.band_anchor_m[k] - q[k]) - b.damping_n_s_m * v[k];
        }
        // Free-joint angular velocity is in the body frame; xmat rotates body -> world.
        let r = &self.data.xmat()[self.pelvis_body];
        for k in 0..3 {
            let omega_world = r[3 * k] * v[3] + r[3 * k + 1] * v[4] + r[3 * k + 2] * v[5];
            w[3 + k] = -b.angular_damping_nm_s * omega_world;
        }
        // Body z in world is xmat's third column; z_body × z_world turns it upright.
        let (zx, zy) = (r[2], r[5]);
        w[3] += b.upright_stiffness_nm_rad * zy;
        w[4] -= b.upright_stiffness_nm_rad * zx;
        w
    }

    /// Steps `duration_s` of simulated time (rounded to whole ms).
    pub fn step_for(&mut self, duration_s: f64) {
        let n = (duration_s / PHYSICS_DT_S).round().max(0.0) as u64;
        for _ in 0..n {
            self.step_1ms();
        }
    }

    /// The robot's LowState as the firmware reports it: joints 0–28, pelvis
    /// IMU, tick in ms of sim time, mode_machine 5, CRC sealed. Allocation-free.
    pub fn low_state(&self) -> LowState {
        let mut s = LowState {
            mode_machine: MODE_MACHINE_G1_29DOF,
            tick: self.tick_ms(),
            ..LowState::default()
        };
        let qpos = self.data.qpos();
        let qvel = self.data.qvel();
        let qacc = self.data.qacc();
        let sd = self.data.sensordata();
        let imu = &mut s.imu_state;
        // The pelvis IMU site has no rotation relative to the pelvis, so its
        // orientation is the free joint's quaternion (w, x, y, z).
        for k in 0..4 {
            imu.quaternion[k] = qpos[3 + k] as f32;
        }
        for k in 0..3 {
            imu.gyroscope[k] = sd[self.gyro_adr + k] as f32;
            // Specific force, like the real IMU: +9.81 on z when upright and still.
            imu.accelerometer[k] = sd[self.accel_adr + k] as f32;
        }
        imu.rpy = rpy_from_quat([qpos[3], qpos[4], qpos[5], qpos[6]]);
        imu.temperature = IMU_TEMP_C;
        for (slot, m) in self.motors.iter().enumerate() {
            let out = &mut s.motor_state[slot];
            out.mode = self.enabled[slot] as u8;
            out.q = qpos[m.qadr] as f32;
            out.dq = qvel[m.vadr] as f32;
            out.ddq = qacc[m.vadr] as f32;
            out.tau_est = self.tau_nm[slot] as f32;
            out.temperature = [MOTOR_TEMP_CASING_C, MOTOR_TEMP_WINDING_C];
            out.vol = MOTOR_SUPPLY_V;
        }
        s.seal();
        s
    }

    /// Sim time in whole ms, as LowState's `tick`.
    pub fn tick_ms(&self) -> u32 {
        (self.data.time() * 1000.0).round() as u32
    }

    /// Simulated time since the last reset, s.
    pub fn sim_time(&self) -> f64 {
        self.data.time()
    }

    /// Pelvis origin height above the floor, m.
    pub fn pelvis_height_m(&self) -> f64 {
        self.data.qpos()[2]
    }

    /// Pelvis origin in the world frame, m.
    pub fn pelvis_position_m(&self) -> [f64; 3] {
        let q = self.data.qpos();
        [q[0], q[1], q[2]]
    }

    /// Joint positions of slots 0–28, rad.
    pub fn joint_q(&self) -> JointPose {
        let qpos = self.data.qpos();
        let mut q = [0.0f32; NUM_BODY_JOINTS];
        for (out, m) in q.iter_mut().zip(&self.motors) {
            *out = qpos[m.qadr] as f32;
        }
        q
    }

    /// Joint velocities of slots 0–28, rad/s.
    pub fn joint_dq(&self) -> [f32; NUM_BODY_JOINTS] {
        let qvel = self.data.qvel();
        let mut dq = [0.0f32; NUM_BODY_JOINTS];
        for (out, m) in dq.iter_mut().zip(&self.motors) {
            *out = qvel[m.vadr] as f32;
        }
        dq
    }

    /// Torques the firmware applied in the last step, N·m.
    pub fn motor_torques_nm(&self) -> &[f64; NUM_BODY_JOINTS] {
        &self.tau_nm
    }

    /// Torque limit of each motor, N·m (the joint's actuator force range).
    pub fn torque_limits_nm(&self) -> [f64; NUM_BODY_JOINTS] {
        let mut l = [0.0; NUM_BODY_JOINTS];
        for (out, m) in l.iter_mut().zip(&self.motors) {
            *out = m.tau_max_nm;
        }
        l
    }

    /// World pose of the torso body: position (m) and rotation matrix (row-major).
    pub fn torso_pose(&self) -> ([f64; 3], [f64; 9]) {
        (
            self.data.xpos()[self.torso_body],
            self.data.xmat()[self.torso_body],
        )
    }

    /// Stops (true) or resumes publishing LowState; the physics keeps running.
    /// Lets tests check what a controller does when the robot goes silent.
    pub fn set_state_paused(&mut self, paused: bool) {
        self.state_paused = paused;
    }

    pub fn state_paused(&self) -> bool {
        self.state_paused
    }

    pub fn stats(&self) -> FirmwareStats {
        self.stats
    }
}

/// Roll, pitch, yaw (ZYX Tait–Bryan), rad, from a (w, x, y, z) quaternion.
pub fn rpy_from_quat(q: [f64; 4]) -> [f32; 3] {
    let [w, x, y, z] = q;
    let roll = (2.0 * (w * x + y * z)).atan2(1.0 - 2.0 * (x * x + y * y));
    let pitch = (2.0 * (w * y - z * x)).clamp(-1.0, 1.0).asin();
    let yaw = (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z));
    [roll as f32, pitch as f32, yaw as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpy_of_identity_is_zero_and_of_yaw_is_yaw() {
        assert_eq!(rpy_from_quat([1.0, 0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]);
        let half = 0.3f64;
        let rpy = rpy_from_quat([half.cos(), 0.0, 0.0, half.sin()]);
        assert!((rpy[2] - 0.6).abs() < 1e-6, "{rpy:?}");
        let rpy = rpy_from_quat([half.cos(), 0.0, half.sin(), 0.0]);
        assert!((rpy[1] - 0.6).abs() < 1e-6, "{rpy:?}");
    }
}
