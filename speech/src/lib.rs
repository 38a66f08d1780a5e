//! tendon-speech (being built).
