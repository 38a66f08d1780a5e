//! A scripted action-chunk producer: joint keyframes from a CSV file,
//! played in a loop and cut into chunks, so that `start` can be exercised
//! before a policy exists (e.g. waving an arm).
//!
//! File format: a header `t_s,<joint>,<joint>,…` with joint names as in
//! `JointIndex::name` (e.g. `right_shoulder_roll`), then one row per
//! keyframe with time in seconds (strictly increasing, first row at 0) and
//! positions in rad. Joints not named hold the standing pose.

use std::path::Path;
use std::time::Duration;

use tendon_core::joints::ALL_JOINTS;
use tendon_core::poses::{JointPose, STAND};
use tendon_core::{ActionChunk, ChunkError, MonoTime, MAX_CHUNK_STEPS};

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read action script '{path}'")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("action script line {line}: {problem}")]
    Parse { line: usize, problem: String },
}

/// Keyframes played in a loop.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedProducer {
    times_s: Vec<f32>,
    poses: Vec<JointPose>,
}

impl ScriptedProducer {
    pub fn from_file(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, ScriptError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (hline, header) = lines.next().ok_or(ScriptError::Parse {
            line: 1,
            problem: "empty file; expected a header 't_s,<joint>,…'".into(),
        })?;
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        if cols.first() != Some(&"t_s") {
            return Err(ScriptError::Parse {
                line: hline,
                problem: format!(
                    "first column must be 't_s', found '{}'",
                    cols.first().unwrap_or(&"")
                ),
            });
        }
        let mut slots = Vec::new();
        for name in &cols[1..] {
            let j = ALL_JOINTS
                .iter()
                .find(|j| j.name() == *name)
                .ok_or_else(|| ScriptError::Parse {
                    line: hline,
                    problem: format!(
                        "unknown joint '{name}'; joints are: {}",
                        ALL_JOINTS
                            .iter()
                            .map(|j| j.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            slots.push(j.slot());
        }
        let mut times_s = Vec::new();
        let mut poses = Vec::new();
        for (line, row) in lines {
            let vals: Vec<&str> = row.split(',').map(str::trim).collect();
            if vals.len() != cols.len() {
                return Err(ScriptError::Parse {
                    line,
                    problem: format!("{} values, header has {}", vals.len(), cols.len()),
                });
            }
            let num = |s: &str| -> Result<f32, ScriptError> {
                s.parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| ScriptError::Parse {
                        line,
                        problem: format!("'{s}' is not a finite number"),
                    })
            };
            let t = num(vals[0])?;
            if times_s.last().is_some_and(|last| t <= *last) || (times_s.is_empty() && t != 0.0) {
                return Err(ScriptError::Parse {
                    line,
                    problem: "times must start at 0 and increase strictly".into(),
                });
            }
            let mut pose = STAND;
            for (slot, v) in slots.iter().zip(&vals[1..]) {
                pose[*slot] = num(v)?;
            }
            times_s.push(t);
            poses.push(pose);
        }
        if poses.len() < 2 {
            return Err(ScriptError::Parse {
                line: hline,
                problem: "need at least two keyframes".into(),
            });
        }
        Ok(ScriptedProducer { times_s, poses })
    }

    /// Loop period: the time of the last keyframe.
    pub fn period_s(&self) -> f32 {
        *self.times_s.last().unwrap()
    }

    /// The scripted pose at `t_s` seconds into the script (looping).
    pub fn pose_at(&self, t_s: f32) -> JointPose {
        let t = t_s.rem_euclid(self.period_s());
        let k = self
            .times_s
            .partition_point(|x| *x <= t)
            .clamp(1, self.times_s.len() - 1);
        let (t0, t1) = (self.times_s[k - 1], self.times_s[k]);
        let w = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
        let (a, b) = (&self.poses[k - 1], &self.poses[k]);
        let mut q = *a;
        for i in 0..q.len() {
            q[i] += (b[i] - a[i]) * w;
        }
        q
    }

    /// A chunk of `steps` poses for an observation at `t_obs`, where the
    /// script started at `script_start`.
    pub fn chunk(
        &self,
        script_start: MonoTime,
        t_obs: MonoTime,
        dt: Duration,
        steps: usize,
    ) -> Result<ActionChunk, ChunkError> {
        let steps = steps.min(MAX_CHUNK_STEPS);
        let mut poses = [[0.0; 29]; MAX_CHUNK_STEPS];
        let base = t_obs.saturating_since(script_start).as_secs_f32();
        for (k, p) in poses.iter_mut().take(steps).enumerate() {
            *p = self.pose_at(base + k as f32 * dt.as_secs_f32());
        }
        ActionChunk::from_steps(t_obs, dt, &poses[..steps])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAVE: &str = "# wave the right arm\nt_s,right_shoulder_roll,right_elbow\n0,-0.25,0.97\n0.5,-1.2,0.3\n1.0,-0.25,0.97\n";

    #[test]
    fn parses_and_interpolates_with_loop() {
        let p = ScriptedProducer::parse(WAVE).unwrap();
        assert_eq!(p.period_s(), 1.0);
        let q = p.pose_at(0.25);
        assert!((q[23] - (-0.725)).abs() < 1e-5);
        assert_eq!(q[3], STAND[3], "unnamed joints hold the standing pose");
        let again = p.pose_at(1.25);
        assert!((again[23] - q[23]).abs() < 1e-5, "loops");
        let c = p
            .chunk(
                MonoTime::from_ns(0),
                MonoTime::from_ns(250_000_000),
                Duration::from_millis(20),
                10,
            )
            .unwrap();
        assert_eq!(c.len, 10);
        assert!((c.steps[0][23] - q[23]).abs() < 1e-5);
    }

    #[test]
    fn bad_scripts_name_the_line_and_problem() {
        let e = ScriptedProducer::parse("t_s,right_elbo\n0,1\n1,2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown joint 'right_elbo'") && e.contains("right_elbow"),
            "{e}"
        );
        let e = ScriptedProducer::parse("t_s,right_elbow\n0,1\n0.5,nan\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("not a finite number"),
            "{e}"
        );
        let e = ScriptedProducer::parse("t_s,right_elbow\n0,1\n0,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("increase"), "{e}");
    }
}
