"""Greedy decoding with llama.cpp (llama-cpp-python) on token ids.

usage: llama_greedy.py MODEL.gguf N_GEN THREADS ID [ID ...]
prints: JSON list of the N_GEN generated token ids
"""
import json
import sys

import numpy as np
from llama_cpp import Llama

path, n_gen, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prompt = [int(t) for t in sys.argv[4:]]
llm = Llama(model_path=path, n_ctx=256, n_threads=threads, n_batch=256, verbose=False, seed=0)
llm.reset()
llm.eval(prompt)
out = []
for _ in range(n_gen):
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    out.append(tok)
    llm.eval([tok])
print(json.dumps(out))
