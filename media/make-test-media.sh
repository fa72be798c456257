#!/usr/bin/env bash
# Generate extra synthetic media used by browser / ffmpeg tests:
#   OUTDIR/moov-at-end.mp4  ~10 s H.264 (High) + AAC-LC MP4 WITHOUT +faststart
#                           (top-level box order: ftyp, free, mdat, moov)
#   OUTDIR/vp9-opus.webm    ~10 s VP9 + Opus WebM
#
# Usage: make-test-media.sh OUTDIR
# An output is skipped if it already exists and is newer than this script;
# set FORCE=1 to regenerate anyway.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUTDIR="$1"
SCRIPT="$0"

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "error: ffmpeg not found in PATH (install it, e.g. 'apt-get install ffmpeg')" >&2
  exit 127
fi

mkdir -p "$OUTDIR"
DURATION=10
VIDEO_SRC="testsrc2=size=640x360:rate=25:duration=${DURATION}"
AUDIO_SRC="sine=frequency=440:sample_rate=48000:duration=${DURATION}"

up_to_date() { [[ -z "${FORCE:-}" && -s "$1" && "$1" -nt "$SCRIPT" ]]; }

# Print the top-level ISO-BMFF box types of a file, one per line.
top_level_boxes() {
  local f="$1" off=0 total size type
  total=$(wc -c <"$f")
  while (( off + 8 <= total )); do
    size=$(od -An -tu1 -j "$off" -N4 "$f" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
    type=$(od -An -c -j "$((off + 4))" -N4 "$f" | tr -d ' ')
    echo "$type"
    if (( size == 1 )); then   # 64-bit largesize follows the type
      size=$(od -An -tu1 -j "$((off + 8))" -N8 "$f" |
        awk '{s=0; for (i=1;i<=8;i++) s=s*256+$i; printf "%.0f\n", s}')
    elif (( size == 0 )); then # box extends to end of file
      break
    fi
    (( size >= 8 )) || { echo "error: bad box size at offset $off in $f" >&2; return 1; }
    off=$(( off + size ))
  done
}

# --- moov-at-end.mp4 --------------------------------------------------------
MP4="$OUTDIR/moov-at-end.mp4"
if up_to_date "$MP4"; then
  echo "up to date: $MP4"
else
  tmp="$OUTDIR/.moov-at-end.tmp.$$.mp4"
  trap 'rm -f "$tmp"' EXIT
  ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "$VIDEO_SRC" -f lavfi -i "$AUDIO_SRC" \
    -map 0:v:0 -map 1:a:0 \
    -c:v libx264 -preset medium -profile:v high -level:v 3.1 -pix_fmt yuv420p \
    -crf 23 -maxrate 1200k -bufsize 2400k -g 50 -keyint_min 50 -threads 1 \
    -c:a aac -b:a 128k -ac 2 \
    -map_metadata -1 -map_chapters -1 \
    -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
    -shortest -f mp4 \
    "$tmp"
  # Sanity check: mdat must come before moov (no faststart).
  order=$(top_level_boxes "$tmp" | grep -E '^(moov|mdat)$' | paste -sd " " -)
  if [[ "$order" != "mdat moov" ]]; then
    echo "error: expected 'mdat moov' box order in $MP4, got '$order'" >&2
    exit 1
  fi
  mv -f "$tmp" "$MP4"
  trap - EXIT
  echo "wrote $MP4 ($(wc -c <"$MP4") bytes; box order: $order)"
fi

# --- vp9-opus.webm ----------------------------------------------------------
WEBM="$OUTDIR/vp9-opus.webm"
if up_to_date "$WEBM"; then
  echo "up to date: $WEBM"
else
  tmp="$OUTDIR/.vp9-opus.tmp.$$.webm"
  trap 'rm -f "$tmp"' EXIT
  ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "$VIDEO_SRC" -f lavfi -i "$AUDIO_SRC" \
    -map 0:v:0 -map 1:a:0 \
    -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 0 -threads 1 \
    -b:v 600k -minrate 300k -maxrate 900k -g 50 -pix_fmt yuv420p \
    -c:a libopus -b:a 96k -ac 2 \
    -map_metadata -1 -map_chapters -1 \
    -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
    -shortest -f webm \
    "$tmp"
  mv -f "$tmp" "$WEBM"
  trap - EXIT
  echo "wrote $WEBM ($(wc -c <"$WEBM") bytes)"
fi
