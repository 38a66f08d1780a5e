#!/usr/bin/env bash
# Installs the third-party Python peers that the Rust tests use to prove
# byte- and wire-compatibility with Unitree's own SDKs (CycloneDDS 0.10.2).
#
#   scripts/install-peers.sh            # install (idempotent; fast on re-run)
#   scripts/install-peers.sh --force    # reinstall the venv from scratch
#   scripts/install-peers.sh --print-python   # only print the venv python if ready
#
# Environment:
#   TENDON_CACHE   cache root (default: $HOME/.cache/tendon)
#   TENDON_PYTHON  interpreter used to create the venv (default: python3)
#
# Result (last line on stdout): the venv's python path, e.g.
#   /root/.cache/tendon/peers-venv/bin/python
# Everything else is logged to stderr.
set -euo pipefail

# ---- pinned versions ------------------------------------------------------
CYCLONEDDS_DEB_VERSION_PREFIX="0.10.2"
PY_CYCLONEDDS="cyclonedds==0.10.2"
PY_UNITREE_SDK2PY="unitree-sdk2py-dimos==1.0.3"
PY_FAR_UNITREE_SDK="far-unitree-sdk==0.1.8"
PY_MCAP="mcap==1.6.0"
# Build backend for the cyclonedds sdist (its pyproject needs setuptools+wheel).
PY_BUILD_DEPS=("setuptools==69.5.1" "wheel==0.43.0")
# python3-dev: the cyclonedds binding is a C extension built against Python.h.
APT_PACKAGES=(cyclonedds-dev cyclonedds-tools cmake build-essential pkg-config python3-dev python3-venv)
# Bump when anything above changes, so the stamp invalidates.
STAMP_KEY="v1 ${PY_CYCLONEDDS} ${PY_UNITREE_SDK2PY} ${PY_FAR_UNITREE_SDK} ${PY_MCAP} ${PY_BUILD_DEPS[*]} ${APT_PACKAGES[*]}"

CACHE="${TENDON_CACHE:-$HOME/.cache/tendon}"
VENV="$CACHE/peers-venv"
VPY="$VENV/bin/python"
STAMP="$VENV/.tendon-peers-stamp"
CDDS_HOME="$CACHE/cyclonedds-home"

# stdout carries only the final python path; everything else goes to stderr
exec 3>&1 1>&2

log() { echo "[install-peers] $*" >&2; }
die() { echo "[install-peers] ERROR: $*" >&2; exit 1; }

FORCE=0
PRINT_ONLY=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --print-python) PRINT_ONLY=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&3; exit 0 ;;
    *) die "unknown argument: $a (see --help)" ;;
  esac
done

verify_imports() {
  # Each import in its own process: unitree_interface bundles its own
  # libddsc.so, which must not share a process with Debian's libddsc.
  CYCLONEDDS_HOME="$CDDS_HOME" "$VPY" -c 'import cyclonedds.domain; from cyclonedds.internal import load_cyclonedds; print("cyclonedds ok, libddsc:", load_cyclonedds()._name)' >&2 \
    || return 1
  "$VPY" -c 'import unitree_sdk2py; from unitree_sdk2py.core.channel import ChannelFactoryInitialize; from unitree_sdk2py.utils.crc import CRC; from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_; print("unitree_sdk2py ok")' >&2 \
    || return 1
  "$VPY" -c 'import unitree_interface; print("unitree_interface ok")' >&2 \
    || return 1
  "$VPY" -c 'import mcap.reader; print("mcap ok")' >&2 || return 1
  "$VPY" - >&2 <<'EOF' || return 1
from importlib.metadata import version
v = version("cyclonedds")
assert v == "0.10.2", f"cyclonedds python binding is {v}, want 0.10.2"
print("cyclonedds version", v)
EOF
}

if [[ $PRINT_ONLY == 1 ]]; then
  [[ -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_KEY" ]] || die "peers venv not ready at $VENV; run scripts/install-peers.sh"
  echo "$VPY" >&3
  exit 0
fi

# ---- fast path ------------------------------------------------------------
if [[ $FORCE == 0 && -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_KEY" ]]; then
  if verify_imports; then
    log "already installed (stamp ok, imports ok)"
    echo "$VPY" >&3
    exit 0
  fi
  log "stamp present but imports failed; reinstalling"
fi

# ---- apt ------------------------------------------------------------------
# shellcheck source=scripts/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install install-peers "${APT_PACKAGES[@]}" || die "could not install ${APT_PACKAGES[*]}"
debver=$(dpkg-query -W -f='${Version}' cyclonedds-dev)
[[ $debver == ${CYCLONEDDS_DEB_VERSION_PREFIX}* ]] \
  || die "cyclonedds-dev is $debver, need ${CYCLONEDDS_DEB_VERSION_PREFIX} (Debian 12 ships 0.10.2)"
log "cyclonedds-dev $debver"

# ---- CYCLONEDDS_HOME of symlinks into the system install -------------------
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
[[ -n $MULTIARCH ]] || die "cannot determine multiarch triplet (need dpkg-dev or gcc)"
LIBDIR="/usr/lib/$MULTIARCH"
[[ -e $LIBDIR/libddsc.so ]] || die "$LIBDIR/libddsc.so missing (is cyclonedds-dev installed?)"
[[ -e /usr/include/dds/dds.h ]] || die "/usr/include/dds/dds.h missing (is cyclonedds-dev installed?)"
mkdir -p "$CDDS_HOME"
ln -sfn "$LIBDIR" "$CDDS_HOME/lib"
ln -sfn /usr/include "$CDDS_HOME/include"
ln -sfn /usr/bin "$CDDS_HOME/bin"
log "CYCLONEDDS_HOME=$CDDS_HOME (lib -> $LIBDIR)"

# ---- venv -----------------------------------------------------------------
PYBIN="${TENDON_PYTHON:-python3}"
command -v "$PYBIN" >/dev/null || die "$PYBIN not found"
"$PYBIN" -c 'import sys; assert sys.version_info >= (3, 8) and sys.version_info < (3, 13), sys.version' \
  || die "$PYBIN must be Python 3.8..3.12 (far-unitree-sdk 0.1.8 has wheels only for those)"
if [[ $FORCE == 1 && -d $VENV ]]; then
  log "removing $VENV (--force)"
  rm -rf "$VENV"
fi
if [[ ! -x $VPY ]]; then
  log "creating venv $VENV with $($PYBIN -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$PYBIN" -m venv "$VENV" || die "python -m venv failed (on Debian's python: apt-get install python3-venv)"
fi
rm -f "$STAMP"

PIP=("$VPY" -m pip --disable-pip-version-check --no-input -q)
CONSTRAINTS="$VENV/tendon-constraints.txt"
printf '%s\n' "$PY_CYCLONEDDS" >"$CONSTRAINTS"

# 1. cyclonedds python binding, from source, against Debian's libddsc 0.10.2.
have_cdds=$("$VPY" -c 'from importlib.metadata import version; print(version("cyclonedds"))' 2>/dev/null || true)
if [[ $have_cdds != 0.10.2 ]]; then
  log "pip: building $PY_CYCLONEDDS from source against $LIBDIR (takes ~1 min)"
  "${PIP[@]}" install "${PY_BUILD_DEPS[@]}" || die "pip install ${PY_BUILD_DEPS[*]} failed"
  # --no-cache-dir: a cached wheel would carry another CYCLONEDDS_HOME in its __library__.py
  CYCLONEDDS_HOME="$CDDS_HOME" "${PIP[@]}" install --no-cache-dir --no-binary cyclonedds --no-build-isolation \
    -c "$CONSTRAINTS" "$PY_CYCLONEDDS" \
    || die "building $PY_CYCLONEDDS failed (CYCLONEDDS_HOME=$CDDS_HOME)"
else
  log "pip: cyclonedds 0.10.2 already present"
fi

# 2. unitree_sdk2py. --no-deps: its metadata also asks for numpy and
#    opencv-python, which the modules we use never import, and cyclonedds>=0.10.2,
#    which would let pip pull a newer, incompatible cyclonedds.
log "pip: $PY_UNITREE_SDK2PY (--no-deps), $PY_FAR_UNITREE_SDK, $PY_MCAP"
"${PIP[@]}" install --no-deps "$PY_UNITREE_SDK2PY" "$PY_FAR_UNITREE_SDK" \
  || die "pip install $PY_UNITREE_SDK2PY $PY_FAR_UNITREE_SDK failed"
# 3. mcap reader (pure python; its deps are small), constrained so nothing
#    can move cyclonedds.
"${PIP[@]}" install -c "$CONSTRAINTS" "$PY_MCAP" || die "pip install $PY_MCAP failed"

verify_imports || die "imports failed after install (see messages above); try: $0 --force"
echo "$STAMP_KEY" >"$STAMP"
log "ok: peers venv ready"
echo "$VPY" >&3
