//! The types every tendon crate shares: monotonic time, the robot's state and
//! targets in G1 terms, FSM ids, joint names with limits, and the `RobotLink`
//! trait that separates control from the transport (DDS robot or simulator).

pub mod action;
pub mod alloc_count;
pub mod cdr;
pub mod frame;
pub mod fsm;
pub mod joints;
pub mod latest;
pub mod link;
pub mod poses;
pub mod rng;
pub mod robot;
pub mod time;

pub use action::{ActionChunk, ChunkError, MAX_CHUNK_STEPS};
pub use frame::{Frame, FrameError, PixelFormat, RgbView};
pub use fsm::{FsmId, UnknownFsm};
pub use joints::{G1Variant, JointIndex, JointLimits};
pub use latest::Latest;
pub use link::{LinkError, LinkStats, RobotLink};
pub use robot::{
    ImuState, MotorState, MotorTarget, MotorTargets, RemoteButtons, RemoteState, RobotState,
    NUM_MOTOR_SLOTS,
};
pub use time::{Clock, MonoTime, SimClock};
