#!/usr/bin/env bash
# A loopback demo of the bridge against a robot peer
# written on Unitree's own Python SDK (CycloneDDS 0.10.2). The peer publishes
# LowState at 500 Hz on domain 1 / lo, as a simulator would; tendon monitors
# it, asks its loco service for stand_up, then damps it (kp 0, kd 8 every
# 2 ms) and the peer reports what it got.
# Installs what it needs on the first run (see install-peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=$(scripts/install-peers.sh | tail -n 1)
cargo build --locked -p tendon
TENDON=target/debug/tendon
DOMAIN=${TENDON_DEMO_DOMAIN:-1}

echo "== starting a G1 robot peer (unitree_sdk2py) on domain $DOMAIN, interface lo"
"$PY" firmware-bridge/tests/peers/robot_peer.py --domain "$DOMAIN" --iface lo --duration 9 \
  --mode-machine 5 --rate-hz 500 >/tmp/tendon-demo-peer.json &
peer=$!
echo "== starting a loco service (unitree_sdk2py RPC server, service 'sport') on the same domain"
"$PY" firmware-bridge/tests/peers/rpc_server.py --domain "$DOMAIN" --iface lo --service sport --duration 9 \
  >/tmp/tendon-demo-loco.json 2>/dev/null &
loco=$!
trap 'kill $peer $loco 2>/dev/null || true' EXIT

echo "== tendon bridge fsm stand_up"
"$TENDON" bridge fsm stand_up --domain "$DOMAIN" --iface lo

echo "== tendon bridge monitor (2 s)"
"$TENDON" bridge monitor --domain "$DOMAIN" --iface lo --duration 2
echo "== tendon bridge damp (4 s)"
"$TENDON" bridge damp --domain "$DOMAIN" --iface lo --duration 4
wait $peer $loco
trap - EXIT
echo "== what the Unitree SDK peer received"
cat /tmp/tendon-demo-peer.json
