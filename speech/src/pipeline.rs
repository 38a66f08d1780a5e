//! Spoken commands end to end: 16 kHz audio → VAD utterances → Whisper
//! transcript → command intent, with the time from end of speech to intent.

use std::time::Instant;

use crate::asr::{AsrError, Recognizer};
use crate::grammar::{CommandGrammar, IntentMatch};
use crate::mel::SAMPLE_RATE_HZ;
use crate::vad::{Utterance, Vad, VadConfig};

#[derive(Debug, Clone)]
pub struct CommandResult {
    pub transcript: String,
    pub intent: IntentMatch,
    /// Where speech ended, in ms of stream time.
    pub speech_end_ms: f64,
    /// End of speech → intent: the VAD's hangover (audio that must arrive
    /// before the utterance is known to be over) plus the measured wall time
    /// of recognition and matching. On a live microphone this is the delay
    /// the operator sees, minus the capture buffer.
    pub latency_ms: f64,
    /// The recognition and matching part of `latency_ms`.
    pub compute_ms: f64,
}

pub struct CommandListener {
    vad: Vad,
    asr: Recognizer,
    grammar: CommandGrammar,
    utterances: Vec<Utterance>,
}

impl CommandListener {
    pub fn new(asr: Recognizer, vad_config: VadConfig) -> Self {
        Self {
            vad: Vad::new(vad_config),
            asr,
            grammar: CommandGrammar::new(),
            utterances: Vec::new(),
        }
    }

    /// Feeds 16 kHz mono audio; each utterance that ends is recognised and
    /// reported through `on_result`.
    pub fn push(
        &mut self,
        samples: &[f32],
        on_result: &mut impl FnMut(CommandResult),
    ) -> Result<(), AsrError> {
        self.vad.push(samples, &mut self.utterances);
        self.drain(on_result)
    }

    /// End of stream.
    pub fn finish(&mut self, on_result: &mut impl FnMut(CommandResult)) -> Result<(), AsrError> {
        self.vad.finish(&mut self.utterances);
        self.drain(on_result)
    }

    fn drain(&mut self, on_result: &mut impl FnMut(CommandResult)) -> Result<(), AsrError> {
        for utt in std::mem::take(&mut self.utterances) {
            on_result(self.recognise(&utt)?);
        }
        Ok(())
    }

    /// Recognises one segmented utterance.
    pub fn recognise(&mut self, utt: &Utterance) -> Result<CommandResult, AsrError> {
        let started = Instant::now();
        let transcription = self.asr.transcribe(&utt.samples)?;
        let intent = self.grammar.classify(&transcription.text);
        let compute_ms = started.elapsed().as_secs_f64() * 1000.0;
        let wait_ms = (utt.decided_at_sample - utt.speech_end_sample) as f64 * 1000.0
            / f64::from(SAMPLE_RATE_HZ);
        Ok(CommandResult {
            transcript: transcription.text,
            intent,
            speech_end_ms: utt.speech_end_ms(),
            latency_ms: wait_ms + compute_ms,
            compute_ms,
        })
    }
}
