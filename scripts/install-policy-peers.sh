#!/usr/bin/env bash
# Peers for tendon-policy's tests: PyPI `gguf` (GGUF writer and reference
# quantizers) and `llama-cpp-python` built from source (llama.cpp compiled for
# this CPU by pip via cmake). Idempotent: an existing venv with both packages
# importable is reused. Prints the venv's python as its last line.
set -euo pipefail
VENV="${TENDON_POLICY_VENV:-$HOME/.cache/tendon/policy-venv}"
GGUF_VERSION=0.19.0
LLAMA_CPP_PYTHON_VERSION=0.3.36

# cmake and g++ (llama.cpp's build) come from the build's own list.
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
mapfile -t build_packages < <(read_package_list "$(dirname "${BASH_SOURCE[0]}")/system-packages.txt")
apt_install install-policy-peers "${build_packages[@]}" >&2
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import gguf, numpy" 2>/dev/null; then
  "$PY" -m pip install -q "gguf==$GGUF_VERSION" numpy >&2
fi
# x86-64-v3 (AVX2/FMA/F16C) build, not -march=native: this VM advertises AMX,
# whose tile instructions trap (SIGILL in ggml_backend_amx_mul_mat), and an
# AVX2 llama.cpp is the like-for-like anchor for our AVX2 kernels. AVX-VNNI
# is added where the CPU has it, because our integer kernels use it there.
LLAMA_CMAKE_ARGS="-DLLAMA_CURL=OFF -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
if grep -qw avx_vnni /proc/cpuinfo 2>/dev/null; then
  LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX_VNNI=ON"
fi
STAMP="$VENV/.llama-cpp-cmake-args"
if ! "$PY" -c "import llama_cpp" 2>/dev/null || [ "$(cat "$STAMP" 2>/dev/null)" != "$LLAMA_CMAKE_ARGS" ]; then
  start=$(date +%s)
  echo "[install-policy-peers] building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from source (several minutes)" >&2
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="$LLAMA_CMAKE_ARGS" \
    "$PY" -m pip install -q --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
  "$PY" -m pip install -q "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
  echo "$LLAMA_CMAKE_ARGS" > "$STAMP"
  echo "[install-policy-peers] llama-cpp-python built in $(( $(date +%s) - start )) s" >&2
fi
echo "$PY"
