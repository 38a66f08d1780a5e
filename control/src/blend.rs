//! Action-chunk blending. A producer (policy or script) answers an
//! observation taken at `t_obs` with a chunk; it arrives `delay` later.
//!
//! Real-time chunking: while the producer computed, the robot kept
//! executing the previous chunk, so the new chunk's steps for
//! [t_obs, t_obs + delay) are a frozen prefix that has already happened.
//! The new chunk therefore takes over at t_obs + delay, which is its
//! arrival, counted from the observation (not arrival + delay, which made
//! every chunk wait one more producer delay before it acted). From there
//! the target ramps linearly from the old chunk to the new one, so that a
//! new chunk that disagrees with the old one does not step the joints.
//!
//! Every time is on the control loop's clock. A chunk stamped ahead of that
//! clock by more than `max_ahead` comes from a producer on another clock and
//! is rejected and counted: it would sit before its first step, never
//! expiring, and switch the expiry trip off.

use std::time::Duration;

use tendon_core::poses::JointPose;
use tendon_core::{ActionChunk, ChunkError, MonoTime};

/// Blending parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendConfig {
    /// Length of the ramp from the old chunk to the new one.
    pub ramp: Duration,
    /// How far ahead of the loop's clock a chunk's observation time may lie
    /// (clock jitter between threads on one clock is microseconds).
    pub max_ahead: Duration,
}

impl Default for BlendConfig {
    fn default() -> Self {
        BlendConfig {
            ramp: Duration::from_millis(100),
            max_ahead: Duration::from_millis(5),
        }
    }
}

/// Counters for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlendCounters {
    pub accepted: u64,
    pub rejected: u64,
    /// Chunks that arrived entirely in the past.
    pub stale: u64,
    /// Chunks observed ahead of the loop's clock (also counted in `rejected`).
    pub from_the_future: u64,
}

/// Executes the current chunk and blends in new ones.
#[derive(Debug, Clone)]
pub struct ChunkBlender {
    config: BlendConfig,
    current: Option<ActionChunk>,
    previous: Option<ActionChunk>,
    blend_start: MonoTime,
    /// Producer delay of the newest chunk (arrival − observation).
    last_delay: Duration,
    counters: BlendCounters,
}

/// What the blender says for one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlendTarget {
    /// No chunk has been accepted yet.
    NoChunk,
    /// A target for now.
    Target,
    /// The current chunk ended at this time.
    Expired { at: MonoTime },
}

impl ChunkBlender {
    pub fn new(config: BlendConfig) -> Self {
        ChunkBlender {
            config,
            current: None,
            previous: None,
            blend_start: MonoTime::ZERO,
            last_delay: Duration::ZERO,
            counters: BlendCounters::default(),
        }
    }

    pub fn counters(&self) -> BlendCounters {
        self.counters
    }

    /// The producer delay measured on the newest chunk.
    pub fn last_delay(&self) -> Duration {
        self.last_delay
    }

    /// Forgets all chunks (on leaving the state that executes them).
    pub fn clear(&mut self) {
        self.current = None;
        self.previous = None;
    }

    /// Takes a new chunk that arrived at `now`. Invalid chunks (NaN, bad
    /// length or period, observed in the future) are rejected and counted;
    /// the running chunk is kept.
    pub fn accept(&mut self, chunk: &ActionChunk, now: MonoTime) -> Result<(), ChunkError> {
        if let Err(e) = chunk.validate() {
            self.counters.rejected += 1;
            return Err(e);
        }
        let ahead = chunk.t_obs.saturating_since(now);
        if ahead > self.config.max_ahead {
            self.counters.rejected += 1;
            self.counters.from_the_future += 1;
            return Err(ChunkError::FromTheFuture {
                ahead,
                tolerance: self.config.max_ahead,
            });
        }
        if chunk.end_time() < now {
            self.counters.stale += 1;
            return Ok(());
        }
        self.counters.accepted += 1;
        self.last_delay = now.saturating_since(chunk.t_obs);
        self.previous = self.current.take();
        self.current = Some(*chunk);
        // t_obs + delay: the end of the frozen prefix, i.e. now.
        self.blend_start = now.max(chunk.t_obs);
        Ok(())
    }

    /// The blended target at `now`, written into `out` when `Target`.
    pub fn target(&self, now: MonoTime, out: &mut JointPose) -> BlendTarget {
        let Some(current) = &self.current else {
            return BlendTarget::NoChunk;
        };
        let mut new_q = [0.0; tendon_core::joints::NUM_BODY_JOINTS];
        if !current.sample(now, &mut new_q) {
            if now > current.end_time() {
                return BlendTarget::Expired {
                    at: current.end_time(),
                };
            }
            // Before the chunk's first step (its observation is in the
            // future): keep executing the previous chunk if possible.
            if let Some(prev) = &self.previous {
                if prev.sample(now, out) {
                    return BlendTarget::Target;
                }
            }
            new_q = current.steps[0];
        }
        let mut old_q = [0.0; tendon_core::joints::NUM_BODY_JOINTS];
        let has_old = self
            .previous
            .as_ref()
            .is_some_and(|p| p.sample(now, &mut old_q));
        if !has_old || now >= self.blend_end() {
            *out = new_q;
            return BlendTarget::Target;
        }
        let w = if now <= self.blend_start {
            0.0
        } else {
            now.saturating_since(self.blend_start).as_secs_f32()
                / self.config.ramp.as_secs_f32().max(1e-6)
        };
        for i in 0..out.len() {
            out[i] = old_q[i] + (new_q[i] - old_q[i]) * w;
        }
        BlendTarget::Target
    }

    fn blend_end(&self) -> MonoTime {
        self.blend_start
            .checked_add(self.config.ramp)
            .unwrap_or(self.blend_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> MonoTime {
        MonoTime::from_ns(10_000_000_000 + n * 1_000_000)
    }

    fn flat(t_obs: MonoTime, v: f32, steps: usize) -> ActionChunk {
        let poses = vec![[v; 29]; steps];
        ActionChunk::from_steps(t_obs, Duration::from_millis(20), &poses).unwrap()
    }

    #[test]
    fn first_chunk_drives_directly_and_expires_at_its_end() {
        let mut b = ChunkBlender::new(BlendConfig::default());
        let mut out = [0.0; 29];
        assert_eq!(b.target(ms(0), &mut out), BlendTarget::NoChunk);
        b.accept(&flat(ms(0), 0.5, 10), ms(30)).unwrap();
        assert_eq!(b.target(ms(40), &mut out), BlendTarget::Target);
        assert_eq!(out[0], 0.5);
        assert_eq!(b.last_delay(), Duration::from_millis(30));
        assert_eq!(
            b.target(ms(181), &mut out),
            BlendTarget::Expired { at: ms(180) }
        );
    }

    #[test]
    fn new_chunk_takes_over_at_observation_plus_delay_then_ramps() {
        let mut b = ChunkBlender::new(BlendConfig {
            ramp: Duration::from_millis(100),
            ..BlendConfig::default()
        });
        let mut out = [0.0; 29];
        b.accept(&flat(ms(0), 0.0, 50), ms(0)).unwrap();
        // New chunk for an observation at 100 ms arrives 40 ms later: its
        // steps for 100..140 ms are the frozen prefix, already executed by
        // the old chunk.
        b.accept(&flat(ms(100), 1.0, 50), ms(140)).unwrap();
        assert_eq!(b.last_delay(), Duration::from_millis(40));
        b.target(ms(140), &mut out);
        assert_eq!(
            out[3], 0.0,
            "at t_obs + delay the ramp starts from the old chunk"
        );
        b.target(ms(190), &mut out);
        assert!(
            (out[3] - 0.5).abs() < 1e-4,
            "half way through the ramp 50 ms after arrival, not after arrival + delay: {}",
            out[3]
        );
        b.target(ms(241), &mut out);
        assert_eq!(out[3], 1.0, "after the ramp: the new chunk");
    }

    #[test]
    fn chunk_observed_in_the_future_is_rejected_and_cannot_disable_expiry() {
        let mut b = ChunkBlender::new(BlendConfig::default());
        let mut out = [0.0; 29];
        b.accept(&flat(ms(0), 0.25, 10), ms(0)).unwrap();
        // A producer on another clock: observation 10 s ahead of the loop.
        let err = b.accept(&flat(ms(10_000), 1.0, 50), ms(20)).unwrap_err();
        assert!(matches!(err, ChunkError::FromTheFuture { .. }), "{err}");
        assert!(err.to_string().contains("controller's clock"), "{err}");
        assert_eq!(b.counters().from_the_future, 1);
        assert_eq!(b.counters().rejected, 1);
        // The running chunk still expires on time.
        assert_eq!(
            b.target(ms(181), &mut out),
            BlendTarget::Expired { at: ms(180) }
        );
        // Within the tolerance a chunk is accepted.
        b.accept(&flat(ms(203), 0.5, 10), ms(200)).unwrap();
        assert_eq!(b.counters().accepted, 2);
    }

    #[test]
    fn nan_chunk_is_rejected_and_running_chunk_kept() {
        let mut b = ChunkBlender::new(BlendConfig::default());
        let mut out = [0.0; 29];
        b.accept(&flat(ms(0), 0.25, 50), ms(0)).unwrap();
        let mut bad = flat(ms(20), 1.0, 50);
        bad.steps[3][7] = f32::NAN;
        assert!(b.accept(&bad, ms(25)).is_err());
        assert_eq!(b.counters().rejected, 1);
        b.target(ms(100), &mut out);
        assert!(out.iter().all(|v| *v == 0.25));
    }

    #[test]
    fn chunk_entirely_in_the_past_is_dropped() {
        let mut b = ChunkBlender::new(BlendConfig::default());
        b.accept(&flat(ms(0), 0.25, 5), ms(500)).unwrap();
        assert_eq!(b.counters().stale, 1);
        assert_eq!(b.target(ms(500), &mut [0.0; 29]), BlendTarget::NoChunk);
    }
}
