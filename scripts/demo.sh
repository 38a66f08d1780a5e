#!/usr/bin/env bash
# The main job: `tendon sim`. The MuJoCo G1 (Unitree's model, MuJoCo 3.17.0)
# and the 500 Hz control loop run in process through the default scenario:
# zero torque (hanging in the band) → stand up → hold 10 s → squat → stand →
# sit → damp. It prints pelvis heights, tracking error, loop timing and safety
# trips, and exits 0 only if the robot stood and nothing tripped.
# Installs what it needs on the first run (scripts/install.sh: the Debian
# packages of scripts/system-packages.txt, libmujoco and the G1 model).
# Extra arguments go to `tendon sim` (e.g. --realtime, --trace).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
cargo build --locked -p tendon
exec target/debug/tendon sim "$@"
