//! Frames and the trait every camera source implements.

use tendon_core::time::MonoTime;

use crate::error::PerceptionError;

/// Layout of a frame's pixel bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// 3 bytes per pixel, R then G then B; rows top to bottom, no row padding.
    Rgb8,
}

impl PixelFormat {
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 => 3,
        }
    }

    /// The `encoding` string of ROS `sensor_msgs/Image` (and Foxglove `RawImage`).
    pub const fn ros_encoding(self) -> &'static str {
        match self {
            PixelFormat::Rgb8 => "rgb8",
        }
    }
}

/// One camera frame with its capture time on the monotonic (or simulated)
/// clock, so that later stages can tell how old the observation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub capture_time: MonoTime,
    pub width_px: usize,
    pub height_px: usize,
    pub format: PixelFormat,
    /// `width_px * height_px * format.bytes_per_pixel()` bytes.
    pub pixels: Vec<u8>,
}

impl Frame {
    /// Checks the size and the buffer length, so that a `Frame` is always
    /// consistent.
    pub fn new_rgb8(
        capture_time: MonoTime,
        width_px: usize,
        height_px: usize,
        pixels: Vec<u8>,
    ) -> Result<Frame, PerceptionError> {
        RgbView::new(width_px, height_px, &pixels)?;
        Ok(Frame {
            capture_time,
            width_px,
            height_px,
            format: PixelFormat::Rgb8,
            pixels,
        })
    }

    /// A borrowed view for preprocessing.
    pub fn view(&self) -> RgbView<'_> {
        match self.format {
            PixelFormat::Rgb8 => RgbView {
                width_px: self.width_px,
                height_px: self.height_px,
                pixels: &self.pixels,
            },
        }
    }
}

/// A borrowed RGB8 image, checked on construction. Preprocessing takes this
/// rather than a `Frame`, so a renderer's or camera's own buffer can be fed
/// without a copy.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    width_px: usize,
    height_px: usize,
    pixels: &'a [u8],
}

impl<'a> RgbView<'a> {
    pub fn new(
        width_px: usize,
        height_px: usize,
        pixels: &'a [u8],
    ) -> Result<RgbView<'a>, PerceptionError> {
        if width_px == 0 || height_px == 0 {
            return Err(PerceptionError::ZeroSizeImage {
                what: "the RGB8 image",
                width: width_px,
                height: height_px,
            });
        }
        let expected = width_px
            .checked_mul(height_px)
            .and_then(|n| n.checked_mul(3))
            .unwrap_or(usize::MAX);
        if pixels.len() != expected {
            return Err(PerceptionError::BufferLength {
                what: "the RGB8 pixel buffer",
                expected,
                actual: pixels.len(),
                detail: format!("{width_px} x {height_px} pixels x 3 bytes"),
            });
        }
        Ok(RgbView {
            width_px,
            height_px,
            pixels,
        })
    }

    pub fn width_px(&self) -> usize {
        self.width_px
    }

    pub fn height_px(&self) -> usize {
        self.height_px
    }

    pub fn pixels(&self) -> &'a [u8] {
        self.pixels
    }
}

/// A stream of frames: image files, a recording, a simulator or a camera.
pub trait FrameSource {
    /// The next frame; `Ok(None)` once a finite source is exhausted. A live
    /// camera blocks until its next frame.
    fn next_frame(&mut self) -> Result<Option<Frame>, PerceptionError>;
}
