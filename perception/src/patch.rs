//! ViT patch layout: an `H x W x C` image (row-major, channels last) cut into
//! `P x P` patches.
//!
//! Patches are numbered row-major over the `H/P x W/P` grid. Inside a patch
//! the `P*P*C` values are ordered (py, px, channel), so the tensor is exactly
//! numpy's
//! `x.reshape(H/P, P, W/P, P, C).transpose(0, 2, 1, 3, 4).reshape(N, P*P*C)`,
//! the order of timm's and big_vision's patch embedding when its conv kernel
//! is flattened channels-last. With P = 16 and C = 3 each patch is 768 values.

use crate::error::PerceptionError;
use tendon_core::FrameError;

/// The geometry of a patch tensor. Construction checks that the patch size
/// divides the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchLayout {
    height_px: usize,
    width_px: usize,
    channels: usize,
    patch_px: usize,
}

impl PatchLayout {
    pub fn new(
        height_px: usize,
        width_px: usize,
        channels: usize,
        patch_px: usize,
    ) -> Result<PatchLayout, PerceptionError> {
        if height_px == 0 || width_px == 0 {
            return Err(PerceptionError::Frame(FrameError::ZeroSize {
                what: "the image to patchify",
                width: width_px,
                height: height_px,
            }));
        }
        if channels == 0 {
            return Err(PerceptionError::ZeroSize {
                what: "the channel count",
            });
        }
        if patch_px == 0 {
            return Err(PerceptionError::ZeroSize {
                what: "the patch size",
            });
        }
        for input_px in [height_px, width_px] {
            if input_px % patch_px != 0 {
                return Err(PerceptionError::PatchSizeNotDividing { input_px, patch_px });
            }
        }
        Ok(PatchLayout {
            height_px,
            width_px,
            channels,
            patch_px,
        })
    }

    pub fn height_px(&self) -> usize {
        self.height_px
    }

    pub fn width_px(&self) -> usize {
        self.width_px
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn patch_px(&self) -> usize {
        self.patch_px
    }

    pub fn grid_cols(&self) -> usize {
        self.width_px / self.patch_px
    }

    pub fn grid_rows(&self) -> usize {
        self.height_px / self.patch_px
    }

    pub fn n_patches(&self) -> usize {
        self.grid_rows() * self.grid_cols()
    }

    /// Values per patch: `P * P * C` (768 for 16 x 16 RGB).
    pub fn patch_len(&self) -> usize {
        self.patch_px * self.patch_px * self.channels
    }

    /// Values in the whole tensor (also in the `H x W x C` image).
    pub fn len(&self) -> usize {
        self.height_px * self.width_px * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Offset in the patch tensor of the `P * C` values that hold image row
    /// `y`, pixels `gx*P .. (gx+1)*P` (a run that is contiguous in both
    /// layouts).
    #[inline]
    pub(crate) fn run_offset(&self, y: usize, gx: usize) -> usize {
        let p = self.patch_px;
        ((y / p) * self.grid_cols() + gx) * self.patch_len() + (y % p) * p * self.channels
    }

    fn check(&self, what: &'static str, len: usize) -> Result<(), PerceptionError> {
        if len != self.len() {
            return Err(PerceptionError::Frame(FrameError::BufferLength {
                what,
                expected: self.len(),
                actual: len,
                detail: format!(
                    "{} x {} x {} image = {} patches of {}",
                    self.height_px,
                    self.width_px,
                    self.channels,
                    self.n_patches(),
                    self.patch_len()
                ),
            }));
        }
        Ok(())
    }

    /// `image_hwc` (H x W x C, row-major) into `patches` ([N, P*P*C]).
    pub fn patchify<T: Copy>(
        &self,
        image_hwc: &[T],
        patches: &mut [T],
    ) -> Result<(), PerceptionError> {
        self.check("the image", image_hwc.len())?;
        self.check("the patch buffer", patches.len())?;
        let run = self.patch_px * self.channels;
        for y in 0..self.height_px {
            let row =
                &image_hwc[y * self.width_px * self.channels..][..self.width_px * self.channels];
            for (gx, src) in row.chunks_exact(run).enumerate() {
                patches[self.run_offset(y, gx)..][..run].copy_from_slice(src);
            }
        }
        Ok(())
    }

    /// The inverse of [`PatchLayout::patchify`].
    pub fn unpatchify<T: Copy>(
        &self,
        patches: &[T],
        image_hwc: &mut [T],
    ) -> Result<(), PerceptionError> {
        self.check("the patch buffer", patches.len())?;
        self.check("the image", image_hwc.len())?;
        let run = self.patch_px * self.channels;
        for y in 0..self.height_px {
            let row = &mut image_hwc[y * self.width_px * self.channels..]
                [..self.width_px * self.channels];
            for (gx, dst) in row.chunks_exact_mut(run).enumerate() {
                dst.copy_from_slice(&patches[self.run_offset(y, gx)..][..run]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vit_224_has_196_patches_of_768() {
        let l = PatchLayout::new(224, 224, 3, 16).unwrap();
        assert_eq!(
            (l.n_patches(), l.patch_len(), l.len()),
            (196, 768, 196 * 768)
        );
    }

    #[test]
    fn patchify_then_unpatchify_gives_back_the_image_exactly() {
        // Non-square, and values that are not exactly representable sums, so a
        // lossy path would show.
        let l = PatchLayout::new(48, 80, 3, 16).unwrap();
        let image: Vec<f32> = (0..l.len())
            .map(|i| (i as f32 * 0.7311).sin() * 1e3)
            .collect();
        let mut patches = vec![0.0; l.len()];
        l.patchify(&image, &mut patches).unwrap();
        assert_ne!(patches, image, "patch order must differ from row order");
        let mut back = vec![f32::NAN; l.len()];
        l.unpatchify(&patches, &mut back).unwrap();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            image.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // and the other way round
        let mut again = vec![0.0; l.len()];
        l.patchify(&back, &mut again).unwrap();
        assert_eq!(again, patches);
    }

    #[test]
    fn first_patch_holds_the_top_left_block_in_py_px_channel_order() {
        let l = PatchLayout::new(32, 32, 3, 16).unwrap();
        // value encodes (y, x, c)
        let image: Vec<u32> = (0..32 * 32 * 3)
            .map(|i| {
                let (y, x, c) = (i / 96, (i / 3) % 32, i % 3);
                (y * 10_000 + x * 10 + c) as u32
            })
            .collect();
        let mut p = vec![0u32; l.len()];
        l.patchify(&image, &mut p).unwrap();
        assert_eq!(&p[..4], &[0, 1, 2, 10]); // (0,0,r) (0,0,g) (0,0,b) (0,1,r)
        assert_eq!(p[16 * 3], 10_000); // second row of patch 0 starts at (1, 0)
        assert_eq!(p[768], 160); // patch 1 is to the right: starts at (0, 16)
        assert_eq!(p[2 * 768], 160_000); // patch 2 starts the second patch row: (16, 0)
    }

    #[test]
    fn bad_geometry_and_buffers_are_errors() {
        assert!(matches!(
            PatchLayout::new(224, 220, 3, 16),
            Err(PerceptionError::PatchSizeNotDividing {
                input_px: 220,
                patch_px: 16
            })
        ));
        assert!(matches!(
            PatchLayout::new(0, 224, 3, 16),
            Err(PerceptionError::Frame(FrameError::ZeroSize { .. }))
        ));
        assert!(PatchLayout::new(224, 224, 3, 0).is_err());
        assert!(PatchLayout::new(224, 224, 0, 16).is_err());
        let l = PatchLayout::new(32, 32, 3, 16).unwrap();
        let err = l
            .patchify(&[0.0f32; 10], &mut [0.0; 32 * 32 * 3])
            .unwrap_err();
        assert!(
            err.to_string().contains("expected") || err.to_string().contains("3072"),
            "{err}"
        );
        assert!(matches!(
            err,
            PerceptionError::Frame(FrameError::BufferLength {
                expected: 3072,
                actual: 10,
                ..
            })
        ));
        assert!(l.unpatchify(&[0.0f32; 3072], &mut [0.0; 3071]).is_err());
    }
}
