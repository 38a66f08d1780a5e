//! The logic behind `tendon models …` and `tendon bench decode`: the binary
//! parses arguments and calls these.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::action::{decode_actions, DecodedActions};
use crate::batch::Batch;
use crate::engine::{Engine, EngineOptions};
use crate::error::{PolicyError, Result};
use crate::model::{component_of, Input, Model};
use crate::precision::{Component, PrecisionPolicy};
use crate::quant::Format;
use crate::rng::SplitMix64;
use crate::weights::{self, gguf::GgufFile};

fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// `tendon models inspect FILE`: header/metadata, tensors (format, shape,
/// size) and the model config.
pub fn inspect(path: &Path, out: &mut dyn Write) -> Result<()> {
    let w = |out: &mut dyn Write, s: String| {
        let _ = writeln!(out, "{s}");
    };
    if path.extension().and_then(|e| e.to_str()) == Some("gguf") {
        let f = GgufFile::open(path)?;
        w(
            out,
            format!(
                "{}: GGUF v{}, {} metadata keys, {} tensors, alignment {}",
                path.display(),
                f.version,
                f.metadata.len(),
                f.tensors.len(),
                f.alignment
            ),
        );
        for (k, v) in &f.metadata {
            w(out, format!("  {k} = {}", v.display()));
        }
        for t in &f.tensors {
            let ty = crate::weights::gguf::ggml_type_name(t.ggml_type);
            let bytes = f
                .tensor(t)
                .map(|t| human_bytes(t.bytes().len()))
                .unwrap_or_else(|_| "unsupported".into());
            w(
                out,
                format!("  {:<28} {:<6} ne {:?} {bytes}", t.name, ty, t.ne),
            );
        }
    }
    let model = weights::load_model(path)?;
    if path.extension().and_then(|e| e.to_str()) != Some("gguf") {
        w(out, format!("{}: safetensors", path.display()));
        for t in model.tensors() {
            w(
                out,
                format!(
                    "  {:<28} {:<6} {:?} {} [{}]",
                    t.name,
                    t.format.name(),
                    t.shape,
                    human_bytes(t.bytes().len()),
                    component_of(&t.name).name()
                ),
            );
        }
    }
    let c = &model.config;
    w(out, format!(
        "model: d_model {}, {} layers, {} heads ({} KV), d_ff {}, vocab {} (text {}, action bins {}, special {}, intents {}), max_seq_len {}",
        c.d_model, c.n_layers, c.n_heads, c.n_kv_heads, c.d_ff(), c.vocab_size(), c.vocab.text, c.vocab.action_bins, c.vocab.special, c.vocab.intents, c.max_seq_len
    ));
    let formats: Vec<String> = model
        .format_summary()
        .iter()
        .map(|(f, n)| format!("{f} ×{n}"))
        .collect();
    w(
        out,
        format!(
            "weights: {} in {} tensors ({}){}",
            human_bytes(model.weight_bytes()),
            model.tensors().len(),
            formats.join(", "),
            if model.head_is_tied() {
                "; LM head tied to the embedding"
            } else {
                ""
            }
        ),
    );
    w(
        out,
        format!(
            "config: {}",
            serde_json::to_string(&c).expect("config serialises")
        ),
    );
    Ok(())
}

/// A one-line progress bar on stderr.
struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        let width = 30;
        let filled = width * self.done / self.total.max(1);
        eprint!(
            "\r[{}{}] {}/{} {:.1} s {:<32}",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64(),
            what
        );
        if self.done == self.total {
            eprintln!();
        }
    }
}

/// `tendon models quantize IN OUT --policy SPEC`: writes OUT (.safetensors +
/// .json) with every component in the format the policy gives it.
pub fn quantize(input: &Path, output: &Path, policy_spec: Option<&str>) -> Result<(usize, usize)> {
    if output.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(PolicyError::Input(format!(
            "output '{}' must end in .safetensors (its config goes next to it as .json)",
            output.display()
        )));
    }
    let model = weights::load_model(input)?;
    let mut policy = model.config.precision;
    if let Some(spec) = policy_spec {
        policy.apply_overrides(spec).map_err(PolicyError::Input)?;
    }
    let mut bar = Progress {
        total: model.tensors().len(),
        done: 0,
        started: Instant::now(),
    };
    let q = model.requantize(&policy, |name| bar.step(name))?;
    weights::safetensors::save(&q, output)?;
    Ok((model.weight_bytes(), q.weight_bytes()))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[derive(Debug, Clone)]
pub struct SensitivityRow {
    pub component: Component,
    pub format: Format,
    /// Mean over the input set of the cosine between final logits and F32's.
    pub logits_cosine: f64,
    /// Mean |action − action_F32| over every decoded value (config units); None without an action head.
    pub action_mae: Option<f64>,
    pub weight_bytes: usize,
}

/// A fixed input set: `n` prompts from a seeded generator, each using every
/// input the model has.
fn fixed_prompts(model: &Model, n: usize) -> Vec<(Vec<Vec<f32>>, Vec<u32>)> {
    let mut rng = SplitMix64::new(0x5e75);
    let c = &model.config;
    (0..n)
        .map(|_| {
            let mut feats = Vec::new();
            if let Some(pv) = c.inputs.vision_patch_dim {
                for _ in 0..4 {
                    feats.push(rng.normal_vec(pv, 1.0));
                }
            }
            if let Some(crate::config::AudioInput::Patches { patch_dim }) = c.inputs.audio {
                feats.push(rng.normal_vec(patch_dim, 1.0));
            }
            if let Some(s) = c.inputs.state_dim {
                feats.push(rng.normal_vec(s, 1.0));
            }
            let toks = (0..6)
                .map(|_| (rng.next_u64() % c.vocab.text as u64) as u32)
                .collect();
            (feats, toks)
        })
        .collect()
}

fn prompt_inputs<'a>(model: &Model, feats: &'a [Vec<f32>], toks: &[u32]) -> Vec<Input<'a>> {
    let c = &model.config;
    let mut it = feats.iter();
    let mut p = Vec::new();
    if c.inputs.vision_patch_dim.is_some() {
        p.extend(it.by_ref().take(4).map(|v| Input::Vision(v)));
    }
    if let Some(crate::config::AudioInput::Patches { .. }) = c.inputs.audio {
        p.extend(it.next().map(|v| Input::Audio(v)));
    }
    if c.inputs.state_dim.is_some() {
        p.extend(it.next().map(|v| Input::State(v)));
    }
    p.extend(toks.iter().map(|t| Input::Token(*t)));
    p
}

/// Final logits and, with an action head, the decoded action values.
type Outcome = (Vec<f32>, Option<Vec<f32>>);

fn evaluate(
    model: Arc<Model>,
    kv: Format,
    prompts: &[(Vec<Vec<f32>>, Vec<u32>)],
    threads: usize,
) -> Result<Vec<Outcome>> {
    let mut e = Engine::new(
        model.clone(),
        EngineOptions {
            threads,
            kv_format: kv,
            ..Default::default()
        },
    )?;
    let mut out = Vec::new();
    let mut acts = DecodedActions::new();
    for (feats, toks) in prompts {
        let p = prompt_inputs(&model, feats, toks);
        e.reset();
        let logits = e.forward(&p)?.to_vec();
        let actions = if model.config.action.is_some() {
            e.reset();
            decode_actions(&mut e, &p, &mut acts)?;
            Some(acts.values.clone())
        } else {
            None
        };
        out.push((logits, actions));
    }
    Ok(out)
}

/// `tendon models sensitivity MODEL`: quantizes one component at a time
/// (everything else F32) and compares logits and decoded actions with F32.
pub fn sensitivity(path: &Path, n_prompts: usize, threads: usize) -> Result<Vec<SensitivityRow>> {
    let loaded = weights::load_model(path)?;
    let base = Arc::new(loaded.requantize(&PrecisionPolicy::all_f32(), |_| {})?);
    let prompts = fixed_prompts(&base, n_prompts);
    let want = evaluate(base.clone(), Format::F32, &prompts, threads)?;
    let mut rows = Vec::new();
    let mut components: Vec<Component> = vec![
        Component::Embeddings,
        Component::Qkv,
        Component::AttnOut,
        Component::Ffn,
        Component::LmHead,
    ];
    if base.vision.is_some() || base.audio.is_some() || base.state.is_some() {
        components.push(Component::Inputs);
    }
    components.push(Component::Norms);
    components.push(Component::KvCache);
    for c in components {
        for f in Format::ALL
            .into_iter()
            .filter(|f| *f != Format::F32 && c.allows(*f))
        {
            let mut policy = PrecisionPolicy::all_f32();
            policy.set(c, f).map_err(PolicyError::Input)?;
            let (model, kv) = if c == Component::KvCache {
                (base.clone(), f)
            } else {
                (Arc::new(base.requantize(&policy, |_| {})?), Format::F32)
            };
            let got = evaluate(model.clone(), kv, &prompts, threads)?;
            let cos = got
                .iter()
                .zip(&want)
                .map(|(g, w)| cosine(&g.0, &w.0))
                .sum::<f64>()
                / got.len() as f64;
            let mae = base.config.action.as_ref().map(|_| {
                let (mut s, mut n) = (0.0, 0usize);
                for (g, w) in got.iter().zip(&want) {
                    for (a, b) in g.1.as_ref().unwrap().iter().zip(w.1.as_ref().unwrap()) {
                        s += (a - b).abs() as f64;
                        n += 1;
                    }
                }
                s / n.max(1) as f64
            });
            rows.push(SensitivityRow {
                component: c,
                format: f,
                logits_cosine: cos,
                action_mae: mae,
                weight_bytes: model.weight_bytes(),
            });
        }
    }
    Ok(rows)
}

#[derive(Debug, Clone)]
pub struct DecodeBench {
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub threads: usize,
    pub format: String,
    pub simd: &'static str,
    /// Sequences decoded together in the batched run (1: none run).
    pub batch: usize,
    /// Total tokens/s of `batch` sequences decoded together (every sequence's
    /// tokens counted), measured after the single-sequence run.
    pub batch_decode_tok_s: Option<f64>,
}

impl DecodeBench {
    pub fn to_json(&self) -> String {
        let mut j = serde_json::json!({
            "prefill_tok_s": self.prefill_tok_s,
            "decode_tok_s": self.decode_tok_s,
            "threads": self.threads,
            "format": self.format,
            "simd": self.simd,
            "batch": self.batch,
        });
        if let Some(b) = self.batch_decode_tok_s {
            j["batch_decode_tok_s"] = b.into();
            j["batch_speedup"] = (b / self.decode_tok_s).into();
        }
        j.to_string()
    }
}

/// The format holding most of the model's weight bytes.
pub fn dominant_format(model: &Model) -> Format {
    let mut best = (Format::F32, 0usize);
    for (f, _) in model.format_summary() {
        let bytes: usize = model
            .tensors()
            .iter()
            .filter(|t| t.format == f)
            .map(|t| t.bytes().len())
            .sum();
        if bytes > best.1 {
            best = (f, bytes);
        }
    }
    best.0
}

/// `tendon bench decode`: prefill `prompt_tokens` token ids, then decode
/// `gen_tokens` greedily; tokens/s of each phase (best of `repeats`). With
/// `batch` > 1, then `batch` sequences (prompts of the same length) decoded
/// together for `gen_tokens` steps: total tokens/s, best of `repeats`.
pub fn bench_decode(
    path: &Path,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
    repeats: usize,
    batch: usize,
) -> Result<DecodeBench> {
    let model = Arc::new(weights::load_model(path)?);
    let format = dominant_format(&model).name().to_string();
    let vocab = model.config.vocab.text.max(1) as u32;
    let prompt: Vec<Input> = (0..prompt_tokens as u32)
        .map(|i| Input::Token((i * 7 + 1) % vocab))
        .collect();
    let mut e = Engine::new(
        model,
        EngineOptions {
            threads,
            max_batch: prompt_tokens.clamp(1, 512),
            ..Default::default()
        },
    )?;
    let (mut best_p, mut best_d) = (0.0f64, 0.0f64);
    for _ in 0..repeats.max(1) {
        e.reset();
        let t0 = Instant::now();
        let mut tok = crate::reference::argmax(e.forward(&prompt)?);
        let tp = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for _ in 0..gen_tokens {
            tok = crate::reference::argmax(e.forward(&[Input::Token(tok)])?);
        }
        let td = t1.elapsed().as_secs_f64();
        best_p = best_p.max(prompt_tokens as f64 / tp);
        best_d = best_d.max(gen_tokens as f64 / td);
    }
    let (threads, simd) = (e.threads(), e.simd().describe());
    let model = e.model_arc();
    drop(e);
    let batch_decode_tok_s = if batch > 1 {
        Some(bench_batch(
            model, threads, &prompt, gen_tokens, repeats, batch,
        )?)
    } else {
        None
    };
    Ok(DecodeBench {
        prefill_tok_s: best_p,
        decode_tok_s: best_d,
        threads,
        format,
        simd,
        batch: batch.max(1),
        batch_decode_tok_s,
    })
}

/// Total decode tokens/s of `batch` sequences stepped together.
fn bench_batch(
    model: Arc<Model>,
    threads: usize,
    prompt: &[Input],
    gen_tokens: usize,
    repeats: usize,
    batch: usize,
) -> Result<f64> {
    let vocab_text = model.config.vocab.text.max(1) as u32;
    let vocab = model.config.vocab_size();
    let opts = EngineOptions {
        threads,
        max_batch: prompt.len().clamp(1, 512),
        ..Default::default()
    };
    let mut b = Batch::new(model, opts, batch, prompt.len() + gen_tokens + 1)?;
    // Each sequence's prompt differs in its first token, so their decodes differ.
    let prompts: Vec<Vec<Input>> = (0..batch as u32)
        .map(|s| {
            let mut p = prompt.to_vec();
            p[0] = Input::Token((s * 11 + 3) % vocab_text);
            p
        })
        .collect();
    let mut next = Vec::with_capacity(batch);
    let mut best = 0.0f64;
    for _ in 0..repeats.max(1) {
        for (id, _) in next.drain(..) {
            b.finish(id);
        }
        for p in &prompts {
            let (id, logits) = b.admit(p)?;
            next.push((id, crate::reference::argmax(logits)));
        }
        let t = Instant::now();
        for _ in 0..gen_tokens {
            let out = b.step(&next)?;
            for (i, (_, tok)) in next.iter_mut().enumerate() {
                *tok = crate::reference::argmax(&out[i * vocab..(i + 1) * vocab]);
            }
        }
        best = best.max((batch * gen_tokens) as f64 / t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// A policy-sized model: about 200 vision patches, 32 audio patches, 16
/// text tokens and one state vector in, one H×D action chunk out.
pub fn policy_sized_config(horizon: usize, dims: usize) -> crate::config::ModelConfig {
    use crate::config::{
        ActionConfig, ActionHead, AudioInput, InputsConfig, ModelConfig, VocabConfig,
    };
    ModelConfig {
        d_model: 512,
        n_layers: 8,
        n_heads: 8,
        n_kv_heads: 4,
        d_ff: Some(1536),
        rms_eps: 1e-5,
        rope_theta: 10_000.0,
        max_seq_len: 1024,
        vocab: VocabConfig {
            text: 1024,
            action_bins: 256,
            special: 8,
            intents: 16,
        },
        action: Some(ActionConfig {
            horizon,
            dims,
            ranges: vec![[-1.0, 1.0]; dims],
            step_ms: 20.0,
            head: ActionHead::DirectBins,
        }),
        inputs: InputsConfig {
            vision_patch_dim: Some(768),
            audio: Some(AudioInput::Patches { patch_dim: 256 }),
            state_dim: Some(64),
        },
        precision: PrecisionPolicy::default(),
    }
}

#[derive(Debug, Clone)]
pub struct PolicyBench {
    pub threads: usize,
    pub prompt_positions: usize,
    pub action_tokens: usize,
    /// Observation in → action chunk out, empty cache (median over repeats).
    pub cold_chunk_ms: f64,
    /// The same with every position but the state reused from the prefix cache.
    pub prefix_hit_chunk_ms: f64,
    /// 64 text tokens: plain greedy vs greedy-exact speculation with a Q4_0 draft of the same model, k = 8.
    pub plain_decode_ms: f64,
    pub speculative_decode_ms: f64,
    pub draft_acceptance: f64,
    /// Early exit checked every 2 layers on the same 64 text tokens:
    /// (threshold, fraction of decode layers skipped, fraction of tokens equal
    /// to plain greedy at the same position, decode ms).
    pub early_exit: Vec<(f32, f64, f64, f64)>,
    pub peak_rss_mib: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `tendon bench policy`: the policy-sized model with random weights under
/// the default precision policy.
pub fn bench_policy(
    threads: usize,
    horizon: usize,
    dims: usize,
    repeats: usize,
) -> Result<PolicyBench> {
    let cfg = policy_sized_config(horizon, dims);
    let model = Arc::new(Model::random(cfg, 0x9011c7, &PrecisionPolicy::default())?);
    let mut rng = SplitMix64::new(5);
    let vision: Vec<Vec<f32>> = (0..200).map(|_| rng.normal_vec(768, 1.0)).collect();
    let audio: Vec<Vec<f32>> = (0..32).map(|_| rng.normal_vec(256, 1.0)).collect();
    let states: Vec<Vec<f32>> = (0..repeats.max(1) + 1)
        .map(|_| rng.normal_vec(64, 1.0))
        .collect();
    fn build<'a>(
        vision: &'a [Vec<f32>],
        audio: &'a [Vec<f32>],
        state: &'a [f32],
    ) -> Vec<Input<'a>> {
        let mut p: Vec<Input> = (0..16u32).map(|t| Input::Token(t * 37 % 1024)).collect();
        p.extend(vision.iter().map(|v| Input::Vision(v)));
        p.extend(audio.iter().map(|v| Input::Audio(v)));
        p.push(Input::State(state));
        p
    }
    let opts = EngineOptions {
        threads,
        ..Default::default()
    };
    let mut e = Engine::new(model.clone(), opts)?;
    let mut acts = DecodedActions::new();
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for r in 0..repeats.max(1) {
        e.reset();
        let t = Instant::now();
        decode_actions(&mut e, &build(&vision, &audio, &states[r]), &mut acts)?;
        cold.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        decode_actions(&mut e, &build(&vision, &audio, &states[r + 1]), &mut acts)?;
        warm.push(t.elapsed().as_secs_f64() * 1e3);
        if acts.reused_positions + 1 != build(&vision, &audio, &states[0]).len() {
            return Err(PolicyError::Input(
                "prefix cache did not reuse the static context".into(),
            ));
        }
    }
    let prompt_positions = build(&vision, &audio, &states[0]).len();
    // Speculative decoding on text.
    let draft_model = Arc::new(model.requantize(&PrecisionPolicy::uniform(Format::Q4_0), |_| {})?);
    let text: Vec<Input> = (0..16u32).map(|t| Input::Token(t * 37 % 1024)).collect();
    let mut draft = Engine::new(draft_model, opts)?;
    let (mut plain, mut spec, mut acc) = (Vec::new(), Vec::new(), 0.0);
    let mut out = Vec::new();
    for _ in 0..repeats.max(1) {
        e.reset();
        out.clear();
        let t = Instant::now();
        e.greedy(&text, 64, &mut out)?;
        plain.push(t.elapsed().as_secs_f64() * 1e3);
        let want = out.clone();
        out.clear();
        let t = Instant::now();
        let st = crate::speculative::speculative_decode(
            &mut e,
            &mut draft,
            &text,
            64,
            8,
            crate::speculative::Acceptance::GreedyExact,
            &mut out,
        )?;
        spec.push(t.elapsed().as_secs_f64() * 1e3);
        if out != want {
            return Err(PolicyError::Input(
                "speculative output differs from greedy".into(),
            ));
        }
        acc = st.accepted as f64 / st.drafted.max(1) as f64;
    }
    let mut want = Vec::new();
    e.reset();
    e.greedy(&text, 64, &mut want)?;
    let mut early_exit = Vec::new();
    for threshold in [0.05f32, 0.1, 0.2] {
        let ee = crate::engine::EarlyExit {
            every_layers: 2,
            threshold,
        };
        let mut x = Engine::new(
            model.clone(),
            EngineOptions {
                early_exit: Some(ee),
                ..opts
            },
        )?;
        out.clear();
        let t = Instant::now();
        x.greedy(&text, 64, &mut out)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let st = x.exit_stats;
        let saved = 1.0 - st.layers_run as f64 / st.layers_total.max(1) as f64;
        let agree =
            out.iter().zip(&want).filter(|(a, b)| a == b).count() as f64 / want.len() as f64;
        early_exit.push((threshold, saved, agree, ms));
    }
    Ok(PolicyBench {
        early_exit,
        threads: e.threads(),
        prompt_positions,
        action_tokens: horizon * dims,
        cold_chunk_ms: median(cold),
        prefix_hit_chunk_ms: median(warm),
        plain_decode_ms: median(plain),
        speculative_decode_ms: median(spec),
        draft_acceptance: acc,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// A demo-sized model for the closed-loop tasks: d 128, 4 layers, the
/// parallel action head with an H×D chunk (16 × 17 upper-body slots in the
/// demo). It keeps the LM head with action bins, so the direct-bin path runs
/// on the same weights.
pub fn demo_sized_config(horizon: usize, dims: usize) -> crate::config::ModelConfig {
    let mut c = policy_sized_config(horizon, dims);
    c.d_model = 128;
    c.n_layers = 4;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = Some(384);
    c.max_seq_len = 640;
    c.vocab.text = 256;
    if let Some(a) = c.action.as_mut() {
        a.head = crate::config::ActionHead::Parallel;
    }
    c
}

/// One (prompt size, head) row of `tendon bench action-head`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionHeadRow {
    pub head: &'static str,
    pub prompt_positions: usize,
    /// Forward passes over the model per chunk: 1 prompt pass + 1 query pass
    /// (parallel), or the prompt pass + H·D + 1 decode steps (direct bins).
    pub passes_per_chunk: usize,
    /// Observation → chunk with an empty cache: median, min, max over repeats.
    pub cold_ms: [f64; 3],
    /// The same with everything but the state reused from the prefix cache.
    pub prefix_hit_ms: [f64; 3],
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionHeadBench {
    pub cpu: String,
    pub simd: &'static str,
    pub threads: usize,
    pub weights: String,
    pub d_model: usize,
    pub n_layers: usize,
    pub horizon: usize,
    pub dims: usize,
    pub rows: Vec<ActionHeadRow>,
}

fn spread_ms(mut v: Vec<f64>) -> [f64; 3] {
    v.sort_by(|a, b| a.total_cmp(b));
    [v[v.len() / 2], v[0], v[v.len() - 1]]
}

/// The CPU's model name from /proc/cpuinfo, for benchmark output.
pub fn cpu_model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// `tendon bench action-head`: observation → chunk through the parallel
/// head against direct bins, on the same demo-sized model (random weights,
/// default precision policy) and the same prompts: about 77 and 233 input
/// positions (text, vision patches, audio patches, then the state).
pub fn bench_action_head(
    threads: usize,
    horizon: usize,
    dims: usize,
    repeats: usize,
) -> Result<ActionHeadBench> {
    use crate::action::decode_actions_with;
    use crate::config::ActionHead;
    let cfg = demo_sized_config(horizon, dims);
    let model = Arc::new(Model::random(
        cfg.clone(),
        0xde70,
        &PrecisionPolicy::default(),
    )?);
    let mut rng = SplitMix64::new(9);
    let repeats = repeats.max(1);
    let mut rows = Vec::new();
    let mut e = Engine::new(
        model.clone(),
        EngineOptions {
            threads,
            ..Default::default()
        },
    )?;
    for (n_vision, n_audio) in [(64usize, 8usize), (196, 32)] {
        let vision: Vec<Vec<f32>> = (0..n_vision).map(|_| rng.normal_vec(768, 1.0)).collect();
        let audio: Vec<Vec<f32>> = (0..n_audio).map(|_| rng.normal_vec(256, 1.0)).collect();
        let states: Vec<Vec<f32>> = (0..repeats + 1).map(|_| rng.normal_vec(64, 1.0)).collect();
        for head in [ActionHead::Parallel, ActionHead::DirectBins] {
            let mut acts = DecodedActions::new();
            let (mut cold, mut warm) = (Vec::new(), Vec::new());
            let mut positions = 0;
            for r in 0..repeats {
                let prompt = |s: usize| {
                    let mut p: Vec<Input> = [1u32, 40, 77, 5].map(Input::Token).to_vec();
                    p.extend(vision.iter().map(|v| Input::Vision(v)));
                    p.extend(audio.iter().map(|v| Input::Audio(v)));
                    p.push(Input::State(&states[s]));
                    p
                };
                let (p0, p1) = (prompt(r), prompt(r + 1));
                positions = p0.len();
                e.reset();
                let t = Instant::now();
                decode_actions_with(&mut e, head, &p0, &mut acts)?;
                cold.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                decode_actions_with(&mut e, head, &p1, &mut acts)?;
                warm.push(t.elapsed().as_secs_f64() * 1e3);
                if acts.reused_positions + 1 != p1.len() || acts.values.len() != horizon * dims {
                    return Err(PolicyError::Input(format!(
                        "action-head bench: reused {} of {} positions, {} values",
                        acts.reused_positions,
                        p1.len(),
                        acts.values.len()
                    )));
                }
            }
            rows.push(ActionHeadRow {
                head: match head {
                    ActionHead::Parallel => "parallel",
                    ActionHead::DirectBins => "direct_bins",
                },
                prompt_positions: positions,
                passes_per_chunk: match head {
                    ActionHead::Parallel => 2,
                    ActionHead::DirectBins => 1 + horizon * dims + 1,
                },
                cold_ms: spread_ms(cold),
                prefix_hit_ms: spread_ms(warm),
            });
        }
    }
    Ok(ActionHeadBench {
        cpu: cpu_model_name(),
        simd: e.simd().name(),
        threads: e.threads(),
        weights: model
            .format_summary()
            .iter()
            .map(|(f, n)| format!("{f}×{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        d_model: cfg.d_model,
        n_layers: cfg.n_layers,
        horizon,
        dims,
        rows,
    })
}
