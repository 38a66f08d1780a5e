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

/// What a `RecordingLinkForTest` saw, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkEvent {
    /// A cycle began: the loop read the state at this time.
    CycleStart(tendon_core::MonoTime),
    /// The cycle's command: damping or not.
    Sent { damping: bool },
}

/// A fresh-state robot that records when each cycle starts and what it
/// sends, so a test can tell which cycle first reacted to an input.
pub struct RecordingLinkForTest {
    pub events: std::sync::Mutex<Vec<LinkEvent>>,
}

impl RecordingLinkForTest {
    pub fn new() -> Self {
        RecordingLinkForTest {
            events: std::sync::Mutex::new(Vec::with_capacity(4096)),
        }
    }
}

impl RobotLink for RecordingLinkForTest {
    fn latest_state(&self) -> Option<RobotState> {
        let now = Clock::Real.now();
        self.events.lock().unwrap().push(LinkEvent::CycleStart(now));
        Some(RobotState {
            mode_machine: 5,
            received_at: now,
            ..RobotState::default()
        })
    }
    fn send(&self, targets: &MotorTargets) -> Result<(), LinkError> {
        self.events.lock().unwrap().push(LinkEvent::Sent {
            damping: *targets == MotorTargets::damping(),
        });
        Ok(())
    }
    fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
}
