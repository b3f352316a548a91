#!/usr/bin/env bash
# Runs every fuzz target for a fixed time, seeded from ../shared/corpus.
# Not part of CI (it runs for minutes per target). Needs the nightly
# toolchain and cargo-fuzz (installed here when missing).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_FLAGS=-O bash scripts/fuzz.sh 300 analyze
# -O builds without debug assertions: mail-parser 0.11 has a
# debug_assert!(false) on some malformed multipart input that stops the
# analyze target early (release builds, which we ship, go on parsing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
corpus=../shared/corpus
seed() { # target dir...
  local t=$1; shift
  mkdir -p "fuzz/corpus/$t"
  for d in "$@"; do
    # head closes the pipe early on large folders: that is not a failure.
    [ -d "$d" ] && { find "$d" -type f -size -64k | head -400 | while read -r f; do
      cp -n "$f" "fuzz/corpus/$t/$(sha1sum "$f" | cut -c1-16)" ; done; } || true
  done
  return 0
}
seed analyze "$corpus/jp" "$corpus/phish" "$corpus/ham" "$corpus/parse"
seed links "$corpus/jp" "$corpus/phish" "$corpus/parse"
seed html "$corpus/phish"
seed display_name "$corpus/jp"
seed policy policy
seed config deploy
seed recorded_auth "$corpus/auth"
seed mime_tree
seed attachments
# Real images with QR codes in every format we decode, made by the unit
# test helper (tests/support/qr_image.rs) through the `qr_seeds` example.
seed qr
[ -n "$(ls fuzz/corpus/qr)" ] || cargo run -q --example qr_seeds -- fuzz/corpus/qr
seed banner "$corpus/jp" "$corpus/phish" "$corpus/ham"
# A whole, valid milter session as Postfix sends it, for the fuzzer to cut
# and reorder.
seed milter_packets
python3 - fuzz/corpus/milter_packets/session <<'PY'
import struct, sys
def p(c, b=b""): return struct.pack(">I", len(b) + 1) + c + b
s = p(b"O", struct.pack(">III", 6, 0x1ff, 0x1fffff))
s += p(b"D", b"Ci\0ABC123\0") + p(b"C", b"client.example\x004\x9c\x40192.0.2.10\0")
s += p(b"H", b"client.example\0") + p(b"M", b"<a@bank.test>\0") + p(b"R", b"<u@kinko.test>\0")
s += p(b"T") + p(b"L", b"From\0 Bank <a@bank.test>\0") + p(b"L", b"Subject\0 hi\0")
s += p(b"N") + p(b"B", b"hello http://x.example/\r\n") + p(b"E") + p(b"Q")
open(sys.argv[1], "wb").write(s)
PY
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for t in "${targets[@]}"; do
  echo "== $t for ${secs}s ${FUZZ_FLAGS:-}"
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  cargo +nightly fuzz run ${FUZZ_FLAGS:-} "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=262144 2>&1 \
    | grep -E '^(#[0-9]+.*DONE|Done|==[0-9]+==|SUMMARY|artifact)' || true
done
ls fuzz/artifacts/*/ 2>/dev/null && echo "crashes found: see fuzz/artifacts" || echo "no crashes"
