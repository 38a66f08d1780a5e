//! The streaming log-mel's per-frame path allocates nothing once built.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tendon_speech::mel::{StreamingLogMel, N_MELS};

struct CountingAllocatorForTest;

thread_local! {
    // Per thread: the test harness allocates on its own threads meanwhile.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for CountingAllocatorForTest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocatorForTest = CountingAllocatorForTest;

#[test]
fn streaming_log_mel_allocates_nothing_per_frame() {
    let audio: Vec<f32> = (0..160_000)
        .map(|i| (i as f32 * 0.05).sin() * 0.3)
        .collect();
    let mut mel = StreamingLogMel::new();
    let mut frames = 0usize;
    let mut checksum = 0f32;
    let before = allocations();
    // Pieces of many sizes, some larger than the internal buffer.
    for chunk in audio.chunks(5_003) {
        for piece in chunk.chunks(317).chain([&[][..]]) {
            mel.push(piece, |f: &[f32; N_MELS]| {
                frames += 1;
                checksum += f[0];
            });
        }
    }
    mel.push(&audio[..4_999], |_| frames += 1);
    mel.reset();
    for chunk in audio.chunks(7_919) {
        mel.push(chunk, |f: &[f32; N_MELS]| {
            frames += 1;
            checksum += f[0];
        });
    }
    mel.finish(|f| {
        frames += 1;
        checksum += f[0];
    })
    .unwrap();
    let after = allocations();
    assert!(frames >= 1000);
    assert!(checksum.is_finite());
    assert_eq!(after - before, 0, "allocations in push/reset/finish");
}
