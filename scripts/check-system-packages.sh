#!/usr/bin/env bash
# Checks that scripts/system-packages.txt names every Debian package that
#   - the build uses: every file that cargo, rustc, the build scripts and
#     what they start (cc, c++, cmake, bindgen's libclang, pkg-config) open
#     or execute, traced with strace on a fresh build of the crates with
#     native parts (whisper-rs-sys, mujoco-rs, cpal's alsa-sys), the core
#     crate's preflight, and the link of the speech crate's test binaries;
#   - the tendon binary and libmujoco link against (ldd);
#   - tendon loads at run time: the GL stack that libmujoco's offscreen
#     renderer opens through EGL, traced while the head-camera tests render.
# A package the list's packages bring as dependencies, or that a fresh
# Debian has anyway (Essential, Priority required, apt, and what they
# depend on), needs no entry. A missing one fails the check, naming the
# package and a file of it that was used.
#
# Prints one closing line: `check: system-packages ok` or `... FAILED`.
# `--reuse-traces` judges the files of the last traced run again (after an
# edit of the list) without tracing anew.
# The traced build takes a few minutes, so a passing result is remembered
# (target/system-packages.ok) until Cargo.lock, the list or this script
# changes; CI starts from a clean clone and always runs it in full.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
apt_install check-system-packages strace

LIST=scripts/system-packages.txt
STAMP=target/system-packages.ok
TRACES=target/system-packages-traces
REUSE=0
[[ ${1:-} == --reuse-traces ]] && REUSE=1
key=$(cat Cargo.lock "$LIST" "$0" | sha256sum | cut -d' ' -f1)
if [[ $REUSE == 0 && -f $STAMP && "$(cat "$STAMP")" == "$key" ]]; then
  echo "[check-system-packages] unchanged since the last passing run (Cargo.lock, $LIST, $0)" >&2
  echo "check: system-packages ok"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ $REUSE == 1 && -f $TRACES/files ]]; then
  echo "[check-system-packages] --reuse-traces: judging the files of the last traced run against $LIST" >&2
else
  rm -f "$STAMP"
  mkdir -p "$TRACES"
  scratch=target/system-packages-build
  rm -rf "$scratch" "$TRACES"/*.trace*
  traced=(strace -f -qq -z -e trace=execve,openat -o "$TRACES/build.trace")
  echo "[check-system-packages] tracing a fresh build of the crates with native parts" >&2
  # --tests: the speech crate's test binaries link (libasound with the
  # audio-device feature, whisper.cpp's libgomp and libstdc++), which a
  # library build alone never does.
  "${traced[@]}" cargo build --locked -q --target-dir "$scratch" \
    -p tendon-sim -p tendon-speech --features tendon-speech/audio-device --tests >&2
  rm -rf "$scratch"

  echo "[check-system-packages] tracing head-camera rendering" >&2
  # The workspace's own test build (same features as `cargo test --workspace`,
  # so nothing is rebuilt): the executable of tendon-sim's `render` test.
  render_test=$(cargo test --locked -q --workspace --no-run --message-format=json 2>/dev/null \
    | grep '"name":"render","src_path":"[^"]*/sim/tests/render.rs"' \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
  [[ -x $render_test ]] || { echo "[check-system-packages] cannot find the render test binary" >&2; exit 1; }
  strace -f -qq -z -e trace=execve,openat -o "$TRACES/run.trace" "$render_test" -q >&2
  cargo build --locked -q --workspace >&2

  # Executables, libraries and headers: what a build or a run needs. Config
  # and locale files (/etc, locale data) are only probed, used if present.
  {
    sed -n 's/^[0-9]* *\(execve\|openat\)([^"]*"\([^"]*\)".*/\2/p' "$TRACES"/*.trace*
    for elf in target/debug/tendon target/mujoco/lib/libmujoco.so; do
      ldd "$elf" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'
    done
  } | grep '^/' | grep -v -E '^/(proc|sys|dev|tmp|etc|run|var)/|/locale/|^/usr/share/(zoneinfo|i18n)/' \
    | sort -u | while read -r f; do if [[ -f $f ]]; then echo "$f"; fi; done >"$TRACES/files"
  rm -f "$TRACES"/*.trace*
fi

# Files the build only probes, used when present and not needed otherwise:
# pkg-config reads .pc files for optional modules too (x11-dl asks for a
# dozen X11 libraries and goes on without them), so a .pc file proves
# nothing; a needed module shows up by the library the link opens. And
# clang-sys runs llvm-config, if there is one, to ask where libclang is.
grep -v -E '/pkgconfig/[^/]*\.pc$|/llvm-config$' "$TRACES/files" >"$work/needed" || true

# Each file under the names dpkg may know it by (usr-merge: /lib vs /usr/lib).
while read -r f; do
  for g in "$f" "$(realpath "$f")"; do
    echo "$g"
    case $g in
      /usr/lib/* | /usr/bin/* | /usr/sbin/*) echo "${g#/usr}" ;;
      /lib/* | /bin/* | /sbin/*) echo "/usr$g" ;;
    esac
  done
done <"$work/needed" | sort -u >"$work/names"
# dpkg -S exits 1 for the files no package owns (caches, rustup, the venvs).
{ xargs -a "$work/names" -d '\n' dpkg -S 2>/dev/null || true; } \
  | grep -v '^diversion' | awk -F': ' '{ n = split($1, p, ", "); for (i = 1; i <= n; i++) print p[i] "\t" $2 }' \
  | sed 's/:[a-z0-9]*\t/\t/' | sort -u -k1,1 >"$work/used"

# A package with its dependencies, as `apt-get install --no-install-recommends` brings them.
closure() {
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" 2>/dev/null \
    | sed -n 's/^\([a-z0-9][^ <>]*\)$/\1/p; s/^ *\(Pre\)\{0,1\}Depends: \([^<>]*\)$/\2/p' \
    | sed 's/:any$//; s/:[a-z0-9]*$//' | sort -u
}
# What every Debian has: Essential and required packages, apt, and their dependencies.
mapfile -t base < <(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' \
  | awk '$2 == "yes" || $3 == "required" { print $1 }')
closure "${base[@]}" apt >"$work/base"
# What the list installs: its packages and their dependencies.
mapfile -t listed < <(read_package_list "$LIST")
closure "${listed[@]}" >"$work/listed"

missing=$(awk -F'\t' 'NR == FNR { skip[$1] = 1; next } !($1 in skip) { print }' \
  <(cat "$work/base" "$work/listed") "$work/used")
echo "[check-system-packages] $(wc -l <"$TRACES/files") files used, $(wc -l <"$work/used") Debian packages, $(wc -l <"$work/base") in every Debian" >&2
if [[ -n $missing ]]; then
  echo "[check-system-packages] used by the build or the binary but not in $LIST:" >&2
  echo "$missing" | awk -F'\t' '{ printf "  %-28s (e.g. %s)\n", $1, $2 }' >&2
  echo "check: system-packages FAILED"
  exit 1
fi
[[ $REUSE == 1 ]] || echo "$key" >"$STAMP"
echo "check: system-packages ok"
