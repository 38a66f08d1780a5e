#!/usr/bin/env bash
# tendon-policy against llama.cpp on the same ~110M-parameter random-weight
# Llama GGUF (F16, Q8_0, Q4_0), same threads, alternating runs (A B A B A B),
# each run the best of REPEATS passes in one process on both sides (this
# shared VM's speed swings by up to 2x between processes; best-of-N in each
# process and the median over rounds keeps one slow spell from deciding).
# Prints one line per run and a median table with ratios (ours / llama.cpp),
# then batch-8 decode throughput (8 sequences stepped together, total tok/s)
# against batch 1 in the same `tendon bench decode --batch 8` run.
# usage: scripts/bench-policy.sh [THREADS] [PROMPT_TOKENS] [GEN_TOKENS] [REPEATS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}; P=${2:-128}; G=${3:-32}; R=${4:-3}; ROUNDS=${5:-3}
PY=$(scripts/install-policy-peers.sh | tail -n 1)
DIR="${TENDON_POLICY_BENCH_DIR:-$HOME/.cache/tendon/policy-bench}"
mkdir -p "$DIR"
cargo build --release -q -p tendon
TENDON=target/release/tendon
for ty in F16 Q8_0 Q4_0; do
  f="$DIR/llama-110m-$ty.gguf"
  [ -f "$f" ] || "$PY" policy/tests/peers/make_llama_gguf.py "$f" --type "$ty" --dim 768 --layers 12 \
      --heads 12 --kv-heads 12 --ff 2048 --vocab 16384 --ctx 1024 --seed 7
done
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
  for ty in F16 Q8_0 Q4_0; do
    f="$DIR/llama-110m-$ty.gguf"
    ours=$("$TENDON" bench decode --model "$f" --threads "$THREADS" --prompt-tokens "$P" --gen-tokens "$G" --repeats "$R" --json)
    theirs=$("$PY" policy/tests/peers/llama_bench.py "$f" "$THREADS" "$P" "$G" "$R")
    echo "$ty ours $ours" | tee -a "$results"
    echo "$ty llama.cpp $theirs" | tee -a "$results"
  done
done
for round in 1 2 3; do
  for ty in F16 Q8_0 Q4_0; do
    f="$DIR/llama-110m-$ty.gguf"
    b=$("$TENDON" bench decode --model "$f" --threads "$THREADS" --prompt-tokens "$P" --gen-tokens "$G" --repeats "$R" --batch 8 --json)
    echo "$ty batch $b" | tee -a "$results"
  done
done
"$PY" - "$results" <<'PYEOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    ty, who, js = line.split(" ", 2)
    rows.setdefault((ty, who), []).append(json.loads(js))
print("| format | phase | tendon median (min–max) tok/s | llama.cpp median (min–max) tok/s | ratio |")
print("|---|---|---|---|---|")
for ty in ["F16", "Q8_0", "Q4_0"]:
    for phase in ["prefill_tok_s", "decode_tok_s"]:
        o = [r[phase] for r in rows[(ty, "ours")]]
        t = [r[phase] for r in rows[(ty, "llama.cpp")]]
        mo, mt = statistics.median(o), statistics.median(t)
        print(f"| {ty} | {phase.split('_')[0]} | {mo:.1f} ({min(o):.1f}–{max(o):.1f}) | {mt:.1f} ({min(t):.1f}–{max(t):.1f}) | {mo/mt:.2f}× |")
print()
print("| format | batch 1 decode median (min–max) tok/s | batch 8 total median (min–max) tok/s | batch 8 / batch 1 median (min–max) |")
print("|---|---|---|---|")
for ty in ["F16", "Q8_0", "Q4_0"]:
    rs = rows[(ty, "batch")]
    one = [r["decode_tok_s"] for r in rs]
    eight = [r["batch_decode_tok_s"] for r in rs]
    sp = [r["batch_speedup"] for r in rs]
    m = statistics.median
    print(f"| {ty} | {m(one):.1f} ({min(one):.1f}–{max(one):.1f}) | {m(eight):.1f} ({min(eight):.1f}–{max(eight):.1f}) | {m(sp):.2f}× ({min(sp):.2f}–{max(sp):.2f}) |")
PYEOF
rm -f "$results"
