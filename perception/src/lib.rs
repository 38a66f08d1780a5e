//! tendon-perception: camera frames in, policy patch tokens out.
//!
//! - [`Frame`] and the [`FrameSource`] trait; sources: image files and
//!   folders ([`ImageSequenceSource`]), MCAP replay ([`McapFrameSource`],
//!   written by [`McapFrameWriter`]), V4L2/USB cameras through OpenCV
//!   (feature `opencv`). The simulator's head camera renders into the same
//!   `Frame` (`tendon_sim::HeadCamera`) without this crate.
//! - [`Preprocessor`]: bilinear resize (letterbox or centre crop),
//!   normalisation and ViT patchify fused in one pass, allocation-free per
//!   frame.
//! - [`PatchLayout`]: the patch order, patchify and unpatchify.

mod error;
mod files;
mod frame;
mod patch;
mod preprocess;
mod recording;

#[cfg(feature = "opencv")]
mod camera;

#[cfg(feature = "opencv")]
pub use camera::OpenCvCamera;
pub use error::PerceptionError;
pub use files::{load_rgb8, FrameTiming, ImageSequenceSource};
pub use frame::FrameSource;
pub use patch::PatchLayout;
pub use preprocess::{Fit, Normalization, PatchTensor, PreprocessConfig, Preprocessor};
pub use recording::{
    add_frame_channel, decode_compressed_message, decode_image_message, encode_frame_message,
    encode_image_message, encode_jpeg_message, FrameEncoding, McapFrameSource, McapFrameWriter,
    COMPRESSED_IMAGE_SCHEMA_NAME, IMAGE_SCHEMA_NAME,
};
pub use tendon_core::{Frame, FrameError, PixelFormat, RgbView};
