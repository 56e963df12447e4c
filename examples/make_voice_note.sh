#!/usr/bin/env bash
# Re-creates examples/voice_note.wav: a short synthetic voice note (espeak-ng + sox).
# It is synthesised, never cut from corpus audio, so it can be redistributed freely.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
espeak-ng -v en-us -s 190 -p 80 -a 180 -w "$tmp/a.wav" "I can't believe you did that again! This is completely unacceptable."
espeak-ng -v en-us -s 150 -p 50 -a 120 -w "$tmp/b.wav" "Anyway, the meeting is moved to Thursday at ten. Please bring the report."
espeak-ng -v en-us -s 120 -p 30 -a 90 -w "$tmp/c.wav" "I miss you. It has been a long and lonely week without you here."
sox -n -r 22050 -c 1 "$tmp/silence.wav" trim 0.0 0.8
sox "$tmp/silence.wav" "$tmp/a.wav" "$tmp/silence.wav" "$tmp/b.wav" "$tmp/silence.wav" "$tmp/c.wav" "$tmp/silence.wav" -b 16 voice_note.wav
soxi voice_note.wav
