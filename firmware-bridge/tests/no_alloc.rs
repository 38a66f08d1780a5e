//! The bridge's hot path allocates nothing: sealing and encoding a LowCmd,
//! decoding and checking a LowState, and the lock-free handoff slots.
//! A counting global allocator proves it.

use tendon_core::alloc_count::{allocations_on_this_thread, ThreadCountingAllocator};

use tendon_bridge::cdr::CdrMessage;
use tendon_bridge::hg::{LowCmd, LowState, LOWCMD_PAYLOAD_LEN};
use tendon_core::{Latest, MotorTargets, RobotState};

#[global_allocator]
static GLOBAL: ThreadCountingAllocator = ThreadCountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = allocations_on_this_thread();
    f();
    allocations_on_this_thread() - before
}

#[test]
fn hot_path_allocates_nothing() {
    let mut out = Vec::with_capacity(LOWCMD_PAYLOAD_LEN);
    let mut targets = MotorTargets::damping();
    let n = allocations_during(|| {
        for i in 0..10_000 {
            targets.motors[i % 29].q_rad = i as f32 * 1e-4;
            let cmd = LowCmd::from_targets(&targets, 5);
            cmd.encode_payload_into(&mut out);
            assert_eq!(out.len(), LOWCMD_PAYLOAD_LEN);
        }
    });
    assert_eq!(n, 0, "LowCmd build + CRC + encode allocated {n} times");

    let mut state = LowState {
        mode_machine: 5,
        ..LowState::default()
    };
    state.seal();
    let payload = state.to_payload();
    let n = allocations_during(|| {
        for _ in 0..10_000 {
            let s = LowState::decode_checked(&payload[4..]).unwrap();
            assert_eq!(s.mode_machine, 5);
        }
    });
    assert_eq!(n, 0, "LowState decode + CRC allocated {n} times");

    let slot = Latest::new(RobotState::default());
    let n = allocations_during(|| {
        for i in 0..10_000u32 {
            let mut s = slot.load();
            s.tick_ms = i;
            slot.store(s);
        }
    });
    assert_eq!(n, 0, "Latest<RobotState> allocated {n} times");

    // The counter itself works: a Vec allocation is seen.
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert!(n >= 1);
}
