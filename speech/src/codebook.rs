//! Audio codebook: k-means vector quantisation of log-mel "bundles" (2 to 8
//! consecutive frames, 20–80 ms) into discrete token ids for the policy.
//!
//! Training is k-means++ seeding then Lloyd iterations, deterministic for a
//! given seed. The file format is little-endian:
//!
//! ```text
//! b"TNDNCBK1" | u32 version (1) | u32 k | u32 bundle_frames | u32 n_mels
//! | k × bundle_frames × n_mels f32 centroids | u32 FNV-1a of all bytes before it
//! ```

use std::path::{Path, PathBuf};

use tendon_core::rng::SplitMix64;

use crate::mel::N_MELS;

const MAGIC: &[u8; 8] = b"TNDNCBK1";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 * 4;
pub const MIN_BUNDLE_FRAMES: usize = 2;
pub const MAX_BUNDLE_FRAMES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CodebookError {
    #[error("bundle of {0} frames is outside 2..=8")]
    BundleFrames(usize),
    #[error("a codebook needs at least one centroid (k = 0)")]
    ZeroK,
    #[error(
        "{n_bundles} bundles of training audio cannot train {k} centroids; give more audio or \
         a smaller k"
    )]
    TooLittleData { n_bundles: usize, k: usize },
    #[error("cannot read codebook '{path}'")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write codebook '{path}'")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a tendon codebook (bad magic); train one with `tendon models train-codebook`")]
    BadMagic,
    #[error("codebook version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error(
        "codebook is {actual} bytes, but its header (k {k}, bundle {bundle_frames}, {n_mels} \
         mels) needs {expected}; the file is truncated or corrupt, retrain it"
    )]
    Size {
        k: usize,
        bundle_frames: usize,
        n_mels: usize,
        expected: usize,
        actual: usize,
    },
    #[error("codebook checksum mismatch (stored {stored:#010x}, computed {computed:#010x}); the file is corrupt, retrain it")]
    Checksum { stored: u32, computed: u32 },
    #[error("codebook has {0} mels; this build computes {N_MELS}")]
    Mels(usize),
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    pub k: usize,
    pub bundle_frames: usize,
    /// `k × bundle_frames × N_MELS`, row-major.
    pub centroids: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainReport {
    pub n_bundles: usize,
    /// Mean squared error per value after seeding and after training.
    pub seeded_mse: f32,
    pub trained_mse: f32,
    pub iterations: usize,
}

impl Codebook {
    pub fn dim(&self) -> usize {
        self.bundle_frames * N_MELS
    }

    /// Trains on frame-major log-mel values (`N_MELS` per frame), cut into
    /// non-overlapping bundles of `bundle_frames`.
    pub fn train(
        mel_frames: &[f32],
        bundle_frames: usize,
        k: usize,
        max_iterations: usize,
        seed: u64,
    ) -> Result<(Self, TrainReport), CodebookError> {
        if !(MIN_BUNDLE_FRAMES..=MAX_BUNDLE_FRAMES).contains(&bundle_frames) {
            return Err(CodebookError::BundleFrames(bundle_frames));
        }
        if k == 0 {
            return Err(CodebookError::ZeroK);
        }
        let dim = bundle_frames * N_MELS;
        let data: Vec<&[f32]> = mel_frames.chunks_exact(dim).collect();
        if data.len() < k {
            return Err(CodebookError::TooLittleData {
                n_bundles: data.len(),
                k,
            });
        }
        // k-means++: each new seed is drawn with probability proportional to
        // its squared distance from the nearest seed so far.
        let mut rng = SplitMix64::new(seed);
        let mut centroids = Vec::with_capacity(k * dim);
        centroids.extend_from_slice(data[(rng.next_u64() % data.len() as u64) as usize]);
        let mut nearest: Vec<f32> = data.iter().map(|x| sq_dist(x, &centroids[..dim])).collect();
        for _ in 1..k {
            let total: f64 = nearest.iter().map(|&d| f64::from(d)).sum();
            let pick = if total > 0.0 {
                let mut r = rng.next_f64() * total;
                nearest
                    .iter()
                    .position(|&d| {
                        r -= f64::from(d);
                        r <= 0.0
                    })
                    .unwrap_or(data.len() - 1)
            } else {
                (rng.next_u64() % data.len() as u64) as usize
            };
            let start = centroids.len();
            centroids.extend_from_slice(data[pick]);
            for (n, x) in nearest.iter_mut().zip(&data) {
                *n = n.min(sq_dist(x, &centroids[start..start + dim]));
            }
        }
        let mut book = Self {
            k,
            bundle_frames,
            centroids,
        };
        let n_values = (data.len() * dim) as f32;
        let seeded_mse = nearest.iter().sum::<f32>() / n_values;

        let mut assign = vec![usize::MAX; data.len()];
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        let mut iterations = 0;
        let mut mse = seeded_mse;
        for _ in 0..max_iterations {
            iterations += 1;
            let mut changed = 0;
            let mut total = 0f32;
            for (a, x) in assign.iter_mut().zip(&data) {
                let (id, d) = book.nearest(x);
                total += d;
                if *a != id {
                    *a = id;
                    changed += 1;
                }
            }
            mse = total / n_values;
            if changed == 0 {
                break;
            }
            sums.fill(0.0);
            counts.fill(0);
            for (&a, x) in assign.iter().zip(&data) {
                counts[a] += 1;
                for (s, &v) in sums[a * dim..(a + 1) * dim].iter_mut().zip(*x) {
                    *s += f64::from(v);
                }
            }
            for c in 0..k {
                // An empty cluster keeps its centroid.
                if counts[c] > 0 {
                    for (dst, &s) in book.centroids[c * dim..(c + 1) * dim]
                        .iter_mut()
                        .zip(&sums[c * dim..(c + 1) * dim])
                    {
                        *dst = (s / counts[c] as f64) as f32;
                    }
                }
            }
        }
        Ok((
            book,
            TrainReport {
                n_bundles: data.len(),
                seeded_mse,
                trained_mse: mse,
                iterations,
            },
        ))
    }

    /// The closest centroid and its squared distance.
    pub fn nearest(&self, bundle: &[f32]) -> (usize, f32) {
        self.centroids
            .chunks_exact(self.dim())
            .map(|c| sq_dist(bundle, c))
            .enumerate()
            .fold(
                (0, f32::INFINITY),
                |best, (i, d)| if d < best.1 { (i, d) } else { best },
            )
    }

    /// Token ids for frame-major log-mel frames, one per whole bundle.
    pub fn encode(&self, mel_frames: &[f32], out: &mut Vec<u32>) {
        out.clear();
        out.extend(
            mel_frames
                .chunks_exact(self.dim())
                .map(|b| self.nearest(b).0 as u32),
        );
    }

    /// Mean squared quantisation error per value.
    pub fn mse(&self, mel_frames: &[f32]) -> f32 {
        let bundles = mel_frames.chunks_exact(self.dim());
        let n = bundles.len() * self.dim();
        bundles.map(|b| self.nearest(b).1).sum::<f32>() / n as f32
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.centroids.len() * 4 + 4);
        out.extend_from_slice(MAGIC);
        for v in [
            VERSION,
            self.k as u32,
            self.bundle_frames as u32,
            N_MELS as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for c in &self.centroids {
            out.extend_from_slice(&c.to_le_bytes());
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodebookError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(CodebookError::BadMagic);
        }
        let u32_at = |o: usize| {
            bytes
                .get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let (Some(version), Some(k), Some(bundle_frames), Some(n_mels)) =
            (u32_at(8), u32_at(12), u32_at(16), u32_at(20))
        else {
            return Err(CodebookError::Size {
                k: 0,
                bundle_frames: 0,
                n_mels: 0,
                expected: HEADER_BYTES + 4,
                actual: bytes.len(),
            });
        };
        if version != VERSION as usize {
            return Err(CodebookError::Version(version as u32));
        }
        let expected = k
            .checked_mul(bundle_frames)
            .and_then(|n| n.checked_mul(n_mels))
            .and_then(|n| n.checked_mul(4))
            .map(|n| n + HEADER_BYTES + 4);
        if expected != Some(bytes.len()) {
            return Err(CodebookError::Size {
                k,
                bundle_frames,
                n_mels,
                expected: expected.unwrap_or(usize::MAX),
                actual: bytes.len(),
            });
        }
        let body = &bytes[..bytes.len() - 4];
        let stored = u32_at(bytes.len() - 4).expect("length checked") as u32;
        let computed = fnv1a(body);
        if stored != computed {
            return Err(CodebookError::Checksum { stored, computed });
        }
        if n_mels != N_MELS {
            return Err(CodebookError::Mels(n_mels));
        }
        if k == 0 {
            return Err(CodebookError::ZeroK);
        }
        if !(MIN_BUNDLE_FRAMES..=MAX_BUNDLE_FRAMES).contains(&bundle_frames) {
            return Err(CodebookError::BundleFrames(bundle_frames));
        }
        let centroids = body[HEADER_BYTES..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            k,
            bundle_frames,
            centroids,
        })
    }

    pub fn save(&self, path: &Path) -> Result<(), CodebookError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| CodebookError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Self, CodebookError> {
        let bytes = std::fs::read(path).map_err(|source| CodebookError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames drawn around `n_clusters` distinct bundle patterns plus noise.
    fn clustered(n_bundles: usize, bundle: usize, n_clusters: usize) -> Vec<f32> {
        let mut rng = SplitMix64::new(7);
        let dim = bundle * N_MELS;
        let centres: Vec<f32> = (0..n_clusters * dim)
            .map(|_| rng.next_f64() as f32 * 4.0 - 2.0)
            .collect();
        (0..n_bundles)
            .flat_map(|i| {
                let c = i % n_clusters;
                centres[c * dim..(c + 1) * dim].to_vec()
            })
            .map(|v| v + (rng.next_f64() as f32 - 0.5) * 0.1)
            .collect()
    }

    #[test]
    fn kmeans_reduces_distortion_and_finds_the_clusters() {
        let data = clustered(400, 4, 8);
        let (book, report) = Codebook::train(&data, 4, 8, 50, 1).unwrap();
        assert!(report.trained_mse <= report.seeded_mse);
        // With 8 true clusters and noise of variance 0.1^2/12, the error
        // after training is the noise alone.
        assert!(report.trained_mse < 0.01, "{report:?}");
        let (one, _) = Codebook::train(&data, 4, 1, 50, 1).unwrap();
        assert!(book.mse(&data) < one.mse(&data) / 50.0);
        let mut ids = Vec::new();
        book.encode(&data, &mut ids);
        assert_eq!(ids.len(), 400);
        // Bundles of the same true cluster share a token.
        for i in 8..400 {
            assert_eq!(ids[i], ids[i % 8]);
        }
        assert!(ids.iter().all(|&id| (id as usize) < book.k));
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let data = clustered(100, 2, 5);
        let a = Codebook::train(&data, 2, 6, 20, 9).unwrap().0;
        let b = Codebook::train(&data, 2, 6, 20, 9).unwrap().0;
        assert_eq!(a, b);
    }

    #[test]
    fn bad_training_arguments_are_errors() {
        let data = clustered(10, 2, 2);
        assert!(matches!(
            Codebook::train(&data, 1, 2, 5, 0),
            Err(CodebookError::BundleFrames(1))
        ));
        assert!(matches!(
            Codebook::train(&data, 9, 2, 5, 0),
            Err(CodebookError::BundleFrames(9))
        ));
        assert!(matches!(
            Codebook::train(&data, 2, 0, 5, 0),
            Err(CodebookError::ZeroK)
        ));
        assert!(matches!(
            Codebook::train(&data, 2, 11, 5, 0),
            Err(CodebookError::TooLittleData { .. })
        ));
    }

    #[test]
    fn save_load_round_trip_and_corrupt_files() {
        let data = clustered(60, 3, 4);
        let book = Codebook::train(&data, 3, 4, 10, 3).unwrap().0;
        let path = std::env::temp_dir().join(format!("tendon-cb-{}.bin", std::process::id()));
        book.save(&path).unwrap();
        assert_eq!(Codebook::load(&path).unwrap(), book);
        std::fs::remove_file(&path).unwrap();

        let bytes = book.to_bytes();
        assert!(matches!(
            Codebook::from_bytes(&bytes[..bytes.len() - 7]),
            Err(CodebookError::Size { .. })
        ));
        assert!(matches!(
            Codebook::from_bytes(&bytes[..10]),
            Err(CodebookError::Size { .. })
        ));
        let mut flipped = bytes.clone();
        flipped[HEADER_BYTES + 5] ^= 0x40;
        assert!(matches!(
            Codebook::from_bytes(&flipped),
            Err(CodebookError::Checksum { .. })
        ));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        let err = Codebook::from_bytes(&magic).unwrap_err();
        assert!(err.to_string().contains("train-codebook"), "{err}");
        assert!(matches!(
            Codebook::load(Path::new("/nonexistent/cb.bin")),
            Err(CodebookError::Read { .. })
        ));
    }
}
