//! The hand-off from a capture device's callback to the thread that reads
//! audio. The callback runs on the audio driver's real-time thread: it may
//! not allocate or block, and whatever it cannot hand over must be counted,
//! not lost silently. The capture ring is a preallocated single-producer,
//! single-consumer ring (rtrb) of f32 samples (`capture_ring`); the writer converts the
//! device's own sample format (i16, u16 or f32) while copying, and drops
//! whole frames when the reader has fallen behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A device sample format the capture path accepts.
pub trait CaptureSample: Copy {
    /// The sample in [-1, 1), as cpal converts it.
    fn to_f32(self) -> f32;
}

impl CaptureSample for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}

impl CaptureSample for i16 {
    fn to_f32(self) -> f32 {
        self as f32 / 32_768.0
    }
}

impl CaptureSample for u16 {
    fn to_f32(self) -> f32 {
        (self as f32 - 32_768.0) / 32_768.0
    }
}

/// The two ends of a capture hand-off: a ring of `capacity_frames` frames
/// of `channels` interleaved samples.
pub fn capture_ring(capacity_frames: usize, channels: u16) -> (CaptureWriter, CaptureReader) {
    let channels = usize::from(channels.max(1));
    let (producer, consumer) = rtrb::RingBuffer::new(capacity_frames.max(1) * channels);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        CaptureWriter {
            producer,
            channels,
            dropped_frames: dropped.clone(),
        },
        CaptureReader {
            consumer,
            dropped_frames: dropped,
        },
    )
}

/// The callback's end.
pub struct CaptureWriter {
    producer: rtrb::Producer<f32>,
    channels: usize,
    dropped_frames: Arc<AtomicU64>,
}

impl CaptureWriter {
    /// Copies a block of interleaved samples in. Never allocates, never
    /// blocks: frames that do not fit are dropped whole and counted.
    pub fn write<S: CaptureSample>(&mut self, interleaved: &[S]) {
        let whole = interleaved.len() - interleaved.len() % self.channels;
        let room = self.producer.slots() - self.producer.slots() % self.channels;
        let n = whole.min(room);
        if n > 0 {
            if let Ok(chunk) = self.producer.write_chunk_uninit(n) {
                chunk.fill_from_iter(interleaved[..n].iter().map(|s| s.to_f32()));
            }
        }
        let lost = (interleaved.len() - n) / self.channels;
        if lost > 0 {
            self.dropped_frames
                .fetch_add(lost as u64, Ordering::Relaxed);
        }
    }
}

/// The reading thread's end.
pub struct CaptureReader {
    consumer: rtrb::Consumer<f32>,
    dropped_frames: Arc<AtomicU64>,
}

impl CaptureReader {
    /// Appends every sample available now to `out`; how many.
    pub fn read_available(&mut self, out: &mut Vec<f32>) -> usize {
        let n = self.consumer.slots();
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            out.extend_from_slice(a);
            out.extend_from_slice(b);
            chunk.commit_all();
        }
        n
    }

    /// Frames dropped because the ring was full (the reader fell behind).
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_formats_convert_to_f32_as_cpal_does() {
        assert_eq!(i16::MIN.to_f32(), -1.0);
        assert_eq!(0i16.to_f32(), 0.0);
        assert_eq!(16_384i16.to_f32(), 0.5);
        assert_eq!(0u16.to_f32(), -1.0);
        assert_eq!(32_768u16.to_f32(), 0.0);
        assert_eq!(0.25f32.to_f32(), 0.25);
    }

    #[test]
    fn a_full_ring_drops_whole_frames_and_counts_them() {
        let (mut w, mut r) = capture_ring(4, 2);
        w.write(&[1i16, 2, 3, 4, 5, 6]);
        w.write(&[7i16, 8, 9, 10]);
        // 4 frames fit; the 5th (9, 10) is dropped whole.
        assert_eq!(r.dropped_frames(), 1);
        let mut out = Vec::new();
        assert_eq!(r.read_available(&mut out), 8);
        let want: Vec<f32> = (1..=8).map(|v| v as f32 / 32_768.0).collect();
        assert_eq!(out, want);
        // A block with half a frame keeps the channels aligned.
        w.write(&[0.5f32, -0.5, 0.25]);
        out.clear();
        r.read_available(&mut out);
        assert_eq!(out, [0.5, -0.5]);
        assert_eq!(r.dropped_frames(), 1);
    }
}
