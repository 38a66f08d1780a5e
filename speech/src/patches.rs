//! Spectrogram patch tokens: the log-mel cut into 16 × 16 (time × mel)
//! tiles, the audio counterpart of ViT's 16 × 16 image patches.
//!
//! Order: time-patch major, then mel-patch (low to high frequency); inside a
//! patch, row-major over (frame, mel). 80 mels give 5 patches per 16 frames
//! (160 ms). Trailing frames that do not fill a patch row are left out.

use crate::mel::{MelSpectrogram, N_MELS};

pub const PATCH_FRAMES: usize = 16;
pub const PATCH_MELS: usize = 16;
pub const PATCH_VALUES: usize = PATCH_FRAMES * PATCH_MELS;
pub const MEL_PATCHES: usize = N_MELS / PATCH_MELS;

/// Number of patches `patchify` produces for `n_frames` frames.
pub fn n_patches(n_frames: usize) -> usize {
    (n_frames / PATCH_FRAMES) * MEL_PATCHES
}

/// Writes `[n_patches, 256]` into `out` (cleared first; reuse it to avoid
/// allocating) and returns the number of patches.
pub fn patchify(mel: &MelSpectrogram, out: &mut Vec<f32>) -> usize {
    let n_time = mel.n_frames / PATCH_FRAMES;
    out.clear();
    out.reserve(n_time * MEL_PATCHES * PATCH_VALUES);
    for tp in 0..n_time {
        for fp in 0..MEL_PATCHES {
            for t in 0..PATCH_FRAMES {
                let frame = mel.frame(tp * PATCH_FRAMES + t);
                out.extend_from_slice(&frame[fp * PATCH_MELS..(fp + 1) * PATCH_MELS]);
            }
        }
    }
    n_time * MEL_PATCHES
}

/// Inverse of [`patchify`]: the spectrogram's first `n_patches / 5 * 16`
/// frames.
pub fn unpatchify(patches: &[f32]) -> MelSpectrogram {
    let n_patches = patches.len() / PATCH_VALUES;
    let n_time = n_patches / MEL_PATCHES;
    let n_frames = n_time * PATCH_FRAMES;
    let mut data = vec![0f32; n_frames * N_MELS];
    for (p, patch) in patches.chunks_exact(PATCH_VALUES).enumerate() {
        let (tp, fp) = (p / MEL_PATCHES, p % MEL_PATCHES);
        for (t, row) in patch.chunks_exact(PATCH_MELS).enumerate() {
            let frame = tp * PATCH_FRAMES + t;
            let start = frame * N_MELS + fp * PATCH_MELS;
            data[start..start + PATCH_MELS].copy_from_slice(row);
        }
    }
    MelSpectrogram { n_frames, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n_frames: usize) -> MelSpectrogram {
        MelSpectrogram {
            n_frames,
            data: (0..n_frames * N_MELS).map(|i| i as f32).collect(),
        }
    }

    #[test]
    fn unpatchify_gives_back_the_original() {
        let mel = numbered(64);
        let mut patches = Vec::new();
        assert_eq!(patchify(&mel, &mut patches), 4 * MEL_PATCHES);
        assert_eq!(patches.len(), 4 * MEL_PATCHES * PATCH_VALUES);
        assert_eq!(unpatchify(&patches), mel);
    }

    #[test]
    fn patch_layout_is_time_major_then_mel_and_row_major_inside() {
        let mel = numbered(32);
        let mut patches = Vec::new();
        patchify(&mel, &mut patches);
        // Patch 1 = frames 0..16, mels 16..32: first value is frame 0 mel 16.
        assert_eq!(patches[PATCH_VALUES], 16.0);
        // Its second row is frame 1, mel 16.
        assert_eq!(patches[PATCH_VALUES + PATCH_MELS], (N_MELS + 16) as f32);
        // Patch 5 starts the second time row: frame 16, mel 0.
        assert_eq!(patches[5 * PATCH_VALUES], (16 * N_MELS) as f32);
    }

    #[test]
    fn trailing_frames_short_of_a_patch_are_dropped() {
        let mel = numbered(40);
        let mut patches = Vec::new();
        assert_eq!(patchify(&mel, &mut patches), n_patches(40));
        assert_eq!(n_patches(40), 2 * MEL_PATCHES);
        let back = unpatchify(&patches);
        assert_eq!(back.n_frames, 32);
        assert_eq!(back.data, mel.data[..32 * N_MELS]);
    }
}
