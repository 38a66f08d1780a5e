//! The G1 locomotion service's FSM ids (g1-protocol.md §6).

use std::fmt;
use std::str::FromStr;

/// An FSM id of the G1 locomotion service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsmId {
    /// 0: all motors unpowered.
    ZeroTorque,
    /// 1: damping, the safe sink state.
    Damp,
    /// 2: squat.
    Squat,
    /// 3: sit.
    Sit,
    /// 4: locked stand ("stand up").
    StandUp,
    /// 500: regular locomotion ("start"); 200 on older firmware.
    Start,
    /// 501: locomotion with the 3-DoF waist.
    StartWaist3Dof,
    /// 702: lie to stand.
    LieToStand,
    /// 706: squat to stand and back.
    SquatToStand,
    /// 801: walk-run; reads back as 802 on 29-DoF robots with ai_sport ≥ 8.6.
    WalkRun,
}

/// Every FSM, in id order, for help texts and exhaustive tests.
pub const ALL_FSM_IDS: [FsmId; 10] = [
    FsmId::ZeroTorque,
    FsmId::Damp,
    FsmId::Squat,
    FsmId::Sit,
    FsmId::StandUp,
    FsmId::Start,
    FsmId::StartWaist3Dof,
    FsmId::LieToStand,
    FsmId::SquatToStand,
    FsmId::WalkRun,
];

impl FsmId {
    /// The id sent in SetFsmId.
    pub const fn id(self) -> u32 {
        match self {
            FsmId::ZeroTorque => 0,
            FsmId::Damp => 1,
            FsmId::Squat => 2,
            FsmId::Sit => 3,
            FsmId::StandUp => 4,
            FsmId::Start => 500,
            FsmId::StartWaist3Dof => 501,
            FsmId::LieToStand => 702,
            FsmId::SquatToStand => 706,
            FsmId::WalkRun => 801,
        }
    }

    /// Accepts every id the robot may report, including the aliases
    /// 200 (old "start") and 802 (walk-run read back on newer firmware).
    pub const fn from_id(id: u32) -> Option<FsmId> {
        Some(match id {
            0 => FsmId::ZeroTorque,
            1 => FsmId::Damp,
            2 => FsmId::Squat,
            3 => FsmId::Sit,
            4 => FsmId::StandUp,
            500 | 200 => FsmId::Start,
            501 => FsmId::StartWaist3Dof,
            702 => FsmId::LieToStand,
            706 => FsmId::SquatToStand,
            801 | 802 => FsmId::WalkRun,
            _ => return None,
        })
    }

    /// The canonical command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            FsmId::ZeroTorque => "zero_torque",
            FsmId::Damp => "damp",
            FsmId::Squat => "squat",
            FsmId::Sit => "sit",
            FsmId::StandUp => "stand_up",
            FsmId::Start => "start",
            FsmId::StartWaist3Dof => "start_waist3",
            FsmId::LieToStand => "lie_to_stand",
            FsmId::SquatToStand => "squat_to_stand",
            FsmId::WalkRun => "walk_run",
        }
    }

    /// Arm actions (SetArmTask, arm_sdk) are allowed only in locomotion states.
    pub const fn allows_arm_actions(self) -> bool {
        matches!(self, FsmId::Start | FsmId::StartWaist3Dof | FsmId::WalkRun)
    }
}

impl fmt::Display for FsmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.id())
    }
}

/// A name or number that is not a G1 FSM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown FSM '{given}'; use one of: {}", valid_fsm_list())]
pub struct UnknownFsm {
    pub given: String,
}

fn valid_fsm_list() -> String {
    ALL_FSM_IDS
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for FsmId {
    type Err = UnknownFsm;

    /// Parses a canonical name, a common alias, or a numeric id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        if let Ok(id) = norm.parse::<u32>() {
            return FsmId::from_id(id).ok_or_else(|| UnknownFsm {
                given: s.to_string(),
            });
        }
        if let Some(f) = ALL_FSM_IDS.iter().find(|f| f.name() == norm) {
            return Ok(*f);
        }
        let alias = match norm.as_str() {
            "zero" | "zerotorque" => FsmId::ZeroTorque,
            "damping" => FsmId::Damp,
            "stand" | "standup" | "locked_stand" => FsmId::StandUp,
            "walk" | "locomotion" => FsmId::Start,
            "walkrun" | "run" => FsmId::WalkRun,
            _ => {
                return Err(UnknownFsm {
                    given: s.to_string(),
                })
            }
        };
        Ok(alias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fsm_round_trips_through_id_and_name() {
        for f in ALL_FSM_IDS {
            assert_eq!(FsmId::from_id(f.id()), Some(f));
            assert_eq!(f.name().parse::<FsmId>(), Ok(f));
            assert_eq!(f.id().to_string().parse::<FsmId>(), Ok(f));
        }
    }

    #[test]
    fn legacy_aliases_map_to_current_ids() {
        assert_eq!(FsmId::from_id(200), Some(FsmId::Start));
        assert_eq!(FsmId::from_id(802), Some(FsmId::WalkRun));
        assert_eq!("Stand Up".parse::<FsmId>(), Ok(FsmId::StandUp));
    }

    #[test]
    fn unknown_fsm_name_lists_valid_names() {
        let err = "fly".parse::<FsmId>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown FSM 'fly'"), "{msg}");
        assert!(
            msg.contains("damp (1)") && msg.contains("start (500)"),
            "{msg}"
        );
        assert!("9999".parse::<FsmId>().is_err());
    }

    #[test]
    fn arm_actions_only_in_locomotion() {
        assert!(FsmId::Start.allows_arm_actions());
        assert!(!FsmId::Damp.allows_arm_actions());
        assert!(!FsmId::StandUp.allows_arm_actions());
    }
}
