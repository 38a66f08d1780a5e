//! The `rt/arm_sdk` blend weight. In high-level mode the robot's own
//! locomotion keeps running and blends our upper-body targets into its own
//! with the weight carried in `motor_cmd[29].q`: 0 is all locomotion, 1 is
//! all ours. Stepping it from 0 to 1 makes the arms jump from where the
//! locomotion holds them to our targets, so Unitree ramps it over about 2 s
//! (g1-protocol.md §4); `WeightRamp` does that, in both directions.

use std::time::Duration;

/// What the operator (or a policy) asks of the upper body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmRequest {
    /// Take the upper body: ramp the weight up to 1.
    Engage,
    /// Hand it back to the locomotion: ramp the weight down to 0.
    Release,
}

/// Default time for a full 0 → 1 (or 1 → 0) ramp.
pub const DEFAULT_ARM_RAMP: Duration = Duration::from_secs(2);

/// A linear, rate-limited ramp of the blend weight toward 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightRamp {
    weight: f32,
    target: f32,
    rate_per_s: f32,
}

impl WeightRamp {
    /// A ramp that starts released (weight 0) and needs `full_ramp` to go
    /// from 0 to 1. A zero duration steps at once.
    pub fn new(full_ramp: Duration) -> WeightRamp {
        let s = full_ramp.as_secs_f32();
        WeightRamp {
            weight: 0.0,
            target: 0.0,
            rate_per_s: if s > 0.0 { 1.0 / s } else { f32::INFINITY },
        }
    }

    pub fn request(&mut self, request: ArmRequest) {
        self.target = match request {
            ArmRequest::Engage => 1.0,
            ArmRequest::Release => 0.0,
        };
    }

    /// Drops the weight to 0 now: a fault hands the arms back to the
    /// robot's locomotion at once rather than over the ramp.
    pub fn release_now(&mut self) {
        self.target = 0.0;
        self.weight = 0.0;
    }

    /// Advances the ramp by `dt_s` and returns the weight to send.
    pub fn step(&mut self, dt_s: f32) -> f32 {
        // `dt_s > 0` also keeps NaN out (and ∞ · 0 with an instant ramp).
        let max_step = if dt_s > 0.0 {
            self.rate_per_s * dt_s
        } else {
            0.0
        };
        let delta = (self.target - self.weight).clamp(-max_step, max_step);
        self.weight = (self.weight + delta).clamp(0.0, 1.0);
        self.weight
    }

    pub fn weight(&self) -> f32 {
        self.weight
    }

    /// Engaged, or still ramping either way.
    pub fn is_engaged(&self) -> bool {
        self.target > 0.0 || self.weight > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engaging_ramps_linearly_to_one_over_the_configured_time() {
        let mut r = WeightRamp::new(Duration::from_secs(2));
        assert_eq!(r.step(0.002), 0.0, "released until asked");
        r.request(ArmRequest::Engage);
        let mut t_s = 0.0f32;
        let mut last = 0.0;
        while r.weight() < 1.0 {
            let w = r.step(0.002);
            assert!(w > last && w - last <= 0.001 + 1e-6, "step {last} -> {w}");
            last = w;
            t_s += 0.002;
            assert!(t_s < 2.1, "ramp too slow");
        }
        assert!((t_s - 2.0).abs() < 0.01, "full ramp took {t_s} s");
        assert_eq!(r.step(0.002), 1.0, "holds at 1");
    }

    #[test]
    fn releasing_ramps_back_down_and_release_now_drops_at_once() {
        let mut r = WeightRamp::new(Duration::from_secs(1));
        r.request(ArmRequest::Engage);
        r.step(0.5);
        assert!((r.weight() - 0.5).abs() < 1e-6);
        r.request(ArmRequest::Release);
        assert!((r.step(0.25) - 0.25).abs() < 1e-6);
        assert!(r.is_engaged(), "still ramping down");
        assert_eq!(r.step(1.0), 0.0);
        assert!(!r.is_engaged());
        r.request(ArmRequest::Engage);
        r.step(0.3);
        r.release_now();
        assert_eq!(r.weight(), 0.0);
        assert_eq!(r.step(0.1), 0.0, "a fault release does not re-engage");
    }

    #[test]
    fn negative_or_huge_steps_keep_the_weight_in_range() {
        let mut r = WeightRamp::new(Duration::ZERO);
        r.request(ArmRequest::Engage);
        assert_eq!(r.step(-1.0), 0.0);
        assert_eq!(r.step(1e9), 1.0);
    }
}
