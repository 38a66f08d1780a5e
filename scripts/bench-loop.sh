#!/usr/bin/env bash
# Control-loop wake-up jitter, real time, SECONDS each (default 60):
# tendon's 500 Hz loop (SCHED_FIFO/mlockall where permitted) against a robot
# endpoint over DDS loopback, then the loop users run today
# (unitree_sdk2py RecurrentThread at 2 ms publishing LowCmd with CRC), then
# tendon's loop again without real-time settings. One JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
PY=$(scripts/install-peers.sh | tail -n 1)
scripts/install-sim.sh >/dev/null
cargo build --release --locked -p tendon >&2
target/release/tendon bench loop --seconds "$seconds" --domain 141 --json 2>/dev/null
"$PY" firmware-bridge/tests/peers/recurrent_jitter.py --domain 142 --duration "$seconds" 2>/dev/null
target/release/tendon bench loop --seconds "$seconds" --domain 143 --no-rt --json 2>/dev/null
