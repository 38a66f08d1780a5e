//! Audio sources. Every source delivers 16 kHz mono f32 chunks, whatever the
//! device or file gives: channels are averaged and the rate is converted
//! with rubato's synchronous FFT resampler.
//!
//! - [`WavSource`]: WAV files (through `hound`).
//! - [`PushSource`]: samples pushed from another thread, e.g. the simulator.
//! - `MicSource` (feature `audio-device`): a cpal input device.
//! - [`McapAudioSource`](crate::mcap_audio::McapAudioSource): an audio topic of an MCAP recording.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::mel::SAMPLE_RATE_HZ;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open WAV file '{path}'")]
    Open { path: PathBuf, source: hound::Error },
    #[error(
        "WAV file '{path}' is truncated or corrupt after {frames_read} frames; \
         re-record or re-export it"
    )]
    Corrupt {
        path: PathBuf,
        frames_read: usize,
        source: hound::Error,
    },
    #[error("audio with {0} channels cannot be mixed to mono; expected 1 or more channels")]
    NoChannels(u16),
    #[error("cannot resample {from_hz} Hz to 16 kHz: {why}")]
    Resample { from_hz: u32, why: String },
    #[error("the audio device failed: {0}")]
    Device(String),
    #[error("cannot open MCAP file '{path}'")]
    McapIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{path}' is not an MCAP file (it does not start with the MCAP magic bytes); \
         pass an .mcap recording, or use --wav for WAV files"
    )]
    NotMcap { path: PathBuf },
    #[error("MCAP file '{path}': {detail}")]
    Mcap { path: PathBuf, detail: String },
    #[error("cannot write MCAP file '{path}': {detail}")]
    McapWrite { path: PathBuf, detail: String },
    #[error(
        "MCAP file '{path}' has no messages on topic '{topic}'; topics with messages: \
         {topics}; pick an audio topic with --topic"
    )]
    McapNoTopic {
        path: PathBuf,
        topic: String,
        topics: String,
    },
    #[error(
        "MCAP file '{path}' is truncated or corrupt after {blocks_read} audio blocks on \
         '{topic}' (they were delivered): {detail}; re-record it, or use what came before the cut"
    )]
    McapTruncated {
        path: PathBuf,
        topic: String,
        blocks_read: u64,
        detail: String,
    },
    #[error(
        "topic '{topic}' of MCAP file '{path}' holds '{schema}' ({schema_encoding}, \
         {message_encoding} messages); tendon-speech reads foxglove_msgs/msg/RawAudio \
         (ros2msg, cdr); pick an audio topic with --topic"
    )]
    McapWrongSchema {
        path: PathBuf,
        topic: String,
        schema: String,
        schema_encoding: String,
        message_encoding: String,
    },
    #[error(
        "audio block {index} on '{topic}' of MCAP file '{path}' is in format '{format}'; \
         tendon-speech reads pcm-s16 and pcm-f32 (raw PCM); re-record without encoding"
    )]
    McapUnsupportedFormat {
        path: PathBuf,
        topic: String,
        index: u64,
        format: String,
    },
    #[error("audio block {index} on '{topic}' of MCAP file '{path}' is malformed: {detail}")]
    McapBadMessage {
        path: PathBuf,
        topic: String,
        index: u64,
        detail: String,
    },
    #[error(
        "audio block {index} on '{topic}' of MCAP file '{path}' has log time {log_time_ns} ns, \
         before audio already played at {played_ns} ns: the recording is out of order by more \
         than the {window_ms} ms reorder window"
    )]
    McapOutOfOrder {
        path: PathBuf,
        topic: String,
        index: u64,
        log_time_ns: u64,
        played_ns: u64,
        window_ms: u64,
    },
}

/// Something that yields 16 kHz mono audio in chunks.
pub trait AudioSource {
    /// Appends the next chunk to `out`; `Ok(false)` at the end of the stream.
    fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, SourceError>;
}

/// Streaming rate conversion to 16 kHz (identity when the input is 16 kHz).
/// The resampler's start-up delay is trimmed, and `flush` pumps the tail
/// out, so a clip of `n` input samples yields `n * 16000 / rate` samples.
pub struct To16k {
    inner: Option<Fft<f32>>,
    from_hz: u32,
    pending: Vec<f32>,
    out_scratch: Vec<f32>,
    to_trim: usize,
    in_total: usize,
    out_total: usize,
}

impl To16k {
    /// Input frames per resampler call.
    const CHUNK: usize = 1024;

    pub fn new(from_hz: u32) -> Result<Self, SourceError> {
        let inner = if from_hz == SAMPLE_RATE_HZ {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    from_hz as usize,
                    SAMPLE_RATE_HZ as usize,
                    Self::CHUNK,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| SourceError::Resample {
                    from_hz,
                    why: e.to_string(),
                })?,
            )
        };
        let (to_trim, out_max, in_max) = inner.as_ref().map_or((0, 0, 0), |r| {
            (
                r.output_delay(),
                r.output_frames_max(),
                r.input_frames_max(),
            )
        });
        Ok(Self {
            inner,
            from_hz,
            pending: Vec::with_capacity(in_max),
            out_scratch: vec![0.0; out_max],
            to_trim,
            in_total: 0,
            out_total: 0,
        })
    }

    pub fn push(&mut self, mono: &[f32], out: &mut Vec<f32>) -> Result<(), SourceError> {
        self.in_total += mono.len();
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(mono);
            return Ok(());
        };
        let mut rest = mono;
        while !rest.is_empty() {
            let need = r.input_frames_next() - self.pending.len();
            let take = need.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == r.input_frames_next() {
                Self::run(
                    r,
                    &self.pending,
                    &mut self.out_scratch,
                    &mut self.to_trim,
                    &mut self.out_total,
                    self.from_hz,
                    out,
                )?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    fn run(
        r: &mut Fft<f32>,
        input: &[f32],
        scratch: &mut [f32],
        to_trim: &mut usize,
        out_total: &mut usize,
        from_hz: u32,
        out: &mut Vec<f32>,
    ) -> Result<(), SourceError> {
        let err = |e: &dyn std::fmt::Display| SourceError::Resample {
            from_hz,
            why: e.to_string(),
        };
        let frames_in = input.len();
        let frames_out = scratch.len();
        let a_in = InterleavedSlice::new(input, 1, frames_in).map_err(|e| err(&e))?;
        let mut a_out = InterleavedSlice::new_mut(scratch, 1, frames_out).map_err(|e| err(&e))?;
        let (_, n_out) = r
            .process_into_buffer(&a_in, &mut a_out, None)
            .map_err(|e| err(&e))?;
        let skip = (*to_trim).min(n_out);
        *to_trim -= skip;
        out.extend_from_slice(&scratch[skip..n_out]);
        *out_total += n_out - skip;
        Ok(())
    }

    /// Pushes zeros through until every input sample has come out, then
    /// trims to the exact expected length. Resets for the next stream.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), SourceError> {
        let Some(r) = self.inner.as_mut() else {
            return Ok(());
        };
        let expected =
            (self.in_total as u64 * u64::from(SAMPLE_RATE_HZ) / u64::from(self.from_hz)) as usize;
        let start_len = out.len();
        let before = self.out_total;
        while self.out_total < expected {
            self.pending.resize(r.input_frames_next(), 0.0);
            Self::run(
                r,
                &self.pending,
                &mut self.out_scratch,
                &mut self.to_trim,
                &mut self.out_total,
                self.from_hz,
                out,
            )?;
            self.pending.clear();
        }
        let produced = self.out_total - before;
        let excess = self.out_total - expected;
        out.truncate(start_len + produced - excess);
        r.reset();
        self.to_trim = r.output_delay();
        self.in_total = 0;
        self.out_total = 0;
        self.pending.clear();
        Ok(())
    }
}

/// Averages interleaved channels into `out`.
fn mix_to_mono(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

/// A WAV file, decoded in full on open (commands are short clips) and
/// handed out in chunks of `chunk_samples`, as a device would.
pub struct WavSource {
    samples: Vec<f32>,
    pos: usize,
    chunk_samples: usize,
    pub source_rate_hz: u32,
    pub source_channels: u16,
    /// With [`WavSource::open_salvaging`]: the cut, reported after the audio before it.
    deferred_error: Option<SourceError>,
}

impl WavSource {
    /// Default chunk: 20 ms at 16 kHz, a typical capture period.
    pub const DEFAULT_CHUNK: usize = 320;

    /// The whole file; a truncated or corrupt file is an error.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let source = Self::open_salvaging(path)?;
        match source.deferred_error {
            Some(e) => Err(e),
            None => Ok(source),
        }
    }

    /// Like [`WavSource::open`], but a file cut short (a recorder that died)
    /// still plays every whole frame before the cut; `read_chunk` returns the
    /// truncation error after the last of them, so nothing recorded is lost
    /// and the cut is still reported.
    pub fn open_salvaging(path: &Path) -> Result<Self, SourceError> {
        let reader = hound::WavReader::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let spec = reader.spec();
        if spec.channels == 0 {
            return Err(SourceError::NoChannels(0));
        }
        let corrupt = |frames_read, source| SourceError::Corrupt {
            path: path.to_path_buf(),
            frames_read,
            source,
        };
        let mut interleaved = Vec::with_capacity(reader.len() as usize);
        let mut deferred_error = None;
        match spec.sample_format {
            hound::SampleFormat::Float => {
                for s in reader.into_samples::<f32>() {
                    match s {
                        Ok(v) => interleaved.push(v),
                        Err(e) => {
                            let frames = interleaved.len() / usize::from(spec.channels);
                            deferred_error = Some(corrupt(frames, e));
                            break;
                        }
                    }
                }
            }
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                for s in reader.into_samples::<i32>() {
                    match s {
                        Ok(v) => interleaved.push(v as f32 * scale),
                        Err(e) => {
                            let frames = interleaved.len() / usize::from(spec.channels);
                            deferred_error = Some(corrupt(frames, e));
                            break;
                        }
                    }
                }
            }
        }
        // Only whole frames: a cut inside a frame would shift the channels.
        interleaved
            .truncate(interleaved.len() / usize::from(spec.channels) * usize::from(spec.channels));
        let mut mono = Vec::with_capacity(interleaved.len() / usize::from(spec.channels));
        mix_to_mono(&interleaved, usize::from(spec.channels), &mut mono);
        let mut resampler = To16k::new(spec.sample_rate)?;
        let mut samples = Vec::with_capacity(mono.len() * 16_000 / spec.sample_rate as usize + 16);
        resampler.push(&mono, &mut samples)?;
        resampler.flush(&mut samples)?;
        Ok(Self {
            samples,
            pos: 0,
            chunk_samples: Self::DEFAULT_CHUNK,
            source_rate_hz: spec.sample_rate,
            source_channels: spec.channels,
            deferred_error,
        })
    }

    /// The whole clip at 16 kHz mono.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    pub fn into_samples(self) -> Vec<f32> {
        self.samples
    }
}

impl AudioSource for WavSource {
    fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, SourceError> {
        if self.pos >= self.samples.len() {
            return match self.deferred_error.take() {
                Some(e) => Err(e),
                None => Ok(false),
            };
        }
        let end = (self.pos + self.chunk_samples).min(self.samples.len());
        out.extend_from_slice(&self.samples[self.pos..end]);
        self.pos = end;
        Ok(true)
    }
}

/// Samples at any rate and channel count, as the producer has them.
pub struct PushedAudio {
    pub sample_rate_hz: u32,
    pub channels: u16,
    pub interleaved: Vec<f32>,
}

/// The producer side of a [`PushSource`]; dropping it ends the stream.
#[derive(Clone)]
pub struct AudioPusher {
    tx: mpsc::SyncSender<PushedAudio>,
}

impl AudioPusher {
    /// Blocks while the queue is full (the consumer sets the pace).
    pub fn push(&self, audio: PushedAudio) -> bool {
        self.tx.send(audio).is_ok()
    }
}

/// Interleaved blocks whose rate and channel count may change from block to
/// block, mixed to mono and converted to 16 kHz: a rate change flushes the
/// old resampler's tail and starts a new one.
pub(crate) struct BlocksTo16k {
    resampler: Option<(u32, To16k)>,
    mono: Vec<f32>,
}

impl BlocksTo16k {
    pub(crate) fn new() -> Self {
        Self {
            resampler: None,
            mono: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        sample_rate_hz: u32,
        channels: u16,
        interleaved: &[f32],
        out: &mut Vec<f32>,
    ) -> Result<(), SourceError> {
        if channels == 0 {
            return Err(SourceError::NoChannels(0));
        }
        if self.resampler.as_ref().map(|(hz, _)| *hz) != Some(sample_rate_hz) {
            self.flush(out)?;
            self.resampler = Some((sample_rate_hz, To16k::new(sample_rate_hz)?));
        }
        self.mono.clear();
        mix_to_mono(interleaved, usize::from(channels), &mut self.mono);
        let (_, r) = self.resampler.as_mut().expect("set above");
        r.push(&self.mono, out)
    }

    /// Delivers the tail of the audio pushed so far.
    pub(crate) fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), SourceError> {
        match self.resampler.as_mut() {
            Some((_, r)) => r.flush(out),
            None => Ok(()),
        }
    }
}

/// Audio pushed from another thread (the simulator), converted to 16 kHz mono.
pub struct PushSource {
    rx: mpsc::Receiver<PushedAudio>,
    to_16k: BlocksTo16k,
}

impl PushSource {
    /// A bounded queue of `capacity` chunks.
    pub fn new(capacity: usize) -> (AudioPusher, PushSource) {
        let (tx, rx) = mpsc::sync_channel(capacity);
        (
            AudioPusher { tx },
            PushSource {
                rx,
                to_16k: BlocksTo16k::new(),
            },
        )
    }
}

impl AudioSource for PushSource {
    fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, SourceError> {
        let Ok(chunk) = self.rx.recv() else {
            self.to_16k.flush(out)?;
            return Ok(false);
        };
        self.to_16k.push(
            chunk.sample_rate_hz,
            chunk.channels,
            &chunk.interleaved,
            out,
        )?;
        Ok(true)
    }
}

#[cfg(feature = "audio-device")]
pub use mic::MicSource;

#[cfg(feature = "audio-device")]
mod mic {
    use super::*;
    use crate::capture::{capture_ring, CaptureReader, CaptureSample, CaptureWriter};
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

    /// Frames the capture ring holds: 2 s at 48 kHz, far more than a
    /// reader that is merely slow needs.
    const RING_FRAMES: usize = 96_000;

    /// The default cpal input device (i16, u16 or f32 samples), converted to
    /// 16 kHz mono. The device callback only copies into a preallocated
    /// ring (`capture`): no allocation, no blocking; frames it had to drop
    /// are counted and reported by `read_chunk`.
    pub struct MicSource {
        _stream: cpal::Stream,
        reader: CaptureReader,
        sample_rate_hz: u32,
        channels: u16,
        block: Vec<f32>,
        to_16k: BlocksTo16k,
        reported_drops: u64,
    }

    fn build<S: CaptureSample + cpal::SizedSample>(
        device: &cpal::Device,
        config: cpal::StreamConfig,
        mut writer: CaptureWriter,
    ) -> Result<cpal::Stream, SourceError> {
        device
            .build_input_stream(
                config,
                move |data: &[S], _| writer.write(data),
                |e| log::warn!("microphone stream error: {e}"),
                None,
            )
            .map_err(|e| SourceError::Device(e.to_string()))
    }

    impl MicSource {
        pub fn open_default() -> Result<Self, SourceError> {
            let host = cpal::default_host();
            let device = host.default_input_device().ok_or_else(|| {
                SourceError::Device("no default input device (is a microphone attached?)".into())
            })?;
            let config = device
                .default_input_config()
                .map_err(|e| SourceError::Device(e.to_string()))?;
            let sample_rate_hz = config.sample_rate();
            let channels = config.channels();
            let format = config.sample_format();
            let (writer, reader) = capture_ring(RING_FRAMES, channels);
            let stream = match format {
                cpal::SampleFormat::F32 => build::<f32>(&device, config.into(), writer)?,
                cpal::SampleFormat::I16 => build::<i16>(&device, config.into(), writer)?,
                cpal::SampleFormat::U16 => build::<u16>(&device, config.into(), writer)?,
                other => {
                    return Err(SourceError::Device(format!(
                        "the microphone delivers {other:?} samples; tendon reads i16, u16 and f32 (choose another format or device in the sound settings)"
                    )))
                }
            };
            stream
                .play()
                .map_err(|e| SourceError::Device(e.to_string()))?;
            Ok(Self {
                _stream: stream,
                reader,
                sample_rate_hz,
                channels,
                block: Vec::with_capacity(RING_FRAMES * usize::from(channels)),
                to_16k: BlocksTo16k::new(),
                reported_drops: 0,
            })
        }

        /// Frames the device delivered that the ring could not take.
        pub fn dropped_frames(&self) -> u64 {
            self.reader.dropped_frames()
        }
    }

    impl AudioSource for MicSource {
        fn read_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, SourceError> {
            self.block.clear();
            while self.reader.read_available(&mut self.block) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let dropped = self.reader.dropped_frames();
            if dropped > self.reported_drops {
                log::warn!(
                    "microphone: {} frames dropped so far ({} since the last report): the reader fell behind the device",
                    dropped,
                    dropped - self.reported_drops
                );
                self.reported_drops = dropped;
            }
            self.to_16k
                .push(self.sample_rate_hz, self.channels, &self.block, out)?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn resampling_48k_to_16k_keeps_length_and_frequency() {
        let input = sine(48_000, 440.0, 48_000);
        let mut r = To16k::new(48_000).unwrap();
        let mut out = Vec::new();
        for chunk in input.chunks(777) {
            r.push(chunk, &mut out).unwrap();
        }
        r.flush(&mut out).unwrap();
        assert_eq!(out.len(), 16_000);
        // Compare with the ideal 16 kHz sine away from the edges.
        let ideal = sine(16_000, 440.0, 16_000);
        let max_err = out[1000..15_000]
            .iter()
            .zip(&ideal[1000..15_000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 0.01, "max error {max_err}");
    }

    #[test]
    fn wav_source_mixes_stereo_and_resamples() {
        let path = std::env::temp_dir().join(format!("tendon-stereo-{}.wav", std::process::id()));
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for s in sine(44_100, 300.0, 44_100) {
            let v = (s * 32767.0) as i16;
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let src = WavSource::open(&path).unwrap();
        assert_eq!(src.samples().len(), 16_000);
        let peak = src.samples().iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.02, "peak {peak}");

        // Truncate the data chunk mid-file: a clear error, not a panic.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2 + 1]).unwrap();
        let err = WavSource::open(&path)
            .err()
            .expect("truncated file must fail");
        assert!(err.to_string().contains("truncated"), "{err}");

        // Salvaging: the audio before the cut (about half a second) plays,
        // then the same error comes.
        let mut salvaged = WavSource::open_salvaging(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut played = Vec::new();
        let end = loop {
            match salvaged.read_chunk(&mut played) {
                Ok(true) => {}
                other => break other,
            }
        };
        let err = end.expect_err("the cut must be reported after the audio");
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(
            (7_900..=8_100).contains(&played.len()),
            "{} samples before the cut",
            played.len()
        );
        // The same audio as the whole file, up to the resampler's flush at the cut.
        let settled = played.len() - 512;
        let max_diff = played[..settled]
            .iter()
            .zip(&src.samples()[..settled])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff < 1e-6, "max difference {max_diff}");
    }

    #[test]
    fn missing_or_garbage_wav_is_an_open_error() {
        let err = WavSource::open(Path::new("/nonexistent.wav"))
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::Open { .. }));
        let path = std::env::temp_dir().join(format!("tendon-garbage-{}.wav", std::process::id()));
        std::fs::write(&path, b"RIFF....not a wave").unwrap();
        let err = WavSource::open(&path).err().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, SourceError::Open { .. }), "{err}");
    }

    #[test]
    fn push_source_delivers_pushed_audio_at_16k() {
        let (pusher, mut src) = PushSource::new(4);
        let producer = std::thread::spawn(move || {
            for chunk in sine(32_000, 200.0, 32_000).chunks(640) {
                let interleaved: Vec<f32> = chunk.iter().flat_map(|&s| [s, s]).collect();
                assert!(pusher.push(PushedAudio {
                    sample_rate_hz: 32_000,
                    channels: 2,
                    interleaved,
                }));
            }
        });
        let mut out = Vec::new();
        while src.read_chunk(&mut out).unwrap() {}
        producer.join().unwrap();
        assert_eq!(out.len(), 16_000);
    }
}
