# Shared apt helper, sourced by every installer (never run on its own).
#
#   source "$(dirname "$0")/lib/apt.sh"
#   apt_install TAG pkg...          # installs the missing ones, idempotent
#   apt_missing pkg...              # prints the ones not installed
#   read_package_list FILE          # prints the package names of a list file
#
# apt_install runs `apt-get update` only when a missing package has no
# install candidate (a fresh machine's empty lists), retries once after an
# update when the install fails (stale lists), waits up to 10 min for the
# dpkg lock (another installer may be running), and uses sudo when not root.
# Messages go to stderr, prefixed with TAG.

apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# A list file holds one package per line; '#' starts a comment.
read_package_list() {
  local file=$1
  [[ -f $file ]] || { echo "[apt] ERROR: package list $file is missing" >&2; return 1; }
  sed -e 's/#.*//' -e 's/[[:space:]]\+/\n/g' "$file" | sed '/^$/d'
}

apt_install() {
  local tag=$1
  shift
  command -v dpkg-query >/dev/null || {
    echo "[$tag] ERROR: this needs a Debian or Ubuntu system (dpkg and apt); install these yourself: $*" >&2
    return 1
  }
  local missing
  mapfile -t missing < <(apt_missing "$@")
  ((${#missing[@]})) || return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || {
      echo "[$tag] ERROR: not root and sudo is missing; as root run: apt-get install ${missing[*]}" >&2
      return 1
    }
    sudo=(sudo)
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq)
  local p need_update=0
  for p in "${missing[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q "Candidate: [0-9]" || need_update=1
  done
  echo "[$tag] apt: installing ${missing[*]}" >&2
  if ((need_update)); then
    "${apt[@]}" update >&2 || { echo "[$tag] ERROR: apt-get update failed" >&2; return 1; }
  fi
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2; then
    echo "[$tag] apt: install failed; retrying after apt-get update" >&2
    "${apt[@]}" update >&2 || { echo "[$tag] ERROR: apt-get update failed" >&2; return 1; }
    "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2 || {
      echo "[$tag] ERROR: apt-get install ${missing[*]} failed" >&2
      return 1
    }
  fi
}
