//! What happens about a safety trip beyond the loop's own damping. In
//! low-level mode the loop's damping is the whole answer. In high-level mode
//! the robot's own locomotion owns the legs: the safety layer has already
//! handed the arms back (blend weight 0), and the locomotion must be asked
//! for its damping state too, once per trip. This is that rule, as a plain
//! type the daemon polls with the loop's status.

use tendon_core::MonoTime;

use crate::controller::CommandScope;
use crate::safety::{Trip, TripCause};

/// An action the supervisor asks the daemon to take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SupervisorAction {
    /// Request the locomotion's damp state (FSM 1) over the loco service.
    LocoDamp { cause: TripCause },
}

/// Turns each new trip into at most one action.
#[derive(Debug, Clone)]
pub struct TripSupervisor {
    scope: CommandScope,
    handled: Option<MonoTime>,
}

impl TripSupervisor {
    pub fn new(scope: CommandScope) -> Self {
        TripSupervisor {
            scope,
            handled: None,
        }
    }

    /// Feeds the loop's latched trip (its `ControlStatus::tripped`); returns
    /// the action for a trip not seen before.
    pub fn on_status(&mut self, tripped: Option<Trip>) -> Option<SupervisorAction> {
        let trip = tripped?;
        if self.handled == Some(trip.at) {
            return None;
        }
        self.handled = Some(trip.at);
        match self.scope {
            CommandScope::WholeBody => None,
            CommandScope::UpperBody => Some(SupervisorAction::LocoDamp { cause: trip.cause }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trip(at_ms: u64, cause: TripCause) -> Option<Trip> {
        Some(Trip {
            at: MonoTime::from_ns(at_ms * 1_000_000),
            cause,
            value: 0.0,
            slot: None,
        })
    }

    #[test]
    fn upper_body_trip_asks_for_loco_damp_once_per_trip() {
        let mut s = TripSupervisor::new(CommandScope::UpperBody);
        assert_eq!(s.on_status(None), None);
        assert_eq!(
            s.on_status(trip(10, TripCause::ChunkExpired)),
            Some(SupervisorAction::LocoDamp {
                cause: TripCause::ChunkExpired
            })
        );
        // Latched: the same trip, polled again, is not acted on twice.
        assert_eq!(s.on_status(trip(10, TripCause::ChunkExpired)), None);
        assert_eq!(s.on_status(None), None);
        // After a reset, a new trip is.
        assert_eq!(
            s.on_status(trip(50, TripCause::EStop)),
            Some(SupervisorAction::LocoDamp {
                cause: TripCause::EStop
            })
        );
    }

    #[test]
    fn whole_body_trip_needs_nothing_beyond_the_loops_damping() {
        let mut s = TripSupervisor::new(CommandScope::WholeBody);
        assert_eq!(s.on_status(trip(10, TripCause::StaleState)), None);
        assert_eq!(s.on_status(trip(20, TripCause::EStop)), None);
    }
}
