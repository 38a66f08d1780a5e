#!/usr/bin/env bash
# Checks that scripts/system-packages.txt names every Debian package that
#   - the build uses: every file that cargo, rustc, the build scripts and
#     what they start (cc, c++, cmake, bindgen's libclang, pkg-config) open
#     or execute, traced with strace on a fresh build of the crates with
#     native parts (whisper-rs-sys, mujoco-rs, cpal's alsa-sys) and the sim
#     crate's preflight;
#   - the tendon binary and libmujoco link against (ldd);
#   - tendon loads at run time: the GL stack that libmujoco's offscreen
#     renderer opens through EGL, traced while the head-camera tests render.
# A package a fresh Debian has anyway (Essential, Priority required, apt,
# and everything they depend on) needs no entry. A missing one fails the
# check, naming the package and a file it provides that was used.
#
# Prints one closing line: `check: system-packages ok` or `... FAILED`.
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
key=$(cat Cargo.lock "$LIST" "$0" | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$key" ]]; then
  echo "[check-system-packages] unchanged since the last passing run (Cargo.lock, $LIST, $0)" >&2
  echo "check: system-packages ok"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scratch=target/system-packages-build
rm -rf "$scratch"
traced=(strace -f -qq -z -e trace=execve,openat -o "$work/build.trace")

echo "[check-system-packages] tracing a fresh build of the crates with native parts" >&2
"${traced[@]}" cargo build --locked -q --target-dir "$scratch" \
  -p tendon-sim -p tendon-speech --features tendon-speech/audio-device >&2

echo "[check-system-packages] tracing head-camera rendering" >&2
render_test=$(cargo test --locked -q -p tendon-sim --test render --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x $render_test ]] || { echo "[check-system-packages] cannot find the render test binary" >&2; exit 1; }
strace -f -qq -z -e trace=execve,openat -o "$work/run.trace" "$render_test" -q >&2
cargo build --locked -q -p tendon >&2

{
  sed -n 's/^[0-9]* *\(execve\|openat\)([^"]*"\([^"]*\)".*/\2/p' "$work"/build.trace* "$work"/run.trace*
  for elf in target/debug/tendon target/mujoco/lib/libmujoco.so; do
    ldd "$elf" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'
  done
} | grep '^/' | grep -v -E '^/(proc|sys|dev|tmp)/' | sort -u >"$work/files"

# Each file under the names dpkg may know it by (usr-merge: /lib vs /usr/lib).
while read -r f; do
  [[ -e $f ]] || continue
  for g in "$f" "$(realpath "$f")"; do
    echo "$g"
    case $g in
      /usr/lib/* | /usr/bin/* | /usr/sbin/*) echo "${g#/usr}" ;;
      /lib/* | /bin/* | /sbin/*) echo "/usr$g" ;;
    esac
  done
done <"$work/files" | sort -u >"$work/names"
xargs -a "$work/names" -d '\n' dpkg -S 2>/dev/null \
  | grep -v '^diversion' | awk -F': ' '{ n = split($1, p, ", "); for (i = 1; i <= n; i++) print p[i] "\t" $2 }' \
  | sed 's/:[a-z0-9]*\t/\t/' | sort -u -k1,1 >"$work/used"

# What every Debian has: Essential and required packages, apt, and their dependencies.
mapfile -t base < <(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' \
  | awk '$2 == "yes" || $3 == "required" { print $1 }')
base+=(apt)
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${base[@]}" 2>/dev/null \
  | sed -n 's/^\([a-z0-9][^ <>]*\)$/\1/p; s/^ *\(Pre\)\{0,1\}Depends: \([^<>]*\)$/\2/p' \
  | sed 's/:any$//; s/:[a-z0-9]*$//' | sort -u >"$work/base"
read_package_list "$LIST" | sort -u >"$work/listed"

missing=$(awk -F'\t' 'NR == FNR { skip[$1] = 1; next } !($1 in skip) { print }' \
  <(cat "$work/base" "$work/listed") "$work/used")
echo "[check-system-packages] $(wc -l <"$work/files") files used, $(wc -l <"$work/used") Debian packages, $(wc -l <"$work/base") in every Debian" >&2
if [[ -n $missing ]]; then
  echo "[check-system-packages] used by the build or the binary but not in $LIST:" >&2
  echo "$missing" | awk -F'\t' '{ printf "  %-28s (e.g. %s)\n", $1, $2 }' >&2
  echo "check: system-packages FAILED"
  exit 1
fi
mkdir -p target && echo "$key" >"$STAMP"
rm -rf "$scratch"
echo "check: system-packages ok"
