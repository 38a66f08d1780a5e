//! Camera frames, shared by the sources that make them (perception's
//! cameras and recordings, the simulator's head camera) and the stages that
//! use them, so that no source has to depend on another's crate.

use crate::time::MonoTime;

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

/// A frame or image buffer that is not what it claims to be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("{what} is {width} x {height} pixels; both sides must be at least 1")]
    ZeroSize {
        what: &'static str,
        width: usize,
        height: usize,
    },
    #[error("{what} holds {actual} values, but {expected} were expected ({detail}); pass a buffer of the right length")]
    BufferLength {
        what: &'static str,
        expected: usize,
        actual: usize,
        detail: String,
    },
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
    ) -> Result<Frame, FrameError> {
        RgbView::new(width_px, height_px, &pixels)?;
        Ok(Frame {
            capture_time,
            width_px,
            height_px,
            format: PixelFormat::Rgb8,
            pixels,
        })
    }

    /// A black RGB8 frame, e.g. a buffer for a renderer to fill again and
    /// again without allocating.
    pub fn black_rgb8(width_px: usize, height_px: usize) -> Result<Frame, FrameError> {
        let len = width_px
            .checked_mul(height_px)
            .and_then(|n| n.checked_mul(3))
            .ok_or(FrameError::ZeroSize {
                what: "the RGB8 frame",
                width: width_px,
                height: height_px,
            })?;
        Frame::new_rgb8(MonoTime::ZERO, width_px, height_px, vec![0; len])
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

    /// Variance of all channel values; about 0 for a blank frame.
    pub fn pixel_variance(&self) -> f64 {
        let n = self.pixels.len().max(1) as f64;
        let mean = self.pixels.iter().map(|&v| v as f64).sum::<f64>() / n;
        self.pixels
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n
    }

    /// Binary PPM (P6), readable by almost any image tool.
    pub fn to_ppm(&self) -> Vec<u8> {
        let mut out = format!("P6\n{} {}\n255\n", self.width_px, self.height_px).into_bytes();
        out.extend_from_slice(&self.pixels);
        out
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
    ) -> Result<RgbView<'a>, FrameError> {
        if width_px == 0 || height_px == 0 {
            return Err(FrameError::ZeroSize {
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
            return Err(FrameError::BufferLength {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_views_check_their_size() {
        assert!(matches!(
            RgbView::new(0, 480, &[]),
            Err(FrameError::ZeroSize {
                width: 0,
                height: 480,
                ..
            })
        ));
        let err = RgbView::new(4, 4, &[0; 47]).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::BufferLength {
                    expected: 48,
                    actual: 47,
                    ..
                }
            ),
            "{err}"
        );
        assert!(Frame::new_rgb8(MonoTime::ZERO, 4, 4, vec![0; 49]).is_err());
        assert!(Frame::black_rgb8(0, 4).is_err());
        assert!(Frame::black_rgb8(usize::MAX, 4).is_err());
        let black = Frame::black_rgb8(4, 2).unwrap();
        assert_eq!(black.pixels.len(), 24);
        assert_eq!(black.pixel_variance(), 0.0);
        assert_eq!(&black.to_ppm()[..11], b"P6\n4 2\n255\n");
    }
}
