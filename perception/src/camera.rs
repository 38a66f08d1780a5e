//! V4L2/USB cameras through OpenCV's videoio (feature `opencv`).

use opencv::core::Mat;
use opencv::prelude::*;
use opencv::{imgproc, videoio};
use tendon_core::time::MonoTime;

use crate::error::PerceptionError;
use crate::frame::FrameSource;
use tendon_core::Frame;

fn cv_err(what: &str, e: opencv::Error) -> PerceptionError {
    PerceptionError::Camera {
        detail: format!("{what}: {e}"),
    }
}

/// A V4L2 camera (`/dev/video<index>`). Each frame is stamped on the
/// monotonic clock when `grab` returns, i.e. after the driver delivered it;
/// the exposure happened up to one frame period earlier.
pub struct OpenCvCamera {
    capture: videoio::VideoCapture,
    bgr: Mat,
    rgb: Mat,
}

impl OpenCvCamera {
    /// Opens `/dev/video<index>` through the V4L2 backend and asks for
    /// `width_px x height_px` at `frame_rate_hz` (the driver may pick the
    /// nearest mode it supports; frames report their real size).
    pub fn open(
        index: i32,
        width_px: usize,
        height_px: usize,
        frame_rate_hz: f64,
    ) -> Result<OpenCvCamera, PerceptionError> {
        let mut capture = videoio::VideoCapture::new(index, videoio::CAP_V4L2)
            .map_err(|e| cv_err("opening the camera", e))?;
        if !capture
            .is_opened()
            .map_err(|e| cv_err("opening the camera", e))?
        {
            return Err(PerceptionError::Camera {
                detail: format!(
                    "cannot open /dev/video{index}; check that the camera is plugged in and that this user is in the 'video' group"
                ),
            });
        }
        for (prop, value) in [
            (videoio::CAP_PROP_FRAME_WIDTH, width_px as f64),
            (videoio::CAP_PROP_FRAME_HEIGHT, height_px as f64),
            (videoio::CAP_PROP_FPS, frame_rate_hz),
        ] {
            capture
                .set(prop, value)
                .map_err(|e| cv_err("configuring the camera", e))?;
        }
        Ok(OpenCvCamera {
            capture,
            bgr: Mat::default(),
            rgb: Mat::default(),
        })
    }
}

impl FrameSource for OpenCvCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, PerceptionError> {
        if !self
            .capture
            .grab()
            .map_err(|e| cv_err("grabbing a frame", e))?
        {
            return Err(PerceptionError::Camera {
                detail: "the camera delivered no frame (unplugged, or in use by another process?)"
                    .into(),
            });
        }
        let capture_time = MonoTime::now_monotonic();
        self.capture
            .retrieve(&mut self.bgr, 0)
            .map_err(|e| cv_err("retrieving a frame", e))?;
        imgproc::cvt_color_def(&self.bgr, &mut self.rgb, imgproc::COLOR_BGR2RGB)
            .map_err(|e| cv_err("converting BGR to RGB", e))?;
        let (width_px, height_px) = (self.rgb.cols() as usize, self.rgb.rows() as usize);
        let pixels = self
            .rgb
            .data_bytes()
            .map_err(|e| cv_err("reading the frame's pixels", e))?
            .to_vec();
        Ok(Some(Frame::new_rgb8(
            capture_time,
            width_px,
            height_px,
            pixels,
        )?))
    }
}
