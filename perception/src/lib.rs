//! tendon-perception (being built).
