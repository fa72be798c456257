#!/usr/bin/env bash
# Reruns the fuzz targets over their committed corpora, then fuzzes each for SECONDS
# (default 600). Needs cargo-fuzz (`cargo install cargo-fuzz`); the machine has only a stable
# toolchain, so it runs without sanitizers (`-s none`); for AddressSanitizer builds use
# `RUSTC_BOOTSTRAP=1 ./run.sh` with SANITIZER=address.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
sanitizer=${SANITIZER:-none}
for target in range_parser preconditions multipart_plan; do
  mkdir -p "corpus/$target"
  echo "== $target: ${seconds}s"
  cargo fuzz run -s "$sanitizer" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
done
