#!/usr/bin/env bash
# The policy engine's NEON kernels on aarch64 (the Jetson's CPU), run under
# qemu-user: tendon-policy's unit tests (every kernel against dequantize-then-
# dot, NEON activation quantization against the portable one) and its engine
# tests (logits against the reference pass for every format, batch, prefix
# cache, no allocation per token), and the bridge's CRC (the PMULL
# carry-less form against the bitwise definition; qemu's default CPU model,
# `max`, has PMULL), cross-compiled for aarch64-unknown-linux-gnu.
#
# Installs gcc-aarch64-linux-gnu and qemu-user (apt) and the aarch64 rust-std
# (rustup). Where rustup cannot fetch rust-std (the machine's toolchain is
# fixed and its dist server unreachable), it says so loudly, prints
# `check: aarch64-neon SKIPPED`, which scripts/test.sh counts as a skip in
# its closing line, and exits 0: the x86-64 suite does not depend on it. A
# test that fails exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
apt_install aarch64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
if ! rustup target list --installed | grep -qx "$target"; then
    if ! timeout 300 rustup target add "$target" >&2; then
        echo "[aarch64] NOT RUN: rustup could not fetch rust-std for $target; the NEON kernels were not tested" >&2
        echo "check: aarch64-neon SKIPPED (no rust-std for $target)"
        exit 0
    fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# Code only aarch64 compiles (the NEON kernels) is held to the same lints.
cargo clippy --locked -q -p tendon-policy --target "$target" --all-targets -- -D warnings
cargo clippy --locked -q -p tendon-bridge --target "$target" --lib -- -D warnings
cargo test --locked -p tendon-bridge --target "$target" --lib crc "$@"
cargo test --locked -p tendon-policy --target "$target" \
    --lib --test engine_vs_reference --test batch --test decode_allocates_nothing \
    --test speculative --test early_exit --test simd_dispatch --test parallel_head "$@"
