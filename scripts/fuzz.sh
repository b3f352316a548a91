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
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for t in "${targets[@]}"; do
  echo "== $t for ${secs}s ${FUZZ_FLAGS:-}"
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  cargo +nightly fuzz run ${FUZZ_FLAGS:-} "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=262144 2>&1 \
    | grep -E '^(#[0-9]+.*DONE|Done|==[0-9]+==|SUMMARY|artifact)' || true
done
ls fuzz/artifacts/*/ 2>/dev/null && echo "crashes found: see fuzz/artifacts" || echo "no crashes"
