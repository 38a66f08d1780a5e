//! tendon-policy (being built).
