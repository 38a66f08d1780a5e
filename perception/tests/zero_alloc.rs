//! The per-frame path allocates nothing once the preprocessor and its output
//! exist, even when the frame size changes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tendon_core::time::MonoTime;
use tendon_perception::{Fit, Frame, PreprocessConfig, Preprocessor};

struct CountingAllocator;

thread_local! {
    /// Per thread, so that the test harness's own threads (its main thread
    /// waits on the test with a timer, and may print) are not counted
    /// against the code under test; a global count failed on CI this way.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations_so_far() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn preprocessing_a_frame_allocates_nothing() {
    let vga = Frame::new_rgb8(MonoTime::from_ns(1), 640, 480, vec![77; 640 * 480 * 3]).unwrap();
    let small = Frame::new_rgb8(MonoTime::from_ns(2), 320, 240, vec![33; 320 * 240 * 3]).unwrap();
    for fit in [Fit::Letterbox { pad_rgb: [0, 0, 0] }, Fit::CenterCrop] {
        let mut pre = Preprocessor::new(PreprocessConfig {
            fit,
            ..PreprocessConfig::default()
        })
        .unwrap();
        let mut out = pre.new_output();
        let mut hwc = vec![0.0f32; pre.layout().len()];
        let before = allocations_so_far();
        for i in 0..50 {
            let frame = if i % 3 == 0 { &small } else { &vga };
            pre.process(frame, &mut out).unwrap();
            pre.resize_normalize_into(frame.view(), &mut hwc).unwrap();
        }
        let allocations = allocations_so_far() - before;
        assert_eq!(
            allocations, 0,
            "{fit:?}: {allocations} allocations in 50 frames"
        );
        assert_eq!(out.capture_time, MonoTime::from_ns(1));
    }
}
