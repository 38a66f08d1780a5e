//! Compute time of one 500 Hz cycle for 29 joints: FSM + chunk blending +
//! safety layer, then the LowCmd the bridge would send (build, CRC, CDR).
//! `cargo bench -p tendon-control --bench cycle`

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tendon_bridge::cdr::CdrMessage;
use tendon_bridge::hg::{LowCmd, LOWCMD_PAYLOAD_LEN};
use tendon_control::producer::ScriptedProducer;
use tendon_control::{Controller, ControllerConfig, CycleInputs};
use tendon_core::poses::STAND;
use tendon_core::{FsmId, MonoTime, RobotState};

fn cycle(c: &mut Criterion) {
    let mut controller = Controller::new(ControllerConfig::default());
    let mut state = RobotState {
        mode_machine: 5,
        ..RobotState::default()
    };
    for (i, q) in STAND.iter().enumerate() {
        state.motors[i].q_rad = *q;
    }
    let mut now = MonoTime::from_ns(1_000_000_000);
    let step = |now: &mut MonoTime| *now = MonoTime::from_ns(now.ns + 2_000_000);
    // Damp → zero torque → stand up (finished) → start with a waving chunk.
    for fsm in [FsmId::ZeroTorque, FsmId::StandUp] {
        state.received_at = now;
        controller.tick(&CycleInputs {
            now,
            state: Some(&state),
            fsm_request: Some(fsm),
            ..Default::default()
        });
        step(&mut now);
    }
    for _ in 0..1500 {
        state.received_at = now;
        controller.tick(&CycleInputs {
            now,
            state: Some(&state),
            ..Default::default()
        });
        step(&mut now);
    }
    let wave = ScriptedProducer::parse(
        "t_s,right_shoulder_roll,right_elbow\n0,-0.25,0.97\n0.5,-1.0,0.5\n1,-0.25,0.97\n",
    )
    .unwrap();
    let chunk = wave.chunk(now, now, Duration::from_millis(20), 50).unwrap();
    state.received_at = now;
    controller.tick(&CycleInputs {
        now,
        state: Some(&state),
        fsm_request: Some(FsmId::Start),
        new_chunk: Some(&chunk),
        ..Default::default()
    });
    assert_eq!(controller.fsm_state(), FsmId::Start);

    let mut out = Vec::with_capacity(LOWCMD_PAYLOAD_LEN);
    let start = now;
    c.bench_function("control_cycle_29_joints_with_lowcmd_crc_cdr", |b| {
        b.iter(|| {
            // Stay inside the chunk's horizon so the chunk path is measured.
            now = MonoTime::from_ns(start.ns + (now.ns - start.ns + 2_000_000) % 900_000_000);
            state.received_at = now;
            let o = controller.tick(&CycleInputs {
                now,
                state: Some(black_box(&state)),
                ..Default::default()
            });
            let cmd = LowCmd::from_targets(&o.targets, 5);
            cmd.encode_payload_into(&mut out);
            black_box(&out);
        })
    });
    assert!(controller.safety().tripped().is_none());
}

criterion_group!(benches, cycle);
criterion_main!(benches);
