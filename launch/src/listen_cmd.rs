//! `tendon listen`: spoken operator commands from a WAV file, an MCAP
//! recording or the microphone, one line per utterance (transcript, intent,
//! confidence, end of speech → intent latency), or one JSON object per line
//! with `--json`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use tendon_speech::asr::{default_model_path, AsrConfig, Recognizer};
use tendon_speech::mcap_audio::{McapAudioSource, DEFAULT_AUDIO_TOPIC};
use tendon_speech::source::{AudioSource, WavSource};
use tendon_speech::{CommandListener, CommandResult, VadConfig};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["wav", "mcap", "mic"])))]
pub struct ListenArgs {
    /// A WAV file (any rate, any channel count; resampled to 16 kHz mono).
    #[arg(long)]
    wav: Option<PathBuf>,
    /// An MCAP recording: foxglove_msgs/msg/RawAudio (pcm-s16 or pcm-f32) on
    /// --topic, replayed in log-time order and resampled to 16 kHz mono.
    #[arg(long)]
    mcap: Option<PathBuf>,
    /// The audio topic of --mcap [default: /audio].
    #[arg(long, conflicts_with_all = ["wav", "mic"])]
    topic: Option<String>,
    /// The default microphone (needs a build with `--features audio-device`).
    #[arg(long)]
    mic: bool,
    /// One JSON object per utterance and line.
    #[arg(long)]
    json: bool,
    /// ggml Whisper model [default: $TENDON_WHISPER_MODEL or
    /// ~/.cache/tendon/whisper/ggml-tiny.en.bin].
    #[arg(long)]
    model: Option<PathBuf>,
    /// whisper.cpp threads.
    #[arg(long)]
    threads: Option<usize>,
}

fn print_result(r: &CommandResult, json: bool) {
    if json {
        let line = serde_json::json!({
            "transcript": r.transcript,
            "intent": r.intent.intent.as_str(),
            "confidence": r.intent.confidence,
            "speech_end_ms": r.speech_end_ms,
            "latency_ms": r.latency_ms,
            "asr_ms": r.compute_ms,
        });
        println!("{line}");
    } else {
        println!(
            "[{:>8.0} ms] {:<14} conf {:.2}  latency {:>5.0} ms (asr {:.0} ms)  \"{}\"",
            r.speech_end_ms,
            r.intent.intent.as_str(),
            r.intent.confidence,
            r.latency_ms,
            r.compute_ms,
            r.transcript
        );
    }
}

pub fn run(args: ListenArgs) -> Result<()> {
    let mut source: Box<dyn AudioSource> = if let Some(path) = &args.wav {
        Box::new(WavSource::open_salvaging(path)?)
    } else if let Some(path) = &args.mcap {
        Box::new(McapAudioSource::open(
            path,
            args.topic.as_deref().unwrap_or(DEFAULT_AUDIO_TOPIC),
        )?)
    } else {
        open_mic()?
    };
    let model = args.model.clone().unwrap_or_else(default_model_path);
    let mut config = AsrConfig::default();
    if let Some(t) = args.threads {
        config.n_threads = t.max(1);
    }
    let load_started = Instant::now();
    let asr = Recognizer::load(&model, config)?;
    if !args.json {
        eprintln!(
            "loaded {} in {:.0} ms",
            model.display(),
            load_started.elapsed().as_secs_f64() * 1000.0
        );
    }
    let mut listener = CommandListener::new(asr, VadConfig::default());
    let mut chunk = Vec::new();
    let mut report = |r: CommandResult| print_result(&r, args.json);
    loop {
        chunk.clear();
        let read = source.read_chunk(&mut chunk);
        if read.is_err() {
            // Utterances heard before a cut (truncated recording) still count.
            listener.finish(&mut report)?;
        }
        let more = read.context("reading audio")?;
        listener.push(&chunk, &mut report)?;
        if !more {
            break;
        }
    }
    listener.finish(&mut report)?;
    Ok(())
}

#[cfg(feature = "audio-device")]
fn open_mic() -> Result<Box<dyn AudioSource>> {
    Ok(Box::new(tendon_speech::source::MicSource::open_default()?))
}

#[cfg(not(feature = "audio-device"))]
fn open_mic() -> Result<Box<dyn AudioSource>> {
    anyhow::bail!(
        "this tendon was built without microphone support; rebuild with \
         `cargo build -p tendon --features audio-device` (needs Debian's libasound2-dev)"
    )
}
