"""Writes a Llama-architecture GGUF with random weights (fixed seed) through
PyPI `gguf`'s writer and its reference quantizers. The tokenizer is a minimal
SentencePiece-style vocab (<unk>, <s>, </s>, 256 byte tokens, then filler
pieces) so llama.cpp accepts the file; tests feed token ids directly.

usage: make_llama_gguf.py OUT --type {F32,F16,Q8_0,Q4_0} [--dim 64 --layers 2
       --heads 4 --kv-heads 2 --ff 128 --vocab 320 --ctx 256 --seed 0]
"""
import argparse

import numpy as np
import gguf

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--type", default="F32")
p.add_argument("--dim", type=int, default=64)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--kv-heads", type=int, default=2)
p.add_argument("--ff", type=int, default=128)
p.add_argument("--vocab", type=int, default=320)
p.add_argument("--ctx", type=int, default=256)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
assert a.vocab >= 259

rng = np.random.default_rng(a.seed)
qtype = gguf.GGMLQuantizationType[a.type]
w = gguf.GGUFWriter(a.out, "llama")
w.add_context_length(a.ctx)
w.add_embedding_length(a.dim)
w.add_block_count(a.layers)
w.add_feed_forward_length(a.ff)
w.add_head_count(a.heads)
w.add_head_count_kv(a.kv_heads)
w.add_layer_norm_rms_eps(1e-5)
w.add_rope_freq_base(10000.0)
w.add_rope_dimension_count(a.dim // a.heads)
w.add_file_type({"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7}[a.type])

tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
tokens += [f"tok{i}".encode() for i in range(a.vocab - len(tokens))]
types = [2, 3, 3] + [6] * 256 + [1] * (a.vocab - 259)
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores([0.0] * a.vocab)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.add_add_bos_token(False)


def mat(name, rows, cols):
    x = (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
    if qtype == gguf.GGMLQuantizationType.F32:
        w.add_tensor(name, x)
    elif qtype == gguf.GGMLQuantizationType.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)


def norm(name, n):
    w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))


hd = a.dim // a.heads
mat("token_embd.weight", a.vocab, a.dim)
for i in range(a.layers):
    norm(f"blk.{i}.attn_norm.weight", a.dim)
    mat(f"blk.{i}.attn_q.weight", a.dim, a.dim)
    mat(f"blk.{i}.attn_k.weight", a.kv_heads * hd, a.dim)
    mat(f"blk.{i}.attn_v.weight", a.kv_heads * hd, a.dim)
    mat(f"blk.{i}.attn_output.weight", a.dim, a.dim)
    norm(f"blk.{i}.ffn_norm.weight", a.dim)
    mat(f"blk.{i}.ffn_gate.weight", a.ff, a.dim)
    mat(f"blk.{i}.ffn_up.weight", a.ff, a.dim)
    mat(f"blk.{i}.ffn_down.weight", a.dim, a.ff)
norm("output_norm.weight", a.dim)
mat("output.weight", a.vocab, a.dim)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
