//! `SimLink`: an in-process `RobotLink` to the simulated G1, and
//! `run_in_process`, which steps the world at 1 kHz and a controller at 500 Hz
//! on simulated time: deterministic and faster than real time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tendon_bridge::hg::LowCmd;
use tendon_core::{Latest, LinkError, LinkStats, MonoTime, MotorTargets, RobotLink, RobotState};

use crate::world::{G1Sim, PHYSICS_DT_S};

/// Control period of the runner: 2 ms (500 Hz), like the robot's LowState rate.
pub const CONTROL_PERIOD: Duration = Duration::from_millis(2);

/// The controller's side of an in-process connection to `G1Sim`.
///
/// The runner pushes states and takes commands; the controller uses it as a
/// `RobotLink`. `send` and `latest_state` are lock-free and allocation-free.
pub struct SimLink {
    state: Latest<RobotState>,
    has_state: AtomicBool,
    command: Latest<MotorTargets>,
    taken_version: AtomicU64,
    states_received: AtomicU64,
    commands_sent: AtomicU64,
    commands_refused: AtomicU64,
}

impl Default for SimLink {
    fn default() -> Self {
        SimLink::new()
    }
}

impl SimLink {
    pub fn new() -> SimLink {
        SimLink {
            state: Latest::new(RobotState::default()),
            has_state: AtomicBool::new(false),
            command: Latest::new(MotorTargets::default()),
            taken_version: AtomicU64::new(0),
            states_received: AtomicU64::new(0),
            commands_sent: AtomicU64::new(0),
            commands_refused: AtomicU64::new(0),
        }
    }

    /// Delivers a state to the controller (the runner calls this).
    pub fn push_state(&self, state: RobotState) {
        self.state.store(state);
        self.has_state.store(true, Ordering::Release);
        self.states_received.fetch_add(1, Ordering::Relaxed);
    }

    /// The newest command sent since the last call, if any.
    pub fn take_command(&self) -> Option<MotorTargets> {
        let (targets, version) = self.command.load_with_count();
        let taken = self.taken_version.swap(version, Ordering::AcqRel);
        (version != taken).then_some(targets)
    }

    /// The newest command ever sent (taken or not).
    pub fn latest_command(&self) -> Option<MotorTargets> {
        let (targets, version) = self.command.load_with_count();
        (version > 0).then_some(targets)
    }
}

impl RobotLink for SimLink {
    fn latest_state(&self) -> Option<RobotState> {
        if self.has_state.load(Ordering::Acquire) {
            Some(self.state.load())
        } else {
            None
        }
    }

    fn send(&self, targets: &MotorTargets) -> Result<(), LinkError> {
        if !self.has_state.load(Ordering::Acquire) {
            self.commands_refused.fetch_add(1, Ordering::Relaxed);
            return Err(LinkError::NoStateYet);
        }
        if let Some(slot) = targets.motors.iter().position(|m| !m.is_finite()) {
            self.commands_refused.fetch_add(1, Ordering::Relaxed);
            return Err(LinkError::NonFiniteTarget { slot });
        }
        self.command.store(*targets);
        self.commands_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn stats(&self) -> LinkStats {
        LinkStats {
            states_received: self.states_received.load(Ordering::Relaxed),
            crc_errors: 0,
            decode_errors: 0,
            commands_sent: self.commands_sent.load(Ordering::Relaxed),
            commands_refused: self.commands_refused.load(Ordering::Relaxed),
        }
    }
}

/// What an in-process run did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunStats {
    pub control_ticks: u64,
    pub physics_steps: u64,
    pub states_pushed: u64,
    pub commands_applied: u64,
    pub sim_time_s: f64,
    pub wall_time_s: f64,
}

impl RunStats {
    /// Simulated seconds per wall-clock second.
    pub fn real_time_factor(&self) -> f64 {
        if self.wall_time_s > 0.0 {
            self.sim_time_s / self.wall_time_s
        } else {
            f64::INFINITY
        }
    }
}

/// Sim time as a monotonic timestamp (ns since the last reset).
pub fn sim_now(sim: &G1Sim) -> MonoTime {
    MonoTime::from_ns((sim.sim_time() * 1e9).round() as u64)
}

/// Runs `duration` of simulated time. Every 2 ms: push the state (unless the
/// sim's state is paused), call `control(now)` with the sim time, apply the
/// newest command the controller sent through `link`, then step the physics
/// twice (1 ms each). No threads, no sleeping: deterministic.
pub fn run_in_process(
    sim: &mut G1Sim,
    link: &SimLink,
    duration: Duration,
    mut control: impl FnMut(MonoTime),
) -> RunStats {
    let started = std::time::Instant::now();
    let t0 = sim.sim_time();
    let steps_per_tick = (CONTROL_PERIOD.as_secs_f64() / PHYSICS_DT_S).round() as u64;
    let ticks = (duration.as_secs_f64() / CONTROL_PERIOD.as_secs_f64()).round() as u64;
    let mut stats = RunStats::default();
    for _ in 0..ticks {
        let now = sim_now(sim);
        if !sim.state_paused() {
            link.push_state(sim.low_state().to_robot_state(now));
            stats.states_pushed += 1;
        }
        control(now);
        if let Some(targets) = link.take_command() {
            // The same sealed LowCmd the DDS link would send.
            let cmd = LowCmd::from_targets(&targets, crate::world::MODE_MACHINE_G1_29DOF);
            if sim.apply_lowcmd(&cmd) {
                stats.commands_applied += 1;
            }
        }
        for _ in 0..steps_per_tick {
            sim.step_1ms();
        }
        stats.physics_steps += steps_per_tick;
        stats.control_ticks += 1;
    }
    stats.sim_time_s = sim.sim_time() - t0;
    stats.wall_time_s = started.elapsed().as_secs_f64();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_is_refused_before_the_first_state() {
        let link = SimLink::new();
        assert_eq!(
            link.send(&MotorTargets::damping()),
            Err(LinkError::NoStateYet)
        );
        assert_eq!(link.stats().commands_refused, 1);
        assert!(link.take_command().is_none());
    }

    #[test]
    fn non_finite_targets_are_refused() {
        let link = SimLink::new();
        link.push_state(RobotState::default());
        let mut t = MotorTargets::damping();
        t.motors[7].kd = f32::NAN;
        assert_eq!(link.send(&t), Err(LinkError::NonFiniteTarget { slot: 7 }));
        assert!(link.take_command().is_none());
    }

    #[test]
    fn take_command_returns_each_new_command_once() {
        let link = SimLink::new();
        link.push_state(RobotState::default());
        link.send(&MotorTargets::zero_torque()).unwrap();
        link.send(&MotorTargets::damping()).unwrap();
        assert_eq!(link.take_command(), Some(MotorTargets::damping()));
        assert_eq!(link.take_command(), None);
        assert_eq!(link.latest_command(), Some(MotorTargets::damping()));
        assert_eq!(link.stats().commands_sent, 2);
    }
}
