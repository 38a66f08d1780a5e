//! Model files: safetensors round trip, GGUF parsing and the errors for
//! corrupt or unsupported files.

use std::path::PathBuf;

use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::reference::Reference;
use tendon_policy::testmodel::tiny_policy_config;
use tendon_policy::weights::{gguf::GgufFile, load_model, safetensors};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tendon-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn safetensors_round_trip_keeps_every_format_bit_exact() {
    let mut policy = PrecisionPolicy::default();
    policy
        .apply_overrides("qkv=nvfp4,attn_out=mxfp4,ffn=nf4,lm_head=q4_0,inputs=bf16")
        .unwrap();
    let model = Model::random(tiny_policy_config(), 9, &policy).unwrap();
    let path = tmp("rt.safetensors");
    safetensors::save(&model, &path).unwrap();
    let back = load_model(&path).unwrap();
    assert_eq!(back.config, model.config);
    let a = model.tensors();
    let b = back.tensors();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.name, x.format, &x.shape), (&y.name, y.format, &y.shape));
        assert_eq!(x.bytes(), y.bytes(), "{}", x.name);
        assert_eq!(x.tensor_scale, y.tensor_scale, "{}", x.name);
    }
    let toks = [1, 2, 3].map(Input::Token);
    assert_eq!(
        Reference::new(&model).forward(&toks).unwrap(),
        Reference::new(&back).forward(&toks).unwrap()
    );
}

#[test]
fn truncated_safetensors_and_missing_config_are_clear_errors() {
    let model = Model::random(tiny_policy_config(), 9, &PrecisionPolicy::default()).unwrap();
    let path = tmp("trunc.safetensors");
    safetensors::save(&model, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_model(&path).err().unwrap().to_string();
    assert!(err.contains("not a valid safetensors file"), "{err}");
    std::fs::remove_file(path.with_extension("json")).unwrap();
    let err = load_model(&path).err().unwrap().to_string();
    assert!(err.contains("trunc.json"), "{err}");
}

/// A minimal GGUF v3 file: metadata and tensors written by hand.
struct GgufBuilder {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

impl GgufBuilder {
    fn new() -> Self {
        GgufBuilder {
            kv: vec![],
            n_kv: 0,
            infos: vec![],
            n_tensors: 0,
            data: vec![],
        }
    }
    fn str(buf: &mut Vec<u8>, s: &str) {
        buf.extend((s.len() as u64).to_le_bytes());
        buf.extend(s.as_bytes());
    }
    fn kv_u32(mut self, k: &str, v: u32) -> Self {
        Self::str(&mut self.kv, k);
        self.kv.extend(4u32.to_le_bytes());
        self.kv.extend(v.to_le_bytes());
        self.n_kv += 1;
        self
    }
    fn kv_str(mut self, k: &str, v: &str) -> Self {
        Self::str(&mut self.kv, k);
        self.kv.extend(8u32.to_le_bytes());
        Self::str(&mut self.kv, v);
        self.n_kv += 1;
        self
    }
    fn tensor(self, name: &str, ne: &[u64], ty: u32, bytes: &[u8]) -> Self {
        let offset = self.data.len() as u64;
        self.tensor_at(name, ne, ty, offset, bytes)
    }
    /// A tensor whose info claims `offset`, whatever it really is.
    fn tensor_at(mut self, name: &str, ne: &[u64], ty: u32, offset: u64, bytes: &[u8]) -> Self {
        Self::str(&mut self.infos, name);
        self.infos.extend((ne.len() as u32).to_le_bytes());
        for d in ne {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(ty.to_le_bytes());
        self.infos.extend(offset.to_le_bytes());
        self.data.extend(bytes);
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        self.n_tensors += 1;
        self
    }
    fn build(self) -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(self.n_tensors.to_le_bytes());
        f.extend(self.n_kv.to_le_bytes());
        f.extend(self.kv);
        f.extend(self.infos);
        while !f.len().is_multiple_of(32) {
            f.push(0);
        }
        f.extend(self.data);
        f
    }
}

#[test]
fn gguf_header_metadata_and_tensor_data_are_read() {
    let w: Vec<u8> = (0..64u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let bytes = GgufBuilder::new()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 7)
        .tensor("a", &[32], 0, &w[..128])
        .tensor("b", &[32, 2], 0, &w)
        .build();
    let path = tmp("hand.gguf");
    std::fs::write(&path, bytes).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.version, 3);
    assert_eq!(f.metadata["llama.block_count"].as_u64(), Some(7));
    assert_eq!(f.metadata["general.architecture"].as_str(), Some("llama"));
    let b = f.tensor(&f.tensors[1]).unwrap();
    assert_eq!(b.shape, vec![2, 32], "ggml ne [32, 2] is 2 rows of 32");
    assert_eq!(b.to_f32()[33], 33.0);
    let a = f.tensor(&f.tensors[0]).unwrap();
    assert_eq!(a.to_f32()[31], 31.0);
}

#[test]
fn gguf_with_unsupported_type_names_tensor_type_and_supported_list() {
    let bytes = GgufBuilder::new()
        .kv_str("general.architecture", "llama")
        .tensor("blk.0.attn_q.weight", &[256, 1], 13, &[0u8; 176])
        .build();
    let path = tmp("x.gguf");
    std::fs::write(&path, bytes).unwrap();
    let f = GgufFile::open(&path).unwrap();
    let err = f.tensor(&f.tensors[0]).unwrap_err().to_string();
    assert!(
        err.contains("has tensor 'blk.0.attn_q.weight' of type Q5_K, which this build does not support; supported: F32, F16, BF16, Q8_0, Q4_0, MXFP4"),
        "{err}"
    );
}

#[test]
fn corrupt_gguf_files_are_clear_errors() {
    let good = GgufBuilder::new()
        .kv_str("general.architecture", "llama")
        .tensor("t", &[32, 2], 0, &[0u8; 256])
        .build();
    let path = tmp("bad.gguf");
    for (bytes, want) in [
        (b"GGUX\x03\0\0\0".to_vec(), "magic"),
        (good[..30].to_vec(), "truncated"),
        (good[..good.len() - 64].to_vec(), "outside the data section"),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = match GgufFile::open(&path) {
            Err(e) => e.to_string(),
            Ok(f) => f.tensor(&f.tensors[0]).err().unwrap().to_string(),
        };
        assert!(err.contains(want) && err.contains("bad.gguf"), "{err}");
    }
    // Crafted sizes: an offset near u64::MAX and dims whose product
    // overflows. Each is an error naming the tensor, never a panic.
    for (dims, offset) in [
        (vec![32u64, 2], u64::MAX - 31),
        (vec![32u64, u64::MAX / 2, 8], 0),
        (vec![u64::MAX - 31, 2], 0),
    ] {
        let crafted = GgufBuilder::new()
            .kv_str("general.architecture", "llama")
            .tensor_at("t", &dims, 0, offset, &[0u8; 256])
            .build();
        std::fs::write(&path, &crafted).unwrap();
        let f = GgufFile::open(&path).unwrap();
        let err = f.tensor(&f.tensors[0]).err().unwrap().to_string();
        assert!(
            err.contains("tensor 't'") && err.contains("bad.gguf"),
            "{dims:?} @ {offset}: {err}"
        );
    }
    std::fs::write(&path, &good).unwrap();
    let err = GgufFile::open(&path)
        .unwrap()
        .to_model()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("llama.embedding_length") || err.contains("missing"),
        "{err}"
    );
}
