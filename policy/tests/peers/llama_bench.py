"""llama.cpp (llama-cpp-python) prefill and decode tokens/s on token ids,
measured the way `tendon bench decode` measures ours (best of REPEATS).

usage: llama_bench.py MODEL.gguf THREADS PROMPT_TOKENS GEN_TOKENS REPEATS
prints: JSON {prefill_tok_s, decode_tok_s, threads}
"""
import json
import sys
import time

import numpy as np
from llama_cpp import Llama


def last_logits(llm):
    # Llama.scores is not filled without logits_all in this version; the
    # context's logits hold the last evaluated position.
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


path = sys.argv[1]
threads, n_prompt, n_gen, repeats = (int(v) for v in sys.argv[2:6])
llm = Llama(model_path=path, n_ctx=n_prompt + n_gen + 8, n_threads=threads,
            n_threads_batch=threads, n_batch=max(n_prompt, 1), verbose=False)
n_vocab = llm.n_vocab()
prompt = [(i * 7 + 1) % n_vocab for i in range(n_prompt)]
best_p = best_d = 0.0
for _ in range(repeats):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    tp = time.perf_counter() - t0
    tok = int(np.argmax(last_logits(llm)))
    t1 = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([tok])
        tok = int(np.argmax(last_logits(llm)))
    td = time.perf_counter() - t1
    best_p = max(best_p, n_prompt / tp)
    best_d = max(best_d, n_gen / td)
print(json.dumps({"prefill_tok_s": best_p, "decode_tok_s": best_d, "threads": threads}))
