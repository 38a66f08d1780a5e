//! `cargo bench -p tendon-speech --bench speech` (after
//! `eval "$(scripts/install-speech.sh)"`): prints, from one run,
//!
//! 1. Whisper log-mel of 30 s of audio: ours vs the librosa/numpy recipe of
//!    openai-whisper (timed inside Python, import excluded) vs whisper.cpp's
//!    own `whisper_pcm_to_mel` (1 thread, like ours), rounds alternating;
//! 2. ASR latency of a 2 s spoken command (espeak-ng "walk forward"), tiny.en
//!    f16 via whisper-rs, with the command window (audio_ctx 512) and with the
//!    full 30 s window (audio_ctx 1500) as the anchor, without the prompt, and
//!    with tiny.en quantized to q8_0 by our importer.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use tendon_speech::asr::{AsrConfig, Recognizer, COMMAND_PROMPT};
use tendon_speech::ggml::{import_ct2_dir, WeightType};
use tendon_speech::mel::log_mel_spectrogram;
use tendon_speech::source::WavSource;

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
        panic!("{name} is not set; run `eval \"$(scripts/install-speech.sh)\"` first")
    }))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn stats(name: &str, v: &mut [f64], unit: &str) -> f64 {
    let m = median(v);
    println!(
        "{name:<44} median {m:>9.2} {unit}  min {:>9.2}  max {:>9.2}  (n = {})",
        v[0],
        v[v.len() - 1],
        v.len()
    );
    m
}

fn time_ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let python = env_path("TENDON_SPEECH_PYTHON");
    let model = env_path("TENDON_WHISPER_MODEL");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/whisper_log_mel.py");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |s| s.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );

    // ---- 1. log-mel of 30 s -------------------------------------------------
    let audio: Vec<f32> = (0..480_000)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.3 * (2.0 * std::f32::consts::PI * (150.0 + 50.0 * t) * t).sin()
        })
        .collect();
    let raw = std::env::temp_dir().join(format!("tendon-bench-mel-{}.f32", std::process::id()));
    let bytes: Vec<u8> = audio.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    let one_thread = AsrConfig {
        n_threads: 1,
        ..AsrConfig::default()
    };
    let mut rec = Recognizer::load(&model, one_thread).unwrap();
    let (mut ours, mut numpy, mut wcpp) = (Vec::new(), Vec::new(), Vec::new());
    for _round in 0..5 {
        for _ in 0..3 {
            ours.push(time_ms(|| {
                std::hint::black_box(log_mel_spectrogram(&audio).unwrap());
            }));
        }
        let out = Command::new(&python)
            .arg(&script)
            .arg("--bench")
            .arg(&raw)
            .arg("3")
            .output()
            .expect("run the numpy reference");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        numpy.push(s * 1000.0);
        for _ in 0..3 {
            wcpp.push(time_ms(|| rec.whisper_cpp_mel(&audio).unwrap()));
        }
    }
    std::fs::remove_file(&raw).ok();
    println!("\n[log-mel, 30 s of 16 kHz audio, single thread]");
    let o = stats("tendon-speech log_mel_spectrogram", &mut ours, "ms");
    let n = stats("librosa/numpy (openai-whisper recipe)", &mut numpy, "ms");
    let w = stats("whisper.cpp whisper_pcm_to_mel (1 thread)", &mut wcpp, "ms");
    println!(
        "ratio numpy / ours = {:.2}x, whisper.cpp / ours = {:.2}x",
        n / o,
        w / o
    );

    // ---- 2. ASR latency of a 2 s command ------------------------------------
    let wav = std::env::temp_dir().join(format!("tendon-bench-cmd-{}.wav", std::process::id()));
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "130", "-w"])
        .arg(&wav)
        .arg("walk forward")
        .status()
        .expect("run espeak-ng")
        .success();
    assert!(ok);
    let speech = WavSource::open(&wav).unwrap().into_samples();
    std::fs::remove_file(&wav).ok();
    let mut clip = vec![0.0f32; 32_000];
    let off = (32_000 - speech.len().min(32_000)) / 2;
    clip[off..off + speech.len().min(32_000)].copy_from_slice(&speech[..speech.len().min(32_000)]);
    println!(
        "\n[ASR, 2 s command \"walk forward\", tiny.en, greedy, {} threads]",
        AsrConfig::default().n_threads
    );
    let q8 = std::env::temp_dir().join(format!("tendon-bench-q8-{}.bin", std::process::id()));
    import_ct2_dir(&env_path("TENDON_WHISPER_CT2_DIR"), &q8, WeightType::Q8_0).unwrap();
    let mut results = Vec::new();
    for (label, path, audio_ctx, prompt) in [
        (
            "f16, audio_ctx 512 + prompt (default)",
            &model,
            512,
            COMMAND_PROMPT,
        ),
        ("f16, audio_ctx 1500 + prompt", &model, 1500, COMMAND_PROMPT),
        ("f16, audio_ctx 512, no prompt", &model, 512, ""),
        ("q8_0, audio_ctx 512 + prompt", &q8, 512, COMMAND_PROMPT),
    ] {
        let cfg = AsrConfig {
            audio_ctx,
            prompt,
            ..AsrConfig::default()
        };
        let mut rec = Recognizer::load(path, cfg).unwrap();
        let text = rec.transcribe(&clip).unwrap().text;
        let mut t: Vec<f64> = (0..7)
            .map(|_| rec.transcribe(&clip).unwrap().elapsed.as_secs_f64() * 1000.0)
            .collect();
        let m = stats(label, &mut t, "ms");
        println!("{:<44} transcript {text:?}", "");
        results.push(m);
    }
    std::fs::remove_file(&q8).ok();
    println!(
        "ratio full / command window = {:.2}x",
        results[1] / results[0]
    );
    println!("ratio f16 / q8_0 = {:.2}x", results[0] / results[3]);
}
