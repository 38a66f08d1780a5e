//! Whisper's log-mel spectrogram, computed exactly as openai-whisper's
//! `log_mel_spectrogram` does it: a centred STFT (reflect padding, periodic
//! Hann window, n_fft 400, hop 160), the power spectrum with the last frame
//! dropped, 80 Slaney mel filters (librosa's definition), log10 clamped at
//! 1e-10, then clamped to `max - 8` and mapped through `(x + 4) / 4`.
//!
//! The STFT part streams: [`StreamingLogMel`] emits each frame as soon as the
//! samples under its window have arrived. The `max - 8` clamp needs the
//! maximum over the whole input, so it cannot be applied frame by frame
//! without changing the result; the streaming form therefore emits exact
//! log10 mel frames and [`normalise_whisper`] applies the clamp once per
//! utterance, when the utterance is finalised. Done that way the streamed
//! result equals the batch result (tested).

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};

/// Whisper's audio sample rate.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// FFT size (25 ms at 16 kHz).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms at 16 kHz).
pub const HOP_SAMPLES: usize = 160;
/// Number of mel bands of tiny/base/small/medium.
pub const N_MELS: usize = 80;
/// Frequency bins of a 400-point real FFT.
pub const N_FREQ_BINS: usize = N_FFT / 2 + 1;
/// Whisper clamps the power before log10 at this floor.
const POWER_FLOOR: f32 = 1e-10;
/// Whisper keeps only the top 80 dB (8 decades) of the log spectrum.
const DYNAMIC_RANGE_DECADES: f32 = 8.0;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MelError {
    #[error(
        "audio of {n_samples} samples is too short for Whisper's centred STFT: it needs at least \
         {min_samples} samples ({min_ms:.1} ms at 16 kHz) for the reflect padding; pad the clip \
         with silence"
    )]
    TooShort {
        n_samples: usize,
        min_samples: usize,
        min_ms: f64,
    },
}

/// Minimum input length: `torch.stft(center=True)` reflects `n_fft / 2`
/// samples at each edge, which needs more than `n_fft / 2` samples.
pub const MIN_SAMPLES: usize = N_FFT / 2 + 1;

/// librosa's Slaney mel scale (`htk=False`): linear below 1 kHz, log above.
fn hz_to_mel_slaney(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz_slaney(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// `librosa.filters.mel(sr, n_fft, n_mels)` with its defaults (fmin 0,
/// fmax sr/2, Slaney scale, Slaney area normalisation), computed in f64 and
/// stored as f32 like librosa's default dtype. Row-major `[n_mels][n_fft/2+1]`.
pub fn slaney_mel_filters(sample_rate_hz: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let sr = f64::from(sample_rate_hz);
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * (sr / 2.0) / (n_bins - 1) as f64)
        .collect();
    let mel_min = hz_to_mel_slaney(0.0);
    let mel_max = hz_to_mel_slaney(sr / 2.0);
    let mel_points: Vec<f64> = (0..n_mels + 2)
        .map(|i| {
            let m = mel_min + (mel_max - mel_min) * i as f64 / (n_mels + 1) as f64;
            mel_to_hz_slaney(m)
        })
        .collect();
    let mut weights = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let lower_width = mel_points[m + 1] - mel_points[m];
        let upper_width = mel_points[m + 2] - mel_points[m + 1];
        let enorm = 2.0 / (mel_points[m + 2] - mel_points[m]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = -(mel_points[m] - f) / lower_width;
            let upper = (mel_points[m + 2] - f) / upper_width;
            let w = lower.min(upper).max(0.0);
            weights[m * n_bins + k] = (w * enorm) as f32;
        }
    }
    weights
}

/// The mel filterbank as sparse rows: each Slaney triangle covers only a few
/// FFT bins, so the per-frame product touches ~2 bins per band on average
/// instead of 201.
#[derive(Debug, Clone)]
struct SparseFilters {
    /// (first bin, weights) per mel band.
    rows: Vec<(usize, Vec<f32>)>,
}

impl SparseFilters {
    fn new(dense: &[f32], n_mels: usize, n_bins: usize) -> Self {
        let rows = (0..n_mels)
            .map(|m| {
                let row = &dense[m * n_bins..(m + 1) * n_bins];
                let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w != 0.0).unwrap_or(0);
                (first, row[first..=last.max(first)].to_vec())
            })
            .collect();
        Self { rows }
    }
}

/// A log-mel spectrogram stored frame-major: `data[frame * N_MELS + mel]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MelSpectrogram {
    pub n_frames: usize,
    pub data: Vec<f32>,
}

impl MelSpectrogram {
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * N_MELS..(t + 1) * N_MELS]
    }

    /// Whisper's own layout, `[n_mels][n_frames]`.
    pub fn to_mel_major(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.data.len()];
        for t in 0..self.n_frames {
            for m in 0..N_MELS {
                out[m * self.n_frames + t] = self.data[t * N_MELS + m];
            }
        }
        out
    }
}

/// Applies Whisper's global clamp `max(x, max(x) - 8)` and `(x + 4) / 4` to
/// log10 mel values, in place. Call it once per utterance on the frames that
/// [`StreamingLogMel`] produced.
pub fn normalise_whisper(log10_mel: &mut [f32]) {
    let max = log10_mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = max - DYNAMIC_RANGE_DECADES;
    for x in log10_mel.iter_mut() {
        *x = (x.max(floor) + 4.0) / 4.0;
    }
}

/// Whisper's log-mel of a whole clip (16 kHz mono), frame-major.
pub fn log_mel_spectrogram(audio: &[f32]) -> Result<MelSpectrogram, MelError> {
    if audio.len() < MIN_SAMPLES {
        return Err(MelError::TooShort {
            n_samples: audio.len(),
            min_samples: MIN_SAMPLES,
            min_ms: MIN_SAMPLES as f64 * 1000.0 / f64::from(SAMPLE_RATE_HZ),
        });
    }
    let mut mel = StreamingLogMel::new();
    let mut data = Vec::with_capacity(audio.len() / HOP_SAMPLES * N_MELS);
    mel.push(audio, |frame| data.extend_from_slice(frame));
    mel.finish(|frame| data.extend_from_slice(frame))?;
    normalise_whisper(&mut data);
    Ok(MelSpectrogram {
        n_frames: data.len() / N_MELS,
        data,
    })
}

/// Incremental Whisper STFT + mel + log10. Frame `t` is centred on sample
/// `t * HOP_SAMPLES`; it is emitted once sample `t * HOP + N_FFT / 2 - 1` has
/// arrived. The last frames, whose windows run past the end, are emitted by
/// [`finish`](Self::finish) with the right-edge reflection `torch.stft` uses.
/// After `push` of `n` samples and `finish`, exactly `n / HOP_SAMPLES` frames
/// have been emitted (Whisper drops the STFT's final frame).
///
/// All buffers are allocated in `new`; `push` and `finish` do not allocate.
pub struct StreamingLogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: SparseFilters,
    /// Samples from absolute index `buf_start` onward.
    buf: Vec<f32>,
    buf_start: usize,
    /// Total samples pushed since the last reset.
    n_samples: usize,
    next_frame: usize,
    frame_in: Vec<f32>,
    spectrum: Vec<Complex32>,
    fft_scratch: Vec<Complex32>,
    power: Vec<f32>,
    out: [f32; N_MELS],
}

/// Capacity of the sample buffer: one window plus room to append pushes in
/// slices without growing.
const BUF_CAPACITY: usize = N_FFT + 4096;

impl Default for StreamingLogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamingLogMel {
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // torch.hann_window(400) is periodic: the denominator is N, not N - 1.
        let window = (0..N_FFT)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let dense = slaney_mel_filters(SAMPLE_RATE_HZ, N_FFT, N_MELS);
        let spectrum = fft.make_output_vec();
        let fft_scratch = fft.make_scratch_vec();
        Self {
            window,
            filters: SparseFilters::new(&dense, N_MELS, N_FREQ_BINS),
            buf: Vec::with_capacity(BUF_CAPACITY),
            buf_start: 0,
            n_samples: 0,
            next_frame: 0,
            frame_in: vec![0f32; N_FFT],
            spectrum,
            fft_scratch,
            power: vec![0f32; N_FREQ_BINS],
            out: [0f32; N_MELS],
            fft,
        }
    }

    /// Forgets all audio; the next sample pushed is sample 0 of a new clip.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf_start = 0;
        self.n_samples = 0;
        self.next_frame = 0;
    }

    /// Frames emitted since the last reset.
    pub fn frames_emitted(&self) -> usize {
        self.next_frame
    }

    /// Appends 16 kHz mono samples and emits every frame whose window is now
    /// complete, as 80 log10 mel values (not yet normalised).
    pub fn push(&mut self, mut samples: &[f32], mut on_frame: impl FnMut(&[f32; N_MELS])) {
        while !samples.is_empty() {
            let room = BUF_CAPACITY - self.buf.len();
            let take = room.min(samples.len());
            self.buf.extend_from_slice(&samples[..take]);
            self.n_samples += take;
            samples = &samples[take..];
            while self.next_frame * HOP_SAMPLES + N_FFT / 2 <= self.n_samples {
                self.compute_frame(self.next_frame, false);
                on_frame(&self.out);
                self.next_frame += 1;
            }
            self.compact();
        }
    }

    /// Emits the remaining frames (right edge reflected) and resets, ready for
    /// the next clip. Fails if fewer than [`MIN_SAMPLES`] samples were pushed.
    pub fn finish(&mut self, mut on_frame: impl FnMut(&[f32; N_MELS])) -> Result<(), MelError> {
        if self.n_samples < MIN_SAMPLES {
            let n_samples = self.n_samples;
            self.reset();
            return Err(MelError::TooShort {
                n_samples,
                min_samples: MIN_SAMPLES,
                min_ms: MIN_SAMPLES as f64 * 1000.0 / f64::from(SAMPLE_RATE_HZ),
            });
        }
        let n_frames = self.n_samples / HOP_SAMPLES;
        while self.next_frame < n_frames {
            self.compute_frame(self.next_frame, true);
            on_frame(&self.out);
            self.next_frame += 1;
        }
        self.reset();
        Ok(())
    }

    /// Drops samples no future frame can reach. Frames 0 and 1 reflect the
    /// first 200 samples, so nothing is dropped until frame 2.
    fn compact(&mut self) {
        let keep_from = (self.next_frame * HOP_SAMPLES).saturating_sub(N_FFT / 2);
        if keep_from > self.buf_start {
            let drop = keep_from - self.buf_start;
            self.buf.copy_within(drop.., 0);
            self.buf.truncate(self.buf.len() - drop);
            self.buf_start = keep_from;
        }
    }

    fn sample(&self, index: isize, at_end: bool) -> f32 {
        let n = self.n_samples as isize;
        // torch's reflect padding: x[-k] = x[k], x[n-1+k] = x[n-1-k].
        let i = if index < 0 {
            -index
        } else if index >= n {
            debug_assert!(at_end);
            2 * (n - 1) - index
        } else {
            index
        };
        self.buf[i as usize - self.buf_start]
    }

    fn compute_frame(&mut self, t: usize, at_end: bool) {
        let start = (t * HOP_SAMPLES) as isize - (N_FFT / 2) as isize;
        let fast = start >= 0 && start as usize + N_FFT <= self.n_samples;
        if fast {
            let off = start as usize - self.buf_start;
            for ((dst, &x), &w) in self
                .frame_in
                .iter_mut()
                .zip(&self.buf[off..off + N_FFT])
                .zip(&self.window)
            {
                *dst = x * w;
            }
        } else {
            for j in 0..N_FFT {
                self.frame_in[j] = self.sample(start + j as isize, at_end) * self.window[j];
            }
        }
        self.fft
            .process_with_scratch(
                &mut self.frame_in,
                &mut self.spectrum,
                &mut self.fft_scratch,
            )
            .expect("buffer sizes come from the planner");
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.re * c.re + c.im * c.im;
        }
        for (out, (first, weights)) in self.out.iter_mut().zip(&self.filters.rows) {
            let mut acc = 0f32;
            for (w, p) in weights.iter().zip(&self.power[*first..]) {
                acc += w * p;
            }
            *out = acc.max(POWER_FLOOR).log10();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chirp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                0.3 * (2.0 * std::f32::consts::PI * (200.0 + 1500.0 * t) * t).sin()
                    + 0.05 * ((i * 7919 % 1000) as f32 / 1000.0 - 0.5)
            })
            .collect()
    }

    #[test]
    fn frame_count_matches_whisper_dropping_the_last_stft_frame() {
        for n in [201, 399, 400, 480, 16_000, 16_159, 16_160] {
            let mel = log_mel_spectrogram(&vec![0.1; n]).unwrap();
            assert_eq!(mel.n_frames, n / HOP_SAMPLES, "n = {n}");
        }
    }

    #[test]
    fn streaming_in_odd_chunks_equals_batch_after_per_utterance_normalisation() {
        let audio = chirp(37_123);
        let batch = log_mel_spectrogram(&audio).unwrap();
        let mut mel = StreamingLogMel::new();
        let mut frames = Vec::new();
        let mut emitted_before_finish = 0;
        for chunk in audio.chunks(97) {
            mel.push(chunk, |f| frames.extend_from_slice(f));
            emitted_before_finish = frames.len() / N_MELS;
        }
        // All but the right-edge frames come out while audio is still arriving.
        assert_eq!(emitted_before_finish, (37_123 - 200) / HOP_SAMPLES + 1);
        mel.finish(|f| frames.extend_from_slice(f)).unwrap();
        normalise_whisper(&mut frames);
        assert_eq!(frames, batch.data);
    }

    #[test]
    fn stream_resets_after_finish() {
        let audio = chirp(8_000);
        let mut mel = StreamingLogMel::new();
        let mut a = Vec::new();
        mel.push(&audio, |f| a.extend_from_slice(f));
        mel.finish(|f| a.extend_from_slice(f)).unwrap();
        let mut b = Vec::new();
        mel.push(&audio, |f| b.extend_from_slice(f));
        mel.finish(|f| b.extend_from_slice(f)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn too_short_input_is_an_error_not_a_panic() {
        let err = log_mel_spectrogram(&[0.0; 200]).unwrap_err();
        assert!(err.to_string().contains("pad the clip"), "{err}");
        let mut mel = StreamingLogMel::new();
        mel.push(&[0.0; 10], |_| {});
        assert!(mel.finish(|_| {}).is_err());
    }

    #[test]
    fn slaney_filters_have_librosa_shape_and_area_normalisation() {
        let f = slaney_mel_filters(16_000, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        // Slaney normalisation makes each triangle's area in Hz equal to 1
        // (up to the discretisation): sum(w) * bin_width_hz ~ 1.
        let bin_hz = 8000.0 / 200.0;
        for m in 10..80 {
            let area: f32 = f[m * 201..(m + 1) * 201].iter().sum::<f32>() * bin_hz;
            assert!((area - 1.0).abs() < 0.1, "band {m}: area {area}");
        }
    }
}
