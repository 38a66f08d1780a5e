"""Greedy decoding with llama.cpp (llama-cpp-python) on token ids.

usage: llama_greedy.py MODEL.gguf N_GEN THREADS ID [ID ...]
prints: JSON {"tokens": the N_GEN greedy token ids, "logits": the logits each was chosen from}
"""
import json
import sys

import numpy as np
from llama_cpp import Llama


def last_logits(llm):
    # Llama.scores is not filled without logits_all in this version; the
    # context's logits hold the last evaluated position.
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


path, n_gen, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prompt = [int(t) for t in sys.argv[4:]]
llm = Llama(model_path=path, n_ctx=256, n_threads=threads, n_batch=256, verbose=False, seed=0)
llm.reset()
llm.eval(prompt)
out, logits = [], []
for _ in range(n_gen):
    row = last_logits(llm)
    tok = int(np.argmax(row))
    out.append(tok)
    logits.append([float(v) for v in row])
    llm.eval([tok])
print(json.dumps({"tokens": out, "logits": logits}))
