//! tendon-policy: the quantized transformer policy engine (see README.md).

pub mod error;
pub mod quant;
pub mod rng;

pub use error::{PolicyError, Result};
