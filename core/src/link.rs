//! `RobotLink`: the seam between control and whatever carries commands to the
//! motors (DDS to a real G1 or a simulator, or an in-process simulator).

use std::time::Duration;

use crate::robot::{MotorTargets, RobotState};
use crate::time::MonoTime;

/// Why a link refused to send.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("no LowState received yet; commands are sent only after the robot has reported its mode_machine (is the robot on, and the interface/domain right?)")]
    NoStateYet,
    #[error("target for motor slot {slot} is not finite (NaN/Inf); it was not sent")]
    NonFiniteTarget { slot: usize },
    #[error("the link is closed: {reason}")]
    Closed { reason: String },
}

/// Counters every link keeps, for monitors and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// States accepted (CRC and decode OK).
    pub states_received: u64,
    /// States dropped because their CRC did not match.
    pub crc_errors: u64,
    /// States dropped because they could not be decoded.
    pub decode_errors: u64,
    /// Commands handed to the transport.
    pub commands_sent: u64,
    /// Commands refused (no state yet, non-finite values).
    pub commands_refused: u64,
}

/// A connection to a robot (real or simulated).
///
/// Implementations must be cheap and non-blocking in `latest_state` and
/// `send`: both are called from the 500 Hz control thread.
pub trait RobotLink: Send + Sync {
    /// The newest accepted state, or `None` before the first one.
    fn latest_state(&self) -> Option<RobotState>;

    /// Hands targets to the transport. Fails without sending if no state has
    /// arrived yet or a value is not finite.
    fn send(&self, targets: &MotorTargets) -> Result<(), LinkError>;

    fn stats(&self) -> LinkStats;

    /// Age of the newest state at `now`; `None` before the first state.
    fn state_age(&self, now: MonoTime) -> Option<Duration> {
        self.latest_state()
            .map(|s| now.saturating_since(s.received_at))
    }

    /// True when no state arrived within `max_age` (or none at all).
    fn is_stale(&self, now: MonoTime, max_age: Duration) -> bool {
        self.state_age(now).is_none_or(|age| age > max_age)
    }
}
