#!/usr/bin/env bash
# The whole test suite. On a fresh Debian 12 machine with only the Rust
# toolchain it first installs what the build needs (scripts/install.sh: the
# Debian packages of scripts/system-packages.txt, libmujoco and the G1 model),
# then the tests' third-party peers (install-peers.sh, install-policy-peers.sh,
# install-perception.sh, install-speech.sh), then runs every test of the
# workspace. Idempotent; re-runs skip the installs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The build's Debian packages, MuJoCo 3.17.0 and Unitree's G1 model (links target/mujoco).
scripts/install.sh >/dev/null
TENDON_PEERS_PYTHON=$(scripts/install-peers.sh | tail -n 1)
export TENDON_PEERS_PYTHON
echo "[test] Unitree SDK peers: $TENDON_PEERS_PYTHON" >&2
# gguf + llama-cpp-python (llama.cpp built from source, ~12 min cold) for tendon-policy's peer tests.
TENDON_POLICY_PYTHON=$(scripts/install-policy-peers.sh | tail -n 1); export TENDON_POLICY_PYTHON
# numpy + mcap for tendon-perception (patch order, resize parity, MCAP interop).
TENDON_PERCEPTION_PYTHON=$(scripts/install-perception.sh | tail -n 1); export TENDON_PERCEPTION_PYTHON
# espeak-ng, librosa venv, tiny.en imported to ggml: TENDON_SPEECH_PYTHON, TENDON_WHISPER_CT2_DIR, TENDON_WHISPER_MODEL.
speech_env=$(scripts/install-speech.sh); eval "$speech_env"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
# The policy engine again without AVX-VNNI, so a VNNI machine also runs the
# AVX2-only integer kernels (llama.cpp's peer tests need not run twice).
if grep -qw avx_vnni /proc/cpuinfo; then
  TENDON_POLICY_NO_VNNI=1 cargo test --locked -p tendon-policy --lib --test engine_vs_reference \
    --test batch --test speculative --test decode_allocates_nothing --test parallel_head 2>    --test batch --test speculative --test decode_allocates_nothing 2>&1 | tee -a "$log"1 | tee -a "$log"
fi
# Latest<T>, the lock-free handoff every thread shares, under loom: every
# interleaving of a writer and two readers, with its data-race detector.
RUSTFLAGS="--cfg loom" cargo test --locked -q --target-dir target/loom -p tendon-core --lib latest 2>&1 | tee -a "$log"
# The microphone path (cpal on ALSA) has no sound card to run against here; it must build.
cargo clippy --locked -q -p tendon --features audio-device -- -D warnings 2>&1 | tee -a "$log"
# Every Debian package the build and the binary use is in scripts/system-packages.txt.
scripts/check-system-packages.sh 2>&1 | tee -a "$log"
# The policy engine's NEON kernels, cross-compiled for aarch64 and run under
# qemu-user; where the aarch64 standard library cannot be had it reports a skip.
scripts/test-aarch64.sh 2>&1 | tee -a "$log"
# One closing line for the whole suite: cargo's test results plus the script
# checks (`check: NAME ok|FAILED|SKIPPED`), so a check that could not run
# shows as skipped instead of hiding in a green run.
awk '/^test result:/ { p += $4; f += $6 }
     /^check: [^ ]+ ok$/ { p += 1 }
     /^check: [^ ]+ FAILED$/ { f += 1 }
     /^check: [^ ]+ SKIPPED/ { s += 1 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
