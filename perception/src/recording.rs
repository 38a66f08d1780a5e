//! Frames in MCAP recordings, as ROS 2 `sensor_msgs/msg/Image` (raw RGB8)
//! or `sensor_msgs/msg/CompressedImage` (JPEG) messages in CDR, the layouts
//! Foxglove, `ros2 bag` and the Python `mcap-ros2-support` reader all
//! understand without a custom schema.
//!
//! The header stamp is the capture time on tendon's monotonic clock (not wall
//! time); the MCAP log and publish times carry the same value.
//!
//! `McapFrameWriter` does not use chunks: every message is its own record, so a
//! recording cut short (power loss, killed process) still yields every frame
//! that was fully written. Chunked files would lose the whole open chunk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use tendon_core::cdr::{CdrError, CdrReader, CdrWriter};
use tendon_core::time::MonoTime;

use crate::error::PerceptionError;
use crate::frame::FrameSource;
use tendon_core::Frame;

pub const IMAGE_SCHEMA_NAME: &str = "sensor_msgs/msg/Image";
pub const COMPRESSED_IMAGE_SCHEMA_NAME: &str = "sensor_msgs/msg/CompressedImage";
const SCHEMA_ENCODING: &str = "ros2msg";
const MESSAGE_ENCODING: &str = "cdr";
/// The message fields; the schema is these followed by the dependencies
/// (`HEADER_SCHEMA_TEXT`), as rosbag2 stores a `.msg` definition.
const IMAGE_FIELDS: &str = "std_msgs/Header header
uint32 height
uint32 width
string encoding
uint8 is_bigendian
uint32 step
uint8[] data
";
const HEADER_SCHEMA_TEXT: &str =
    "================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
";
const COMPRESSED_IMAGE_FIELDS: &str = "std_msgs/Header header
string format
uint8[] data
";

/// How frames are stored in a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEncoding {
    /// `sensor_msgs/msg/Image`, `rgb8`: exact, 921.6 kB per 640x480 frame.
    Raw,
    /// `sensor_msgs/msg/CompressedImage`, format `jpeg`, at `quality` (1-100).
    Jpeg { quality: u8 },
}

/// Clears `out`, writes the encapsulation and the `std_msgs/Header`, and
/// returns the writer for the rest of the message.
fn start_message<'a>(
    out: &'a mut Vec<u8>,
    capture_time: MonoTime,
    frame_id: &str,
) -> CdrWriter<'a> {
    let mut w = CdrWriter::payload(out);
    w.time_ns(capture_time.ns);
    w.string(frame_id);
    w
}

/// Encodes `frame` as a CDR `sensor_msgs/msg/Image` into `out` (cleared
/// first; reuse it across frames).
pub fn encode_image_message(frame: &Frame, frame_id: &str, out: &mut Vec<u8>) {
    let mut w = start_message(out, frame.capture_time, frame_id);
    w.u32(frame.height_px as u32);
    w.u32(frame.width_px as u32);
    w.string(frame.format.ros_encoding());
    w.u8(0); // is_bigendian
    w.u32((frame.width_px * frame.format.bytes_per_pixel()) as u32);
    w.byte_seq(&frame.pixels);
}

/// Encodes `frame` as a CDR `sensor_msgs/msg/CompressedImage` with format
/// `jpeg` into `out` (cleared first).
pub fn encode_jpeg_message(
    frame: &Frame,
    frame_id: &str,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality.clamp(1, 100))
        .encode(
            &frame.pixels,
            frame.width_px as u32,
            frame.height_px as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    let mut w = start_message(out, frame.capture_time, frame_id);
    w.string("jpeg");
    w.byte_seq(&jpeg);
    Ok(())
}

/// Decodes a CDR `sensor_msgs/msg/CompressedImage` (JPEG or PNG) into an
/// RGB8 frame stamped with the header time.
pub fn decode_compressed_message(data: &[u8]) -> Result<Frame, String> {
    let cdr = |e: CdrError| e.to_string();
    let mut r = CdrReader::payload(data, COMPRESSED_IMAGE_SCHEMA_NAME).map_err(cdr)?;
    let ns = r.time_ns().map_err(cdr)?;
    r.str_ref().map_err(cdr)?; // header.frame_id
    let format = r.str_ref().map_err(cdr)?;
    let bytes = r.byte_seq_ref().map_err(cdr)?;
    let rgb = image::load_from_memory(bytes)
        .map_err(|e| format!("its '{format}' data does not decode as JPEG or PNG: {e}"))?
        .into_rgb8();
    let (width_px, height_px) = (rgb.width() as usize, rgb.height() as usize);
    Frame::new_rgb8(MonoTime::from_ns(ns), width_px, height_px, rgb.into_raw())
        .map_err(|e| e.to_string())
}

/// What a decoded message holds before it becomes a [`Frame`].
enum Decoded {
    Frame(Frame),
    UnsupportedEncoding(String),
}

fn decode(data: &[u8]) -> Result<Decoded, String> {
    let cdr = |e: CdrError| e.to_string();
    let mut r = CdrReader::payload(data, IMAGE_SCHEMA_NAME).map_err(cdr)?;
    let ns = r.time_ns().map_err(cdr)?;
    r.str_ref().map_err(cdr)?; // header.frame_id
    let height_px = r.u32().map_err(cdr)? as usize;
    let width_px = r.u32().map_err(cdr)? as usize;
    let encoding = r.str_ref().map_err(cdr)?;
    r.u8().map_err(cdr)?; // is_bigendian
    let step = r.u32().map_err(cdr)? as usize;
    let pixels = r.byte_seq_ref().map_err(cdr)?;
    let len = pixels.len();
    let swap_rb = match encoding {
        "rgb8" => false,
        "bgr8" => true,
        other => return Ok(Decoded::UnsupportedEncoding(other.to_string())),
    };
    let row_bytes = width_px * 3;
    if width_px == 0 || height_px == 0 {
        return Err(format!("the image is {width_px}x{height_px} pixels"));
    }
    if step < row_bytes || step.checked_mul(height_px) != Some(len) {
        return Err(format!(
            "{width_px}x{height_px} {encoding} with step {step} does not match {len} data bytes"
        ));
    }
    let mut out = Vec::with_capacity(row_bytes * height_px);
    for row in pixels.chunks_exact(step) {
        out.extend_from_slice(&row[..row_bytes]);
    }
    if swap_rb {
        for px in out.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
    Frame::new_rgb8(MonoTime::from_ns(ns), width_px, height_px, out)
        .map(Decoded::Frame)
        .map_err(|e| e.to_string())
}

/// Decodes a CDR `sensor_msgs/msg/Image` (`rgb8` or `bgr8`) into an RGB8 frame
/// stamped with the header time. The error string says what is malformed.
pub fn decode_image_message(data: &[u8]) -> Result<Frame, String> {
    match decode(data)? {
        Decoded::Frame(f) => Ok(f),
        Decoded::UnsupportedEncoding(e) => Err(format!("encoding '{e}' is not rgb8 or bgr8")),
    }
}

/// Registers the schema and a channel for frames stored as `encoding` on an
/// existing writer (e.g. the daemon's recorder, next to its other streams).
/// Write messages made by [`encode_frame_message`] to it, with the capture
/// time as log time.
pub fn add_frame_channel<W: std::io::Write + std::io::Seek>(
    writer: &mut mcap::Writer<W>,
    topic: &str,
    encoding: FrameEncoding,
) -> mcap::McapResult<u16> {
    let (name, fields) = match encoding {
        FrameEncoding::Raw => (IMAGE_SCHEMA_NAME, IMAGE_FIELDS),
        FrameEncoding::Jpeg { .. } => (COMPRESSED_IMAGE_SCHEMA_NAME, COMPRESSED_IMAGE_FIELDS),
    };
    let schema_text = format!("{fields}{HEADER_SCHEMA_TEXT}");
    let schema = writer.add_schema(name, SCHEMA_ENCODING, schema_text.as_bytes())?;
    writer.add_channel(schema, topic, MESSAGE_ENCODING, &BTreeMap::new())
}

/// One frame as the message body of a channel from [`add_frame_channel`]
/// with the same `encoding`; `out` is cleared first (reuse it).
pub fn encode_frame_message(
    frame: &Frame,
    frame_id: &str,
    encoding: FrameEncoding,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match encoding {
        FrameEncoding::Raw => {
            encode_image_message(frame, frame_id, out);
            Ok(())
        }
        FrameEncoding::Jpeg { quality } => encode_jpeg_message(frame, frame_id, quality, out),
    }
}

/// Writes frames to one channel of a new MCAP file.
pub struct McapFrameWriter {
    path: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    channel_id: u16,
    frame_id: String,
    encoding: FrameEncoding,
    sequence: u32,
    scratch: Vec<u8>,
}

impl McapFrameWriter {
    /// Creates `path` with one image channel on `topic`; `frame_id` is the
    /// ROS frame name stored in each header (e.g. `head_camera`).
    pub fn create(
        path: &Path,
        topic: &str,
        frame_id: &str,
        encoding: FrameEncoding,
    ) -> Result<McapFrameWriter, PerceptionError> {
        let err = |e: mcap::McapError| PerceptionError::Mcap {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let file = File::create(path).map_err(|source| PerceptionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut writer = mcap::WriteOptions::new()
            .use_chunks(false)
            .library(concat!("tendon-perception ", env!("CARGO_PKG_VERSION")))
            .create(BufWriter::new(file))
            .map_err(err)?;
        let channel_id = add_frame_channel(&mut writer, topic, encoding).map_err(err)?;
        Ok(McapFrameWriter {
            path: path.to_path_buf(),
            writer,
            channel_id,
            frame_id: frame_id.to_string(),
            encoding,
            sequence: 0,
            scratch: Vec::new(),
        })
    }

    pub fn write(&mut self, frame: &Frame) -> Result<(), PerceptionError> {
        encode_frame_message(frame, &self.frame_id, self.encoding, &mut self.scratch).map_err(
            |detail| PerceptionError::Mcap {
                path: self.path.clone(),
                detail: format!("frame at {} ns: {detail}", frame.capture_time.ns),
            },
        )?;
        self.sequence = self.sequence.wrapping_add(1);
        self.writer
            .write_to_known_channel(
                &mcap::records::MessageHeader {
                    channel_id: self.channel_id,
                    sequence: self.sequence,
                    log_time: frame.capture_time.ns,
                    publish_time: frame.capture_time.ns,
                },
                &self.scratch,
            )
            .map_err(|e| self.error(e))
    }

    /// Writes the summary and footer. A file that is never finished still
    /// replays up to its last complete frame.
    pub fn finish(mut self) -> Result<(), PerceptionError> {
        self.writer.finish().map_err(|e| self.error(e))?;
        Ok(())
    }

    fn error(&self, e: mcap::McapError) -> PerceptionError {
        PerceptionError::Mcap {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }
}

/// Replays the frames of one image topic of an MCAP file, in file order.
/// Other topics are skipped. Frames carry their recorded capture times.
pub struct McapFrameSource {
    path: PathBuf,
    topic: String,
    reader: mcap::io::MessageReader<BufReader<File>>,
    delivered: u64,
    topics_seen: Vec<String>,
    /// Known once the first message on the topic has been checked.
    encoding: Option<StoredAs>,
    done: bool,
}

#[derive(Debug, Clone, Copy)]
enum StoredAs {
    Raw,
    Compressed,
}

impl McapFrameSource {
    pub fn open(path: &Path, topic: &str) -> Result<McapFrameSource, PerceptionError> {
        let file = File::open(path).map_err(|source| PerceptionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(McapFrameSource {
            path: path.to_path_buf(),
            topic: topic.to_string(),
            reader: mcap::io::MessageReader::new(BufReader::new(file)),
            delivered: 0,
            topics_seen: Vec::new(),
            encoding: None,
            done: false,
        })
    }

    /// Frames returned so far.
    pub fn frames_delivered(&self) -> u64 {
        self.delivered
    }

    fn check_schema(&self, channel: &mcap::Channel<'_>) -> Result<StoredAs, PerceptionError> {
        let (schema, schema_encoding) = channel
            .schema
            .as_ref()
            .map(|s| (s.name.clone(), s.encoding.clone()))
            .unwrap_or_else(|| ("<none>".into(), "<none>".into()));
        let cdr =
            schema_encoding == SCHEMA_ENCODING && channel.message_encoding == MESSAGE_ENCODING;
        match schema.as_str() {
            IMAGE_SCHEMA_NAME if cdr => Ok(StoredAs::Raw),
            COMPRESSED_IMAGE_SCHEMA_NAME if cdr => Ok(StoredAs::Compressed),
            _ => Err(PerceptionError::McapWrongSchema {
                path: self.path.clone(),
                topic: self.topic.clone(),
                schema,
                schema_encoding,
                message_encoding: channel.message_encoding.clone(),
            }),
        }
    }

    fn read_error(&self, e: mcap::McapError) -> PerceptionError {
        let truncated = matches!(
            &e,
            mcap::McapError::UnexpectedEof
                | mcap::McapError::UnexpectedEoc
                | mcap::McapError::Parse(_)
        ) || matches!(&e, mcap::McapError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof);
        if truncated {
            PerceptionError::McapTruncated {
                path: self.path.clone(),
                topic: self.topic.clone(),
                frames_delivered: self.delivered,
                detail: e.to_string(),
            }
        } else {
            PerceptionError::Mcap {
                path: self.path.clone(),
                detail: format!("{e}; check that the file is an MCAP recording"),
            }
        }
    }
}

impl FrameSource for McapFrameSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, PerceptionError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let message = match self.reader.next() {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    self.done = true;
                    return Err(self.read_error(e));
                }
                None => {
                    self.done = true;
                    if self.delivered == 0 && !self.topics_seen.contains(&self.topic) {
                        return Err(PerceptionError::Mcap {
                            path: self.path.clone(),
                            detail: format!(
                                "no messages on topic '{}'; topics with messages: [{}]; pick one of those",
                                self.topic,
                                self.topics_seen.join(", ")
                            ),
                        });
                    }
                    return Ok(None);
                }
            };
            if message.channel.topic != self.topic {
                if !self.topics_seen.contains(&message.channel.topic) {
                    self.topics_seen.push(message.channel.topic.clone());
                }
                continue;
            }
            let stored_as = match self.encoding {
                Some(e) => e,
                None => {
                    let e = self.check_schema(&message.channel)?;
                    self.encoding = Some(e);
                    self.topics_seen.push(self.topic.clone());
                    e
                }
            };
            let index = self.delivered;
            let decoded = match stored_as {
                StoredAs::Raw => decode(&message.data),
                StoredAs::Compressed => {
                    decode_compressed_message(&message.data).map(Decoded::Frame)
                }
            };
            return match decoded {
                Ok(Decoded::Frame(frame)) => {
                    self.delivered += 1;
                    Ok(Some(frame))
                }
                Ok(Decoded::UnsupportedEncoding(encoding)) => {
                    Err(PerceptionError::UnsupportedEncoding {
                        path: self.path.clone(),
                        topic: self.topic.clone(),
                        index,
                        encoding,
                    })
                }
                Err(detail) => Err(PerceptionError::BadImageMessage {
                    path: self.path.clone(),
                    topic: self.topic.clone(),
                    index,
                    detail,
                }),
            };
        }
    }
}
