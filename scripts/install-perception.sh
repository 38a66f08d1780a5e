#!/usr/bin/env bash
# Installs the Python peers that tendon-perception's tests and benchmark use:
# numpy (the independent patchify/resize reference and the benchmark anchor)
# and the Python `mcap` reader (proves Foxglove-side tools read our frames).
#
#   scripts/install-perception.sh          # install (idempotent; fast on re-run)
#   scripts/install-perception.sh --force  # recreate the venv from scratch
#
# Environment:
#   TENDON_CACHE   cache root (default: $HOME/.cache/tendon)
#   TENDON_PYTHON  interpreter used to create the venv (default: python3)
#
# Result (last line on stdout): the venv's python path; scripts/test.sh exports
# it as TENDON_PERCEPTION_PYTHON. Everything else is logged to stderr.
set -euo pipefail

PY_NUMPY="numpy==2.3.5"
PY_MCAP="mcap==1.6.0"
STAMP_KEY="v1 ${PY_NUMPY} ${PY_MCAP}"

CACHE="${TENDON_CACHE:-$HOME/.cache/tendon}"
VENV="$CACHE/perception-venv"
VPY="$VENV/bin/python"
STAMP="$VENV/.tendon-perception-stamp"

exec 3>&1 1>&2
log() { echo "[install-perception] $*" >&2; }
die() { echo "[install-perception] ERROR: $*" >&2; exit 1; }

FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&3; exit 0 ;;
    *) die "unknown argument: $a (see --help)" ;;
  esac
done

verify() {
  "$VPY" -c 'import numpy, mcap; print("numpy", numpy.__version__, "mcap ok")' >&2
}

if [[ $FORCE -eq 0 && -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_KEY" ]] && verify; then
  echo "$VPY" >&3
  exit 0
fi

rm -rf "$VENV"
"${TENDON_PYTHON:-python3}" -m venv "$VENV" || die "could not create a venv at $VENV (install python3-venv)"
"$VPY" -m pip install --quiet --disable-pip-version-check "$PY_NUMPY" "$PY_MCAP" \
  || die "pip could not install $PY_NUMPY $PY_MCAP into $VENV"
verify || die "the venv at $VENV cannot import numpy and mcap"
echo "$STAMP_KEY" > "$STAMP"
log "ready: $VPY"
echo "$VPY" >&3
