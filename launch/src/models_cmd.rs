//! `tendon models …`: model files (import, inspect, train).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Convert a CTranslate2 Whisper model (faster-whisper's model.bin +
    /// vocabulary.txt in DIR) into a whisper.cpp ggml f16 file.
    ImportCt2 {
        /// Folder holding model.bin and vocabulary.txt.
        dir: PathBuf,
        /// The ggml file to write.
        out: PathBuf,
    },
}

pub fn run(cmd: ModelsCommand) -> Result<()> {
    match cmd {
        ModelsCommand::ImportCt2 { dir, out } => {
            let started = std::time::Instant::now();
            let s = tendon_speech::ggml::import_ct2_dir(&dir, &out)?;
            println!(
                "wrote {} ({} bytes, {} tensors: {} f16, {} f32; n_vocab {}, {} audio + {} text layers) in {:.1} s",
                out.display(),
                s.bytes_written,
                s.n_tensors,
                s.n_f16,
                s.n_f32,
                s.hparams.n_vocab,
                s.hparams.n_audio_layer,
                s.hparams.n_text_layer,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
