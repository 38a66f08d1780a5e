//! tendon-sim: the simulated Unitree G1. A MuJoCo world (`world`) with the
//! motor firmware's 1 kHz PD and an elastic band, an in-process `RobotLink`
//! for deterministic faster-than-real-time runs (`link`), an emulation of the
//! robot's own locomotion service (`loco`), the robot side of the DDS protocol
//! (`serve`), head-camera rendering (`render`, feature `render`) and
//! scripted scenarios with their judge (`scenario`); `balls` adds the
//! closed-loop demo's stand with seeded coloured balls.
//!
//! Needs libmujoco 3.17.0 and the menagerie G1 model: run
//! `scripts/install-sim.sh` once.

pub mod balls;
pub mod error;
pub mod link;
pub mod loco;
#[cfg(feature = "render")]
pub mod render;
pub mod scenario;
pub mod serve;
pub mod world;

pub use balls::{Ball, BallColour, BallLayout};
pub use error::SimError;
pub use link::{run_in_process, sim_now, RunStats, SimLink, CONTROL_PERIOD};
pub use loco::{LocoEmulator, LocoError};
#[cfg(feature = "render")]
pub use render::HeadCamera;
pub use scenario::{
    InProcessOptions, Phase, PhaseJudge, PhaseReport, PhaseSample, Scenario, ScenarioReport,
    Transport, STANDING_PELVIS_MIN_M,
};
pub use serve::{serve_dds, BandPolicy, ServeConfig, ServeSignals, ServeStats};
pub use world::{default_scene_path, ElasticBand, FirmwareStats, G1Sim, SimOptions};
