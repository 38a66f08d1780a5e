//! The microphone callback's work, `CaptureWriter::write`, allocates
//! nothing, in every device format and also when the ring is full and it
//! drops (and counts) frames. A per-thread counting allocator proves it.

use tendon_core::alloc_count::{allocations_on_this_thread, ThreadCountingAllocator};

use tendon_speech::capture::capture_ring;

#[global_allocator]
static GLOBAL: ThreadCountingAllocator = ThreadCountingAllocator;

#[test]
fn capture_callback_allocates_nothing_and_counts_what_it_drops() {
    let (mut writer, mut reader) = capture_ring(4800, 2);
    let i16_block: Vec<i16> = (0..960).map(|i| (i * 7) as i16).collect();
    let u16_block: Vec<u16> = (0..960).map(|i| (i * 13) as u16).collect();
    let f32_block: Vec<f32> = (0..960).map(|i| i as f32 / 960.0).collect();
    let before = allocations_on_this_thread();
    // 30 blocks of 480 frames into a ring of 4800 frames: the last 20 drop.
    for k in 0..30 {
        match k % 3 {
            0 => writer.write(&i16_block),
            1 => writer.write(&u16_block),
            _ => writer.write(&f32_block),
        }
    }
    let allocations = allocations_on_this_thread() - before;
    assert_eq!(
        allocations, 0,
        "the capture callback allocated {allocations} times"
    );
    assert_eq!(reader.dropped_frames(), 20 * 480);
    let mut out = Vec::new();
    assert_eq!(reader.read_available(&mut out), 4800 * 2);
    assert_eq!(out[1], 7.0 / 32_768.0, "i16 block first");
    assert_eq!(out[960], (0.0 - 32_768.0) / 32_768.0, "then u16");
}
