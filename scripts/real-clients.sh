#!/usr/bin/env bash
# Runs the real-client tests (tests/browser.rs: headless Chromium; tests/clients.rs: curl,
# wget, aria2c, ffprobe, ffmpeg) after installing, only when missing, the Debian packages
# they need. Meant for .ci/run and for a developer's machine alike.
#
# Usage: scripts/real-clients.sh [--install-only] [extra libtest args...]
#   --install-only   install what is missing and exit without running the tests
#
# The tests are #[ignore]d in a plain `cargo test`; this runs exactly them:
#   cargo test --test clients --test browser -- --ignored
set -euo pipefail

cd "$(dirname "$0")/.."

install_only=0
if [[ "${1:-}" == "--install-only" ]]; then
  install_only=1
  shift
fi

# program -> Debian package
declare -A package=(
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
  [curl]=curl
  [wget]=wget
  [aria2c]=aria2
)

missing=()
for program in chromium chromedriver ffmpeg ffprobe curl wget aria2c; do
  if ! command -v "$program" >/dev/null 2>&1; then
    pkg="${package[$program]}"
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "real-clients: installing missing packages: ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: need root and apt-get to install: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing[@]}"
fi

if ((install_only)); then
  exit 0
fi

# Builds the example server too (cargo test builds examples), which the tests start.
exec cargo test --test clients --test browser -- --ignored "$@"
