#!/usr/bin/env bash
# Generate media/sample.mp4: a ~10 s synthetic H.264 (High) + AAC-LC MP4 with
# the moov atom at the front (+faststart), suitable for browser playback and
# HTTP byte-range tests. Output is deterministic (bit-exact) for a given ffmpeg
# / libx264 build.
#
# Usage: make-sample.sh [OUTPUT]   (default: sample.mp4 next to this script)
set -euo pipefail

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "error: ffmpeg not found in PATH (install it, e.g. 'apt-get install ffmpeg')" >&2
  exit 127
fi

SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$SCRIPT_DIR/sample.mp4}"

mkdir -p "$(dirname "$OUT")"
# Write to a temp file in the same directory, then rename atomically.
# Keep the .mp4 extension so ffmpeg picks the mp4 muxer.
TMP="$(dirname "$OUT")/.$(basename "$OUT" .mp4).tmp.$$.mp4"
trap 'rm -f "$TMP"' EXIT

DURATION=10
ffmpeg -hide_banner -loglevel error -nostdin -y \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=${DURATION}" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=${DURATION}" \
  -map 0:v:0 -map 1:a:0 \
  -c:v libx264 -preset medium -profile:v high -level:v 3.1 -pix_fmt yuv420p \
  -crf 23 -maxrate 1200k -bufsize 2400k -g 50 -keyint_min 50 -threads 1 \
  -c:a aac -b:a 128k -ac 2 \
  -map_metadata -1 -map_chapters -1 \
  -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -movflags +faststart \
  -shortest -f mp4 \
  "$TMP"

mv -f "$TMP" "$OUT"
trap - EXIT
echo "wrote $OUT ($(wc -c <"$OUT") bytes)"
