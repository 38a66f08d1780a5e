#!/usr/bin/env bash
# DDS round trip on loopback: LowCmd out, LowState back through an echo peer
# (firmware-bridge/tests/peers/cyclone_rtt.py pong, Unitree's Python SDK on
# CycloneDDS 0.10.2). Alternates our ping (tendon, RustDDS) and the anchor
# ping (a second CycloneDDS Python peer), ROUNDS times each, and prints one
# JSON line per run. Usage: scripts/bench-dds-rtt.sh [ROUNDS] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
count=${2:-2000}
PY=$(scripts/install-peers.sh | tail -n 1)
cargo build --release --locked -p tendon >&2
TENDON=target/release/tendon
PEERS=firmware-bridge/tests/peers
domain=90
for r in $(seq 1 "$rounds"); do
  for who in tendon cyclonedds; do
    domain=$((domain + 1))
    "$PY" "$PEERS/cyclone_rtt.py" pong --domain "$domain" --iface lo --duration 60 >/dev/null 2>&1 &
    pong=$!
    if [[ $who == tendon ]]; then
      out=$("$TENDON" bench dds-rtt --domain "$domain" --iface lo --count "$count" --json)
    else
      out=$("$PY" "$PEERS/cyclone_rtt.py" ping --domain "$domain" --iface lo --count "$count" 2>/dev/null | tail -n 1)
    fi
    kill "$pong" 2>/dev/null || true
    wait "$pong" 2>/dev/null || true
    echo "{\"round\": $r, \"ping\": \"$who\", \"result\": $out}"
  done
done
