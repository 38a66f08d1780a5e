//! `tendon listen` as the binary: two spoken commands (espeak-ng) in one
//! WAV, the same audio replayed from MCAP, and a recording cut short. Needs
//! espeak-ng and TENDON_WHISPER_MODEL (scripts/test.sh installs and exports
//! them through scripts/install-speech.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use tendon_core::MonoTime;
use tendon_speech::mcap_audio::{McapAudioWriter, SampleFormat};

const SAMPLE_RATE_HZ: u32 = 22_050;

fn model_path() -> PathBuf {
    PathBuf::from(std::env::var_os("TENDON_WHISPER_MODEL").unwrap_or_else(|| {
        panic!(
            "TENDON_WHISPER_MODEL is not set: run the tests through scripts/test.sh, or \
             `eval \"$(scripts/install-speech.sh)\"` first"
        )
    }))
}

/// espeak-ng's 16-bit samples of `text` (22.05 kHz mono).
fn speak(text: &str, path: &Path) -> Vec<i16> {
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "140", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run espeak-ng ({e}); scripts/install-speech.sh installs it")
        });
    assert!(status.success());
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec().sample_rate, SAMPLE_RATE_HZ);
    reader.samples::<i16>().map(Result::unwrap).collect()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// Runs `tendon listen … --json`; returns the exit code, the parsed JSON
/// lines and stderr.
fn listen(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .arg("listen")
        .args(args)
        .arg("--model")
        .arg(model_path())
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn intents(lines: &[serde_json::Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["intent"].as_str().unwrap())
        .collect()
}

struct Clip {
    dir: PathBuf,
    samples: Vec<i16>,
    /// Where the second command starts, in samples.
    second_start: usize,
}

/// "stand up", 1.5 s of silence, "stop", with 0.5 s of silence around.
fn two_commands(name: &str) -> Clip {
    let dir = std::env::temp_dir().join(format!("tendon-listen-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = speak("stand up", &dir.join("first.wav"));
    let second = speak("stop", &dir.join("second.wav"));
    let silence = |s: f64| vec![0i16; (SAMPLE_RATE_HZ as f64 * s) as usize];
    let mut samples = silence(0.5);
    samples.extend(&first);
    samples.extend(silence(1.5));
    let second_start = samples.len();
    samples.extend(&second);
    samples.extend(silence(0.5));
    Clip {
        dir,
        samples,
        second_start,
    }
}

fn check_line_keys(line: &serde_json::Value, clip_ms: f64) {
    for key in [
        "transcript",
        "intent",
        "confidence",
        "speech_end_ms",
        "latency_ms",
    ] {
        assert!(line.get(key).is_some(), "no {key} in {line}");
    }
    let confidence = line["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence), "{line}");
    let end_ms = line["speech_end_ms"].as_f64().unwrap();
    assert!(end_ms > 0.0 && end_ms <= clip_ms, "{line}");
    // End of speech → intent is the VAD's hangover (audio that must pass
    // before the utterance is known to be over, one 10 ms frame of slack)
    // plus recognition: a latency that left either out would fail here.
    let latency = line["latency_ms"].as_f64().unwrap();
    let asr = line["asr_ms"].as_f64().unwrap();
    let hangover = f64::from(tendon_speech::VadConfig::default().hangover_ms);
    assert!(asr > 1.0, "Whisper took {asr} ms: {line}");
    assert!(
        (latency - asr - hangover).abs() <= 20.0,
        "latency {latency} ms is not hangover {hangover} + asr {asr} ms: {line}"
    );
}

#[test]
fn two_spoken_commands_from_wav_and_mcap_give_two_json_intents() {
    let clip = two_commands("wav");
    let clip_ms = clip.samples.len() as f64 * 1000.0 / SAMPLE_RATE_HZ as f64;
    let wav = clip.dir.join("both.wav");
    write_wav(&wav, &clip.samples);

    let (code, lines, err) = listen(&["--wav", wav.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(intents(&lines), ["stand_up", "stop"], "{lines:?}");
    for line in &lines {
        check_line_keys(line, clip_ms);
    }
    let second_start_ms = clip.second_start as f64 * 1000.0 / SAMPLE_RATE_HZ as f64;
    assert!(lines[0]["speech_end_ms"].as_f64().unwrap() < second_start_ms);
    assert!(lines[1]["speech_end_ms"].as_f64().unwrap() > second_start_ms);

    // The same audio in 20 ms blocks of an MCAP recording.
    let mcap = clip.dir.join("both.mcap");
    let mut writer = McapAudioWriter::create(&mcap, "/mic", SampleFormat::S16).unwrap();
    let block = SAMPLE_RATE_HZ as usize / 50;
    for (i, chunk) in clip.samples.chunks(block).enumerate() {
        let at = MonoTime::from_ns(5_000_000_000 + i as u64 * 20_000_000);
        writer.write_s16(at, SAMPLE_RATE_HZ, 1, chunk).unwrap();
    }
    writer.finish().unwrap();
    let (code, from_mcap, err) = listen(&["--mcap", mcap.to_str().unwrap(), "--topic", "/mic"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(intents(&from_mcap), ["stand_up", "stop"], "{from_mcap:?}");
    for (a, b) in lines.iter().zip(&from_mcap) {
        assert_eq!(a["transcript"], b["transcript"]);
        assert_eq!(a["speech_end_ms"], b["speech_end_ms"]);
    }

    let (code, _, err) = listen(&["--mcap", mcap.to_str().unwrap(), "--topic", "/audio"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/mic"),
        "the error should list the topics: {err}"
    );
    let _ = std::fs::remove_dir_all(&clip.dir);
}

#[test]
fn a_wav_cut_short_still_reports_what_was_said_before_the_cut() {
    let clip = two_commands("cut");
    let wav = clip.dir.join("both.wav");
    write_wav(&wav, &clip.samples);
    // Cut in the middle of the second command: the header still promises
    // the whole clip.
    let bytes = std::fs::read(&wav).unwrap();
    let cut_at = 44 + 2 * (clip.second_start + 1000) + 1;
    std::fs::write(&wav, &bytes[..cut_at]).unwrap();

    let (code, lines, err) = listen(&["--wav", wav.to_str().unwrap()]);
    assert_eq!(code, 1, "a cut recording must not exit 0");
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(
        lines.first().map(|l| l["intent"].as_str().unwrap()),
        Some("stand_up"),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&clip.dir);
}
