//! The control cycle allocates nothing: 10,000 cycles through damp, zero
//! torque, stand up, start with chunks (including a NaN chunk), chunk expiry
//! and a safety trip, and 5,000 upper-body cycles on rt/arm_sdk (engage,
//! chunks, release, e-stop), counted by a per-thread counting allocator.

mod common;

use common::FakeLinkForTest;
use std::sync::Arc;
use std::time::Duration;
use tendon_core::alloc_count::{allocations_on_this_thread, ThreadCountingAllocator};

use tendon_control::producer::ScriptedProducer;
use tendon_control::{ControlCommands, Controller, ControllerConfig, LoopBody};
use tendon_core::poses::STAND;
use tendon_core::{ActionChunk, FsmId, MonoTime, MotorTargets, RobotState};

#[global_allocator]
static GLOBAL: ThreadCountingAllocator = ThreadCountingAllocator;

const T0: MonoTime = MonoTime::from_ns(1_000_000_000);

/// The time of cycle `k` of a 2 ms loop.
fn cycle_time(k: u64) -> MonoTime {
    MonoTime::from_ns(T0.ns + k * 2_000_000)
}

fn standing_state() -> RobotState {
    let mut state = RobotState {
        mode_machine: 5,
        ..RobotState::default()
    };
    for (i, q) in STAND.iter().enumerate() {
        state.motors[i].q_rad = *q;
    }
    state
}

/// 40 chunks of a scripted motion, one every 25 cycles from `first_cycle`.
/// They are made before counting: producing them is the producer's job.
fn scripted_chunks(script_csv: &str, first_cycle: u64) -> Vec<ActionChunk> {
    let script = ScriptedProducer::parse(script_csv).unwrap();
    (0..40u64)
        .map(|i| {
            script
                .chunk(
                    T0,
                    cycle_time(first_cycle + i * 25),
                    Duration::from_millis(20),
                    50,
                )
                .unwrap()
        })
        .collect()
}

#[test]
fn ten_thousand_cycles_allocate_nothing() {
    let link = Arc::new(FakeLinkForTest::new(false));
    let commands = Arc::new(ControlCommands::default());
    let mut body = LoopBody::new(
        Controller::new(ControllerConfig::default()),
        link.clone(),
        commands.clone(),
    );
    let mut state = standing_state();
    let chunks = scripted_chunks(
        "t_s,right_shoulder_roll\n0,-0.25\n0.5,-1.0\n1,-0.25\n",
        3000,
    );
    let mut nan_chunk = chunks[5];
    nan_chunk.steps[2][4] = f32::NAN;

    let before = allocations_on_this_thread();
    for k in 0..10_000u64 {
        let now = cycle_time(k);
        if k < 9_000 {
            state.received_at = now; // fresh state until the last 1000 cycles
        }
        link.state.store(state);
        match k {
            10 => commands.request_fsm(FsmId::ZeroTorque),
            20 => commands.request_fsm(FsmId::StandUp),
            3000 => commands.request_fsm(FsmId::Start),
            _ => {}
        }
        if (3000..4000).contains(&k) && k % 25 == 0 {
            let i = ((k - 3000) / 25) as usize;
            commands.send_chunk(if i == 7 { &nan_chunk } else { &chunks[i] });
        }
        body.cycle(now);
    }
    let allocations = allocations_on_this_thread() - before;

    let status = body.status().load();
    assert_eq!(
        allocations, 0,
        "the control cycle allocated {allocations} times"
    );
    // The run went where it was meant to: chunks accepted, the NaN one rejected,
    // the chunk expired and the state went stale, ending in damping.
    assert!(
        status.counters.chunks.accepted >= 30,
        "{:?}",
        status.counters
    );
    assert_eq!(status.counters.chunks.rejected, 1);
    assert!(status.tripped.is_some());
    assert_eq!(status.fsm, FsmId::Damp);
    assert_eq!(link.sent.load(), MotorTargets::damping());
    assert_eq!(status.counters.cycles, 10_000);
}

#[test]
fn upper_body_cycles_on_arm_sdk_allocate_nothing() {
    use tendon_control::{ArmRequest, CommandScope};
    let link = Arc::new(FakeLinkForTest::new(false));
    let commands = Arc::new(ControlCommands::default());
    let mut body = LoopBody::new(
        Controller::new(ControllerConfig {
            scope: CommandScope::UpperBody,
            ..ControllerConfig::default()
        }),
        link.clone(),
        commands.clone(),
    );
    let mut state = standing_state();
    let chunks = scripted_chunks("t_s,left_shoulder_roll\n0,0.2\n0.5,1.0\n1,0.2\n", 100);

    let before = allocations_on_this_thread();
    let mut max_weight = 0.0f32;
    for k in 0..5_000u64 {
        let now = cycle_time(k);
        state.received_at = now;
        link.state.store(state);
        match k {
            10 => commands.request_arms(ArmRequest::Engage),
            3000 => commands.request_arms(ArmRequest::Release),
            4000 => commands.e_stop(),
            _ => {}
        }
        if (100..1100).contains(&k) && k % 25 == 0 {
            commands.send_chunk(&chunks[((k - 100) / 25) as usize]);
        }
        body.cycle(now);
        max_weight = max_weight.max(body.status().load().arm_weight);
    }
    let allocations = allocations_on_this_thread() - before;
    assert_eq!(
        allocations, 0,
        "the arm_sdk cycle allocated {allocations} times"
    );
    let status = body.status().load();
    assert_eq!(max_weight, 1.0, "the weight ramped all the way in");
    assert!(
        status.counters.chunks.accepted >= 30,
        "{:?}",
        status.counters
    );
    assert!(status.tripped.is_some(), "the e-stop tripped");
    assert_eq!(status.arm_weight, 0.0);
}

/// The same cycle against the real bridge: `DdsRobotLink::latest_state`
/// and `send` on the control thread allocate nothing (RustDDS copies the
/// sample on the bridge's writer thread, which the per-thread counter does
/// not see). A robot endpoint on loopback publishes LowState and receives
/// the commands, so the sends really go out.
#[test]
fn cycles_through_the_dds_link_allocate_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tendon_bridge::dds::DdsConfig;
    use tendon_bridge::endpoint::RobotEndpoint;
    use tendon_bridge::hg::LowState;
    use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
    use tendon_core::Clock;

    const DOMAIN: u16 = 171;
    let dds = DdsConfig::new(DOMAIN, Some("lo"));
    let stop = Arc::new(AtomicBool::new(false));
    let robot = {
        let (dds, stop) = (dds.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut endpoint = RobotEndpoint::open(&dds, Clock::Real).unwrap();
            let mut state = LowState {
                mode_machine: 5,
                ..LowState::default()
            };
            for (i, q) in STAND.iter().enumerate() {
                state.motor_state[i].q = *q;
            }
            while !stop.load(Ordering::Relaxed) {
                state.tick = state.tick.wrapping_add(2);
                endpoint.publish_state(&mut state).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            endpoint.stats()
        })
    };
    let link = Arc::new(DdsRobotLink::open(&DdsLinkConfig::lowcmd(dds), Clock::Real).unwrap());
    assert!(
        link.wait_for_state(Duration::from_secs(20)).is_some(),
        "no LowState from the endpoint on domain {DOMAIN}"
    );
    let commands = Arc::new(ControlCommands::default());
    let mut body = LoopBody::new(
        Controller::new(ControllerConfig::default()),
        link.clone(),
        commands.clone(),
    );
    // Warm-up outside the count: the writer thread's first wake-up.
    body.cycle(Clock::Real.now());
    let before = allocations_on_this_thread();
    for k in 0..1500u64 {
        match k {
            10 => commands.request_fsm(FsmId::ZeroTorque),
            20 => commands.request_fsm(FsmId::StandUp),
            1400 => commands.e_stop(),
            _ => {}
        }
        body.cycle(Clock::Real.now());
        std::thread::sleep(Duration::from_millis(2));
    }
    let allocations = allocations_on_this_thread() - before;
    stop.store(true, Ordering::Relaxed);
    let robot_stats = robot.join().unwrap();
    let status = body.status().load();
    assert_eq!(
        allocations, 0,
        "cycles through DdsRobotLink allocated {allocations} times"
    );
    assert!(status.tripped.is_some(), "the e-stop went through");
    assert_eq!(status.link_errors, 0, "every send was accepted");
    assert!(
        robot_stats.commands_received > 300,
        "the robot received the commands over DDS: {robot_stats:?}, link {:?}",
        link.detailed_stats()
    );
}
