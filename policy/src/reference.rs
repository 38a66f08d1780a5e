//! The reference forward pass: plain f32 loops over dequantized weights, no
//! cache, no SIMD, no threads. It recomputes the whole sequence for every
//! token, so it is slow and obviously correct; the engine is tested against it.

use crate::config::ModelConfig;
use crate::error::{PolicyError, Result};
use crate::model::{AudioWeights, Input, Model};

struct Mat {
    rows: usize,
    cols: usize,
    w: Vec<f32>,
}

impl Mat {
    fn from(t: &crate::tensor::Tensor) -> Mat {
        Mat {
            rows: t.rows(),
            cols: t.cols(),
            w: t.to_f32(),
        }
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        (0..self.rows)
            .map(|r| {
                let row = &self.w[r * self.cols..(r + 1) * self.cols];
                row.iter().zip(x).map(|(a, b)| a * b).sum()
            })
            .collect()
    }
}

/// A weight matrix and its bias.
type RefAffine = (Mat, Vec<f32>);

struct RefLayer {
    attn_norm: Vec<f32>,
    wq: Mat,
    wk: Mat,
    wv: Mat,
    wo: Mat,
    ffn_norm: Vec<f32>,
    w_gate: Mat,
    w_up: Mat,
    w_down: Mat,
}

pub struct Reference {
    cfg: ModelConfig,
    embed: Mat,
    layers: Vec<RefLayer>,
    norm: Vec<f32>,
    head: Mat,
    vision: Option<RefAffine>,
    audio_proj: Option<RefAffine>,
    audio_codebook: Option<Mat>,
    state: Option<[RefAffine; 2]>,
    /// The parallel action head: queries, then the MLP.
    parallel: Option<(Mat, [RefAffine; 2])>,
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * inv * g).collect()
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// affine, SiLU, affine: the state MLP and the parallel head's regression MLP.
fn mlp2([(m1, b1), (m2, b2)]: &[RefAffine; 2], x: &[f32]) -> Vec<f32> {
    let h: Vec<f32> = m1
        .apply(x)
        .iter()
        .zip(b1)
        .map(|(v, b)| silu(v + b))
        .collect();
    m2.apply(&h).iter().zip(b2).map(|(v, b)| v + b).collect()
}

/// Rotates adjacent pairs (x[2i], x[2i+1]) by pos·θ^(−2i/head_dim): llama.cpp's
/// "normal" RoPE, the one its LLAMA architecture uses.
pub(crate) fn rope(x: &mut [f32], pos: usize, theta: f32) {
    let hd = x.len();
    for i in 0..hd / 2 {
        let freq = theta.powf(-2.0 * i as f32 / hd as f32);
        let (s, c) = (pos as f32 * freq).sin_cos();
        let (a, b) = (x[2 * i], x[2 * i + 1]);
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = a * s + b * c;
    }
}

impl Reference {
    pub fn new(m: &Model) -> Reference {
        let aff = |a: &crate::model::Affine| (Mat::from(&a.weight), a.bias.to_f32());
        Reference {
            cfg: m.config.clone(),
            embed: Mat::from(&m.embed),
            layers: m
                .layers
                .iter()
                .map(|l| RefLayer {
                    attn_norm: l.attn_norm.to_f32(),
                    wq: Mat::from(&l.wq),
                    wk: Mat::from(&l.wk),
                    wv: Mat::from(&l.wv),
                    wo: Mat::from(&l.wo),
                    ffn_norm: l.ffn_norm.to_f32(),
                    w_gate: Mat::from(&l.w_gate),
                    w_up: Mat::from(&l.w_up),
                    w_down: Mat::from(&l.w_down),
                })
                .collect(),
            norm: m.norm.to_f32(),
            head: Mat::from(&m.head),
            vision: m.vision.as_ref().map(aff),
            audio_proj: match &m.audio {
                Some(AudioWeights::Patches(a)) => Some(aff(a)),
                _ => None,
            },
            audio_codebook: match &m.audio {
                Some(AudioWeights::Codebook(t)) => Some(Mat::from(t)),
                _ => None,
            },
            state: m.state.as_ref().map(|s| [aff(&s.fc1), aff(&s.fc2)]),
            parallel: m
                .parallel_head
                .as_ref()
                .map(|p| (Mat::from(&p.queries), [aff(&p.mlp.fc1), aff(&p.mlp.fc2)])),
        }
    }

    fn embed_input(&self, input: &Input) -> Result<Vec<f32>> {
        let d = self.cfg.d_model;
        let lookup = |m: &Mat, id: u32, what: &str| {
            if (id as usize) < m.rows {
                Ok(m.w[id as usize * d..(id as usize + 1) * d].to_vec())
            } else {
                Err(PolicyError::Input(format!(
                    "{what} id {id} is outside 0..{}",
                    m.rows
                )))
            }
        };
        let affine = |a: &Option<(Mat, Vec<f32>)>, x: &[f32], what: &str| match a {
            Some((m, b)) if x.len() == m.cols => {
                Ok(m.apply(x).iter().zip(b).map(|(v, b)| v + b).collect())
            }
            Some((m, _)) => Err(PolicyError::Input(format!(
                "{what} input has {} values; the model takes {}",
                x.len(),
                m.cols
            ))),
            None => Err(PolicyError::Input(format!(
                "this model has no {what} input"
            ))),
        };
        match *input {
            Input::Token(id) => lookup(&self.embed, id, "token"),
            Input::ActionQuery(k) => match &self.parallel {
                Some((queries, _)) => lookup(queries, k, "action query"),
                None => Err(PolicyError::Input(
                    "this model has no parallel action head".into(),
                )),
            },
            Input::AudioCode(id) => match &self.audio_codebook {
                Some(m) => lookup(m, id, "audio code"),
                None => Err(PolicyError::Input(
                    "this model has no audio codebook".into(),
                )),
            },
            Input::Vision(x) => affine(&self.vision, x, "vision"),
            Input::Audio(x) => affine(&self.audio_proj, x, "audio"),
            Input::State(x) => match &self.state {
                Some(mlp) if x.len() == mlp[0].0.cols => Ok(mlp2(mlp, x)),
                _ => Err(PolicyError::Input(
                    "state input does not match the model's state MLP".into(),
                )),
            },
        }
    }

    /// Logits at every position of `inputs`.
    pub fn forward(&self, inputs: &[Input]) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .hidden(inputs, inputs.len())?
            .iter()
            .map(|h| self.head.apply(h))
            .collect())
    }

    /// The parallel head's normalised chunk, [H, D] step-major: the H action
    /// queries follow `prompt` and attend to the whole prompt and to each
    /// other.
    pub fn parallel_actions(&self, prompt: &[Input]) -> Result<Vec<f32>> {
        let (horizon, mlp) = match (&self.cfg.action, &self.parallel) {
            (Some(a), Some((_, mlp))) => (a.horizon, mlp),
            _ => {
                return Err(PolicyError::Input(
                    "this model has no parallel action head".into(),
                ))
            }
        };
        let mut seq = prompt.to_vec();
        seq.extend((0..horizon as u32).map(Input::ActionQuery));
        let hidden = self.hidden(&seq, prompt.len())?;
        let mut out = Vec::new();
        for h in &hidden[prompt.len()..] {
            out.extend(mlp2(mlp, h));
        }
        Ok(out)
    }

    /// The final-normed hidden state at every position. Positions from
    /// `bidirectional_from` on attend to every position of the sequence;
    /// the others causally.
    fn hidden(&self, inputs: &[Input], bidirectional_from: usize) -> Result<Vec<Vec<f32>>> {
        let c = &self.cfg;
        let (hd, nh, nkv) = (c.head_dim(), c.n_heads, c.n_kv_heads);
        let group = nh / nkv;
        let mut xs: Vec<Vec<f32>> = inputs
            .iter()
            .map(|i| self.embed_input(i))
            .collect::<Result<_>>()?;
        for l in &self.layers {
            let mut qs = Vec::new();
            let mut ks = Vec::new();
            let mut vs = Vec::new();
            for (pos, x) in xs.iter().enumerate() {
                let h = rms_norm(x, &l.attn_norm, c.rms_eps);
                let mut q = l.wq.apply(&h);
                let mut k = l.wk.apply(&h);
                for head in q.chunks_mut(hd).chain(k.chunks_mut(hd)) {
                    rope(head, pos, c.rope_theta);
                }
                qs.push(q);
                ks.push(k);
                vs.push(l.wv.apply(&h));
            }
            for (pos, x) in xs.iter_mut().enumerate() {
                let mut att = vec![0.0f32; c.d_model];
                for h in 0..nh {
                    let kvh = h / group;
                    let q = &qs[pos][h * hd..(h + 1) * hd];
                    let last = if pos >= bidirectional_from {
                        inputs.len() - 1
                    } else {
                        pos
                    };
                    let scores: Vec<f32> = (0..=last)
                        .map(|t| {
                            let k = &ks[t][kvh * hd..(kvh + 1) * hd];
                            q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (hd as f32).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f32 = e.iter().sum();
                    for (t, w) in e.iter().enumerate() {
                        let v = &vs[t][kvh * hd..(kvh + 1) * hd];
                        for i in 0..hd {
                            att[h * hd + i] += w / sum * v[i];
                        }
                    }
                }
                for (xi, o) in x.iter_mut().zip(l.wo.apply(&att)) {
                    *xi += o;
                }
                let h = rms_norm(x, &l.ffn_norm, c.rms_eps);
                let g = l.w_gate.apply(&h);
                let u = l.w_up.apply(&h);
                let a: Vec<f32> = g.iter().zip(&u).map(|(g, u)| silu(*g) * u).collect();
                for (xi, o) in x.iter_mut().zip(l.w_down.apply(&a)) {
                    *xi += o;
                }
            }
        }
        Ok(xs
            .iter()
            .map(|x| rms_norm(x, &self.norm, c.rms_eps))
            .collect())
    }

    /// Greedy decoding of `n` tokens after `prompt` (recomputing everything
    /// per token). Ties go to the lowest token id.
    pub fn greedy(&self, prompt: &[Input], n: usize) -> Result<Vec<u32>> {
        let mut seq: Vec<Input> = prompt.to_vec();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let logits = self.forward(&seq)?;
            let next = argmax(logits.last().expect("non-empty prompt"));
            out.push(next);
            seq.push(Input::Token(next));
        }
        Ok(out)
    }
}

/// Index of the largest value; the first one on ties.
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best as u32
}
