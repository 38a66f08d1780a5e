//! The trait every camera source implements. `Frame` itself lives in
//! `tendon_core`, so that the simulator renders into it without depending
//! on this crate.

use tendon_core::Frame;

use crate::error::PerceptionError;

/// A stream of frames: image files, a recording, a simulator or a camera.
pub trait FrameSource {
    /// The next frame; `Ok(None)` once a finite source is exhausted. A live
    /// camera blocks until its next frame.
    fn next_frame(&mut self) -> Result<Option<Frame>, PerceptionError>;
}
