//! Shared by the integration tests: find the G1 scene or fail loudly.
#![allow(dead_code)]

use std::path::PathBuf;

use tendon_core::poses::{Gains, JointPose};
use tendon_core::{MotorTarget, MotorTargets};
use tendon_sim::{default_scene_path, G1Sim, SimOptions};

/// The installed G1 scene. Never skips: a missing install is a test failure.
pub fn scene() -> PathBuf {
    default_scene_path().unwrap_or_else(|e| {
        panic!("{e}\nThese tests need libmujoco and the G1 model: run scripts/test.sh, or scripts/install.sh first")
    })
}

pub fn load(options: SimOptions) -> G1Sim {
    G1Sim::load_with(&scene(), options).unwrap_or_else(|e| panic!("{e}"))
}

pub fn hanging() -> G1Sim {
    load(SimOptions::default())
}

pub fn on_floor() -> G1Sim {
    load(SimOptions {
        start_hanging: false,
        ..SimOptions::default()
    })
}

/// PD targets towards `pose` with `gains` on the 29 body motors.
pub fn pd_targets(pose: &JointPose, gains: &Gains) -> MotorTargets {
    let mut t = MotorTargets::default();
    for (j, (m, q)) in t.motors.iter_mut().zip(pose).enumerate() {
        *m = MotorTarget {
            enabled: true,
            q_rad: *q,
            kp: gains.kp[j],
            kd: gains.kd[j],
            ..MotorTarget::default()
        };
    }
    t
}

pub fn max_joint_error(q: &JointPose, pose: &JointPose) -> f32 {
    q.iter()
        .zip(pose)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}
