#!/usr/bin/env bash
# Runs the README's two commands as a new user would, on a fresh Debian 12:
# a minimal bookworm (debootstrap --variant=minbase: no compiler, no cmake,
# no clang, no Python) with only this machine's Rust toolchain added, and a
# clean clone of the committed HEAD. Each command runs first in its own
# fresh root, so both "first command" orders are covered. A third root,
# `build`, checks that a plain `cargo build` before any installer stops
# with the one-line explanation (tendon-core's preflight) and a non-zero
# exit; it gets what rustup itself needs to build anything at all (gcc as
# rustc's linker, libc6-dev, ca-certificates for crates.io), or cargo would
# stop earlier, at the linker or the download.
#
#   scripts/verify-fresh-machine.sh [demo|test|build|all|prepare] [DIR]   (as root)
#
# DIR (default /var/tmp/tendon-fresh) holds the pristine root and one copy
# per run. The chroot shares this machine's network namespace (the tests use
# loopback DDS), so do not run other tendon tests at the same time. Logs:
# DIR/<command>.log; the exit status is the command's.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
dir=${2:-/var/tmp/tendon-fresh}
[[ $(id -u) -eq 0 ]] || { echo "run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
apt_install verify-fresh-machine debootstrap

pristine=$dir/pristine
if [[ ! -f $pristine/.complete ]]; then
  rm -rf "$pristine"
  mkdir -p "$pristine"
  debootstrap --variant=minbase bookworm "$pristine" >&2
  # The same package sources and apt settings as this machine.
  cp -a /etc/apt/sources.list.d/. "$pristine/etc/apt/sources.list.d/" 2>/dev/null || true
  cp -a /etc/apt/apt.conf.d/. "$pristine/etc/apt/apt.conf.d/" 2>/dev/null || true
  [[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$pristine/etc/pip.conf"
  cp /etc/resolv.conf "$pristine/etc/resolv.conf"
  touch "$pristine/.complete"
fi

toolchain=$(rustup default | cut -d' ' -f1)

# Nothing may still be mounted under a root before it is deleted: rm would
# walk into the bind mounts (this machine's /dev and Rust toolchain).
unmount_all() {
  local root=$1 m
  for _ in 1 2 3; do
    mapfile -t mounted < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r)
    ((${#mounted[@]})) || return 0
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    sleep 1
  done
  echo "[verify-fresh-machine] still mounted under $root; not deleting it" >&2
  exit 1
}

run_fresh() {
  local name=$1 root=$dir/$1
  unmount_all "$root"
  rm -rf --one-file-system "$root"
  cp -a "$pristine" "$root"
  # This network's own trust anchors (a TLS-inspecting egress proxy signs
  # the registries' certificates here): not a package, part of the
  # machine, picked up when ca-certificates is installed.
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  # Only the Rust toolchain: rustup's proxies and the default toolchain.
  mkdir -p "$root/root/.cargo/bin" "$root/root/.rustup/toolchains"
  cp -a "$HOME/.cargo/bin/." "$root/root/.cargo/bin/"
  cp "$HOME/.rustup/settings.toml" "$root/root/.rustup/"
  mkdir -p "$root/root/.rustup/toolchains/$toolchain"
  mount --bind "$HOME/.rustup/toolchains/$toolchain" "$root/root/.rustup/toolchains/$toolchain"
  mount -o remount,bind,ro "$root/root/.rustup/toolchains/$toolchain"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  git clone -q "$(pwd)" "$root/root/tendon"
  local rc=0 command="scripts/$name.sh"
  [[ $name == build ]] && command="cargo build"
  echo "[verify-fresh-machine] $name: $command in a fresh bookworm ($root)" >&2
  if [[ $name == build ]]; then
    chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c \
      'apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates' >&2
    command='cargo build; echo "[verify-fresh-machine] plain cargo build exit $?"'
  fi
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb CI=true \
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/tendon && $command" >"$dir/$name.log" 2>&1 || rc=$?
  if [[ $name == build ]]; then
    grep -E '^error: .*tendon cannot be built yet' "$dir/$name.log" >&2 || {
      echo "[verify-fresh-machine] the plain cargo build did not explain itself" >&2
      rc=1
    }
    if grep -q 'plain cargo build exit 0$' "$dir/$name.log"; then
      echo "[verify-fresh-machine] the plain cargo build succeeded before the install" >&2
      rc=1
    fi
  fi
  unmount_all "$root"
  echo "[verify-fresh-machine] $name: exit $rc, last lines of $dir/$name.log:" >&2
  tail -n 5 "$dir/$name.log" >&2
  return $rc
}

status=0
case $mode in
  demo | test | build) run_fresh "$mode" || status=$? ;;
  all)
    run_fresh build || status=$?
    run_fresh demo || status=$?
    run_fresh test || status=$?
    ;;
  prepare) ;;
  *) echo "usage: $0 [demo|test|build|all|prepare] [DIR]" >&2; exit 2 ;;
esac
exit $status
