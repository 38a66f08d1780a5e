//! tendon-bridge: the Unitree G1 low-level protocol, byte-compatible with
//! Unitree's own SDKs. Messages (`hg`), their C-layout CRC (`crc`), the XCDR1
//! codec (`cdr`), the DDS transport (`dds`), request/response RPC over DDS
//! (`rpc`) with the loco and motion-switcher clients (`loco`), the controller
//! side `RobotLink` (`link`) and the robot side endpoint (`endpoint`).

// The XCDR1 codec lives in core (recordings use it too); `tendon_bridge::cdr` stays its path here.
pub use tendon_core::cdr;
pub mod crc;
pub mod dds;
pub mod endpoint;
pub mod hg;
pub mod link;
pub mod loco;
pub mod rpc;
