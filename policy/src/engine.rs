//! The optimized CPU engine: fused quantized kernels, a thread pool, an
//! F16 (configurable) KV cache and scratch buffers sized once at creation,
//! so a decode step allocates nothing.
//!
//! A pass runs rows, each an (input, KV cache, position): prefill is a chunk
//! of up to `max_batch` consecutive positions of one cache, a `Batch` step
//! one position in each of several caches. Each weight row is read once per
//! pass and dotted with every row's activations (matmul); decode is the same
//! path with one row (matvec).

use std::sync::Arc;

use half::{bf16, f16};

use crate::error::{PolicyError, Result};
use crate::kernels::{self, Simd};
use crate::model::{AudioWeights, Input, Model};
use crate::pool::{split, Pool};
use crate::quant::Format;
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    pub threads: usize,
    /// KV cache element format: F16 (default), BF16 or F32.
    pub kv_format: Format,
    /// Most positions processed in one prefill pass.
    pub max_batch: usize,
    /// Forces the portable kernels (for tests of the fallback path).
    pub portable: bool,
    /// Early exit for decode steps; None runs every layer.
    pub early_exit: Option<EarlyExit>,
}

/// ACT/CALM-style early exit: every `every_layers` layers a decode step
/// applies the final norm and LM head to its hidden state and stops if the
/// top softmax probability reaches `threshold`. The layers it skips still get
/// this position's K/V, projected from the exited state (CALM's state
/// propagation), so later tokens attend to a complete cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyExit {
    pub every_layers: usize,
    pub threshold: f32,
}

/// What early exit saved, over the decode steps since `reset_exit_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitStats {
    pub tokens: u64,
    pub exited_tokens: u64,
    /// Transformer layers run in full, and the number plain decoding would run.
    pub layers_run: u64,
    pub layers_total: u64,
    /// Intermediate LM-head evaluations (the cost of checking).
    pub checks: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kv_format: Format::F16,
            max_batch: 64,
            portable: false,
            early_exit: None,
        }
    }
}

struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    acts: Acts,
    /// One row of attention scores per thread.
    scores: Vec<f32>,
    logits: Vec<f32>,
    /// RoPE (cos, sin) pairs of the position being rotated, [head_dim].
    rope: Vec<f32>,
    /// Logits of every position of the last chunk (`forward_all`), [max_batch, vocab].
    all_logits: Vec<f32>,
    /// Parallel head outputs of the last query pass, [max_batch, action dims].
    action_values: Vec<f32>,
    bias: Vec<f32>,
}

/// What a pass computes after the last layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassOut {
    /// Nothing: the pass only fills the KV cache (a prompt before action queries).
    Cache,
    /// The logits of the last row.
    LastLogits,
    /// The logits of every row.
    AllLogits,
    /// Action-query rows: they attend to every row of their own cache in
    /// the pass (bidirectionally), the parallel head maps each to its step's
    /// values, and the caches do not advance (the queries are not part of
    /// the sequence a later prompt can reuse).
    ActionValues,
}

/// One sequence's keys and values.
struct KvCache {
    /// Per layer, [capacity, kv_dim] packed in the engine's KV format.
    k: Vec<Vec<u8>>,
    v: Vec<Vec<u8>>,
    pos: usize,
    /// A fingerprint of the input at each cached position, for prefix reuse.
    fingerprints: Vec<u64>,
}

pub struct Engine {
    model: Arc<Model>,
    simd: Simd,
    pool: Pool,
    kv_format: Format,
    max_batch: usize,
    /// One cache per sequence: a plain engine has one, a `Batch` one per slot.
    caches: Vec<KvCache>,
    /// Positions each cache holds at most.
    capacity: usize,
    /// (cache, position) of each row of the pass being run.
    rows: Vec<(usize, usize)>,
    /// Row i of an action-query pass is query i mod horizon.
    query_inputs: Vec<Input<'static>>,
    early_exit: Option<EarlyExit>,
    pub exit_stats: ExitStats,
    /// Time spent in the vision and audio projections since the caller last cleared it.
    pub stage_times: StageTimes,
    s: Scratch,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub vision: std::time::Duration,
    pub audio: std::time::Duration,
}

/// FNV-1a over an input's kind and contents: equal inputs, equal prints.
fn fingerprint(input: &Input) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |v: u64| {
        for b in v.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    };
    match *input {
        Input::Token(id) => eat(id as u64),
        Input::AudioCode(id) => eat((1 << 40) | id as u64),
        Input::ActionQuery(k) => eat((5 << 40) | k as u64),
        Input::Vision(v) | Input::Audio(v) | Input::State(v) => {
            let kind = match input {
                Input::Vision(_) => 2u64,
                Input::Audio(_) => 3,
                _ => 4,
            };
            eat((kind << 40) | v.len() as u64);
            for x in v {
                eat(x.to_bits() as u64);
            }
        }
    }
    h
}

/// A pointer that threads of one pool job write through at disjoint indices.
// Clone and Copy by hand: derive would demand T: Copy.
struct SyncPtr<T>(*mut T);
// SAFETY: every job writes disjoint elements and `Pool::run` joins before the buffer is used again.
unsafe impl<T> Sync for SyncPtr<T> {}
unsafe impl<T> Send for SyncPtr<T> {}

impl<T> Clone for SyncPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    // A method call makes closures capture the whole (Sync) wrapper, not the raw field.
    fn get(self) -> *mut T {
        self.0
    }

    /// Elements `at..at + len`.
    ///
    /// # Safety
    /// In bounds of the buffer, and no other live reference overlaps them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, at: usize, len: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(at), len)
    }
}

/// Runs `f(i)` for every token i in 0..n, spread over the pool when there
/// are enough tokens to pay for the dispatch (prefill, batch steps): the
/// per-token work between matmuls (norms, activation rounding and
/// quantization, SwiGLU) otherwise runs on one thread while the others wait.
fn per_token(pool: &Pool, n: usize, f: &(dyn Fn(usize) + Sync)) {
    if n < 8 || pool.threads() == 1 {
        (0..n).for_each(f);
        return;
    }
    let chunks = (pool.threads() * 4).min(n);
    pool.run_chunks(chunks, &|_, c| split(n, chunks, c, 1).for_each(f));
}

/// The activations of a matmul in the forms the weight formats take.
struct Acts {
    /// Q8 blocks (for Q8_0 and Q4_0 weights).
    xq: Vec<i8>,
    xd: Vec<f32>,
    /// The i32 sum of each Q8 block's codes (for the interleaved Q4_0 and
    /// Q8_0 prefill tiles).
    xsum: Vec<i32>,
    /// Rounded to F16 (for F16 weights).
    xr: Vec<f32>,
    /// Whether `xq`/`xd` and `xr` hold the current input.
    q8_ready: bool,
    f16_ready: bool,
}

/// out[i·rows + r] = W[r] · xs[i] for i in 0..n. `same_input`: `xs` is the
/// input of the previous call (Q, K and V; gate and up), so its quantized
/// and rounded forms are reused.
#[allow(clippy::too_many_arguments)]
fn matmul(
    pool: &Pool,
    simd: Simd,
    w: &Tensor,
    xs: &[f32],
    n: usize,
    acts: &mut Acts,
    same_input: bool,
    out: &mut [f32],
) {
    let (rows, cols) = (w.rows(), w.cols());
    let q8 = kernels::wants_q8(w.format);
    if !same_input {
        acts.q8_ready = false;
        acts.f16_ready = false;
    }
    // ggml multiplies F16 weights with activations rounded to F16 (its
    // vec_dot_type for F16); doing the same keeps greedy tokens identical to
    // llama.cpp's where two logits nearly tie.
    if w.format == Format::F16 && !acts.f16_ready {
        assert!(acts.xr.len() >= n * cols && xs.len() >= n * cols);
        let xr = SyncPtr(acts.xr.as_mut_ptr());
        per_token(pool, n, &|i| {
            // SAFETY: token i's row of `xr` (in bounds, asserted), written by this call only.
            let r = unsafe { xr.slice(i * cols, cols) };
            for (r, x) in r.iter_mut().zip(&xs[i * cols..(i + 1) * cols]) {
                *r = f16::from_f32(*x).to_f32();
            }
        });
        acts.f16_ready = true;
    }
    let xs: &[f32] = if w.format == Format::F16 {
        &acts.xr[..n * cols]
    } else {
        xs
    };
    if q8 && !acts.q8_ready {
        let nb = cols / 32;
        assert!(acts.xq.len() >= n * cols && acts.xd.len() >= n * nb && acts.xsum.len() >= n * nb);
        let (qp, dp, sp) = (
            SyncPtr(acts.xq.as_mut_ptr()),
            SyncPtr(acts.xd.as_mut_ptr()),
            SyncPtr(acts.xsum.as_mut_ptr()),
        );
        per_token(pool, n, &|i| {
            // SAFETY: token i's rows (in bounds, asserted), written by this call only.
            let (q, d, sums) = unsafe {
                (
                    qp.slice(i * cols, cols),
                    dp.slice(i * nb, nb),
                    sp.slice(i * nb, nb),
                )
            };
            kernels::quantize_q8(simd, &xs[i * cols..(i + 1) * cols], q, d);
            kernels::q8_block_sums(q, sums);
        });
        acts.q8_ready = true;
    }
    let (xq, xd) = (&acts.xq[..], &acts.xd[..]);
    // Only the x86-64 prefill tiles take the block sums.
    #[cfg(target_arch = "x86_64")]
    let xsum = &acts.xsum[..];
    let out_ptr = SyncPtr(out.as_mut_ptr());
    assert!(out.len() >= n * rows && xs.len() >= n * cols);
    let threads = pool.threads();
    // About 8 chunks per thread: fine enough that a preempted thread's share
    // is picked up by the others, coarse enough to keep claims cheap.
    // Chunks are whole groups of 8 rows where they can be (the interleaved
    // prefill kernels take 8 rows at a time).
    let n_chunks = (threads * 8).min(rows.div_ceil(8)).max(1);
    pool.run_chunks(n_chunks, &|_, chunk| {
        let range = split(rows, n_chunks, chunk, 8);
        if n == 1 {
            let rb = w.row_bytes();
            let (q, d) = if q8 {
                (&xq[..cols], &xd[..cols / 32])
            } else {
                (&[][..], &[][..])
            };
            // SAFETY: rows in `range` belong to this thread only; range.end ≤ rows ≤ out.len() (asserted).
            let out = unsafe {
                std::slice::from_raw_parts_mut(out_ptr.get().add(range.start), range.len())
            };
            let bytes = &w.bytes()[range.start * rb..range.end * rb];
            kernels::dot_rows(
                simd,
                w.format,
                bytes,
                rb,
                w.tensor_scale,
                &xs[..cols],
                q,
                d,
                out,
            );
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if simd == Simd::Avx2 {
            let rb = w.row_bytes();
            let bytes = &w.bytes()[range.start * rb..range.end * rb];
            // SAFETY: Simd::Avx2 was detected; rows in `range` belong to this
            // thread only and every write index is < n·rows ≤ out.len() (asserted).
            unsafe {
                kernels::avx2::matmul_rows(
                    w.format,
                    bytes,
                    rb,
                    range.start,
                    w.tensor_scale,
                    xs,
                    xq,
                    xd,
                    xsum,
                    cols,
                    n,
                    out_ptr.get(),
                    rows,
                )
            };
            return;
        }
        for r in range {
            let row = w.row(r);
            let mut i = 0;
            while i + 4 <= n {
                let x = |t: usize| &xs[(i + t) * cols..(i + t + 1) * cols];
                let (qs, ds): ([&[i8]; 4], [&[f32]; 4]) = if q8 {
                    let q = |t: usize| &xq[(i + t) * cols..(i + t + 1) * cols];
                    let d = |t: usize| &xd[(i + t) * cols / 32..(i + t + 1) * cols / 32];
                    ([q(0), q(1), q(2), q(3)], [d(0), d(1), d(2), d(3)])
                } else {
                    ([&[]; 4], [&[]; 4])
                };
                let Some(v) = kernels::dot4(
                    simd,
                    w.format,
                    row,
                    w.tensor_scale,
                    [x(0), x(1), x(2), x(3)],
                    qs,
                    ds,
                ) else {
                    break;
                };
                for (t, v) in v.into_iter().enumerate() {
                    // SAFETY: row r belongs to this thread only; (i+t)·rows + r < out.len() (asserted).
                    unsafe { *out_ptr.get().add((i + t) * rows + r) = v };
                }
                i += 4;
            }
            for i in i..n {
                let x = &xs[i * cols..(i + 1) * cols];
                let (q, d) = if q8 {
                    (
                        &xq[i * cols..(i + 1) * cols],
                        &xd[i * cols / 32..(i + 1) * cols / 32],
                    )
                } else {
                    (&[][..], &[][..])
                };
                let v = kernels::dot(simd, w.format, row, w.tensor_scale, x, q, d);
                // SAFETY: row r belongs to this thread only; i·rows + r < out.len() (asserted).
                unsafe { *out_ptr.get().add(i * rows + r) = v };
            }
        }
    });
}

/// `rms_norm` of each of the `n` rows of `d` values of `x` into `out`.
fn norm_rows(pool: &Pool, x: &[f32], w: &Tensor, eps: f32, out: &mut [f32], n: usize, d: usize) {
    assert!(x.len() >= n * d && out.len() >= n * d);
    let out = SyncPtr(out.as_mut_ptr());
    per_token(pool, n, &|i| {
        // SAFETY: token i's row of `out` (in bounds, asserted), written by this call only.
        rms_norm(&x[i * d..(i + 1) * d], w, eps, unsafe {
            out.slice(i * d, d)
        });
    });
}

fn rms_norm(x: &[f32], w: &Tensor, eps: f32, out: &mut [f32]) {
    w.row_to_f32(0, out);
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ms + eps).sqrt();
    for (o, v) in out.iter_mut().zip(x) {
        *o *= v * inv;
    }
}

/// (cos, sin) of each RoPE pair's angle at `pos`, computed as the reference's
/// `rope` does (same bits), once per position for all heads.
fn rope_angles(pos: usize, theta: f32, cs: &mut [f32]) {
    let hd = cs.len();
    for (i, pair) in cs.chunks_exact_mut(2).enumerate() {
        let freq = theta.powf(-2.0 * i as f32 / hd as f32);
        let (s, c) = (pos as f32 * freq).sin_cos();
        pair[0] = c;
        pair[1] = s;
    }
}

fn rope_rotate(x: &mut [f32], cs: &[f32]) {
    for (p, a) in x.chunks_exact_mut(2).zip(cs.chunks_exact(2)) {
        let (c, s) = (a[0], a[1]);
        let (x0, x1) = (p[0], p[1]);
        p[0] = x0 * c - x1 * s;
        p[1] = x0 * s + x1 * c;
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

fn store_kv(format: Format, src: &[f32], dst: &mut [u8]) {
    match format {
        Format::F32 => {
            for (d, v) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
        Format::F16 => {
            for (d, v) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&f16::from_f32(*v).to_le_bytes());
            }
        }
        _ => {
            for (d, v) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&bf16::from_f32(*v).to_le_bytes());
            }
        }
    }
}

impl Engine {
    pub fn new(model: Arc<Model>, opts: EngineOptions) -> Result<Engine> {
        let positions = model.config.max_seq_len;
        Engine::with_caches(model, opts, 1, positions)
    }

    /// An engine with `n_caches` KV caches of `capacity` positions each
    /// (at most the model's max_seq_len), for several sequences at once.
    pub(crate) fn with_caches(
        model: Arc<Model>,
        opts: EngineOptions,
        n_caches: usize,
        capacity: usize,
    ) -> Result<Engine> {
        if !matches!(opts.kv_format, Format::F32 | Format::F16 | Format::BF16) {
            return Err(PolicyError::Input(format!(
                "KV cache format {} is not supported; use F16, BF16 or F32",
                opts.kv_format
            )));
        }
        let c = &model.config;
        let (d, kv, ff, b) = (c.d_model, c.kv_dim(), c.d_ff(), opts.max_batch.max(1));
        let widest_in = [
            d,
            ff,
            c.inputs.vision_patch_dim.unwrap_or(0),
            c.inputs.state_dim.unwrap_or(0),
            match c.inputs.audio {
                Some(crate::config::AudioInput::Patches { patch_dim }) => patch_dim,
                _ => 0,
            },
        ]
        .into_iter()
        .max()
        .unwrap_or(d);
        let capacity = capacity.clamp(1, c.max_seq_len);
        let kv_bytes = capacity * kv * opts.kv_format.block_bytes();
        let pool = Pool::new(opts.threads.max(1));
        let threads = pool.threads();
        Ok(Engine {
            simd: if opts.portable {
                Simd::Portable
            } else {
                Simd::detect()
            },
            pool,
            kv_format: opts.kv_format,
            max_batch: b,
            caches: (0..n_caches.max(1))
                .map(|_| KvCache {
                    k: (0..c.n_layers).map(|_| vec![0u8; kv_bytes]).collect(),
                    v: (0..c.n_layers).map(|_| vec![0u8; kv_bytes]).collect(),
                    pos: 0,
                    fingerprints: vec![0; capacity],
                })
                .collect(),
            capacity,
            rows: vec![(0, 0); b],
            query_inputs: (0..b)
                .map(|i| {
                    let horizon = c.action.as_ref().map_or(1, |a| a.horizon.max(1));
                    Input::ActionQuery((i % horizon) as u32)
                })
                .collect(),
            early_exit: opts.early_exit.filter(|e| e.every_layers > 0),
            exit_stats: ExitStats::default(),
            stage_times: StageTimes::default(),
            s: Scratch {
                x: vec![0.0; b * d],
                h: vec![0.0; b * widest_in.max(d)],
                q: vec![0.0; b * d],
                k: vec![0.0; b * kv],
                v: vec![0.0; b * kv],
                att: vec![0.0; b * d],
                gate: vec![0.0; b * ff.max(d)],
                up: vec![0.0; b * ff],
                acts: Acts {
                    xq: vec![0; b * widest_in],
                    xd: vec![0.0; b * widest_in.div_ceil(32)],
                    xsum: vec![0; b * widest_in.div_ceil(32)],
                    xr: vec![0.0; b * widest_in],
                    q8_ready: false,
                    f16_ready: false,
                },
                scores: vec![0.0; threads * capacity],
                logits: vec![0.0; c.vocab_size()],
                rope: vec![0.0; c.head_dim()],
                all_logits: vec![0.0; b * c.vocab_size()],
                action_values: vec![0.0; b * c.action.as_ref().map_or(0, |a| a.dims)],
                bias: vec![0.0; d.max(c.action.as_ref().map_or(0, |a| a.dims))],
            },
            model,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn model_arc(&self) -> Arc<Model> {
        self.model.clone()
    }

    pub fn simd(&self) -> Simd {
        self.simd
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Positions held in the KV cache.
    pub fn pos(&self) -> usize {
        self.caches[0].pos
    }

    pub fn reset(&mut self) {
        self.caches[0].pos = 0;
    }

    /// Forgets positions from `pos` on, keeping the prefix's KV (prefix reuse).
    pub fn truncate(&mut self, pos: usize) {
        self.caches[0].pos = self.caches[0].pos.min(pos);
    }

    pub(crate) fn cache_pos(&self, cache: usize) -> usize {
        self.caches[cache].pos
    }

    pub(crate) fn set_cache_pos(&mut self, cache: usize, pos: usize) {
        self.caches[cache].pos = pos;
    }

    /// Runs `inputs` at the next positions and returns the logits of the last.
    pub fn forward(&mut self, inputs: &[Input]) -> Result<&[f32]> {
        self.forward_in(0, inputs)
    }

    /// `forward` on cache `cache`.
    pub(crate) fn forward_in(&mut self, cache: usize, inputs: &[Input]) -> Result<&[f32]> {
        if inputs.is_empty() {
            return Err(PolicyError::Input(
                "forward needs at least one input".into(),
            ));
        }
        let pos = self.caches[cache].pos;
        self.check_room(pos + inputs.len())?;
        let mut start = 0;
        while start < inputs.len() {
            let n = (inputs.len() - start).min(self.max_batch);
            let pos = self.caches[cache].pos;
            for (i, r) in self.rows[..n].iter_mut().enumerate() {
                *r = (cache, pos + i);
            }
            self.run_rows(&inputs[start..start + n], PassOut::LastLogits)?;
            start += n;
        }
        Ok(&self.s.logits)
    }

    /// Appends `inputs` to cache `cache` in passes of `max_batch`, computing
    /// no logits.
    fn fill_cache(&mut self, cache: usize, inputs: &[Input]) -> Result<()> {
        let pos = self.caches[cache].pos;
        self.check_room(pos + inputs.len())?;
        for chunk in inputs.chunks(self.max_batch) {
            let pos = self.caches[cache].pos;
            for (i, r) in self.rows[..chunk.len()].iter_mut().enumerate() {
                *r = (cache, pos + i);
            }
            self.run_rows(chunk, PassOut::Cache)?;
        }
        Ok(())
    }

    /// The parallel head over the listed caches, all in one pass: the
    /// chunk's H query positions follow each cache's sequence; returns the
    /// normalised values, [caches.len() · H, D], cache-major. The caches
    /// keep their positions.
    pub(crate) fn action_queries(&mut self, caches: &[usize]) -> Result<&[f32]> {
        let (horizon, dims) =
            match (&self.model.config.action, &self.model.parallel_head) {
                (Some(a), Some(_)) => (a.horizon, a.dims),
                _ => return Err(PolicyError::Input(
                    "this model has no parallel action head (config.action.head = \"parallel\")"
                        .into(),
                )),
            };
        let n = caches.len() * horizon;
        if n == 0 || n > self.max_batch {
            return Err(PolicyError::Input(format!(
                "{} sequences of {horizon} action queries need {n} rows in one pass; the engine's max_batch is {} (raise it, or decode fewer sequences at once)",
                caches.len(),
                self.max_batch
            )));
        }
        for (c, &cache) in caches.iter().enumerate() {
            if caches[..c].contains(&cache) {
                return Err(PolicyError::Input(format!(
                    "cache {cache} is listed twice in one action pass"
                )));
            }
            let pos = self.caches[cache].pos;
            self.check_room(pos + horizon)?;
            for k in 0..horizon {
                self.rows[c * horizon + k] = (cache, pos + k);
            }
        }
        let queries = std::mem::take(&mut self.query_inputs);
        let result = self.run_rows(&queries[..n], PassOut::ActionValues);
        self.query_inputs = queries;
        result?;
        Ok(&self.s.action_values[..n * dims])
    }

    /// Runs `prompt` as the whole sequence (reusing the KV of its longest
    /// cached prefix, all of it if nothing changed) and then the parallel
    /// head: the chunk's normalised values, [H, D], and how many prompt
    /// positions were reused.
    pub fn forward_actions(&mut self, prompt: &[Input]) -> Result<(&[f32], usize)> {
        let same = self.cached_prefix(prompt);
        self.truncate(same);
        self.fill_cache(0, &prompt[same..])?;
        let values = self.action_queries(&[0])?;
        Ok((values, same))
    }

    fn check_room(&self, positions: usize) -> Result<()> {
        let max = self.model.config.max_seq_len;
        if positions > self.capacity {
            return Err(PolicyError::Input(if self.capacity < max {
                format!(
                    "sequence of {positions} positions exceeds the {} positions reserved per sequence; finish the sequence or reserve more",
                    self.capacity
                )
            } else {
                format!(
                    "sequence of {positions} positions exceeds the model's max_seq_len {max}; reset the engine or raise max_seq_len"
                )
            }));
        }
        Ok(())
    }

    /// One row per entry, each (cache, input) at that cache's next position,
    /// in one pass: every weight row is read once for all of them. Returns
    /// the logits of every row, [entries.len(), vocab]. The caches must be
    /// distinct.
    pub(crate) fn forward_rows<'a>(
        &mut self,
        entries: &[(usize, Input<'a>)],
        inputs: &mut Vec<Input<'a>>,
    ) -> Result<&[f32]> {
        if entries.is_empty() || entries.len() > self.max_batch {
            return Err(PolicyError::Input(format!(
                "a batch step takes 1..={} sequences; got {}",
                self.max_batch,
                entries.len()
            )));
        }
        inputs.clear();
        for (i, &(cache, input)) in entries.iter().enumerate() {
            let pos = self.caches[cache].pos;
            self.check_room(pos + 1)?;
            self.rows[i] = (cache, pos);
            inputs.push(input);
        }
        self.run_rows(inputs, PassOut::AllLogits)?;
        Ok(&self.s.all_logits[..entries.len() * self.model.config.vocab_size()])
    }

    /// Runs `inputs` (at most `max_batch`) in one pass and returns the logits
    /// of every position, [inputs.len(), vocab]: the verification pass of
    /// speculative decoding. Each position's logits are bit-identical to
    /// what one-at-a-time `forward` calls give.
    pub fn forward_all(&mut self, inputs: &[Input]) -> Result<&[f32]> {
        if inputs.is_empty() || inputs.len() > self.max_batch {
            return Err(PolicyError::Input(format!(
                "forward_all takes 1..={} inputs (max_batch); got {}",
                self.max_batch,
                inputs.len()
            )));
        }
        let pos = self.caches[0].pos;
        self.check_room(pos + inputs.len())?;
        for (i, r) in self.rows[..inputs.len()].iter_mut().enumerate() {
            *r = (0, pos + i);
        }
        self.run_rows(inputs, PassOut::AllLogits)?;
        Ok(&self.s.all_logits[..inputs.len() * self.model.config.vocab_size()])
    }

    /// Runs a whole prompt from position 0, reusing the KV of the longest
    /// prefix that matches what the cache already holds (the instruction and
    /// static context of repeated policy calls). Returns the logits of the
    /// last position and how many positions were reused.
    pub fn forward_prompt(&mut self, inputs: &[Input]) -> Result<(&[f32], usize)> {
        let same = self.cached_prefix(inputs);
        // The last position always runs: its logits are the answer.
        let reused = same.min(inputs.len().saturating_sub(1));
        self.truncate(reused);
        let logits = self.forward(&inputs[reused..])?;
        Ok((logits, reused))
    }

    /// How many leading `inputs` the cache already holds.
    fn cached_prefix(&self, inputs: &[Input]) -> usize {
        let c = &self.caches[0];
        inputs
            .iter()
            .zip(&c.fingerprints[..c.pos])
            .take_while(|(input, print)| fingerprint(input) == **print)
            .count()
    }

    /// Greedy decoding: `n` tokens after `prompt`, appended to `out`.
    pub fn greedy(&mut self, prompt: &[Input], n: usize, out: &mut Vec<u32>) -> Result<()> {
        let mut next = crate::reference::argmax(self.forward(prompt)?);
        for i in 0..n {
            out.push(next);
            if i + 1 < n {
                next = crate::reference::argmax(self.forward(&[Input::Token(next)])?);
            }
        }
        Ok(())
    }

    fn embed(&mut self, inputs: &[Input]) -> Result<()> {
        let m = &*self.model;
        let d = m.config.d_model;
        for (i, input) in inputs.iter().enumerate() {
            let x = &mut self.s.x[i * d..(i + 1) * d];
            let lookup = |t: &Tensor, id: u32, x: &mut [f32]| {
                if (id as usize) < t.rows() {
                    t.row_to_f32(id as usize, x);
                    Ok(())
                } else {
                    Err(PolicyError::Input(format!(
                        "input id {id} is outside 0..{} of '{}'",
                        t.rows(),
                        t.name
                    )))
                }
            };
            match *input {
                Input::Token(id) => lookup(&m.embed, id, x)?,
                Input::ActionQuery(k) => match &m.parallel_head {
                    Some(p) => lookup(&p.queries, k, x)?,
                    None => {
                        return Err(PolicyError::Input(
                            "this model has no parallel action head".into(),
                        ))
                    }
                },
                Input::AudioCode(id) => match &m.audio {
                    Some(AudioWeights::Codebook(t)) => lookup(t, id, x)?,
                    _ => {
                        return Err(PolicyError::Input(
                            "this model has no audio codebook".into(),
                        ))
                    }
                },
                Input::Vision(v) | Input::Audio(v) | Input::State(v) => {
                    let started = std::time::Instant::now();
                    let (first, second, what) = match input {
                        Input::Vision(_) => (m.vision.as_ref(), None, "vision"),
                        Input::Audio(_) => match &m.audio {
                            Some(AudioWeights::Patches(a)) => (Some(a), None, "audio"),
                            _ => (None, None, "audio patch"),
                        },
                        _ => match &m.state {
                            Some(s) => (Some(&s.fc1), Some(&s.fc2), "state"),
                            None => (None, None, "state"),
                        },
                    };
                    let a = first.ok_or_else(|| {
                        PolicyError::Input(format!("this model has no {what} input"))
                    })?;
                    if v.len() != a.weight.cols() {
                        return Err(PolicyError::Input(format!(
                            "{what} input has {} values; the model takes {}",
                            v.len(),
                            a.weight.cols()
                        )));
                    }
                    let s = &mut self.s;
                    let out = &mut s.gate[..d];
                    matmul(
                        &self.pool,
                        self.simd,
                        &a.weight,
                        v,
                        1,
                        &mut s.acts,
                        false,
                        out,
                    );
                    a.bias.row_to_f32(0, &mut s.bias[..d]);
                    for (o, b) in out.iter_mut().zip(&s.bias) {
                        *o += b;
                    }
                    if let Some(a2) = second {
                        for o in out.iter_mut() {
                            *o = silu(*o);
                        }
                        let hid = &s.gate[..d];
                        matmul(
                            &self.pool,
                            self.simd,
                            &a2.weight,
                            hid,
                            1,
                            &mut s.acts,
                            false,
                            &mut s.h[..d],
                        );
                        a2.bias.row_to_f32(0, &mut s.bias[..d]);
                        for (o, b) in s.h[..d].iter_mut().zip(&s.bias) {
                            *o += b;
                        }
                        s.x[i * d..(i + 1) * d].copy_from_slice(&s.h[..d]);
                    } else {
                        s.x[i * d..(i + 1) * d].copy_from_slice(&s.gate[..d]);
                    }
                    match input {
                        Input::Vision(_) => self.stage_times.vision += started.elapsed(),
                        Input::Audio(_) => self.stage_times.audio += started.elapsed(),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs row i = `inputs[i]` at `self.rows[i]` = (cache, position). A
    /// cache's rows are consecutive positions in order.
    fn run_rows(&mut self, inputs: &[Input], out: PassOut) -> Result<()> {
        let all_logits = out == PassOut::AllLogits;
        let bidirectional = out == PassOut::ActionValues;
        self.embed(inputs)?;
        for (&(ci, p), input) in self.rows.iter().zip(inputs) {
            self.caches[ci].fingerprints[p] = fingerprint(input);
        }
        let model = self.model.clone();
        let c = &model.config;
        let n = inputs.len();
        let (d, kv, ff, hd) = (c.d_model, c.kv_dim(), c.d_ff(), c.head_dim());
        let (nh, group) = (c.n_heads, c.n_heads / c.n_kv_heads);
        let kvf = self.kv_format;
        let eb = kvf.block_bytes();
        let max_seq = self.capacity;
        let rows = &self.rows[..n];
        let (pool, simd) = (&self.pool, self.simd);
        let inv_sqrt = 1.0 / (hd as f32).sqrt();
        for (li, l) in model.layers.iter().enumerate() {
            let s = &mut self.s;
            norm_rows(pool, &s.x, &l.attn_norm, c.rms_eps, &mut s.h, n, d);
            matmul(pool, simd, &l.wq, &s.h, n, &mut s.acts, false, &mut s.q);
            matmul(pool, simd, &l.wk, &s.h, n, &mut s.acts, true, &mut s.k);
            matmul(pool, simd, &l.wv, &s.h, n, &mut s.acts, true, &mut s.v);
            for (i, &(ci, p)) in rows.iter().enumerate() {
                rope_angles(p, c.rope_theta, &mut s.rope);
                for head in s.q[i * d..(i + 1) * d].chunks_exact_mut(hd) {
                    rope_rotate(head, &s.rope);
                }
                for head in s.k[i * kv..(i + 1) * kv].chunks_exact_mut(hd) {
                    rope_rotate(head, &s.rope);
                }
                let at = p * kv * eb..(p + 1) * kv * eb;
                let cache = &mut self.caches[ci];
                store_kv(
                    kvf,
                    &s.k[i * kv..(i + 1) * kv],
                    &mut cache.k[li][at.clone()],
                );
                store_kv(kvf, &s.v[i * kv..(i + 1) * kv], &mut cache.v[li][at]);
            }
            let caches = &self.caches;
            let att_ptr = SyncPtr(s.att.as_mut_ptr());
            let scores_ptr = SyncPtr(s.scores.as_mut_ptr());
            let q = &s.q;
            pool.run_chunks(n * nh, &|t, job| {
                // SAFETY: only thread t uses scores row t at a time, and each (token, head)
                // job, hence its att slice, is claimed exactly once.
                let scores = unsafe {
                    std::slice::from_raw_parts_mut(scores_ptr.get().add(t * max_seq), max_seq)
                };
                {
                    let (i, h) = (job / nh, job % nh);
                    let kvh = h / group;
                    let qh = &q[i * d + h * hd..i * d + (h + 1) * hd];
                    let (ci, p) = rows[i];
                    let (kc, vc) = (&caches[ci].k[li], &caches[ci].v[li]);
                    let last = if bidirectional {
                        rows.iter()
                            .filter(|(c, _)| *c == ci)
                            .map(|&(_, q)| q)
                            .max()
                            .unwrap_or(p)
                    } else {
                        p
                    };
                    let len = last + 1;
                    let mut max = f32::NEG_INFINITY;
                    for (tp, sc) in scores[..len].iter_mut().enumerate() {
                        let off = (tp * kv + kvh * hd) * eb;
                        let krow = &kc[off..off + hd * eb];
                        *sc = kernels::dot(simd, kvf, krow, 1.0, qh, &[], &[]) * inv_sqrt;
                        max = max.max(*sc);
                    }
                    let mut sum = 0.0;
                    for sc in scores[..len].iter_mut() {
                        *sc = (*sc - max).exp();
                        sum += *sc;
                    }
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(att_ptr.get().add(i * d + h * hd), hd)
                    };
                    out.fill(0.0);
                    for (tp, sc) in scores[..len].iter().enumerate() {
                        let off = (tp * kv + kvh * hd) * eb;
                        kernels::axpy(simd, kvf, &vc[off..off + hd * eb], sc / sum, out);
                    }
                }
            });
            matmul(pool, simd, &l.wo, &s.att, n, &mut s.acts, false, &mut s.h);
            for (x, o) in s.x[..n * d].iter_mut().zip(&s.h) {
                *x += o;
            }
            norm_rows(pool, &s.x, &l.ffn_norm, c.rms_eps, &mut s.h, n, d);
            matmul(
                pool,
                simd,
                &l.w_gate,
                &s.h,
                n,
                &mut s.acts,
                false,
                &mut s.gate,
            );
            matmul(pool, simd, &l.w_up, &s.h, n, &mut s.acts, true, &mut s.up);
            let (gate, up) = (SyncPtr(s.gate.as_mut_ptr()), &s.up);
            assert!(s.gate.len() >= n * ff && up.len() >= n * ff);
            per_token(pool, n, &|i| {
                // SAFETY: token i's row of `gate` (in bounds, asserted), written by this call only.
                let g = unsafe { gate.slice(i * ff, ff) };
                for (g, u) in g.iter_mut().zip(&up[i * ff..(i + 1) * ff]) {
                    *g = silu(*g) * u;
                }
            });
            matmul(
                pool,
                simd,
                &l.w_down,
                &s.gate,
                n,
                &mut s.acts,
                false,
                &mut s.h,
            );
            for (x, o) in s.x[..n * d].iter_mut().zip(&s.h) {
                *x += o;
            }
            let check = self.early_exit.filter(|e| {
                n == 1
                    && out == PassOut::LastLogits
                    && (li + 1) % e.every_layers == 0
                    && li + 1 < model.layers.len()
            });
            if let Some(ee) = check {
                let s = &mut self.s;
                self.exit_stats.checks += 1;
                rms_norm(&s.x[..d], &model.norm, c.rms_eps, &mut s.h[..d]);
                matmul(
                    pool,
                    simd,
                    &model.head,
                    &s.h[..d],
                    1,
                    &mut s.acts,
                    false,
                    &mut s.logits,
                );
                let max = s.logits.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
                let top_p = 1.0 / s.logits.iter().map(|v| (v - max).exp()).sum::<f32>();
                if top_p >= ee.threshold {
                    let (ci, pos0) = rows[0];
                    for (lj, lk) in model.layers.iter().enumerate().skip(li + 1) {
                        rms_norm(&s.x[..d], &lk.attn_norm, c.rms_eps, &mut s.h[..d]);
                        matmul(
                            pool,
                            simd,
                            &lk.wk,
                            &s.h[..d],
                            1,
                            &mut s.acts,
                            false,
                            &mut s.k,
                        );
                        matmul(
                            pool,
                            simd,
                            &lk.wv,
                            &s.h[..d],
                            1,
                            &mut s.acts,
                            false,
                            &mut s.v,
                        );
                        rope_angles(pos0, c.rope_theta, &mut s.rope);
                        for head in s.k[..kv].chunks_exact_mut(hd) {
                            rope_rotate(head, &s.rope);
                        }
                        let at = pos0 * kv * eb..(pos0 + 1) * kv * eb;
                        let cache = &mut self.caches[ci];
                        store_kv(kvf, &s.k[..kv], &mut cache.k[lj][at.clone()]);
                        store_kv(kvf, &s.v[..kv], &mut cache.v[lj][at]);
                    }
                    let st = &mut self.exit_stats;
                    st.tokens += 1;
                    st.exited_tokens += 1;
                    st.layers_run += li as u64 + 1;
                    st.layers_total += model.layers.len() as u64;
                    self.caches[ci].pos = pos0 + 1;
                    return Ok(());
                }
            }
        }
        if self.early_exit.is_some() && n == 1 && out == PassOut::LastLogits {
            let st = &mut self.exit_stats;
            st.tokens += 1;
            st.layers_run += model.layers.len() as u64;
            st.layers_total += model.layers.len() as u64;
        }
        let s = &mut self.s;
        if out == PassOut::ActionValues {
            let head = model
                .parallel_head
                .as_ref()
                .expect("checked by action_queries");
            let dims = head.mlp.fc2.weight.rows();
            norm_rows(pool, &s.x, &model.norm, c.rms_eps, &mut s.h, n, d);
            let (fc1, fc2) = (&head.mlp.fc1, &head.mlp.fc2);
            matmul(
                pool,
                simd,
                &fc1.weight,
                &s.h[..n * d],
                n,
                &mut s.acts,
                false,
                &mut s.gate,
            );
            fc1.bias.row_to_f32(0, &mut s.bias[..d]);
            for row in s.gate[..n * d].chunks_exact_mut(d) {
                for (g, b) in row.iter_mut().zip(&s.bias) {
                    *g = silu(*g + b);
                }
            }
            matmul(
                pool,
                simd,
                &fc2.weight,
                &s.gate[..n * d],
                n,
                &mut s.acts,
                false,
                &mut s.action_values,
            );
            fc2.bias.row_to_f32(0, &mut s.bias[..dims]);
            for row in s.action_values[..n * dims].chunks_exact_mut(dims) {
                for (v, b) in row.iter_mut().zip(&s.bias) {
                    *v += b;
                }
            }
            return Ok(());
        }
        if out == PassOut::Cache {
            // No logits.
        } else if all_logits {
            let vocab = c.vocab_size();
            norm_rows(pool, &s.x, &model.norm, c.rms_eps, &mut s.h, n, d);
            matmul(
                pool,
                simd,
                &model.head,
                &s.h[..n * d],
                n,
                &mut s.acts,
                false,
                &mut s.all_logits,
            );
            s.logits
                .copy_from_slice(&s.all_logits[(n - 1) * vocab..n * vocab]);
        } else {
            let last = &s.x[(n - 1) * d..n * d];
            rms_norm(last, &model.norm, c.rms_eps, &mut s.h[..d]);
            matmul(
                pool,
                simd,
                &model.head,
                &s.h[..d],
                1,
                &mut s.acts,
                false,
                &mut s.logits,
            );
        }
        for &(ci, p) in &self.rows[..n] {
            self.caches[ci].pos = p + 1;
        }
        Ok(())
    }
}
