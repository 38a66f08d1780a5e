//! Audio in MCAP recordings, as `foxglove_msgs/msg/RawAudio` messages in ROS 2
//! CDR (`ros2msg` schema, `cdr` message encoding).
//!
//! Why this message: every message describes itself (timestamp of its first
//! sample, format, sample rate, channel count), so a block can be decoded
//! without a side topic; Foxglove's Audio panel plays it; and it is the same
//! ROS 2 CDR + `ros2msg` layout as the camera recordings, so `ros2 bag` tools
//! and the Python `mcap` readers take it too. `audio_common_msgs` was the
//! other candidate, but its ROS 2 variants disagree with each other
//! (`AudioDataStamped` needs an `AudioInfo` side topic; the `AudioStamped` of
//! another fork stores format as a PyAudio enum).
//!
//! Formats: `pcm-s16` (interleaved little-endian i16, the one Foxglove plays,
//! and what microphones give) and `pcm-f32` (interleaved little-endian f32,
//! for float sources such as cpal and the simulator, stored exactly).
//!
//! Replay goes in log-time order: blocks pass through a reorder window of
//! [`REORDER_WINDOW_NS`], so interleaving from chunked writers is undone while
//! memory stays bounded. A block older than audio already played is an error.
//! Gaps between blocks are not filled with silence.
//!
//! [`McapAudioWriter`] writes no chunks, so a recording cut short still
//! replays every block that was fully written (a chunked file loses the open
//! chunk). Compressed chunks (zstd, lz4) are not read: this build of `mcap`
//! has no decompressors.

use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use tendon_core::cdr::{CdrError, CdrReader, CdrWriter};
use tendon_core::time::MonoTime;

use crate::source::{AudioSource, BlocksTo16k, SourceError};

pub const RAW_AUDIO_SCHEMA_NAME: &str = "foxglove_msgs/msg/RawAudio";
const SCHEMA_ENCODING: &str = "ros2msg";
const MESSAGE_ENCODING: &str = "cdr";
/// The message definition followed by its dependency, as rosbag2 stores it.
const RAW_AUDIO_SCHEMA_TEXT: &str = "builtin_interfaces/Time timestamp
uint8[] data
string format
uint32 sample_rate
uint32 number_of_channels
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
";
/// The topic `tendon listen --mcap` reads unless told otherwise.
pub const DEFAULT_AUDIO_TOPIC: &str = "/audio";
/// How far back in log time a block may arrive and still be put in order.
pub const REORDER_WINDOW_NS: u64 = 1_000_000_000;

/// How samples are stored in a message's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// `pcm-s16`: little-endian i16, read as `v / 32768`.
    S16,
    /// `pcm-f32`: little-endian f32, exact.
    F32,
}

impl SampleFormat {
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::S16 => "pcm-s16",
            SampleFormat::F32 => "pcm-f32",
        }
    }

    fn parse(name: &str) -> Option<SampleFormat> {
        match name {
            "pcm-s16" => Some(SampleFormat::S16),
            "pcm-f32" => Some(SampleFormat::F32),
            _ => None,
        }
    }

    fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::S16 => 2,
            SampleFormat::F32 => 4,
        }
    }
}

/// One decoded message: interleaved samples as the producer had them.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBlock {
    /// The message's `timestamp`: capture time of the first sample, on
    /// tendon's monotonic clock.
    pub capture_time: MonoTime,
    /// The MCAP log time (replay order).
    pub log_time_ns: u64,
    pub sample_rate_hz: u32,
    pub channels: u16,
    pub format: SampleFormat,
    /// `frames × channels` values in [-1, 1) for `pcm-s16`.
    pub interleaved: Vec<f32>,
}

/// Encodes one `foxglove_msgs/msg/RawAudio` message into `out` (cleared
/// first). `data` is the interleaved little-endian sample bytes in `format`.
pub fn encode_raw_audio_message(
    capture_time: MonoTime,
    format: &str,
    sample_rate_hz: u32,
    channels: u32,
    data: &[u8],
    out: &mut Vec<u8>,
) {
    let mut w = CdrWriter::payload(out);
    w.time_ns(capture_time.ns);
    w.byte_seq(data);
    w.string(format);
    w.u32(sample_rate_hz);
    w.u32(channels);
}

/// What a message holds, before its format is checked.
struct RawAudio<'a> {
    stamp_ns: u64,
    data: &'a [u8],
    format: &'a str,
    sample_rate_hz: u32,
    channels: u32,
}

fn parse_raw_audio(msg: &[u8]) -> Result<RawAudio<'_>, String> {
    let cdr = |e: CdrError| e.to_string();
    let mut r = CdrReader::payload(msg, RAW_AUDIO_SCHEMA_NAME).map_err(cdr)?;
    let stamp_ns = r.time_ns().map_err(cdr)?;
    let data = r.byte_seq_ref().map_err(cdr)?;
    let format = r.str_ref().map_err(cdr)?;
    let sample_rate_hz = r.u32().map_err(cdr)?;
    let channels = r.u32().map_err(cdr)?;
    Ok(RawAudio {
        stamp_ns,
        data,
        format,
        sample_rate_hz,
        channels,
    })
}

/// Why a message could not become an [`AudioBlock`].
enum BlockError {
    UnsupportedFormat(String),
    Malformed(String),
}

/// Decodes a `foxglove_msgs/msg/RawAudio` CDR message; `log_time_ns` is the
/// MCAP log time it was stored under.
fn decode_block(msg: &[u8], log_time_ns: u64) -> Result<AudioBlock, BlockError> {
    let m = parse_raw_audio(msg).map_err(BlockError::Malformed)?;
    let format = SampleFormat::parse(m.format)
        .ok_or_else(|| BlockError::UnsupportedFormat(m.format.to_string()))?;
    let channels = u16::try_from(m.channels)
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| BlockError::Malformed(format!("it has {} channels", m.channels)))?;
    if m.sample_rate_hz == 0 {
        return Err(BlockError::Malformed("its sample_rate is 0".into()));
    }
    let frame_bytes = format.bytes_per_sample() * usize::from(channels);
    if m.data.len() % frame_bytes != 0 {
        return Err(BlockError::Malformed(format!(
            "{} data bytes are not whole {channels}-channel {} frames",
            m.data.len(),
            format.name()
        )));
    }
    let interleaved = match format {
        SampleFormat::S16 => m
            .data
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
        SampleFormat::F32 => m
            .data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    };
    Ok(AudioBlock {
        capture_time: MonoTime::from_ns(m.stamp_ns),
        log_time_ns,
        sample_rate_hz: m.sample_rate_hz,
        channels,
        format,
        interleaved,
    })
}

/// Registers the RawAudio schema and a channel on `topic` of an existing
/// writer (e.g. the daemon's recorder, next to its other streams). Write
/// messages from [`encode_raw_audio_message`] with the capture time as log
/// time.
pub fn add_audio_channel<W: std::io::Write + std::io::Seek>(
    writer: &mut mcap::Writer<W>,
    topic: &str,
) -> mcap::McapResult<u16> {
    let schema = writer.add_schema(
        RAW_AUDIO_SCHEMA_NAME,
        SCHEMA_ENCODING,
        RAW_AUDIO_SCHEMA_TEXT.as_bytes(),
    )?;
    writer.add_channel(schema, topic, MESSAGE_ENCODING, &BTreeMap::new())
}

/// Writes audio blocks to one topic of a new, unchunked MCAP file.
pub struct McapAudioWriter {
    path: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    channel_id: u16,
    format: SampleFormat,
    sequence: u32,
    data: Vec<u8>,
    message: Vec<u8>,
}

impl McapAudioWriter {
    /// Creates `path` with one `foxglove_msgs/msg/RawAudio` channel on `topic`,
    /// storing samples as `format`.
    pub fn create(
        path: &Path,
        topic: &str,
        format: SampleFormat,
    ) -> Result<McapAudioWriter, SourceError> {
        let file = File::create(path).map_err(|source| SourceError::McapIo {
            path: path.to_path_buf(),
            source,
        })?;
        let err = |e: mcap::McapError| SourceError::McapWrite {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let mut writer = mcap::WriteOptions::new()
            .use_chunks(false)
            .library(concat!("tendon-speech ", env!("CARGO_PKG_VERSION")))
            .create(BufWriter::new(file))
            .map_err(err)?;
        let channel_id = add_audio_channel(&mut writer, topic).map_err(err)?;
        Ok(McapAudioWriter {
            path: path.to_path_buf(),
            writer,
            channel_id,
            format,
            sequence: 0,
            data: Vec::new(),
            message: Vec::new(),
        })
    }

    /// Writes one block of interleaved samples captured at `capture_time`
    /// (also its log time). For `pcm-s16`, values are scaled by 32768,
    /// rounded and clipped to the i16 range.
    pub fn write(
        &mut self,
        capture_time: MonoTime,
        sample_rate_hz: u32,
        channels: u16,
        interleaved: &[f32],
    ) -> Result<(), SourceError> {
        self.data.clear();
        match self.format {
            SampleFormat::S16 => {
                for &s in interleaved {
                    let v = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                    self.data.extend_from_slice(&v.to_le_bytes());
                }
            }
            SampleFormat::F32 => {
                for &s in interleaved {
                    self.data.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
        self.write_data(capture_time, sample_rate_hz, channels, interleaved.len())
    }

    /// Writes i16 samples as they are (the writer must be `pcm-s16`).
    pub fn write_s16(
        &mut self,
        capture_time: MonoTime,
        sample_rate_hz: u32,
        channels: u16,
        interleaved: &[i16],
    ) -> Result<(), SourceError> {
        if self.format != SampleFormat::S16 {
            return Err(SourceError::McapWrite {
                path: self.path.clone(),
                detail: format!(
                    "i16 samples given to a {} writer; create it with SampleFormat::S16",
                    self.format.name()
                ),
            });
        }
        self.data.clear();
        for v in interleaved {
            self.data.extend_from_slice(&v.to_le_bytes());
        }
        self.write_data(capture_time, sample_rate_hz, channels, interleaved.len())
    }

    fn write_data(
        &mut self,
        capture_time: MonoTime,
        sample_rate_hz: u32,
        channels: u16,
        n_samples: usize,
    ) -> Result<(), SourceError> {
        if channels == 0 || sample_rate_hz == 0 || n_samples % usize::from(channels) != 0 {
            return Err(SourceError::McapWrite {
                path: self.path.clone(),
                detail: format!(
                    "{n_samples} samples are not whole frames of {channels} channels at \
                     {sample_rate_hz} Hz"
                ),
            });
        }
        encode_raw_audio_message(
            capture_time,
            self.format.name(),
            sample_rate_hz,
            u32::from(channels),
            &self.data,
            &mut self.message,
        );
        self.sequence = self.sequence.wrapping_add(1);
        self.writer
            .write_to_known_channel(
                &mcap::records::MessageHeader {
                    channel_id: self.channel_id,
                    sequence: self.sequence,
                    log_time: capture_time.ns,
                    publish_time: capture_time.ns,
                },
                &self.message,
            )
            .map_err(|e| self.error(e))
    }

    /// Writes the summary and footer. A file never finished still replays
    /// up to its last complete block.
    pub fn finish(mut self) -> Result<(), SourceError> {
        self.writer.finish().map_err(|e| self.error(e))?;
        Ok(())
    }

    fn error(&self, e: mcap::McapError) -> SourceError {
        SourceError::McapWrite {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }
}

/// A block waiting in the reorder window: earliest log time first, then
/// file order.
struct Pending {
    log_time_ns: u64,
    index: u64,
    block: AudioBlock,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap is a max-heap.
        (other.log_time_ns, other.index).cmp(&(self.log_time_ns, self.index))
    }
}

/// The blocks of one audio topic of an MCAP file, decoded but not resampled,
/// in log-time order.
pub struct McapAudioReader {
    path: PathBuf,
    topic: String,
    reader: mcap::io::MessageReader<BufReader<File>>,
    window: BinaryHeap<Pending>,
    messages_on_topic: u64,
    delivered: u64,
    last_log_time_ns: Option<u64>,
    /// The latest log time read on the topic.
    newest_read_ns: u64,
    /// Other topics with messages, and their schema names.
    other_topics: Vec<(String, String)>,
    schema_checked: bool,
    /// The read error met, returned once the window has drained.
    failed: Option<SourceError>,
    done: bool,
}

impl McapAudioReader {
    pub fn open(path: &Path, topic: &str) -> Result<McapAudioReader, SourceError> {
        let file = File::open(path).map_err(|source| SourceError::McapIo {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(McapAudioReader {
            path: path.to_path_buf(),
            topic: topic.to_string(),
            reader: mcap::io::MessageReader::new(BufReader::new(file)),
            window: BinaryHeap::new(),
            messages_on_topic: 0,
            delivered: 0,
            last_log_time_ns: None,
            newest_read_ns: 0,
            other_topics: Vec::new(),
            schema_checked: false,
            failed: None,
            done: false,
        })
    }

    /// Blocks returned so far.
    pub fn blocks_delivered(&self) -> u64 {
        self.delivered
    }

    /// The next block in log-time order; `Ok(None)` at the end. After a read
    /// error (e.g. a truncated file) the blocks read before it come first,
    /// then the error, then `Ok(None)`.
    pub fn next_block(&mut self) -> Result<Option<AudioBlock>, SourceError> {
        while !self.done && !self.window_full() {
            // Whatever stops the reading (a cut, a bad block, a missing
            // topic) comes after the blocks read before it.
            if let Err(e) = self.read_one() {
                self.done = true;
                self.failed = Some(e);
            }
        }
        if let Some(p) = self.window.pop() {
            if let Some(last) = self.last_log_time_ns {
                if p.log_time_ns < last {
                    // One error ends replay: drop what is pending.
                    self.done = true;
                    self.window.clear();
                    self.failed = None;
                    return Err(SourceError::McapOutOfOrder {
                        path: self.path.clone(),
                        topic: self.topic.clone(),
                        index: p.index,
                        log_time_ns: p.log_time_ns,
                        played_ns: last,
                        window_ms: REORDER_WINDOW_NS / 1_000_000,
                    });
                }
            }
            self.last_log_time_ns = Some(p.log_time_ns);
            self.delivered += 1;
            return Ok(Some(p.block));
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        Ok(None)
    }

    /// The oldest pending block is safe to release: nothing later in the
    /// file may be older than the newest block read minus the window.
    fn window_full(&self) -> bool {
        self.window
            .peek()
            .is_some_and(|oldest| self.newest_read_ns - oldest.log_time_ns > REORDER_WINDOW_NS)
    }

    /// Reads MCAP messages until one on the topic is pending, or the end.
    fn read_one(&mut self) -> Result<(), SourceError> {
        loop {
            let message = match self.reader.next() {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(self.read_error(e)),
                None => {
                    self.done = true;
                    if self.messages_on_topic == 0 {
                        return Err(self.missing_topic());
                    }
                    return Ok(());
                }
            };
            if message.channel.topic != self.topic {
                let topic = &message.channel.topic;
                if !self.other_topics.iter().any(|(t, _)| t == topic) {
                    let schema = message
                        .channel
                        .schema
                        .as_ref()
                        .map_or("no schema".to_string(), |s| s.name.clone());
                    self.other_topics.push((topic.clone(), schema));
                }
                continue;
            }
            if !self.schema_checked {
                self.check_schema(&message.channel)?;
                self.schema_checked = true;
            }
            let index = self.messages_on_topic;
            self.messages_on_topic += 1;
            let block = decode_block(&message.data, message.log_time).map_err(|e| match e {
                BlockError::UnsupportedFormat(format) => SourceError::McapUnsupportedFormat {
                    path: self.path.clone(),
                    topic: self.topic.clone(),
                    index,
                    format,
                },
                BlockError::Malformed(detail) => SourceError::McapBadMessage {
                    path: self.path.clone(),
                    topic: self.topic.clone(),
                    index,
                    detail,
                },
            })?;
            self.newest_read_ns = self.newest_read_ns.max(message.log_time);
            self.window.push(Pending {
                log_time_ns: message.log_time,
                index,
                block,
            });
            return Ok(());
        }
    }

    fn check_schema(&self, channel: &mcap::Channel<'_>) -> Result<(), SourceError> {
        let (schema, schema_encoding) = channel
            .schema
            .as_ref()
            .map_or(("<none>".into(), "<none>".into()), |s| {
                (s.name.clone(), s.encoding.clone())
            });
        if schema == RAW_AUDIO_SCHEMA_NAME
            && schema_encoding == SCHEMA_ENCODING
            && channel.message_encoding == MESSAGE_ENCODING
        {
            return Ok(());
        }
        Err(SourceError::McapWrongSchema {
            path: self.path.clone(),
            topic: self.topic.clone(),
            schema,
            schema_encoding,
            message_encoding: channel.message_encoding.clone(),
        })
    }

    fn missing_topic(&self) -> SourceError {
        let topics: Vec<String> = self
            .other_topics
            .iter()
            .map(|(t, s)| format!("{t} ({s})"))
            .collect();
        SourceError::McapNoTopic {
            path: self.path.clone(),
            topic: self.topic.clone(),
            topics: if topics.is_empty() {
                "none".into()
            } else {
                topics.join(", ")
            },
        }
    }

    fn read_error(&self, e: mcap::McapError) -> SourceError {
        let path = self.path.clone();
        match e {
            mcap::McapError::BadMagic => SourceError::NotMcap { path },
            mcap::McapError::UnexpectedEof
            | mcap::McapError::UnexpectedEoc
            | mcap::McapError::Parse(_) => SourceError::McapTruncated {
                path,
                topic: self.topic.clone(),
                blocks_read: self.messages_on_topic,
                detail: e.to_string(),
            },
            mcap::McapError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                SourceError::McapTruncated {
                    path,
                    topic: self.topic.clone(),
                    blocks_read: self.messages_on_topic,
                    detail: io.to_string(),
                }
            }
            mcap::McapError::UnsupportedCompression(name) => SourceError::Mcap {
                path,
                detail: format!(
                    "its chunks are compressed with '{name}', which tendon-speech does not \
                     decompress; rewrite it with `mcap decompress IN.mcap -o OUT.mcap`"
                ),
            },
            e => SourceError::Mcap {
                path,
                detail: e.to_string(),
            },
        }
    }
}

/// An audio topic of an MCAP recording as an [`AudioSource`]: blocks in
/// log-time order, mixed to mono and resampled to 16 kHz like every source.
/// Each `read_chunk` delivers one block; [`Self::last_capture_time`] says when
/// it was captured.
pub struct McapAudioSource {
    reader: McapAudioReader,
    to_16k: BlocksTo16k,
    last_capture_time: Option<MonoTime>,
    /// An error held back until the audio before it has been delivered.
    failed: Option<SourceError>,
}

impl McapAudioSource {
    pub fn open(path: &Path, topic: &str) -> Result<McapAudioSource, SourceError> {
        Ok(McapAudioSource {
            reader: McapAudioReader::open(path, topic)?,
            to_16k: BlocksTo16k::new(),
            last_capture_time: None,
            failed: None,
        })
    }

    /// Capture time of the block behind the last chunk read.
    pub fn last_capture_time(&self) -> Option<MonoTime> {
        self.last_capture_time
    }

    pub fn blocks_delivered(&self) -> u64 {
        self.reader.blocks_delivered()
    }
}

impl AudioSource for McapAudioSource {
    fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, SourceError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match self.reader.next_block() {
            Ok(Some(block)) => {
                self.to_16k.push(
                    block.sample_rate_hz,
                    block.channels,
                    &block.interleaved,
                    out,
                )?;
                self.last_capture_time = Some(block.capture_time);
                Ok(true)
            }
            Ok(None) => {
                self.to_16k.flush(out)?;
                Ok(false)
            }
            Err(e) => {
                // The resampler's tail is audio from before the error.
                let before = out.len();
                self.to_16k.flush(out)?;
                if out.len() == before {
                    return Err(e);
                }
                self.failed = Some(e);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cut_of_a_message_is_an_error_not_a_panic() {
        let data: Vec<u8> = (0..64u8).collect();
        let mut msg = Vec::new();
        encode_raw_audio_message(MonoTime::from_ns(7), "pcm-s16", 16_000, 2, &data, &mut msg);
        let b = decode_block(&msg, 7).ok().expect("whole message decodes");
        assert_eq!(b.interleaved.len(), 32);
        for n in 0..msg.len() {
            assert!(decode_block(&msg[..n], 7).is_err(), "cut at {n} decoded");
        }
    }

    #[test]
    fn odd_byte_counts_and_zero_channels_are_malformed() {
        let mut msg = Vec::new();
        encode_raw_audio_message(MonoTime::ZERO, "pcm-s16", 16_000, 2, &[0; 6], &mut msg);
        assert!(
            matches!(decode_block(&msg, 0), Err(BlockError::Malformed(d)) if d.contains("whole"))
        );
        encode_raw_audio_message(MonoTime::ZERO, "pcm-f32", 16_000, 0, &[0; 8], &mut msg);
        assert!(matches!(
            decode_block(&msg, 0),
            Err(BlockError::Malformed(_))
        ));
        encode_raw_audio_message(MonoTime::ZERO, "opus", 48_000, 1, &[0; 8], &mut msg);
        assert!(
            matches!(decode_block(&msg, 0), Err(BlockError::UnsupportedFormat(f)) if f == "opus")
        );
    }
}
