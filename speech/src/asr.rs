//! Whisper speech recognition through whisper-rs (whisper.cpp), tuned for
//! short spoken commands: greedy decoding at temperature 0 with no fallback
//! (deterministic), a 512-frame audio context (10.24 s window, about half
//! the latency of the full 1500 on a 2 s command), a token cap against the
//! repetition loops a shortened context can cause, one segment, no
//! timestamps, English.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// Environment variable that overrides the model path.
pub const MODEL_ENV: &str = "TENDON_WHISPER_MODEL";
/// File name of the imported model inside the cache.
pub const MODEL_FILE: &str = "ggml-tiny.en.bin";

/// The audio context (in encoder frames of 20 ms) used for commands.
/// models.md: 512 halves latency and helped accuracy; 256 looped.
pub const COMMAND_AUDIO_CTX: usize = 512;
/// Longest utterance that fits the shortened window: 512 encoder frames
/// = 1024 mel frames = 10.24 s.
pub const MAX_UTTERANCE_SAMPLES: usize = COMMAND_AUDIO_CTX * 2 * crate::mel::HOP_SAMPLES;
/// A command is a few words (under 10 tokens); the cap stops a looping
/// decoder early.
pub const COMMAND_MAX_TOKENS: usize = 16;
/// Decoder prompt that primes tiny.en with the command vocabulary. Without
/// it, espeak's "squat" comes out as "What?" in every voice and speed. Short
/// sentences, not a comma list: a list prompt made the decoder continue the
/// list ("walk, walk, walk, ...") until the token cap.
pub const COMMAND_PROMPT: &str =
    "Stand up. Sit down. Squat. Damp mode. Stop. Start. Walk forward. \
     Walk backward. Turn left. Turn right. Wave.";

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error(
        "Whisper model not found at '{0}'; run scripts/install-speech.sh (it imports tiny.en into \
         ~/.cache/tendon/whisper/) or set {MODEL_ENV} to a ggml Whisper model"
    )]
    ModelMissing(PathBuf),
    #[error("whisper.cpp could not load '{path}'; is it a ggml Whisper model? re-run scripts/install-speech.sh --force")]
    Load {
        path: PathBuf,
        source: whisper_rs::WhisperError,
    },
    #[error("whisper.cpp failed on an utterance: {0}")]
    Inference(#[from] whisper_rs::WhisperError),
    #[error(
        "utterance of {n_samples} samples is longer than the {max} samples (10.24 s) the command \
         window holds; the VAD caps utterances at that length"
    )]
    TooLong { n_samples: usize, max: usize },
}

/// `$TENDON_WHISPER_MODEL`, else `$TENDON_CACHE/whisper/ggml-tiny.en.bin`,
/// else `~/.cache/tendon/whisper/ggml-tiny.en.bin`.
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os(MODEL_ENV) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("TENDON_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tendon")))
        .unwrap_or_else(|| PathBuf::from(".cache/tendon"));
    cache.join("whisper").join(MODEL_FILE)
}

#[derive(Debug, Clone, Copy)]
pub struct AsrConfig {
    pub n_threads: usize,
    pub audio_ctx: usize,
    pub max_tokens: usize,
    /// Decoder prompt (vocabulary priming); empty for none.
    pub prompt: &'static str,
}

impl Default for AsrConfig {
    fn default() -> Self {
        Self {
            n_threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            audio_ctx: COMMAND_AUDIO_CTX,
            max_tokens: COMMAND_MAX_TOKENS,
            prompt: COMMAND_PROMPT,
        }
    }
}

/// One recognised utterance.
#[derive(Debug, Clone)]
pub struct Transcription {
    pub text: String,
    pub elapsed: Duration,
}

/// A loaded Whisper model with one decoding state, reused across utterances.
pub struct Recognizer {
    // The state borrows the context's weights through an Arc inside
    // whisper-rs; keep the context alive alongside.
    _ctx: WhisperContext,
    state: whisper_rs::WhisperState,
    config: AsrConfig,
}

impl Recognizer {
    pub fn load(path: &Path, config: AsrConfig) -> Result<Self, AsrError> {
        if !path.is_file() {
            return Err(AsrError::ModelMissing(path.to_path_buf()));
        }
        // Route whisper.cpp's and ggml's stderr chatter into `log` (off
        // unless RUST_LOG asks for it).
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|source| AsrError::Load {
                path: path.to_path_buf(),
                source,
            })?;
        let state = ctx.create_state().map_err(|source| AsrError::Load {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            _ctx: ctx,
            state,
            config,
        })
    }

    pub fn config(&self) -> AsrConfig {
        self.config
    }

    /// Computes whisper.cpp's own log-mel of a clip (for the benchmark that
    /// compares it with ours).
    pub fn whisper_cpp_mel(&mut self, audio_16k: &[f32]) -> Result<(), AsrError> {
        self.state.pcm_to_mel(audio_16k, self.config.n_threads)?;
        Ok(())
    }

    /// Transcribes one utterance (16 kHz mono). whisper.cpp pads it with
    /// silence to its window itself.
    pub fn transcribe(&mut self, audio_16k: &[f32]) -> Result<Transcription, AsrError> {
        if audio_16k.len() > MAX_UTTERANCE_SAMPLES {
            return Err(AsrError::TooLong {
                n_samples: audio_16k.len(),
                max: MAX_UTTERANCE_SAMPLES,
            });
        }
        let started = Instant::now();
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.config.n_threads as i32);
        params.set_language(Some("en"));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_single_segment(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_temperature(0.0);
        // No temperature fallback: the same audio always gives the same text.
        params.set_temperature_inc(0.0);
        params.set_audio_ctx(self.config.audio_ctx as i32);
        params.set_max_tokens(self.config.max_tokens as i32);
        // Bracketed non-speech annotations ("[MUSIC]") are never commands.
        params.set_suppress_nst(true);
        if !self.config.prompt.is_empty() {
            params.set_initial_prompt(self.config.prompt);
        }
        self.state.full(params, audio_16k)?;
        let mut text = String::new();
        for segment in self.state.as_iter() {
            text.push_str(&segment.to_str_lossy()?);
        }
        Ok(Transcription {
            text: text.trim().to_string(),
            elapsed: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_error_names_the_install_script() {
        let err = Recognizer::load(Path::new("/nonexistent/ggml.bin"), AsrConfig::default())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("scripts/install-speech.sh"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_model_is_a_load_error_not_a_crash() {
        let path =
            std::env::temp_dir().join(format!("tendon-not-a-model-{}.bin", std::process::id()));
        std::fs::write(&path, b"definitely not ggml").unwrap();
        let err = Recognizer::load(&path, AsrConfig::default()).err().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, AsrError::Load { .. }), "{err}");
    }
}
