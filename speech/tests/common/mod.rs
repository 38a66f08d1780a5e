//! Shared by the integration tests: the model, espeak-ng speech, and running
//! audio through a listener.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use tendon_speech::{CommandListener, CommandResult};

pub fn model_path() -> PathBuf {
    PathBuf::from(std::env::var_os("TENDON_WHISPER_MODEL").unwrap_or_else(|| {
        panic!(
            "TENDON_WHISPER_MODEL is not set: run these tests through scripts/test.sh, or \
             `eval \"$(scripts/install-speech.sh)\"` first (it imports tiny.en)"
        )
    }))
}

pub fn espeak(text: &str, voice: &str, wpm: u32, path: &Path) {
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &wpm.to_string(), "-w"])
        .arg(path)
        .arg(text)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run espeak-ng ({e}); scripts/install-speech.sh installs it (scripts/test.sh runs it)")
        });
    assert!(status.success(), "espeak-ng failed on {text:?}");
}

/// Runs a 16 kHz clip through the listener in 20 ms chunks, as a device would.
pub fn listen(listener: &mut CommandListener, audio: &[f32]) -> Vec<CommandResult> {
    let mut results = Vec::new();
    let mut collect = |r: CommandResult| results.push(r);
    for chunk in audio.chunks(320) {
        listener.push(chunk, &mut collect).unwrap();
    }
    listener.finish(&mut collect).unwrap();
    results
}

pub fn padded(audio: &[f32], pad_s: f32) -> Vec<f32> {
    let pad = vec![0.0; (16_000.0 * pad_s) as usize];
    [&pad[..], audio, &pad[..]].concat()
}

/// Writes interleaved 16-bit samples as a WAV file.
pub fn write_wav_i16(path: &Path, sample_rate_hz: u32, channels: u16, interleaved: &[i16]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: sample_rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &v in interleaved {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}
