//! Stepping the world, reading its state and the in-process link allocate
//! nothing (counted by a global allocator on this thread).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tendon_bridge::hg::LowCmd;
use tendon_core::poses::STAND as LOCO_STAND;
use tendon_core::poses::STAND_GAINS;
use tendon_core::RobotLink;
use tendon_sim::{run_in_process, SimLink};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

#[test]
fn step_low_state_and_sim_link_do_not_allocate() {
    let mut sim = common::hanging();
    let targets = common::pd_targets(&LOCO_STAND, &STAND_GAINS);
    let cmd = LowCmd::from_targets(&targets, 5);
    sim.step_for(0.01); // warm-up outside the count

    let (_, n) = count(|| {
        for _ in 0..1000 {
            sim.apply_lowcmd(&cmd);
            sim.step_1ms();
            std::hint::black_box(sim.low_state());
        }
    });
    assert_eq!(
        n, 0,
        "step_1ms/apply_lowcmd/low_state allocated {n} times in 1000 steps"
    );

    let link = SimLink::new();
    let (stats, n) = count(|| {
        run_in_process(&mut sim, &link, Duration::from_millis(500), |_| {
            let _ = link.latest_state();
            let _ = link.send(&targets);
        })
    });
    assert_eq!(n, 0, "run_in_process + SimLink allocated {n} times");
    assert_eq!(stats.commands_applied, 250);
}
