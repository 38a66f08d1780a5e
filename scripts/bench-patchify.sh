#!/usr/bin/env bash
# tendon-perception patchify benchmark: 640x480 RGB8 -> 196 x 768 patches in
# Rust, alternating with the same operation in numpy in one run; prints
# median/min/max per call and the numpy/Rust ratio. BENCH_ROUNDS=N to change
# the number of alternations (default 21).
set -euo pipefail
cd "$(dirname "$0")/.."
TENDON_PERCEPTION_PYTHON=$(scripts/install-perception.sh | tail -n 1); export TENDON_PERCEPTION_PYTHON
cargo bench -p tendon-perception --bench patchify 2>&1 | grep -v -E '^\s+(Compiling|Finished|Running)'
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
