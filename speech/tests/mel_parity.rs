//! Log-mel parity with an independent reference: openai-whisper's
//! `log_mel_spectrogram` written in librosa + numpy
//! (tests/python/whisper_log_mel.py), run in the venv that
//! scripts/install-speech.sh creates. Max abs error must be <= 1e-4.

use std::path::PathBuf;
use std::process::Command;

use tendon_speech::mel::{log_mel_spectrogram, slaney_mel_filters, N_MELS};

fn python() -> PathBuf {
    let p = std::env::var_os("TENDON_SPEECH_PYTHON").unwrap_or_else(|| {
        panic!(
            "TENDON_SPEECH_PYTHON is not set: run these tests through scripts/test.sh, or \
             `eval \"$(scripts/install-speech.sh)\"` first (it creates the numpy + librosa venv)"
        )
    });
    PathBuf::from(p)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/whisper_log_mel.py")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tendon-mel-{}-{name}", std::process::id()))
}

fn write_f32(path: &PathBuf, data: &[f32]) {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &PathBuf) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Speech-like test audio: a gliding harmonic tone, a noise burst, and a
/// stretch of near-silence so the `max - 8` clamp is exercised.
fn test_audio(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = i as f32 / 16_000.0;
            let phase = 2.0 * std::f32::consts::PI * (120.0 * t + 40.0 * t * t);
            let tone = 0.3 * phase.sin() + 0.1 * (3.0 * phase).sin();
            match (i / 4000) % 4 {
                0 | 1 => tone + 0.01 * noise,
                2 => 0.2 * noise,
                _ => 1e-6 * noise,
            }
        })
        .collect()
}

#[test]
fn slaney_filters_match_librosa() {
    let out = tmp("filters.f32");
    let status = Command::new(python())
        .arg(script())
        .arg("--filters")
        .arg(&out)
        .status()
        .expect("run the reference python");
    assert!(status.success());
    let theirs = read_f32(&out);
    std::fs::remove_file(&out).ok();
    let ours = slaney_mel_filters(16_000, 400, 80);
    assert_eq!(theirs.len(), ours.len());
    let max_err = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_err <= 1e-7, "filter max abs error {max_err}");
}

#[test]
fn log_mel_matches_librosa_reference_within_1e_4() {
    // Lengths: under one second, odd (not a multiple of the hop), and a full
    // 30 s Whisper window.
    let cases = [(9_000usize, 1u64), (37_123, 2), (480_000, 3)];
    let mut cmd = Command::new(python());
    cmd.arg(script());
    for (n, seed) in cases {
        let input = tmp(&format!("in-{n}.f32"));
        write_f32(&input, &test_audio(n, seed));
        cmd.arg(input).arg(tmp(&format!("out-{n}.f32")));
    }
    assert!(cmd.status().expect("run the reference python").success());
    for (n, seed) in cases {
        let audio = test_audio(n, seed);
        let output = tmp(&format!("out-{n}.f32"));
        let theirs = read_f32(&output);
        std::fs::remove_file(tmp(&format!("in-{n}.f32"))).ok();
        std::fs::remove_file(&output).ok();

        let ours = log_mel_spectrogram(&audio).unwrap();
        assert_eq!(ours.n_frames, n / 160);
        assert_eq!(theirs.len(), ours.n_frames * N_MELS, "n = {n}");
        let ours = ours.to_mel_major();
        let max_err = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("n = {n}: max abs error {max_err:.2e}");
        assert!(max_err <= 1e-4, "n = {n}: max abs error {max_err}");
        if n < 16_000 {
            continue;
        }
        // The clamp is active: the quiet stretch sits on the max - 8 floor.
        let min = ours.iter().copied().fold(f32::INFINITY, f32::min);
        let max = ours.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!((max - min - 2.0).abs() < 1e-5, "range {min}..{max}");
    }
}
