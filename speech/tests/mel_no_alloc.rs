//! The streaming log-mel's per-frame path allocates nothing once built.

use tendon_core::alloc_count::{allocations_on_this_thread, ThreadCountingAllocator};

use tendon_speech::mel::{StreamingLogMel, N_MELS};

#[global_allocator]
static GLOBAL: ThreadCountingAllocator = ThreadCountingAllocator;

#[test]
fn streaming_log_mel_allocates_nothing_per_frame() {
    let audio: Vec<f32> = (0..160_000)
        .map(|i| (i as f32 * 0.05).sin() * 0.3)
        .collect();
    let mut mel = StreamingLogMel::new();
    let mut frames = 0usize;
    let mut checksum = 0f32;
    let before = allocations_on_this_thread();
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
    let after = allocations_on_this_thread();
    assert!(frames >= 1000);
    assert!(checksum.is_finite());
    assert_eq!(after - before, 0, "allocations in push/reset/finish");
}
