//! Head-camera rendering: offscreen through EGL (Mesa llvmpipe when there is
//! no GPU), no display needed.
//!
//! The menagerie model has no camera, so a free camera follows `torso_link`
//! and sits where the G1's head-mounted RealSense D435 is in Unitree's URDF
//! (xyz 0.0576 0.0175 0.4299 in the torso frame, pitched 0.83 rad down).
//! The GL context is bound to the thread that created the `HeadCamera`:
//! create, render and drop it on one thread.

use mujoco_rs::prelude::*;
use mujoco_rs::renderer::MjRenderer;

use tendon_core::{Frame, MonoTime};

use crate::error::SimError;
use crate::world::G1Sim;

/// Camera position in the torso frame, m. A few cm in front of the URDF's
/// D435 origin, so the near plane is outside the head mesh.
const HEAD_CAMERA_POS_M: [f64; 3] = [0.09, 0.0175, 0.43];
/// Downward pitch of the D435 in Unitree's URDF, rad.
const HEAD_CAMERA_PITCH_RAD: f64 = 0.8307767;
/// Distance from the camera to its look-at point (sets only the orbit maths), m.
const LOOKAT_DISTANCE_M: f64 = 1.0;

/// A renderer for the head camera; reuse it for many frames (creating one
/// costs 0.5–1 s on llvmpipe).
pub struct HeadCamera {
    renderer: MjRenderer,
    width: usize,
    height: usize,
}

impl HeadCamera {
    /// Sizes up to the model's offscreen buffer (640×480 for the G1 scene).
    pub fn new(sim: &G1Sim, width: usize, height: usize) -> Result<HeadCamera, SimError> {
        let global = &sim.model().vis().global;
        let (max_width, max_height) = (global.offwidth as usize, global.offheight as usize);
        if width == 0 || height == 0 || width > max_width || height > max_height {
            return Err(SimError::RenderSize {
                width,
                height,
                max_width,
                max_height,
            });
        }
        let renderer = MjRenderer::builder()
            .width(width as u32)
            .height(height as u32)
            .camera(head_camera(sim))
            .build(sim.model())
            .map_err(|e| SimError::Render {
                detail: format!("{e:?}"),
            })?;
        Ok(HeadCamera {
            renderer,
            width,
            height,
        })
    }

    /// Renders the current state of `sim` from the head into `frame`,
    /// reusing its buffer (it is resized to this camera's size once), and
    /// stamps it with `capture_time`. Rendering reads the world; it never
    /// steps it.
    pub fn render_into(
        &mut self,
        sim: &mut G1Sim,
        capture_time: MonoTime,
        frame: &mut Frame,
    ) -> Result<(), SimError> {
        let err = |e| SimError::Render {
            detail: format!("{e:?}"),
        };
        self.renderer.set_camera(head_camera(sim));
        self.renderer.sync_data(sim.data_mut()).map_err(err)?;
        self.renderer.render().map_err(err)?;
        let rgb = self.renderer.rgb_flat().ok_or_else(|| SimError::Render {
            detail: "the renderer returned no RGB buffer".into(),
        })?;
        if rgb.len() != self.width * self.height * 3 {
            return Err(SimError::Render {
                detail: format!(
                    "the renderer returned {} bytes for {}x{} RGB",
                    rgb.len(),
                    self.width,
                    self.height
                ),
            });
        }
        frame.pixels.clear();
        frame.pixels.extend_from_slice(rgb);
        frame.width_px = self.width;
        frame.height_px = self.height;
        frame.format = tendon_core::PixelFormat::Rgb8;
        frame.capture_time = capture_time;
        Ok(())
    }

    /// Renders into a new frame (see `render_into`).
    pub fn render(&mut self, sim: &mut G1Sim, capture_time: MonoTime) -> Result<Frame, SimError> {
        let mut frame =
            Frame::black_rgb8(self.width, self.height).map_err(|e| SimError::Render {
                detail: e.to_string(),
            })?;
        self.render_into(sim, capture_time, &mut frame)?;
        Ok(frame)
    }

    /// The frame size this camera renders.
    pub fn size_px(&self) -> (usize, usize) {
        (self.width, self.height)
    }
}

/// A free camera at the head, looking where the D435 looks.
fn head_camera(sim: &G1Sim) -> MjvCamera {
    let (p, r) = sim.torso_pose();
    let rot = |v: [f64; 3]| {
        [
            r[0] * v[0] + r[1] * v[1] + r[2] * v[2],
            r[3] * v[0] + r[4] * v[1] + r[5] * v[2],
            r[6] * v[0] + r[7] * v[1] + r[8] * v[2],
        ]
    };
    let offset = rot(HEAD_CAMERA_POS_M);
    let eye = [p[0] + offset[0], p[1] + offset[1], p[2] + offset[2]];
    let (s, c) = HEAD_CAMERA_PITCH_RAD.sin_cos();
    let f = rot([c, 0.0, -s]);
    let mut cam = MjvCamera::new_free(sim.model());
    // A free camera sits at lookat − distance·(cos el cos az, cos el sin az, sin el).
    cam.lookat = [
        eye[0] + LOOKAT_DISTANCE_M * f[0],
        eye[1] + LOOKAT_DISTANCE_M * f[1],
        eye[2] + LOOKAT_DISTANCE_M * f[2],
    ];
    cam.distance = LOOKAT_DISTANCE_M;
    cam.azimuth = f[1].atan2(f[0]).to_degrees();
    cam.elevation = f[2].clamp(-1.0, 1.0).asin().to_degrees();
    cam
}

impl G1Sim {
    /// Renders one head-camera frame (at most 640×480), stamped with the
    /// simulation time. Builds a renderer per call; use `HeadCamera` for a
    /// stream of frames.
    pub fn render_head_camera(&mut self, width: usize, height: usize) -> Result<Frame, SimError> {
        let now = MonoTime::from_ns((self.sim_time() * 1e9).round() as u64);
        HeadCamera::new(self, width, height)?.render(self, now)
    }
}
