//! A stand-in for the robot, for the control crate's tests only.

#![allow(dead_code)]

use tendon_core::{Clock, Latest, LinkError, LinkStats, MotorTargets, RobotLink, RobotState};

/// Records the last command. Its state is either the one the test stores
/// (`state`), or, with `fresh_state`, that state re-stamped with the real
/// clock at every read (a robot that never goes stale).
pub struct FakeLinkForTest {
    pub state: Latest<RobotState>,
    pub sent: Latest<MotorTargets>,
    pub fresh_state: bool,
}

impl FakeLinkForTest {
    pub fn new(fresh_state: bool) -> Self {
        FakeLinkForTest {
            state: Latest::new(RobotState {
                mode_machine: 5,
                ..RobotState::default()
            }),
            sent: Latest::new(MotorTargets::default()),
            fresh_state,
        }
    }
}

impl RobotLink for FakeLinkForTest {
    fn latest_state(&self) -> Option<RobotState> {
        let mut s = self.state.load();
        if self.fresh_state {
            s.received_at = Clock::Real.now();
        }
        Some(s)
    }
    fn send(&self, targets: &MotorTargets) -> Result<(), LinkError> {
        self.sent.store(*targets);
        Ok(())
    }
    fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
}
