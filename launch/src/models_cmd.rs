//! `tendon models …`: model files (import, inspect, train).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Show a policy model file (.gguf or .safetensors): tensors, formats,
    /// sizes and config.
    Inspect { file: PathBuf },
    /// Re-store a policy model per component precision (writes OUT
    /// .safetensors + .json), e.g. --policy ffn=q4_0,qkv=q8_0,kv_cache=f16.
    Quantize {
        input: PathBuf,
        output: PathBuf,
        /// COMPONENT=FORMAT overrides of the model's precision policy
        /// (components: embeddings, norms, qkv, attn_out, ffn, lm_head,
        /// kv_cache, inputs, or all).
        #[arg(long)]
        policy: Option<String>,
    },
    /// Quantize one component at a time and report logits cosine and action
    /// error against F32 on a fixed input set.
    Sensitivity {
        model: PathBuf,
        #[arg(long, default_value_t = 8)]
        prompts: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Convert a CTranslate2 Whisper model (faster-whisper's model.bin +
    /// vocabulary.txt in DIR) into a whisper.cpp ggml f16 file.
    ImportCt2 {
        /// Folder holding model.bin and vocabulary.txt.
        dir: PathBuf,
        /// The ggml file to write.
        out: PathBuf,
        /// Weight matrices as `f16` or `q8_0` (ggml's 8-bit blocks).
        #[arg(long = "type", default_value = "f16")]
        weight_type: String,
    },
    /// Learn an audio codebook (k-means over bundles of log-mel frames) from
    /// WAV files and save it; its centroids turn audio into token ids.
    TrainCodebook {
        /// Training audio (any rate and channel count).
        #[arg(required = true)]
        wavs: Vec<PathBuf>,
        /// Codebook file to write.
        #[arg(long)]
        out: PathBuf,
        /// Number of centroids (token ids).
        #[arg(long, default_value_t = 256)]
        k: usize,
        /// Log-mel frames (10 ms each) per bundle, 2..=8.
        #[arg(long, default_value_t = 4)]
        bundle_frames: usize,
        #[arg(long, default_value_t = 25)]
        iterations: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(cmd: ModelsCommand) -> Result<()> {
    match cmd {
        ModelsCommand::Inspect { file } => {
            tendon_policy::cli::inspect(&file, &mut std::io::stdout())?;
            Ok(())
        }
        ModelsCommand::Quantize {
            input,
            output,
            policy,
        } => {
            let (before, after) = tendon_policy::cli::quantize(&input, &output, policy.as_deref())?;
            println!(
                "wrote {} ({:.1} MiB of weights, was {:.1} MiB)",
                output.display(),
                after as f64 / 1048576.0,
                before as f64 / 1048576.0
            );
            Ok(())
        }
        ModelsCommand::Sensitivity {
            model,
            prompts,
            threads,
        } => {
            let rows = tendon_policy::cli::sensitivity(&model, prompts, threads)?;
            println!("component  format  logits_cosine  action_mae  weights_MiB");
            for r in rows {
                println!(
                    "{:<10} {:<7} {:>13.6} {:>11} {:>12.2}",
                    r.component.name(),
                    r.format.name(),
                    r.logits_cosine,
                    r.action_mae.map_or("-".into(), |m| format!("{m:.5}")),
                    r.weight_bytes as f64 / 1048576.0
                );
            }
            Ok(())
        }
        ModelsCommand::ImportCt2 {
            dir,
            out,
            weight_type,
        } => {
            use tendon_speech::ggml::WeightType;
            let weight_type = match weight_type.as_str() {
                "f16" => WeightType::F16,
                "q8_0" => WeightType::Q8_0,
                other => anyhow::bail!("--type {other}: supported weight types are f16 and q8_0"),
            };
            let started = std::time::Instant::now();
            let s = tendon_speech::ggml::import_ct2_dir(&dir, &out, weight_type)?;
            println!(
                "wrote {} ({} bytes, {} tensors: {} f16, {} q8_0, {} f32; n_vocab {}, {} audio + {} text layers) in {:.1} s",
                out.display(),
                s.bytes_written,
                s.n_tensors,
                s.n_f16,
                s.n_q8_0,
                s.n_f32,
                s.hparams.n_vocab,
                s.hparams.n_audio_layer,
                s.hparams.n_text_layer,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        ModelsCommand::TrainCodebook {
            wavs,
            out,
            k,
            bundle_frames,
            iterations,
            seed,
        } => train_codebook(&wavs, &out, k, bundle_frames, iterations, seed),
    }
}

fn train_codebook(
    wavs: &[PathBuf],
    out: &std::path::Path,
    k: usize,
    bundle_frames: usize,
    iterations: usize,
    seed: u64,
) -> Result<()> {
    use anyhow::Context;
    use tendon_speech::codebook::Codebook;
    let started = std::time::Instant::now();
    let mut frames = Vec::new();
    for wav in wavs {
        let audio = tendon_speech::WavSource::open(wav)?.into_samples();
        let mel = tendon_speech::log_mel_spectrogram(&audio)
            .with_context(|| format!("log-mel of {}", wav.display()))?;
        // Bundles never straddle two files.
        let whole = mel.n_frames / bundle_frames.max(1) * bundle_frames.max(1);
        frames.extend_from_slice(&mel.data[..whole * tendon_speech::mel::N_MELS]);
    }
    let (book, report) = Codebook::train(&frames, bundle_frames, k, iterations, seed)?;
    book.save(out)?;
    println!(
        "wrote {}: k {k}, {bundle_frames} frames per bundle, trained on {} bundles; mse per value {:.4} after seeding, {:.4} after {} iterations ({:.1} s)",
        out.display(),
        report.n_bundles,
        report.seeded_mse,
        report.trained_mse,
        report.iterations,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
