//! Frames from PNG/JPEG files: a list of files, or every image in a folder.

use std::path::{Path, PathBuf};

use tendon_core::time::MonoTime;

use crate::error::PerceptionError;
use crate::frame::FrameSource;
use tendon_core::Frame;

/// Timestamps for sources that have none of their own: frame `i` was
/// captured at `start + i / frame_rate_hz`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTiming {
    pub start: MonoTime,
    pub frame_rate_hz: f64,
}

impl FrameTiming {
    pub fn new(start: MonoTime, frame_rate_hz: f64) -> Result<FrameTiming, PerceptionError> {
        if !(frame_rate_hz.is_finite() && frame_rate_hz > 0.0) {
            return Err(PerceptionError::BadFrameRate { frame_rate_hz });
        }
        Ok(FrameTiming {
            start,
            frame_rate_hz,
        })
    }

    /// Computed from the index (not by accumulating a period), so that long
    /// sequences do not drift by rounding.
    pub fn capture_time(&self, index: u64) -> MonoTime {
        let offset_ns = (index as f64 * 1e9 / self.frame_rate_hz).round() as u64;
        MonoTime::from_ns(self.start.ns.saturating_add(offset_ns))
    }
}

/// Decodes image files one per `next_frame`, in order. Greyscale and RGBA
/// files are converted to RGB8 (alpha dropped).
#[derive(Debug)]
pub struct ImageSequenceSource {
    paths: Vec<PathBuf>,
    next_index: usize,
    timing: FrameTiming,
}

impl ImageSequenceSource {
    /// The given files, in the given order.
    pub fn from_files(paths: Vec<PathBuf>, timing: FrameTiming) -> ImageSequenceSource {
        ImageSequenceSource {
            paths,
            next_index: 0,
            timing,
        }
    }

    /// Every `.png`, `.jpg` and `.jpeg` file (any case) directly inside
    /// `folder`, sorted by file name bytewise. Name frames with zero-padded
    /// numbers (`frame_0001.png`) so that this is capture order. Other files
    /// are ignored.
    pub fn from_folder(
        folder: &Path,
        timing: FrameTiming,
    ) -> Result<ImageSequenceSource, PerceptionError> {
        let io_err = |source| PerceptionError::Io {
            path: folder.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(folder).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            if path.is_file() && is_image_file(&path) {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(PerceptionError::EmptyFolder {
                path: folder.to_path_buf(),
            });
        }
        paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        Ok(ImageSequenceSource::from_files(paths, timing))
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| {
            let e = e.to_ascii_lowercase();
            e == "png" || e == "jpg" || e == "jpeg"
        })
        .unwrap_or(false)
}

/// Decodes one PNG or JPEG file into an RGB8 frame.
pub fn load_rgb8(path: &Path, capture_time: MonoTime) -> Result<Frame, PerceptionError> {
    let bytes = std::fs::read(path).map_err(|source| PerceptionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let decoded = image::load_from_memory(&bytes).map_err(|e| PerceptionError::Decode {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let rgb = decoded.into_rgb8();
    let (width_px, height_px) = (rgb.width() as usize, rgb.height() as usize);
    Ok(Frame::new_rgb8(
        capture_time,
        width_px,
        height_px,
        rgb.into_raw(),
    )?)
}

impl FrameSource for ImageSequenceSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, PerceptionError> {
        let Some(path) = self.paths.get(self.next_index) else {
            return Ok(None);
        };
        let capture_time = self.timing.capture_time(self.next_index as u64);
        let frame = load_rgb8(path, capture_time)?;
        self.next_index += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tendon-perception-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn gradient(width: u32, height: u32, seed: u8) -> image::RgbImage {
        image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x * 7 + seed as u32) as u8,
                (y * 5) as u8,
                (x + y + seed as u32) as u8,
            ])
        })
    }

    #[test]
    fn folder_frames_come_sorted_with_timestamps_at_the_frame_rate() {
        let dir = temp_dir("folder");
        // Written out of order, with a non-image file and an upper-case extension.
        gradient(8, 6, 2).save(dir.join("frame_0002.png")).unwrap();
        gradient(8, 6, 0).save(dir.join("frame_0000.png")).unwrap();
        gradient(8, 6, 1).save(dir.join("frame_0001.PNG")).unwrap();
        std::fs::write(dir.join("notes.txt"), b"not a frame").unwrap();

        let timing = FrameTiming::new(MonoTime::from_ns(1_000), 30.0).unwrap();
        let mut source = ImageSequenceSource::from_folder(&dir, timing).unwrap();
        let mut frames = Vec::new();
        while let Some(f) = source.next_frame().unwrap() {
            frames.push(f);
        }
        assert_eq!(frames.len(), 3);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!((f.width_px, f.height_px), (8, 6));
            assert_eq!(f.pixels, gradient(8, 6, i as u8).into_raw(), "frame {i}");
        }
        let times: Vec<u64> = frames.iter().map(|f| f.capture_time.ns).collect();
        assert_eq!(times, vec![1_000, 1_000 + 33_333_333, 1_000 + 66_666_667]);
        assert!(source.next_frame().unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn jpeg_and_grey_png_decode_to_rgb8() {
        let dir = temp_dir("formats");
        let grey = image::GrayImage::from_fn(4, 3, |x, y| image::Luma([(x * 40 + y) as u8]));
        grey.save(dir.join("grey.png")).unwrap();
        let flat = image::RgbImage::from_pixel(16, 16, image::Rgb([200, 100, 50]));
        flat.save(dir.join("flat.jpg")).unwrap();

        let timing = FrameTiming::new(MonoTime::ZERO, 10.0).unwrap();
        let g = load_rgb8(&dir.join("grey.png"), timing.capture_time(0)).unwrap();
        assert_eq!(&g.pixels[..6], &[0, 0, 0, 40, 40, 40]);
        let j = load_rgb8(&dir.join("flat.jpg"), timing.capture_time(1)).unwrap();
        assert_eq!((j.width_px, j.height_px), (16, 16));
        // JPEG is lossy; a flat colour survives within a few levels.
        for px in j.pixels.chunks(3) {
            for (got, want) in px.iter().zip([200u8, 100, 50]) {
                assert!(got.abs_diff(want) <= 3, "{px:?}");
            }
        }
        assert_eq!(j.capture_time, MonoTime::from_ns(100_000_000));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_inputs_give_errors_that_name_the_problem() {
        let dir = temp_dir("bad");
        let err =
            ImageSequenceSource::from_folder(&dir, FrameTiming::new(MonoTime::ZERO, 1.0).unwrap())
                .unwrap_err();
        assert!(matches!(err, PerceptionError::EmptyFolder { .. }), "{err}");

        std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let mut source =
            ImageSequenceSource::from_folder(&dir, FrameTiming::new(MonoTime::ZERO, 1.0).unwrap())
                .unwrap();
        let err = source.next_frame().unwrap_err();
        assert!(err.to_string().contains("broken.png"), "{err}");
        assert!(matches!(err, PerceptionError::Decode { .. }), "{err}");

        let err = ImageSequenceSource::from_folder(
            &dir.join("missing"),
            FrameTiming::new(MonoTime::ZERO, 1.0).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, PerceptionError::Io { .. }), "{err}");
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert!(FrameTiming::new(MonoTime::ZERO, bad).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
