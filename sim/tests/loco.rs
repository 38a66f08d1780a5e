//! The emulated locomotion service driving the simulated robot (in process).

mod common;

use tendon_sim::{G1Sim, LocoEmulator};

use common::*;

fn run(sim: &mut G1Sim, loco: &LocoEmulator, seconds: f64) {
    for _ in 0..(seconds * 1000.0) as usize {
        sim.set_service_targets(Some(loco.targets(sim.sim_time())));
        sim.step_1ms();
    }
}

fn set(sim: &mut G1Sim, loco: &mut LocoEmulator, id: i64) {
    loco.set_fsm(id, sim.sim_time(), &sim.joint_q())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn damp_stand_up_sit_and_damp_move_the_robot() {
    let mut sim = hanging();
    let mut loco = LocoEmulator::new();
    // Start (500) is refused while in zero torque / damp.
    assert_eq!(
        loco.set_fsm(500, 0.0, &sim.joint_q())
            .unwrap_err()
            .code()
            .code(),
        7301
    );
    set(&mut sim, &mut loco, 1);
    run(&mut sim, &loco, 0.5);
    set(&mut sim, &mut loco, 4);
    run(&mut sim, &loco, 3.0);
    sim.set_band(false);
    run(&mut sim, &loco, 2.0);
    let standing = sim.pelvis_height_m();
    set(&mut sim, &mut loco, 500);
    run(&mut sim, &loco, 2.0);
    let started = sim.pelvis_height_m();
    set(&mut sim, &mut loco, 3);
    run(&mut sim, &loco, 3.0);
    let sitting = sim.pelvis_height_m();
    set(&mut sim, &mut loco, 1);
    run(&mut sim, &loco, 3.0);
    let damped = sim.pelvis_height_m();
    println!(
        "pelvis: stand_up {standing:.3} m, start {started:.3} m, sit {sitting:.3} m, damp {damped:.3} m"
    );
    assert!(standing >= 0.7, "stand up: {standing:.3}");
    assert!(started >= 0.7, "start: {started:.3}");
    assert!(sitting < standing - 0.1, "sit: {sitting:.3}");
    assert!(damped < 0.5, "damp: {damped:.3}");
}
