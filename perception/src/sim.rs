//! Frames from the simulated G1's head camera (feature `sim`).

use std::time::Duration;

use tendon_core::time::MonoTime;
use tendon_sim::{G1Sim, HeadCamera};

use crate::error::PerceptionError;
use crate::frame::{Frame, FrameSource};

/// Owns a [`G1Sim`] and renders its head camera at a fixed frame rate: each
/// `next_frame` advances physics by one frame period, then renders. Frames
/// are stamped with simulation time. The renderer's GL context belongs to the
/// thread that created the source; keep it there.
pub struct HeadCameraSource {
    sim: G1Sim,
    camera: HeadCamera,
    frame_period: Duration,
}

impl HeadCameraSource {
    /// `width_px x height_px` up to the scene's 640x480 offscreen buffer.
    pub fn new(
        sim: G1Sim,
        width_px: usize,
        height_px: usize,
        frame_rate_hz: f64,
    ) -> Result<HeadCameraSource, PerceptionError> {
        if !(frame_rate_hz.is_finite() && frame_rate_hz > 0.0) {
            return Err(PerceptionError::BadFrameRate { frame_rate_hz });
        }
        let camera =
            HeadCamera::new(&sim, width_px, height_px).map_err(|e| PerceptionError::Camera {
                detail: format!("sim head camera: {e}"),
            })?;
        Ok(HeadCameraSource {
            sim,
            camera,
            frame_period: Duration::from_secs_f64(1.0 / frame_rate_hz),
        })
    }

    /// The simulator, to send commands between frames.
    pub fn sim_mut(&mut self) -> &mut G1Sim {
        &mut self.sim
    }
}

impl FrameSource for HeadCameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, PerceptionError> {
        self.sim.step_for(self.frame_period.as_secs_f64());
        let image = self
            .camera
            .render(&mut self.sim)
            .map_err(|e| PerceptionError::Camera {
                detail: format!("sim head camera: {e}"),
            })?;
        let capture_time = MonoTime::from_ns((self.sim.sim_time() * 1e9).round() as u64);
        Frame::new_rgb8(capture_time, image.width, image.height, image.data).map(Some)
    }
}
