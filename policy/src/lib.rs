//! tendon-policy: the quantized transformer policy engine (see README.md).

pub mod config;
pub mod error;
pub mod model;
pub mod precision;
pub mod quant;
pub mod reference;
pub mod rng;
pub mod tensor;

pub use error::{PolicyError, Result};
pub mod action;
pub mod backend;
pub mod batch;
pub mod cli;
pub mod engine;
pub mod kernels;
pub mod pool;
pub mod runner;
pub mod speculative;
pub mod testmodel;
pub mod weights;
