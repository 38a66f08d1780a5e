use std::path::PathBuf;

/// Everything that can go wrong between a camera and a patch tensor. Each
/// message names the problem and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PerceptionError {
    #[error("cannot read '{}'; check that the path exists and is readable", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot decode image '{}': {detail}; only PNG and JPEG files are supported, re-encode the file as one of them", path.display())]
    Decode { path: PathBuf, detail: String },

    #[error("the folder '{}' holds no .png, .jpg or .jpeg files; point the source at a folder of frames", path.display())]
    EmptyFolder { path: PathBuf },

    #[error("the frame rate must be a positive, finite number of frames per second, got {frame_rate_hz}")]
    BadFrameRate { frame_rate_hz: f64 },

    /// An image or buffer of the wrong size (see `tendon_core::FrameError`).
    #[error(transparent)]
    Frame(#[from] tendon_core::FrameError),

    #[error("the patch size {patch_px} px does not divide the input size {input_px} px; choose an input size that is a multiple of the patch size (224 = 14 x 16)")]
    PatchSizeNotDividing { input_px: usize, patch_px: usize },

    #[error("{what} must be a positive size, got 0 px")]
    ZeroSize { what: &'static str },

    #[error("the normalisation std for channel {channel} is {std}; every std must be a positive, finite number")]
    BadStd { channel: usize, std: f32 },

    #[error("MCAP recording '{}': {detail}", path.display())]
    Mcap { path: PathBuf, detail: String },

    #[error("MCAP recording '{}' is cut short after {frames_delivered} frames on '{topic}' ({detail}); the frames before the cut were delivered. The recorder was probably stopped without finishing the file; re-record, or run `mcap recover` on it to close it", path.display())]
    McapTruncated {
        path: PathBuf,
        topic: String,
        frames_delivered: u64,
        detail: String,
    },

    #[error("MCAP recording '{}': channel '{topic}' has schema '{schema}' ({schema_encoding}/{message_encoding}); this reader takes sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage (ros2msg/cdr), as written by tendon_perception::McapFrameWriter", path.display())]
    McapWrongSchema {
        path: PathBuf,
        topic: String,
        schema: String,
        schema_encoding: String,
        message_encoding: String,
    },

    #[error("MCAP recording '{}': image message {index} on '{topic}' is malformed: {detail}; the file was not written by tendon or is damaged", path.display())]
    BadImageMessage {
        path: PathBuf,
        topic: String,
        index: u64,
        detail: String,
    },

    #[error("MCAP recording '{}': image message {index} on '{topic}' has encoding '{encoding}'; only 'rgb8' and 'bgr8' are supported, record the frames in one of them", path.display())]
    UnsupportedEncoding {
        path: PathBuf,
        topic: String,
        index: u64,
        encoding: String,
    },

    #[error("camera: {detail}")]
    Camera { detail: String },
}
