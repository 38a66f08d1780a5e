//! The seeded generator for synthetic weights and fixed evaluation inputs
//! (shared by every crate: `tendon_core::rng`).

pub use tendon_core::rng::SplitMix64;
