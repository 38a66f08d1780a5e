//! Shared by the engine test files.

use tendon_policy::quant::Format;

/// (weight format, KV format, tolerance on |Δlogit| relative to max |logit|)
/// for the engine's and the batch path's logits against the reference pass.
pub const CASES: [(Format, Format, f32); 10] = [
    (Format::F32, Format::F32, 1e-4),
    (Format::F32, Format::F16, 1e-2),
    (Format::F32, Format::BF16, 3e-2),
    (Format::F16, Format::F16, 1e-2),
    (Format::BF16, Format::F16, 1e-2),
    // Q8_0 and Q4_0 meet Q8-quantized activations (as in llama.cpp).
    (Format::Q8_0, Format::F16, 4e-2),
    (Format::Q4_0, Format::F16, 4e-2),
    (Format::NF4, Format::F16, 1e-2),
    (Format::MXFP4, Format::F16, 1e-2),
    (Format::NVFP4, Format::F16, 1e-2),
];
