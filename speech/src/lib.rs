//! tendon-speech: microphone and audio files to Whisper log-mel frames,
//! spectrogram patch tokens, audio codebook ids, and spoken operator
//! commands (VAD → whisper.cpp → command grammar).

pub mod asr;
pub mod capture;
pub mod codebook;
pub mod ct2;
pub mod ggml;
pub mod grammar;
pub mod mcap_audio;
pub mod mel;
pub mod patches;
pub mod pipeline;
pub mod source;
pub mod vad;

pub use asr::{AsrConfig, AsrError, Recognizer};
pub use grammar::{CommandGrammar, Intent, IntentMatch};
pub use mcap_audio::{McapAudioReader, McapAudioSource, McapAudioWriter};
pub use mel::{log_mel_spectrogram, MelSpectrogram, StreamingLogMel};
pub use pipeline::{CommandListener, CommandResult};
pub use source::{AudioSource, PushSource, WavSource};
pub use vad::{Utterance, Vad, VadConfig};
