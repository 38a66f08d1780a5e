//! Audio through MCAP recordings: our writer and reader, the Python `mcap`
//! package both ways (TENDON_PERCEPTION_PYTHON, from
//! scripts/install-perception.sh, exported by scripts/test.sh), cuts,
//! bad input, resampling, and a spoken "stop" from MCAP to its intent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{espeak, model_path, write_wav_i16};
use tendon_core::time::MonoTime;
use tendon_speech::asr::{AsrConfig, Recognizer};
use tendon_speech::mcap_audio::{
    add_audio_channel, encode_raw_audio_message, AudioBlock, McapAudioReader, McapAudioSource,
    McapAudioWriter, SampleFormat,
};
use tendon_speech::source::{AudioSource, SourceError, WavSource};
use tendon_speech::{CommandListener, CommandResult, Intent, VadConfig};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tendon-speech-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn peer(args: &[&str]) -> String {
    let python = std::env::var_os("TENDON_PERCEPTION_PYTHON").unwrap_or_else(|| {
        panic!(
            "TENDON_PERCEPTION_PYTHON is not set: these tests check MCAP files against the \
             Python `mcap` package. Run them through scripts/test.sh, or export \
             TENDON_PERCEPTION_PYTHON=$(scripts/install-perception.sh | tail -n 1)"
        )
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcap_audio.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("starting the Python mcap peer (TENDON_PERCEPTION_PYTHON)");
    assert!(
        out.status.success(),
        "python mcap peer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Deterministic values in [-1, 1) that are not 16-bit fractions.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn sine(rate_hz: u32, hz: f32, amplitude: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / rate_hz as f32).sin())
        .collect()
}

fn read_blocks(path: &Path, topic: &str) -> (Vec<AudioBlock>, Option<SourceError>) {
    let mut reader = McapAudioReader::open(path, topic).unwrap();
    let mut blocks = Vec::new();
    loop {
        match reader.next_block() {
            Ok(Some(b)) => blocks.push(b),
            Ok(None) => return (blocks, None),
            Err(e) => {
                assert!(
                    reader.next_block().unwrap().is_none(),
                    "nothing after an error"
                );
                return (blocks, Some(e));
            }
        }
    }
}

/// Everything a source delivers, and the error that ended it, if any.
fn drain(source: &mut impl AudioSource) -> (Vec<f32>, Option<SourceError>) {
    let mut out = Vec::new();
    loop {
        match source.read_chunk(&mut out) {
            Ok(true) => {}
            Ok(false) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

const T0: u64 = 3_600_000_000_123;

/// 16 kHz mono f32 blocks of varying sizes, 20 ms apart.
fn f32_blocks() -> Vec<Vec<f32>> {
    (0..12).map(|i| noise(320 + 17 * i, i as u64 + 1)).collect()
}

fn write_f32(path: &Path, blocks: &[Vec<f32>]) {
    let mut w = McapAudioWriter::create(path, "/audio", SampleFormat::F32).unwrap();
    for (i, b) in blocks.iter().enumerate() {
        w.write(MonoTime::from_ns(T0 + i as u64 * 20_000_000), 16_000, 1, b)
            .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn our_writer_and_reader_round_trip_bit_exactly() {
    let dir = temp_dir("mcap-roundtrip");
    let path = dir.join("f32.mcap");
    let sent = f32_blocks();
    write_f32(&path, &sent);

    let (blocks, err) = read_blocks(&path, "/audio");
    assert!(err.is_none(), "{err:?}");
    assert_eq!(blocks.len(), sent.len());
    for (i, (b, s)) in blocks.iter().zip(&sent).enumerate() {
        let t = T0 + i as u64 * 20_000_000;
        assert_eq!(b.capture_time, MonoTime::from_ns(t));
        assert_eq!(b.log_time_ns, t);
        assert_eq!((b.sample_rate_hz, b.channels), (16_000, 1));
        assert_eq!(b.format, SampleFormat::F32);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&b.interleaved), bits(s), "block {i}");
    }

    // As a 16 kHz mono source (no resampling): the concatenation, exactly,
    // and each chunk's capture time.
    let mut source = McapAudioSource::open(&path, "/audio").unwrap();
    let mut out = Vec::new();
    for i in 0..sent.len() {
        assert!(source.read_chunk(&mut out).unwrap());
        assert_eq!(
            source.last_capture_time(),
            Some(MonoTime::from_ns(T0 + i as u64 * 20_000_000))
        );
    }
    assert!(!source.read_chunk(&mut out).unwrap());
    assert_eq!(out, sent.concat());

    // pcm-s16: i16 values come back exactly.
    let s16 = dir.join("s16.mcap");
    let values: Vec<i16> = (0..4000)
        .map(|i| (i * 7919 % 65536 - 32768) as i16)
        .collect();
    let mut w = McapAudioWriter::create(&s16, "/audio", SampleFormat::S16).unwrap();
    for (i, c) in values.chunks(800).enumerate() {
        w.write_s16(MonoTime::from_ns(T0 + i as u64), 8_000, 2, c)
            .unwrap();
    }
    assert!(w.write_s16(MonoTime::ZERO, 8_000, 2, &[1, 2, 3]).is_err());
    w.finish().unwrap();
    let (blocks, err) = read_blocks(&s16, "/audio");
    assert!(err.is_none(), "{err:?}");
    let back: Vec<i16> = blocks
        .iter()
        .flat_map(|b| b.interleaved.iter().map(|v| (v * 32768.0) as i16))
        .collect();
    assert_eq!(back, values);
    assert!(blocks
        .iter()
        .all(|b| b.channels == 2 && b.format == SampleFormat::S16));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The peer's sample formula, `(i * 131 + c * 7919) % 65536 - 32768`.
fn peer_sample(i: usize, c: usize) -> i16 {
    (((i * 131 + c * 7919) % 65536) as i32 - 32768) as i16
}

#[test]
fn a_file_written_by_python_mcap_is_read_in_log_time_order() {
    let dir = temp_dir("mcap-from-python");
    let path = dir.join("peer.mcap");
    peer(&["write", path.to_str().unwrap()]);

    let (blocks, err) = read_blocks(&path, "/mic");
    assert!(err.is_none(), "{err:?}");
    assert_eq!(blocks.len(), 25);
    for (b, block) in blocks.iter().enumerate() {
        // The peer wrote blocks 5 and 6 swapped; log-time order undoes it.
        let t = 1_000_000_000_000 + b as u64 * 10_000_000;
        assert_eq!(block.capture_time, MonoTime::from_ns(t), "block {b}");
        assert_eq!(block.log_time_ns, t);
        assert_eq!((block.sample_rate_hz, block.channels), (48_000, 2));
        let format = if b < 20 {
            SampleFormat::S16
        } else {
            SampleFormat::F32
        };
        assert_eq!(block.format, format, "block {b}");
        for (k, v) in block.interleaved.iter().enumerate() {
            let (i, c) = (b * 480 + k / 2, k % 2);
            let want = f32::from(peer_sample(i, c)) / 32768.0;
            assert_eq!(*v, want, "block {b} value {k}");
        }
    }

    // 48 kHz stereo in 10 ms blocks becomes 16 kHz mono: 160 samples a block.
    let mut source = McapAudioSource::open(&path, "/mic").unwrap();
    let (out, err) = drain(&mut source);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out.len(), 25 * 160);

    // A topic that is not there: the error names the ones that are.
    let err = read_blocks(&path, "/audio").1.expect("missing topic");
    let text = err.to_string();
    assert!(matches!(err, SourceError::McapNoTopic { .. }), "{text}");
    assert!(
        text.contains("/mic (foxglove_msgs/msg/RawAudio)") && text.contains("/status"),
        "{text}"
    );
    // A topic with another schema.
    let err = read_blocks(&path, "/status").1.expect("wrong schema");
    assert!(
        err.to_string().contains("tendon/Status") && err.to_string().contains("RawAudio"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn python_mcap_reads_our_file_as_foxglove_raw_audio() {
    let dir = temp_dir("mcap-to-python");
    let f32_path = dir.join("f32.mcap");
    let sent = f32_blocks();
    write_f32(&f32_path, &sent);
    let lines = peer(&["read", f32_path.to_str().unwrap()]);
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), sent.len());
    for (i, (line, block)) in lines.iter().zip(&sent).enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        let t = (T0 + i as u64 * 20_000_000).to_string();
        assert_eq!(
            fields[..9],
            [
                "/audio",
                "foxglove_msgs/msg/RawAudio",
                "ros2msg",
                "cdr",
                &t,
                &t,
                "pcm-f32",
                "16000",
                "1"
            ],
            "{line:.200}"
        );
        let bits: Vec<u32> = fields[9..].iter().map(|v| v.parse().unwrap()).collect();
        let want: Vec<u32> = block.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, want, "block {i}");
    }

    // pcm-s16 from f32: rounded and clipped.
    let s16_path = dir.join("s16.mcap");
    let mut w = McapAudioWriter::create(&s16_path, "/mic", SampleFormat::S16).unwrap();
    w.write(
        MonoTime::from_ns(5),
        44_100,
        2,
        &[
            0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1.5,
            0.25 / 32768.0,
            0.75 / 32768.0,
        ],
    )
    .unwrap();
    w.finish().unwrap();
    let line = peer(&["read", s16_path.to_str().unwrap()]);
    assert_eq!(
        line.trim(),
        "/mic foxglove_msgs/msg/RawAudio ros2msg cdr 5 5 pcm-s16 44100 2 \
         0 16384 -16384 32767 -32768 32767 0 1"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_recording_delivers_every_whole_block_before_the_cut_then_an_error() {
    let dir = temp_dir("mcap-truncated");
    let path = dir.join("full.mcap");
    let sent = f32_blocks();
    write_f32(&path, &sent);
    let bytes = std::fs::read(&path).unwrap();

    // Where each block's message record ends (its CDR body is its tail).
    let mut body = Vec::new();
    let ends: Vec<usize> = sent
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let data: Vec<u8> = b.iter().flat_map(|v| v.to_le_bytes()).collect();
            let t = MonoTime::from_ns(T0 + i as u64 * 20_000_000);
            encode_raw_audio_message(t, "pcm-f32", 16_000, 1, &data, &mut body);
            let at = bytes
                .windows(body.len())
                .position(|w| w == body)
                .expect("block body in the file");
            at + body.len()
        })
        .collect();

    let cut_path = dir.join("cut.mcap");
    let mut cuts = 0;
    for cut in (0..bytes.len()).step_by(97).chain([ends[5], ends[5] + 1]) {
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let mut source = McapAudioSource::open(&cut_path, "/audio").unwrap();
        let (out, err) = drain(&mut source);
        let err = err.unwrap_or_else(|| panic!("cut at {cut} of {} read as whole", bytes.len()));
        assert_eq!(out, sent[..whole].concat(), "cut at {cut}");
        if cut < 8 {
            // Not even the magic bytes.
            continue;
        }
        match &err {
            SourceError::McapTruncated { blocks_read, .. } => {
                assert_eq!(*blocks_read as usize, whole, "cut at {cut}: {err}")
            }
            e => panic!("cut at {cut}: {e}"),
        }
        assert!(err.to_string().contains("truncated"), "{err}");
        cuts += 1;
    }
    assert!(cuts > 100);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn non_mcap_input_unsupported_formats_and_disorder_are_clear_errors() {
    let dir = temp_dir("mcap-bad");
    // A WAV file given as MCAP.
    let wav = dir.join("clip.wav");
    write_wav_i16(&wav, 16_000, 1, &[0; 1600]);
    let err = read_blocks(&wav, "/audio").1.expect("a WAV is not MCAP");
    assert!(matches!(err, SourceError::NotMcap { .. }), "{err}");
    assert!(err.to_string().contains("--wav"), "{err}");
    assert!(matches!(
        McapAudioSource::open(&dir.join("absent.mcap"), "/audio"),
        Err(SourceError::McapIo { .. })
    ));

    // An encoded format after two PCM blocks: those two, then the error.
    let path = dir.join("opus.mcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut writer = mcap::WriteOptions::new()
        .use_chunks(false)
        .create(file)
        .unwrap();
    let channel = add_audio_channel(&mut writer, "/audio").unwrap();
    let mut msg = Vec::new();
    for (i, format) in ["pcm-s16", "pcm-s16", "opus"].iter().enumerate() {
        encode_raw_audio_message(
            MonoTime::from_ns(i as u64),
            format,
            16_000,
            1,
            &[1, 0, 2, 0],
            &mut msg,
        );
        let header = mcap::records::MessageHeader {
            channel_id: channel,
            sequence: i as u32,
            log_time: i as u64,
            publish_time: i as u64,
        };
        writer.write_to_known_channel(&header, &msg).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    let (blocks, err) = read_blocks(&path, "/audio");
    assert_eq!(blocks.len(), 2);
    let err = err.expect("opus is not read");
    assert!(
        matches!(&err, SourceError::McapUnsupportedFormat { index: 2, format, .. } if format == "opus"),
        "{err}"
    );
    assert!(err.to_string().contains("pcm-s16"), "{err}");

    // Within the reorder window blocks are put in log-time order; beyond
    // it, replay stops with an error rather than playing audio backwards.
    let path = dir.join("order.mcap");
    let mut w = McapAudioWriter::create(&path, "/audio", SampleFormat::F32).unwrap();
    let blocks = [
        (0, 0.0),
        (20, 2.0),
        (10, 1.0),
        (30, 3.0),
        (2000, 4.0),
        (3500, 5.0),
        (25, 6.0),
    ];
    for (t_ms, v) in blocks {
        w.write(MonoTime::from_ns(t_ms * 1_000_000), 16_000, 1, &[v / 8.0])
            .unwrap();
    }
    w.finish().unwrap();
    let (blocks, err) = read_blocks(&path, "/audio");
    let order: Vec<f32> = blocks.iter().map(|b| b.interleaved[0] * 8.0).collect();
    assert_eq!(order, [0.0, 1.0, 2.0, 3.0, 4.0]);
    let err = err.expect("25 ms after 2000 ms was played");
    assert!(
        matches!(err, SourceError::McapOutOfOrder { index: 6, .. }),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stereo_48k_is_resampled_to_16k_mono_exactly_as_a_wav_would_be() {
    let dir = temp_dir("mcap-48k");
    let left = sine(48_000, 440.0, 0.6, 48_000);
    let right = sine(48_000, 440.0, 0.2, 48_000);
    let interleaved: Vec<i16> = left
        .iter()
        .zip(&right)
        .flat_map(|(l, r)| [(l * 32768.0).round() as i16, (r * 32768.0).round() as i16])
        .collect();
    let path = dir.join("stereo.mcap");
    let mut w = McapAudioWriter::create(&path, "/audio", SampleFormat::S16).unwrap();
    for (i, block) in interleaved.chunks(480 * 2).enumerate() {
        w.write_s16(MonoTime::from_ns(i as u64 * 10_000_000), 48_000, 2, block)
            .unwrap();
    }
    w.finish().unwrap();
    let (out, err) = drain(&mut McapAudioSource::open(&path, "/audio").unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out.len(), 16_000);
    let ideal = sine(16_000, 440.0, 0.4, 16_000);
    let max_err = out[1000..15_000]
        .iter()
        .zip(&ideal[1000..15_000])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_err < 0.01, "max error {max_err}");

    // The same samples as a 48 kHz stereo WAV take the same path.
    let wav = dir.join("stereo.wav");
    write_wav_i16(&wav, 48_000, 2, &interleaved);
    assert_eq!(WavSource::open(&wav).unwrap().samples(), &out[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_spoken_stop_stored_in_mcap_yields_the_stop_intent() {
    let dir = temp_dir("mcap-stop");
    let clip = dir.join("stop.wav");
    espeak("stop", "en-us", 130, &clip);
    let reader = hound::WavReader::open(&clip).unwrap();
    let spec = reader.spec();
    let speech: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    // Half a second of silence either side, at espeak's own rate (22.05 kHz).
    let pad = vec![0i16; spec.sample_rate as usize / 2 * usize::from(spec.channels)];
    let audio = [&pad[..], &speech[..], &pad[..]].concat();

    let path = dir.join("stop.mcap");
    let block_frames = spec.sample_rate as usize / 50;
    let mut w = McapAudioWriter::create(&path, "/audio", SampleFormat::S16).unwrap();
    for (i, block) in audio
        .chunks(block_frames * usize::from(spec.channels))
        .enumerate()
    {
        let t = MonoTime::from_ns(T0 + i as u64 * 20_000_000);
        w.write_s16(t, spec.sample_rate, spec.channels, block)
            .unwrap();
    }
    w.finish().unwrap();

    // The same audio as a WAV: the MCAP source must give the same samples.
    let wav = dir.join("padded.wav");
    write_wav_i16(&wav, spec.sample_rate, spec.channels, &audio);
    let from_wav = WavSource::open(&wav).unwrap().into_samples();

    // Chunk by chunk into the listener, as `tendon listen --mcap` does.
    let asr = Recognizer::load(&model_path(), AsrConfig::default()).unwrap();
    let mut listener = CommandListener::new(asr, VadConfig::default());
    let mut results = Vec::new();
    let mut collect = |r: CommandResult| results.push(r);
    let mut source = McapAudioSource::open(&path, "/audio").unwrap();
    let mut all = Vec::new();
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        let more = source.read_chunk(&mut chunk).unwrap();
        all.extend_from_slice(&chunk);
        listener.push(&chunk, &mut collect).unwrap();
        if !more {
            break;
        }
    }
    listener.finish(&mut collect).unwrap();
    assert_eq!(all, from_wav);
    let intents: Vec<Intent> = results.iter().map(|r| r.intent.intent).collect();
    assert_eq!(intents, [Intent::Stop], "{results:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
