//! tendon-bridge: the Unitree G1 low-level protocol, byte-compatible with
//! Unitree's own SDKs. Messages (`hg`), their C-layout CRC (`crc`), the XCDR1
//! codec (`cdr`), the DDS transport (`dds`), request/response RPC over DDS
//! (`rpc`) with the loco and motion-switcher clients (`loco`), the controller
//! side `RobotLink` (`link`) and the robot side endpoint (`endpoint`).

pub mod cdr;
pub mod crc;
pub mod dds;
pub mod endpoint;
pub mod hg;
pub mod link;
pub mod loco;
pub mod rpc;
