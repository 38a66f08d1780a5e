#!/usr/bin/env bash
# Runs the LowState decoder fuzz target (libFuzzer through cargo-fuzz) for
# FUZZ_SECONDS (default 60). Not part of CI.
# cargo-fuzz needs unstable rustc flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them, since no nightly toolchain can be fetched here.
set -euo pipefail
cd "$(dirname "$0")/../firmware-bridge"
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p fuzz/corpus/lowstate_decode
# Seed the corpus with a valid payload so the fuzzer starts past the header checks.
python3 - <<'PY'
import struct
body = bytearray(2088)
body[9] = 5
open("fuzz/corpus/lowstate_decode/valid_zero_state", "wb").write(b"\x00\x01\x00\x00" + bytes(body))
PY
export RUSTC_BOOTSTRAP=1
cargo fuzz run lowstate_decode -- -max_total_time="$seconds" -max_len=4096
