//! Voice activity detection: cuts a 16 kHz stream into utterances so that
//! Whisper only ever sees speech (it hallucinates "Thank you." on silence
//! and noise).
//!
//! Per 10 ms frame: energy in dBFS and the zero-crossing rate. A frame is
//! *active* when its energy is `margin_db` above the noise floor (the
//! minimum frame energy over the last second, so steady noise raises its
//! own threshold) and above an absolute floor. It is *voiced* when it is
//! active and crosses zero rarely (vowels; hiss and white noise cross at
//! about half the samples). An utterance starts at the first active frame
//! (with a pre-roll), ends after `hangover_ms` without activity, and is
//! kept only if it has enough active and voiced time, so clicks and noise
//! bursts never reach Whisper.

use std::collections::VecDeque;

use crate::mel::{HOP_SAMPLES, SAMPLE_RATE_HZ};

/// Frame length: 10 ms at 16 kHz, the same hop as the mel frames.
pub const FRAME_SAMPLES: usize = HOP_SAMPLES;
const FRAME_MS: u32 = 1000 * FRAME_SAMPLES as u32 / SAMPLE_RATE_HZ;

#[derive(Debug, Clone, Copy)]
pub struct VadConfig {
    /// Activity needs this much energy above the noise floor.
    pub margin_db: f32,
    /// ...and at least this absolute level.
    pub abs_floor_dbfs: f32,
    /// The noise floor is the quietest frame over this window.
    pub noise_window_ms: u32,
    /// Voiced frames cross zero on fewer than this fraction of samples.
    pub max_voiced_zcr: f32,
    /// Silence that ends an utterance.
    pub hangover_ms: u32,
    /// Audio kept before the first active frame (soft onsets).
    pub pre_roll_ms: u32,
    /// Audio kept after the last active frame (soft endings).
    pub tail_ms: u32,
    /// Utterances with less active time are dropped.
    pub min_speech_ms: u32,
    /// Utterances with less voiced time are dropped (noise has none).
    pub min_voiced_ms: u32,
    /// Longer utterances are cut here (Whisper's command window).
    pub max_utterance_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            margin_db: 12.0,
            abs_floor_dbfs: -50.0,
            noise_window_ms: 1000,
            max_voiced_zcr: 0.25,
            hangover_ms: 350,
            pre_roll_ms: 200,
            tail_ms: 150,
            min_speech_ms: 120,
            min_voiced_ms: 60,
            max_utterance_ms: 10_000,
        }
    }
}

/// One segmented utterance, in 16 kHz samples of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Stream index of `samples[0]`.
    pub start_sample: u64,
    /// Stream index one past the last active frame: where speech ended.
    pub speech_end_sample: u64,
    /// Stream index at which the VAD decided the utterance was over.
    pub decided_at_sample: u64,
    pub samples: Vec<f32>,
}

impl Utterance {
    pub fn speech_end_ms(&self) -> f64 {
        self.speech_end_sample as f64 * 1000.0 / f64::from(SAMPLE_RATE_HZ)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFeatures {
    pub energy_dbfs: f32,
    pub zero_crossing_rate: f32,
}

pub fn frame_features(frame: &[f32]) -> FrameFeatures {
    let energy = frame.iter().map(|x| x * x).sum::<f32>() / frame.len() as f32;
    let crossings = frame
        .windows(2)
        .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
        .count();
    FrameFeatures {
        energy_dbfs: 10.0 * (energy + 1e-12).log10(),
        zero_crossing_rate: crossings as f32 / (frame.len() - 1) as f32,
    }
}

fn ms_to_frames(ms: u32) -> usize {
    (ms / FRAME_MS) as usize
}

pub struct Vad {
    config: VadConfig,
    frame: Vec<f32>,
    /// Recent frame energies (dBFS) for the noise floor.
    energies: VecDeque<f32>,
    pre_roll: VecDeque<f32>,
    /// Stream index of the next sample to arrive.
    position: u64,
    current: Option<InProgress>,
}

struct InProgress {
    start_sample: u64,
    samples: Vec<f32>,
    active_frames: usize,
    voiced_frames: usize,
    silent_run: usize,
    /// `samples.len()` just after the last active frame.
    len_at_speech_end: usize,
}

impl Vad {
    pub fn new(config: VadConfig) -> Self {
        let window = ms_to_frames(config.noise_window_ms).max(1);
        let pre_roll = ms_to_frames(config.pre_roll_ms) * FRAME_SAMPLES;
        Self {
            frame: Vec::with_capacity(FRAME_SAMPLES),
            // Start from a quiet room so the first speech is not taken for
            // the floor; steady noise replaces these within one window.
            energies: std::iter::repeat_n(config.abs_floor_dbfs - config.margin_db, window)
                .collect(),
            pre_roll: VecDeque::with_capacity(pre_roll),
            position: 0,
            current: None,
            config,
        }
    }

    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Feeds 16 kHz mono samples; finished utterances are appended to `out`.
    pub fn push(&mut self, mut samples: &[f32], out: &mut Vec<Utterance>) {
        while !samples.is_empty() {
            let take = (FRAME_SAMPLES - self.frame.len()).min(samples.len());
            self.frame.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.frame.len() == FRAME_SAMPLES {
                self.process_frame(out);
                self.frame.clear();
            }
        }
    }

    /// End of stream: an utterance still in progress is closed as if the
    /// hangover had passed.
    pub fn finish(&mut self, out: &mut Vec<Utterance>) {
        if let Some(cur) = self.current.take() {
            self.close(cur, out);
        }
    }

    fn noise_floor_dbfs(&self) -> f32 {
        self.energies.iter().copied().fold(f32::INFINITY, f32::min)
    }

    fn process_frame(&mut self, out: &mut Vec<Utterance>) {
        let f = frame_features(&self.frame);
        let threshold =
            (self.noise_floor_dbfs() + self.config.margin_db).max(self.config.abs_floor_dbfs);
        self.energies.pop_front();
        self.energies.push_back(f.energy_dbfs);
        let active = f.energy_dbfs > threshold;
        let voiced = active && f.zero_crossing_rate < self.config.max_voiced_zcr;
        self.position += FRAME_SAMPLES as u64;

        match self.current.as_mut() {
            None => {
                if active {
                    let mut samples = Vec::with_capacity(
                        self.config.max_utterance_ms as usize * SAMPLE_RATE_HZ as usize / 1000,
                    );
                    samples.extend(self.pre_roll.drain(..));
                    samples.extend_from_slice(&self.frame);
                    let start_sample = self.position - samples.len() as u64;
                    self.current = Some(InProgress {
                        start_sample,
                        len_at_speech_end: samples.len(),
                        samples,
                        active_frames: 1,
                        voiced_frames: usize::from(voiced),
                        silent_run: 0,
                    });
                } else {
                    let cap = ms_to_frames(self.config.pre_roll_ms) * FRAME_SAMPLES;
                    for &s in &self.frame {
                        if self.pre_roll.len() == cap {
                            self.pre_roll.pop_front();
                        }
                        if cap > 0 {
                            self.pre_roll.push_back(s);
                        }
                    }
                }
            }
            Some(cur) => {
                cur.samples.extend_from_slice(&self.frame);
                if active {
                    cur.active_frames += 1;
                    cur.voiced_frames += usize::from(voiced);
                    cur.silent_run = 0;
                    cur.len_at_speech_end = cur.samples.len();
                } else {
                    cur.silent_run += 1;
                }
                let max_len =
                    self.config.max_utterance_ms as usize * SAMPLE_RATE_HZ as usize / 1000;
                if cur.silent_run >= ms_to_frames(self.config.hangover_ms)
                    || cur.samples.len() + FRAME_SAMPLES > max_len
                {
                    let cur = self.current.take().expect("matched Some");
                    self.close(cur, out);
                }
            }
        }
    }

    fn close(&mut self, mut cur: InProgress, out: &mut Vec<Utterance>) {
        let keep = cur.active_frames >= ms_to_frames(self.config.min_speech_ms)
            && cur.voiced_frames >= ms_to_frames(self.config.min_voiced_ms);
        if !keep {
            return;
        }
        let tail = ms_to_frames(self.config.tail_ms) * FRAME_SAMPLES;
        let end = (cur.len_at_speech_end + tail).min(cur.samples.len());
        cur.samples.truncate(end);
        out.push(Utterance {
            start_sample: cur.start_sample,
            speech_end_sample: cur.start_sample + cur.len_at_speech_end as u64,
            decided_at_sample: self.position,
            samples: cur.samples,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random generator, so tests need no rand crate.
    struct XorShift(u64);
    impl XorShift {
        fn next_f32(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }
    }

    /// A vowel-like signal: 150 Hz fundamental with harmonics.
    fn vowel(n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                amp * ((2.0 * std::f32::consts::PI * 150.0 * t).sin()
                    + 0.5 * (2.0 * std::f32::consts::PI * 450.0 * t).sin()
                    + 0.3 * (2.0 * std::f32::consts::PI * 750.0 * t).sin())
            })
            .collect()
    }

    fn run(audio: &[f32]) -> Vec<Utterance> {
        let mut vad = Vad::new(VadConfig::default());
        let mut out = Vec::new();
        for chunk in audio.chunks(333) {
            vad.push(chunk, &mut out);
        }
        vad.finish(&mut out);
        out
    }

    #[test]
    fn two_words_separated_by_a_pause_are_two_utterances() {
        let mut audio = vec![0.0; 8000];
        audio.extend(vowel(8000, 0.2));
        audio.extend(vec![0.0; 16_000]);
        audio.extend(vowel(4800, 0.2));
        audio.extend(vec![0.0; 8000]);
        let utts = run(&audio);
        assert_eq!(
            utts.len(),
            2,
            "{:?}",
            utts.iter().map(|u| u.start_sample).collect::<Vec<_>>()
        );
        // Speech ends within one frame of where the vowel ends.
        assert!((utts[0].speech_end_sample as i64 - 16_000).abs() <= 160);
        assert!((utts[1].speech_end_sample as i64 - 36_800).abs() <= 160);
        // The decision comes one hangover after the end of speech.
        let hang = u64::from(VadConfig::default().hangover_ms) * 16;
        assert!(utts[0].decided_at_sample >= utts[0].speech_end_sample + hang - 160);
        // Pre-roll and tail are kept.
        assert!(utts[0].start_sample < 8000);
        assert!(utts[0].samples.len() > 8000);
    }

    #[test]
    fn a_short_pause_inside_a_command_does_not_split_it() {
        let mut audio = vec![0.0; 4000];
        audio.extend(vowel(5000, 0.2));
        audio.extend(vec![0.0; 2400]); // 150 ms, shorter than the hangover
        audio.extend(vowel(5000, 0.2));
        audio.extend(vec![0.0; 8000]);
        assert_eq!(run(&audio).len(), 1);
    }

    #[test]
    fn silence_and_white_noise_yield_no_utterance() {
        assert!(run(&vec![0.0; 48_000]).is_empty());
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for amp in [0.01, 0.1, 0.5] {
            let noise: Vec<f32> = (0..48_000).map(|_| amp * rng.next_f32()).collect();
            assert!(run(&noise).is_empty(), "noise amplitude {amp}");
        }
    }

    #[test]
    fn speech_over_steady_noise_is_found() {
        let mut rng = XorShift(42);
        let mut audio: Vec<f32> = (0..64_000).map(|_| 0.01 * rng.next_f32()).collect();
        for (i, v) in vowel(8000, 0.3).into_iter().enumerate() {
            audio[24_000 + i] += v;
        }
        let utts = run(&audio);
        assert_eq!(utts.len(), 1);
        assert!((utts[0].speech_end_sample as i64 - 32_000).abs() <= 320);
    }

    #[test]
    fn a_click_is_too_short_to_be_speech() {
        let mut audio = vec![0.0; 16_000];
        audio.extend(vowel(480, 0.5)); // 30 ms
        audio.extend(vec![0.0; 16_000]);
        assert!(run(&audio).is_empty());
    }

    #[test]
    fn long_speech_is_cut_at_the_command_window() {
        // Syllables of 250 ms with 50 ms gaps (shorter than the hangover).
        let mut audio = Vec::new();
        while audio.len() < 16_000 * 13 {
            audio.extend(vowel(4000, 0.2));
            audio.extend(vec![0.0; 800]);
        }
        let utts = run(&audio);
        let max = VadConfig::default().max_utterance_ms as usize * 16;
        assert!(utts.len() >= 2);
        assert!(utts.iter().all(|u| u.samples.len() <= max));
    }
}
