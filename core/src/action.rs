//! Action chunks: what a policy (or a scripted producer) hands the control
//! loop. Fixed capacity, `Copy`, so the loop can take one through a
//! lock-free slot without allocating.

use std::time::Duration;

use crate::poses::JointPose;
use crate::time::MonoTime;

/// Most steps a chunk may carry (1.28 s at 50 Hz).
pub const MAX_CHUNK_STEPS: usize = 64;

/// H steps of joint position targets, step `k` meant for `t_obs + k·dt`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionChunk {
    /// When the observation this chunk answers was taken.
    pub t_obs: MonoTime,
    /// Time between steps.
    pub dt: Duration,
    /// Number of valid entries in `steps`.
    pub len: usize,
    pub steps: [JointPose; MAX_CHUNK_STEPS],
}

/// Why a chunk was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ChunkError {
    #[error("action chunk has {len} steps; it must have 1..={MAX_CHUNK_STEPS}")]
    BadLength { len: usize },
    #[error("action chunk step period is {dt:?}; it must be between 1 ms and 1 s")]
    BadPeriod { dt: Duration },
    #[error("action chunk step {step}, joint slot {slot} is not finite ({value}); the chunk was rejected")]
    NonFinite {
        step: usize,
        slot: usize,
        value: f32,
    },
    /// Its observation time lies ahead of the control loop's clock: the
    /// producer stamps on another clock (sim time against wall time, a
    /// skewed remote), and such a chunk would never expire.
    #[error("action chunk observed {ahead:?} ahead of the control loop's clock (tolerance {tolerance:?}); the chunk was rejected: stamp chunks with the time of the observation on the controller's clock")]
    FromTheFuture {
        ahead: Duration,
        tolerance: Duration,
    },
}

impl ActionChunk {
    /// Builds a chunk from a slice of poses.
    pub fn from_steps(
        t_obs: MonoTime,
        dt: Duration,
        poses: &[JointPose],
    ) -> Result<ActionChunk, ChunkError> {
        if poses.is_empty() || poses.len() > MAX_CHUNK_STEPS {
            return Err(ChunkError::BadLength { len: poses.len() });
        }
        let mut steps = [[0.0; crate::joints::NUM_BODY_JOINTS]; MAX_CHUNK_STEPS];
        steps[..poses.len()].copy_from_slice(poses);
        let chunk = ActionChunk {
            t_obs,
            dt,
            len: poses.len(),
            steps,
        };
        chunk.validate()?;
        Ok(chunk)
    }

    /// Checks length, period and finiteness; a chunk that fails never drives a motor.
    pub fn validate(&self) -> Result<(), ChunkError> {
        if self.len == 0 || self.len > MAX_CHUNK_STEPS {
            return Err(ChunkError::BadLength { len: self.len });
        }
        if self.dt < Duration::from_millis(1) || self.dt > Duration::from_secs(1) {
            return Err(ChunkError::BadPeriod { dt: self.dt });
        }
        for (step, pose) in self.steps[..self.len].iter().enumerate() {
            if let Some((slot, value)) = pose.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(ChunkError::NonFinite {
                    step,
                    slot,
                    value: *value,
                });
            }
        }
        Ok(())
    }

    /// Time of step `k`.
    pub fn step_time(&self, k: usize) -> MonoTime {
        MonoTime::from_ns(self.t_obs.ns + self.dt.as_nanos() as u64 * k as u64)
    }

    /// Time of the last step: after it the chunk has expired.
    pub fn end_time(&self) -> MonoTime {
        self.step_time(self.len.saturating_sub(1))
    }

    /// The target at `t`, linearly interpolated between steps; `None`
    /// outside [first step, last step].
    pub fn sample(&self, t: MonoTime, out: &mut JointPose) -> bool {
        if t < self.t_obs || t > self.end_time() {
            return false;
        }
        let dt_ns = self.dt.as_nanos() as u64;
        let since = t.ns - self.t_obs.ns;
        let k = (since / dt_ns) as usize;
        if k + 1 >= self.len {
            *out = self.steps[self.len - 1];
            return true;
        }
        let frac = (since % dt_ns) as f32 / dt_ns as f32;
        let (a, b) = (&self.steps[k], &self.steps[k + 1]);
        for i in 0..out.len() {
            out[i] = a[i] + (b[i] - a[i]) * frac;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pose(v: f32) -> JointPose {
        [v; crate::joints::NUM_BODY_JOINTS]
    }

    #[test]
    fn sample_interpolates_between_steps() {
        let c = ActionChunk::from_steps(
            MonoTime::from_ns(1_000_000_000),
            Duration::from_millis(20),
            &[pose(0.0), pose(1.0), pose(3.0)],
        )
        .unwrap();
        let mut out = pose(9.0);
        assert!(c.sample(MonoTime::from_ns(1_010_000_000), &mut out));
        assert!((out[0] - 0.5).abs() < 1e-6);
        assert!(c.sample(MonoTime::from_ns(1_030_000_000), &mut out));
        assert!((out[5] - 2.0).abs() < 1e-6);
        assert!(c.sample(c.end_time(), &mut out));
        assert_eq!(out[0], 3.0);
        assert!(
            !c.sample(MonoTime::from_ns(999_000_000), &mut out),
            "before the observation"
        );
        assert!(
            !c.sample(MonoTime::from_ns(1_040_000_001), &mut out),
            "after expiry"
        );
    }

    #[test]
    fn invalid_chunks_are_typed_errors() {
        let t = MonoTime::from_ns(1);
        let mut bad = pose(0.0);
        bad[17] = f32::NAN;
        assert!(matches!(
            ActionChunk::from_steps(t, Duration::from_millis(20), &[pose(0.0), bad]),
            Err(ChunkError::NonFinite {
                step: 1,
                slot: 17,
                ..
            })
        ));
        assert!(matches!(
            ActionChunk::from_steps(t, Duration::from_millis(20), &[]),
            Err(ChunkError::BadLength { len: 0 })
        ));
        assert!(matches!(
            ActionChunk::from_steps(t, Duration::ZERO, &[pose(0.0)]),
            Err(ChunkError::BadPeriod { .. })
        ));
    }
}
