#!/usr/bin/env bash
# Control-loop wake-up error, tendon against the loop users run today,
# alternating so that a VM's slow spell hits both:
#   scripts/bench-loop.sh [ROUNDS] [SECONDS]      (defaults 3 rounds of 20 s)
# Each round runs, back to back:
#   A  tendon bench loop: the 500 Hz control loop (SCHED_FIFO and mlockall
#      where permitted, 1 ns timer slack, sleep to just before the deadline
#      and spin the rest) against a robot endpoint over DDS loopback;
#   B  unitree_sdk2py's RecurrentThread (timerfd) at 2 ms publishing LowCmd
#      with Unitree's CRC;
#   C  tendon's loop sleeping only (--max-wake-margin-us 0), the way it woke
#      before the spin, to show what the spin changes.
# Prints each run's JSON line, then per percentile the median over rounds of
# each loop and the ratios A/B and C/B.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-20}
PY=$(scripts/install-peers.sh | tail -n 1)
scripts/install.sh >/dev/null
cargo build --release --locked -p tendon >&2
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  a=$(target/release/tendon bench loop --seconds "$seconds" --domain 141 --json 2>/dev/null)
  b=$("$PY" firmware-bridge/tests/peers/recurrent_jitter.py --domain 142 --duration "$seconds" 2>/dev/null)
  c=$(target/release/tendon bench loop --seconds "$seconds" --domain 143 --max-wake-margin-us 0 --json 2>/dev/null)
  for tagged in "A $a" "B $b" "C $c"; do
    echo "$tagged" | tee -a "$runs"
  done
done
python3 - "$runs" <<'EOF'
import json, statistics, sys

runs = {"A": [], "B": [], "C": []}
for line in open(sys.argv[1]):
    tag, _, text = line.partition(" ")
    runs[tag].append(json.loads(text))
names = {
    "A": "tendon (sleep + spin)",
    "B": "unitree_sdk2py RecurrentThread",
    "C": "tendon (sleep only)",
}
keys = ["p50_us", "p99_us", "p999_us", "max_us", "overruns"]
med = {t: {k: statistics.median(r[k] for r in rs) for k in keys} for t, rs in runs.items()}
print()
print(f"median over {len(runs['A'])} alternating rounds (wake-up error, µs)")
print(f"{'loop':34} " + " ".join(f"{k:>10}" for k in keys))
for t in "ABC":
    print(f"{names[t]:34} " + " ".join(f"{med[t][k]:>10}" for k in keys))
for t in "AC":
    ratios = []
    for k in keys:
        b = med["B"][k]
        ratios.append(f"{med[t][k] / b:>10.2f}" if b else f"{'-':>10}")
    print(f"{'ratio ' + t + '/B':34} " + " ".join(ratios))
spin = statistics.median(r["spin_share"] for r in runs["A"])
print(f"A's spin: {100 * spin:.2f} % of one core (median over rounds)")
EOF
