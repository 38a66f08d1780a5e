//! The per-frame path allocates nothing once the preprocessor and its output
//! exist, even when the frame size changes.

use tendon_core::alloc_count::{allocations_on_this_thread, ThreadCountingAllocator};

use tendon_core::time::MonoTime;
use tendon_perception::{Fit, Frame, PreprocessConfig, Preprocessor};

#[global_allocator]
static GLOBAL: ThreadCountingAllocator = ThreadCountingAllocator;

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
        let before = allocations_on_this_thread();
        for i in 0..50 {
            let frame = if i % 3 == 0 { &small } else { &vga };
            pre.process(frame, &mut out).unwrap();
            pre.resize_normalize_into(frame.view(), &mut hwc).unwrap();
        }
        let allocations = allocations_on_this_thread() - before;
        assert_eq!(
            allocations, 0,
            "{fit:?}: {allocations} allocations in 50 frames"
        );
        assert_eq!(out.capture_time, MonoTime::from_ns(1));
    }
}
