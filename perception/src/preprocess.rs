//! Resize + normalise + patchify in one pass: each output pixel is
//! interpolated from the source, normalised, and written straight to its
//! place in the `[n_patches, P*P*3]` tensor. No intermediate image exists.
//!
//! Resize is bilinear with half-pixel centres and edge clamping, the
//! convention of OpenCV's `INTER_LINEAR` and of
//! `torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
//! antialias=False)`. It does not low-pass when shrinking (PIL's bilinear
//! does); a model trained on PIL-resized images sees slightly sharper inputs.

use tendon_core::time::MonoTime;

use crate::error::PerceptionError;
use crate::patch::PatchLayout;
use tendon_core::FrameError;
use tendon_core::{Frame, RgbView};

/// How a frame of another aspect ratio becomes a square policy input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Scale the whole frame to fit, centred, and fill the bars with
    /// `pad_rgb` (pixel values, normalised like the image). Nothing at the
    /// frame's edges is lost: the choice for a robot, whose hands are often
    /// near the edge of the view.
    Letterbox { pad_rgb: [u8; 3] },
    /// Scale the frame to cover the square and cut the centre out.
    CenterCrop,
}

/// Per-channel `(x / 255 - mean) / std`, as the vision encoder was trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// SigLIP / PaliGemma (and so pi0, OpenVLA's SigLIP branch): maps [0, 255] to [-1, 1].
    pub const SIGLIP: Normalization = Normalization {
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
    };
    /// torchvision's ImageNet statistics (ResNet, DINOv2, original ViT).
    pub const IMAGENET: Normalization = Normalization {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
}

/// What the policy's vision input looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreprocessConfig {
    /// Side of the square input image.
    pub input_size_px: usize,
    pub patch_px: usize,
    pub fit: Fit,
    pub normalization: Normalization,
}

impl Default for PreprocessConfig {
    /// 224 x 224 in 16 x 16 patches (196 x 768), letterboxed with black bars
    /// as openpi's `resize_with_pad` does, SigLIP normalisation.
    fn default() -> Self {
        PreprocessConfig {
            input_size_px: 224,
            patch_px: 16,
            fit: Fit::Letterbox { pad_rgb: [0, 0, 0] },
            normalization: Normalization::SIGLIP,
        }
    }
}

/// A `[n_patches, patch_len]` f32 tensor with the capture time of the frame
/// it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchTensor {
    pub capture_time: MonoTime,
    n_patches: usize,
    patch_len: usize,
    data: Vec<f32>,
}

impl PatchTensor {
    pub fn zeros(layout: &PatchLayout) -> PatchTensor {
        PatchTensor {
            capture_time: MonoTime::ZERO,
            n_patches: layout.n_patches(),
            patch_len: layout.patch_len(),
            data: vec![0.0; layout.len()],
        }
    }

    pub fn n_patches(&self) -> usize {
        self.n_patches
    }

    pub fn patch_len(&self) -> usize {
        self.patch_len
    }

    /// All patches, contiguous, patch after patch.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn patch(&self, index: usize) -> &[f32] {
        &self.data[index * self.patch_len..][..self.patch_len]
    }
}

/// Source sample positions for one output axis.
#[derive(Debug, Clone, Copy, Default)]
struct Tap {
    /// Index of the lower neighbour (times `stride` for x: a byte offset in a row).
    i0: usize,
    i1: usize,
    frac: f32,
}

/// How one output axis maps onto the source: outputs in `lo..hi` are
/// image, the rest padding. `taps[o - lo]` serves output `o`.
#[derive(Debug, Clone)]
struct AxisMap {
    lo: usize,
    hi: usize,
    taps: Vec<Tap>,
}

impl AxisMap {
    fn new(out_len: usize) -> AxisMap {
        AxisMap {
            lo: 0,
            hi: 0,
            taps: vec![Tap::default(); out_len],
        }
    }

    /// `resized_len` is the length the source axis is scaled to; `offset`
    /// places it on the output axis (positive: bars, negative: cropped).
    /// Writes into the preallocated `taps` (no allocation).
    fn compute(
        &mut self,
        src_len: usize,
        out_len: usize,
        resized_len: usize,
        offset: isize,
        stride: usize,
    ) {
        let ratio = src_len as f64 / resized_len as f64;
        self.lo = offset.max(0) as usize;
        self.hi = (offset + resized_len as isize).min(out_len as isize) as usize;
        let max_index = (src_len - 1) as f64;
        for o in self.lo..self.hi {
            let resized_index = (o as isize - offset) as f64;
            let s = ((resized_index + 0.5) * ratio - 0.5).clamp(0.0, max_index);
            let mut i0 = s.floor() as usize;
            let mut frac = (s - i0 as f64) as f32;
            // At the far edge (clamped) use the last two samples with weight 1
            // on the last, so that always i1 = i0 + 1 and the row kernel can
            // read both neighbours as one window.
            if i0 + 1 == src_len && src_len > 1 {
                i0 -= 1;
                frac = 1.0;
            }
            let i1 = (i0 + 1).min(src_len - 1);
            self.taps[o - self.lo] = Tap {
                i0: i0 * stride,
                i1: i1 * stride,
                frac,
            };
        }
    }

    /// Horizontal lerp of one RGB8 source row into `out` (`S * 3` f32), for
    /// the image columns `lo..hi` only.
    fn interpolate_row(&self, row: &[u8], out: &mut [f32]) {
        let image = &mut out[self.lo * 3..self.hi * 3];
        let taps = &self.taps[..self.hi - self.lo];
        if row.len() < 6 {
            // A one-pixel-wide source: every output is that pixel.
            for px in image.chunks_exact_mut(3) {
                for c in 0..3 {
                    px[c] = row[c] as f32;
                }
            }
            return;
        }
        for (t, px) in taps.iter().zip(image.chunks_exact_mut(3)) {
            // Both neighbours in one 6-byte window (`compute` makes i1 = i0 + 3),
            // one bounds check per pixel instead of four.
            let w = &row[t.i0..t.i0 + 6];
            for c in 0..3 {
                px[c] = w[c] as f32 + (w[c + 3] as f32 - w[c] as f32) * t.frac;
            }
        }
    }
}

/// Where the fused kernel writes: the patch tensor, or a plain `H x W x 3`
/// image (to inspect the resized frame, and to check the fused path).
#[derive(Clone, Copy)]
enum Dest {
    Patches,
    Hwc,
}

/// Resize, normalise and patchify, with every buffer allocated in `new`.
/// Reuse one `Preprocessor` per camera; a change of frame size recomputes its
/// tables in place.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    config: PreprocessConfig,
    layout: PatchLayout,
    pad_value: [f32; 3],
    pad_rgb: [u8; 3],
    src_size_px: (usize, usize),
    x_map: AxisMap,
    y_map: AxisMap,
    /// Two horizontally interpolated source rows (`S * 3` values each, raw
    /// pixel scale) and which source rows they hold.
    rows: [Vec<f32>; 2],
    row_ids: [usize; 2],
    /// `v * scale + bias` is `(v / 255 - mean) / std`; per channel, repeated
    /// over one patch-wide run of pixels.
    scale_run: Vec<f32>,
    bias_run: Vec<f32>,
}

impl Preprocessor {
    pub fn new(config: PreprocessConfig) -> Result<Preprocessor, PerceptionError> {
        if config.input_size_px == 0 {
            return Err(PerceptionError::ZeroSize {
                what: "the input size",
            });
        }
        let layout = PatchLayout::new(
            config.input_size_px,
            config.input_size_px,
            3,
            config.patch_px,
        )?;
        let n = config.normalization;
        for (channel, &std) in n.std.iter().enumerate() {
            if !(std.is_finite() && std > 0.0) {
                return Err(PerceptionError::BadStd { channel, std });
            }
        }
        let scale = [0, 1, 2].map(|c| 1.0 / (255.0 * n.std[c]));
        let bias = [0, 1, 2].map(|c| -n.mean[c] / n.std[c]);
        let pad_rgb = match config.fit {
            Fit::Letterbox { pad_rgb } => pad_rgb,
            Fit::CenterCrop => [0; 3],
        };
        let pad_value = [0, 1, 2].map(|c| pad_rgb[c] as f32 * scale[c] + bias[c]);
        let row_len = config.input_size_px * 3;
        let run = config.patch_px * 3;
        Ok(Preprocessor {
            config,
            layout,
            pad_value,
            pad_rgb,
            src_size_px: (0, 0),
            x_map: AxisMap::new(config.input_size_px),
            y_map: AxisMap::new(config.input_size_px),
            rows: [vec![0.0; row_len], vec![0.0; row_len]],
            row_ids: [usize::MAX; 2],
            scale_run: (0..run).map(|k| scale[k % 3]).collect(),
            bias_run: (0..run).map(|k| bias[k % 3]).collect(),
        })
    }

    pub fn config(&self) -> &PreprocessConfig {
        &self.config
    }

    pub fn layout(&self) -> &PatchLayout {
        &self.layout
    }

    /// A tensor of the right shape for [`Preprocessor::process`]; allocate it
    /// once and reuse it.
    pub fn new_output(&self) -> PatchTensor {
        PatchTensor::zeros(&self.layout)
    }

    /// Frame to patch tensor, stamped with the frame's capture time.
    pub fn process(&mut self, frame: &Frame, out: &mut PatchTensor) -> Result<(), PerceptionError> {
        self.patchify_into(frame.view(), &mut out.data)?;
        out.capture_time = frame.capture_time;
        Ok(())
    }

    /// Writes `[n_patches, patch_len]` into `out` (length `layout().len()`).
    pub fn patchify_into(
        &mut self,
        image: RgbView<'_>,
        out: &mut [f32],
    ) -> Result<(), PerceptionError> {
        self.run(image, out, Dest::Patches)
    }

    /// The resized, normalised image as `S x S x 3` (row-major) instead of
    /// patches.
    pub fn resize_normalize_into(
        &mut self,
        image: RgbView<'_>,
        out_hwc: &mut [f32],
    ) -> Result<(), PerceptionError> {
        self.run(image, out_hwc, Dest::Hwc)
    }

    fn run(
        &mut self,
        image: RgbView<'_>,
        out: &mut [f32],
        dest: Dest,
    ) -> Result<(), PerceptionError> {
        if out.len() != self.layout.len() {
            let s = self.config.input_size_px;
            return Err(PerceptionError::Frame(FrameError::BufferLength {
                what: "the output buffer",
                expected: self.layout.len(),
                actual: out.len(),
                detail: format!(
                    "{s} x {s} x 3 = {} patches of {}",
                    self.layout.n_patches(),
                    self.layout.patch_len()
                ),
            }));
        }
        let (w, h) = (image.width_px(), image.height_px());
        if self.src_size_px != (w, h) {
            self.plan(w, h);
        }
        let s = self.config.input_size_px;
        let run = self.config.patch_px * 3;
        let src = image.pixels();
        let row_bytes = w * 3;
        let Preprocessor {
            layout,
            pad_value,
            x_map,
            y_map,
            rows,
            row_ids,
            scale_run,
            bias_run,
            ..
        } = self;
        // Separable: each needed source row is interpolated horizontally once
        // (into `rows`, f32, bars pre-filled), then every output row is a
        // vertical lerp + normalise over contiguous runs, which vectorises.
        *row_ids = [usize::MAX; 2];
        for oy in 0..s {
            let offset = |gx: usize| match dest {
                Dest::Patches => layout.run_offset(oy, gx),
                Dest::Hwc => (oy * s) * 3 + gx * run,
            };
            if oy < y_map.lo || oy >= y_map.hi {
                for gx in 0..s * 3 / run {
                    for px in out[offset(gx)..][..run].chunks_exact_mut(3) {
                        px.copy_from_slice(pad_value);
                    }
                }
                continue;
            }
            let t = y_map.taps[oy - y_map.lo];
            if row_ids[0] != t.i0 {
                if row_ids[1] == t.i0 {
                    rows.swap(0, 1);
                    row_ids.swap(0, 1);
                } else {
                    x_map.interpolate_row(&src[t.i0 * row_bytes..][..row_bytes], &mut rows[0]);
                    row_ids[0] = t.i0;
                }
            }
            if row_ids[1] != t.i1 {
                x_map.interpolate_row(&src[t.i1 * row_bytes..][..row_bytes], &mut rows[1]);
                row_ids[1] = t.i1;
            }
            let fy = t.frac;
            let (top_row, bottom_row) = (&rows[0], &rows[1]);
            for gx in 0..s * 3 / run {
                let dst = &mut out[offset(gx)..][..run];
                let top = &top_row[gx * run..][..run];
                let bottom = &bottom_row[gx * run..][..run];
                // Zipped slices: no bounds checks, so this loop vectorises.
                let weights = scale_run.iter().zip(bias_run.iter());
                for (((d, &t), &b), (&scale, &bias)) in
                    dst.iter_mut().zip(top).zip(bottom).zip(weights)
                {
                    *d = (t + (b - t) * fy) * scale + bias;
                }
            }
        }
        Ok(())
    }

    /// Sample tables for a `w x h` source.
    fn plan(&mut self, w: usize, h: usize) {
        let s = self.config.input_size_px;
        let (resized_w, resized_h, off_x, off_y) = match self.config.fit {
            Fit::Letterbox { .. } => {
                let scale = (s as f64 / w as f64).min(s as f64 / h as f64);
                let rw = ((w as f64 * scale).round() as usize).clamp(1, s);
                let rh = ((h as f64 * scale).round() as usize).clamp(1, s);
                (rw, rh, ((s - rw) / 2) as isize, ((s - rh) / 2) as isize)
            }
            Fit::CenterCrop => {
                let scale = (s as f64 / w as f64).max(s as f64 / h as f64);
                let rw = ((w as f64 * scale).round() as usize).max(s);
                let rh = ((h as f64 * scale).round() as usize).max(s);
                (
                    rw,
                    rh,
                    -(((rw - s) / 2) as isize),
                    -(((rh - s) / 2) as isize),
                )
            }
        };
        self.x_map.compute(w, s, resized_w, off_x, 3);
        self.y_map.compute(h, s, resized_h, off_y, 1);
        // Bars in the interpolated rows hold the raw pad colour, so the
        // vertical pass normalises them like image pixels.
        for row in &mut self.rows {
            for (o, px) in row.chunks_exact_mut(3).enumerate() {
                if o < self.x_map.lo || o >= self.x_map.hi {
                    px.copy_from_slice(&self.pad_rgb.map(f32::from));
                }
            }
        }
        self.src_size_px = (w, h);
    }
}
