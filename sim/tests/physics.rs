//! The world and its firmware, in process (needs scripts/install-sim.sh).

mod common;

use std::time::Duration;

use tendon_bridge::hg::LowCmd;
use tendon_core::poses::STAND as LOCO_STAND;
use tendon_core::poses::{STAND, STAND_GAINS};
use tendon_core::{MotorTargets, RobotLink};
use tendon_sim::{run_in_process, SimLink};

use common::*;

#[test]
fn stand_pd_holds_the_pelvis_above_0_7_m_for_10_s_after_the_band_is_released() {
    // STAND's legs and waist, the keyframe's arms: core's STAND tips forward (see sim/README.md).
    let mut sim = hanging();
    let link = SimLink::new();
    let targets = pd_targets(&LOCO_STAND, &STAND_GAINS);
    let mut control = |_now| {
        if link.latest_state().is_some() {
            link.send(&targets).unwrap();
        }
    };
    // Stand up in the band, then let go.
    run_in_process(&mut sim, &link, Duration::from_millis(1500), &mut control);
    let hanging_z = sim.pelvis_height_m();
    sim.set_band(false);
    let mut min_z = f64::INFINITY;
    let mut marks = Vec::new();
    let mut total = tendon_sim::RunStats::default();
    for second in 1..=10 {
        for _ in 0..10 {
            let s = run_in_process(&mut sim, &link, Duration::from_millis(100), &mut control);
            total.sim_time_s += s.sim_time_s;
            total.wall_time_s += s.wall_time_s;
            min_z = min_z.min(sim.pelvis_height_m());
        }
        if [1, 5, 10].contains(&second) {
            marks.push((second, sim.pelvis_height_m()));
        }
    }
    println!(
        "hanging at {hanging_z:.4} m; after release pelvis z at t=1/5/10 s: {marks:?}; min {min_z:.4} m; \
         in-process real-time factor x{:.1} ({:.1} us per 1 ms step incl. control)",
        total.real_time_factor(),
        total.wall_time_s / (total.sim_time_s * 1000.0) * 1e6
    );
    assert!(min_z >= 0.7, "pelvis fell to {min_z:.3} m");
    assert!(!sim.band_on());
}

#[test]
fn zero_torque_without_the_band_falls() {
    let mut sim = on_floor();
    sim.step_for(3.0);
    let z = sim.pelvis_height_m();
    println!("zero torque, no band: pelvis at {z:.3} m after 3 s");
    assert!(z < 0.4, "pelvis still at {z:.3} m");
}

#[test]
fn firmware_keeps_applying_the_last_command_and_ignores_bad_crc() {
    let mut sim = hanging();
    let good = LowCmd::from_targets(&pd_targets(&STAND, &STAND_GAINS), 5);
    assert!(sim.apply_lowcmd(&good));
    // No further commands for 2 s: the joints still reach STAND.
    sim.step_for(2.0);
    let err = max_joint_error(&sim.joint_q(), &STAND);
    assert!(
        err < 0.05,
        "joint error {err} rad after 2 s without new commands"
    );
    assert_ne!(sim.motor_torques_nm()[3], 0.0);

    // A damping command with a wrong CRC changes nothing and is counted.
    let mut bad = LowCmd::from_targets(&MotorTargets::damping(), 5);
    bad.crc ^= 1;
    assert!(!sim.apply_lowcmd(&bad));
    assert_eq!(sim.stats().crc_errors, 1);
    sim.step_for(0.5);
    let err = max_joint_error(&sim.joint_q(), &STAND);
    assert!(
        err < 0.05,
        "bad-CRC damping command was applied (error {err})"
    );
    assert_eq!(sim.stats().commands_accepted, 1);
}

#[test]
fn mode_zero_motors_get_no_torque_and_torque_is_clamped() {
    let mut sim = hanging();
    let mut t = pd_targets(&STAND, &STAND_GAINS);
    t.motors[3].enabled = false; // left knee: mode 0
    t.motors[9].q_rad = 2.5; // right knee: far target, huge kp
    t.motors[9].kp = 10_000.0;
    sim.apply_lowcmd(&LowCmd::from_targets(&t, 5));
    sim.step_1ms();
    let tau = sim.motor_torques_nm();
    assert_eq!(tau[3], 0.0);
    assert_eq!(tau[9], sim.torque_limits_nm()[9]);
    assert_eq!(sim.low_state().motor_state[3].mode, 0);
    assert_eq!(sim.low_state().motor_state[9].mode, 1);
}

#[test]
fn low_state_has_valid_crc_tick_in_ms_mode_machine_5_and_upright_gravity() {
    let mut sim = hanging();
    sim.apply_lowcmd(&LowCmd::from_targets(
        &pd_targets(&LOCO_STAND, &STAND_GAINS),
        5,
    ));
    sim.step_for(1.5);
    sim.set_band(false);
    sim.step_for(2.0);
    let s = sim.low_state();
    s.check_crc().expect("LowState CRC");
    assert_eq!(s.tick, 3500);
    assert_eq!(s.mode_machine, 5);
    let imu = s.imu_state;
    println!(
        "upright IMU: quat {:?} gyro {:?} accel {:?} rpy {:?}",
        imu.quaternion, imu.gyroscope, imu.accelerometer, imu.rpy
    );
    assert!(
        (imu.accelerometer[2] - 9.81).abs() < 0.3,
        "accel z {}",
        imu.accelerometer[2]
    );
    // Standing, the pelvis pitches forward a little (~0.07 rad): the
    // accelerometer then sees gravity rotated into the body frame.
    let expected_x = -9.81 * imu.rpy[1].sin();
    assert!(
        (imu.accelerometer[0] - expected_x).abs() < 0.2,
        "accel x {} vs {expected_x}",
        imu.accelerometer[0]
    );
    assert!(imu.accelerometer[1].abs() < 0.2);
    assert!(imu.quaternion[0] > 0.99);
    assert!(imu.rpy.iter().all(|a| a.abs() < 0.1));
    for (slot, m) in s.motor_state.iter().enumerate().take(29) {
        assert_eq!(m.q, sim.joint_q()[slot]);
        assert!(m.temperature[0] > 20 && m.temperature[1] > 20);
    }
    assert_eq!(s.motor_state[30].q, 0.0);
    sim.step_1ms();
    assert_eq!(sim.low_state().tick, 3501);
}

#[test]
fn paused_state_is_not_pushed_but_physics_runs() {
    let mut sim = hanging();
    let link = SimLink::new();
    run_in_process(&mut sim, &link, Duration::from_millis(10), |_| {});
    sim.set_state_paused(true);
    let s = run_in_process(&mut sim, &link, Duration::from_millis(100), |_| {});
    assert_eq!(s.states_pushed, 0);
    assert_eq!(s.physics_steps, 100);
    assert_eq!(link.latest_state().unwrap().tick_ms, 8);
    assert_eq!(link.stats().states_received, 5);
}
