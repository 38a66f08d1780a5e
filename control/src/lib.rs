//! tendon-control: the G1 control loop. Plain algorithms — the low-level FSM
//! (`fsm`), the safety layer (`safety`), action-chunk blending (`blend`),
//! timing statistics (`timing`), waking on time (`wake`), a scripted chunk
//! producer (`producer`), the trip rule of high-level mode (`supervisor`) —
//! combine into one cycle (`controller`); `runtime` is the thin real-time
//! thread that runs it against any `RobotLink`, and `feeder` the thread that
//! feeds a producer's chunks into it.

pub mod arm_sdk;
pub mod blend;
pub mod controller;
pub mod feeder;
pub mod fsm;
pub mod producer;
pub mod runtime;
pub mod safety;
pub mod supervisor;
pub mod timing;
pub mod wake;

pub use arm_sdk::ArmRequest;
pub use controller::{CommandScope, Controller, ControllerConfig, CycleInputs, CycleOutput};
pub use feeder::{ChunkFeeder, FeederTiming};
pub use runtime::{ControlCommands, ControlLoop, LoopBody, RtConfig};
pub use supervisor::{SupervisorAction, TripSupervisor};
