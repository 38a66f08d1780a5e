//! Acceptance: spoken commands synthesised by espeak-ng go through the whole
//! pipeline (WAV → rubato 16 kHz → VAD → whisper.cpp tiny.en → grammar).
//! Every intent in two phrasings, two voices and two speeds; prints the
//! per-condition accuracy table and asserts >= 95 % on slow speech and
//! >= 85 % on fast speech. Silence and noise must yield no intent.
//!
//! Needs espeak-ng and the imported model (scripts/install-speech.sh).

mod common;

use std::collections::BTreeMap;

use common::{espeak, listen, model_path, padded};
use tendon_speech::asr::{AsrConfig, Recognizer};
use tendon_speech::source::WavSource;
use tendon_speech::{CommandListener, Intent, VadConfig};

const PHRASES: [(Intent, [&str; 2]); 11] = [
    (Intent::StandUp, ["stand up", "please stand up"]),
    (Intent::SitDown, ["sit down", "please sit down"]),
    (Intent::Squat, ["squat", "squat down"]),
    (Intent::Damp, ["damp", "damp mode"]),
    (Intent::Stop, ["stop", "emergency stop"]),
    (Intent::Start, ["start", "begin"]),
    (Intent::WalkForward, ["walk forward", "move forward"]),
    (Intent::WalkBackward, ["walk backward", "move back"]),
    (Intent::TurnLeft, ["turn left", "rotate left"]),
    (Intent::TurnRight, ["turn right", "rotate right"]),
    (Intent::Wave, ["wave", "wave your hand"]),
];

const VOICES: [&str; 2] = ["en-us", "en-gb"];

struct Speed {
    name: &'static str,
    wpm: u32,
    pad_s: f32,
}

const SPEEDS: [Speed; 2] = [
    Speed {
        name: "slow",
        wpm: 130,
        pad_s: 0.5,
    },
    Speed {
        name: "fast",
        wpm: 210,
        pad_s: 0.25,
    },
];

#[test]
fn espeak_commands_reach_their_intents_and_silence_and_noise_do_not() {
    let asr = Recognizer::load(&model_path(), AsrConfig::default()).unwrap();
    let mut listener = CommandListener::new(asr, VadConfig::default());
    let dir = std::env::temp_dir().join(format!("tendon-espeak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // (speed, voice) -> (correct, total)
    let mut table: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut latencies_ms = Vec::new();
    for speed in &SPEEDS {
        for voice in VOICES {
            for (intent, phrases) in PHRASES {
                for text in phrases {
                    let wav = dir.join("clip.wav");
                    espeak(text, voice, speed.wpm, &wav);
                    let audio = padded(WavSource::open(&wav).unwrap().samples(), speed.pad_s);
                    let results = listen(&mut listener, &audio);
                    let commands: Vec<Intent> = results
                        .iter()
                        .map(|r| r.intent.intent)
                        .filter(|&i| i != Intent::Unknown)
                        .collect();
                    let ok = commands.contains(&intent) && commands.iter().all(|&i| i == intent);
                    let cell = table.entry((speed.name, voice)).or_default();
                    cell.1 += 1;
                    if ok {
                        cell.0 += 1;
                    } else {
                        let heard: Vec<String> = results
                            .iter()
                            .map(|r| format!("{:?} -> {}", r.transcript, r.intent.intent))
                            .collect();
                        misses.push(format!("{} {voice} {text:?}: {heard:?}", speed.name));
                    }
                    latencies_ms.extend(results.iter().map(|r| r.compute_ms));
                }
            }
        }
    }

    println!("\nintent accuracy (espeak-ng, tiny.en f16, audio_ctx 512, greedy)");
    println!(
        "{:<6} {:<7} {:>8} {:>9}",
        "speed", "voice", "correct", "accuracy"
    );
    let mut per_speed: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for ((speed, voice), (ok, n)) in &table {
        println!(
            "{speed:<6} {voice:<7} {:>5}/{n:<2} {:>8.1}%",
            ok,
            100.0 * *ok as f64 / *n as f64
        );
        let s = per_speed.entry(speed).or_default();
        s.0 += ok;
        s.1 += n;
    }
    for (speed, (ok, n)) in &per_speed {
        println!(
            "{speed:<6} {:<7} {:>5}/{n:<2} {:>8.1}%",
            "all",
            ok,
            100.0 * *ok as f64 / *n as f64
        );
    }
    for m in &misses {
        println!("miss: {m}");
    }
    latencies_ms.sort_by(f64::total_cmp);
    if !latencies_ms.is_empty() {
        println!(
            "recognition time per utterance: median {:.0} ms, max {:.0} ms",
            latencies_ms[latencies_ms.len() / 2],
            latencies_ms[latencies_ms.len() - 1]
        );
    }

    // Two commands in one stream: reported in order, with where speech
    // ended and an end-of-speech -> intent latency of at least the hangover.
    let first = dir.join("first.wav");
    let second = dir.join("second.wav");
    espeak("turn left", "en-us", 130, &first);
    espeak("stop", "en-us", 130, &second);
    let a = padded(WavSource::open(&first).unwrap().samples(), 0.5);
    let b = padded(WavSource::open(&second).unwrap().samples(), 0.5);
    let stream = [&a[..], &vec![0.0; 16_000], &b[..]].concat();
    // A fresh listener, so stream time starts at 0.
    let asr = Recognizer::load(&model_path(), AsrConfig::default()).unwrap();
    let mut fresh = CommandListener::new(asr, VadConfig::default());
    let results = listen(&mut fresh, &stream);
    drop(fresh);
    let intents: Vec<Intent> = results.iter().map(|r| r.intent.intent).collect();
    assert_eq!(intents, [Intent::TurnLeft, Intent::Stop], "{results:?}");
    let a_ms = a.len() as f64 / 16.0;
    let ends: Vec<f64> = results.iter().map(|r| r.speech_end_ms).collect();
    assert!(
        ends[0] > 500.0 && ends[0] < a_ms - 400.0,
        "{ends:?}, first clip {a_ms} ms"
    );
    assert!(ends[1] > a_ms + 1500.0, "{ends:?}, first clip {a_ms} ms");
    let hangover_ms = f64::from(VadConfig::default().hangover_ms);
    for r in &results {
        assert!(r.latency_ms >= hangover_ms + r.compute_ms - 10.1, "{r:?}");
        assert!(r.latency_ms <= hangover_ms + r.compute_ms + 10.1, "{r:?}");
        assert!((0.0..=1.0).contains(&r.intent.confidence));
    }
    std::fs::remove_dir_all(&dir).ok();

    // No intent from silence or noise (the VAD keeps them from Whisper).
    let silence = vec![0.0f32; 16_000 * 3];
    assert!(
        listen(&mut listener, &silence).is_empty(),
        "silence produced an utterance"
    );
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<f32> = (0..16_000 * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            0.2 * ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        })
        .collect();
    let from_noise = listen(&mut listener, &noise);
    assert!(
        from_noise
            .iter()
            .all(|r| r.intent.intent == Intent::Unknown),
        "noise produced an intent: {:?}",
        from_noise
            .iter()
            .map(|r| (&r.transcript, r.intent.intent))
            .collect::<Vec<_>>()
    );

    let acc = |s: &str| {
        let (ok, n) = per_speed[s];
        ok as f64 / n as f64
    };
    assert!(
        acc("slow") >= 0.95,
        "slow accuracy {:.3} < 0.95",
        acc("slow")
    );
    assert!(
        acc("fast") >= 0.85,
        "fast accuracy {:.3} < 0.85",
        acc("fast")
    );
}
