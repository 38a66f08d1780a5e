//! `tendon models inspect|quantize|sensitivity` and `tendon bench decode`
//! run as the binary, on a small random policy model: what they print agrees
//! with the model file as the policy crate reads it, and bad input names the
//! problem.

use std::path::{Path, PathBuf};
mod common;

use common::tendon;

use tendon_policy::model::{component_of, Model};
use tendon_policy::precision::{Component, PrecisionPolicy};
use tendon_policy::quant::Format;
use tendon_policy::testmodel::tiny_policy_config;
use tendon_policy::weights;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tendon-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tiny multimodal policy, all F32, saved as safetensors + JSON.
fn save_f32_model(dir: &Path) -> PathBuf {
    let model = Model::random(tiny_policy_config(), 7, &PrecisionPolicy::all_f32()).unwrap();
    let path = dir.join("tiny.safetensors");
    weights::safetensors::save(&model, &path).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_lists_every_tensor_with_its_format_and_component() {
    let dir = TempDir::new("inspect");
    let path = save_f32_model(&dir.0);
    let model = weights::load_model(&path).unwrap();

    let (code, out, err) = tendon(&["models", "inspect", s(&path)]);
    assert_eq!(code, 0, "{err}");
    for t in model.tensors() {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t.name.as_str()))
            .unwrap_or_else(|| panic!("no line for {} in:\n{out}", t.name));
        assert!(line.contains("F32"), "{line}");
        assert!(
            line.contains(&format!("[{}]", component_of(&t.name).name())),
            "{line}"
        );
    }
    let cfg = &model.config;
    assert!(
        out.contains(&format!("d_model {}, {} layers", cfg.d_model, cfg.n_layers)),
        "{out}"
    );
    assert!(
        out.contains(&format!("in {} tensors", model.tensors().len())),
        "{out}"
    );
}

#[test]
fn quantize_applies_the_policy_per_component_and_the_result_loads() {
    let dir = TempDir::new("quantize");
    let input = save_f32_model(&dir.0);
    let output = dir.0.join("q.safetensors");

    let (code, out, err) = tendon(&[
        "models",
        "quantize",
        s(&input),
        s(&output),
        "--policy",
        "ffn=q4_0,qkv=nvfp4,attn_out=q8_0",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote"), "{out}");

    let before = weights::load_model(&input).unwrap();
    let after = weights::load_model(&output).unwrap();
    assert_eq!(before.tensors().len(), after.tensors().len());
    for t in after.tensors() {
        let expected = match component_of(&t.name) {
            Component::Ffn => Format::Q4_0,
            Component::Qkv => Format::NVFP4,
            Component::AttnOut => Format::Q8_0,
            c => PrecisionPolicy::default().get(c),
        };
        assert_eq!(t.format, expected, "{}", t.name);
    }
    assert!(
        after.weight_bytes() < before.weight_bytes() / 2,
        "{} vs {} bytes",
        after.weight_bytes(),
        before.weight_bytes()
    );
}

#[test]
fn quantize_rejects_an_unknown_component_or_format_by_name() {
    let dir = TempDir::new("quantize-bad");
    let input = save_f32_model(&dir.0);
    let output = dir.0.join("q.safetensors");
    for (spec, named) in [("ffm=q4_0", "ffm"), ("ffn=q3_k", "q3_k")] {
        let (code, _, err) = tendon(&[
            "models",
            "quantize",
            s(&input),
            s(&output),
            "--policy",
            spec,
        ]);
        assert_ne!(code, 0, "{spec} was accepted");
        assert!(err.contains(named), "{spec}: {err}");
    }
    assert!(!output.exists(), "a rejected policy wrote a file");
}

#[test]
fn sensitivity_reports_every_component_against_f32() {
    let dir = TempDir::new("sensitivity");
    let path = save_f32_model(&dir.0);
    let (code, out, err) = tendon(&[
        "models",
        "sensitivity",
        s(&path),
        "--prompts",
        "2",
        "--threads",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // One row per component and candidate format.
    assert!(rows.len() >= 5, "{out}");
    for row in &rows {
        let cosine: f64 = row[2].parse().unwrap();
        assert!(cosine > 0.5 && cosine <= 1.0 + 1e-6, "{row:?}");
        let action_mae: f64 = row[3].parse().unwrap();
        assert!(action_mae.is_finite() && action_mae >= 0.0, "{row:?}");
    }
    for component in [
        "embeddings",
        "qkv",
        "attn_out",
        "ffn",
        "lm_head",
        "kv_cache",
    ] {
        assert!(
            rows.iter().any(|r| r[0] == component),
            "no {component} row in:\n{out}"
        );
    }
    // 4-bit FFN must cost more than nothing, and more than 8-bit: a report of
    // cosine 1.0 everywhere would mean nothing was quantized.
    let cosine_of = |format: &str| -> f64 {
        let row = rows
            .iter()
            .find(|r| r[0] == "ffn" && r[1] == format)
            .unwrap_or_else(|| panic!("no ffn {format} row in:\n{out}"));
        row[2].parse().unwrap()
    };
    assert!(cosine_of("Q4_0") < 0.999_999, "{out}");
    assert!(cosine_of("Q4_0") < cosine_of("Q8_0"), "{out}");
}

#[test]
fn bench_decode_prints_the_documented_json_keys() {
    let dir = TempDir::new("bench-decode");
    let path = save_f32_model(&dir.0);
    let (code, out, err) = tendon(&[
        "bench",
        "decode",
        "--model",
        s(&path),
        "--threads",
        "1",
        "--prompt-tokens",
        "8",
        "--gen-tokens",
        "8",
        "--repeats",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let line = out.lines().find(|l| l.starts_with('{')).expect(&out);
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(v["prefill_tok_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["decode_tok_s"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["threads"].as_u64(), Some(1), "{v}");
    assert_eq!(v["format"].as_str(), Some("F32"), "{v}");
}

#[test]
fn corrupt_and_missing_model_files_are_named() {
    let dir = TempDir::new("bad-model");
    let truncated = dir.0.join("cut.safetensors");
    let whole = std::fs::read(save_f32_model(&dir.0)).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    std::fs::copy(dir.0.join("tiny.json"), dir.0.join("cut.json")).unwrap();
    let missing = dir.0.join("nowhere.gguf");
    for path in [&truncated, &missing] {
        let (code, _, err) = tendon(&["models", "inspect", s(path)]);
        assert_ne!(code, 0);
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
}
