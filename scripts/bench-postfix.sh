#!/usr/bin/env bash
# kinko-milter on ../shared/bench (issue 24): the shipped sample
# configuration (deploy/kinko-milter.toml with the repository's policies:
# banner, attachments and QR on) beside the project's two floors, the no-op
# milter (examples/noop_milter) and the same no-op writing the
# Authentication-Results field kinko-milter writes to accepted mail.
#
#   bash scripts/bench-postfix.sh [ROUNDS] [MSGS]        (root, Debian 12)
#
# The harness knows one no-op port (7045, "rnoop") and one custom milter, so
# this runs it twice, each run interleaving none / floor / kinko-milter:
# first with the plain no-op as the floor, then with the header-writing one.
# Each run's summary.md gives the ratios within its rounds; rounds with more
# than 0.3 cores of foreign load should be repeated (see the summaries).
# KINKO_BIN overrides the binary. KINKO_BEFORE=/path/to/binary adds a
# third run with that build (e.g. from before a change) in the floor's place
# on 7045, so before and after are interleaved in one run; KINKO_BEFORE_POLICY
# is the policy directory it reads (default: policy/). FLOORS picks the runs
# (default "plain headers", plus "before" when KINKO_BEFORE is set).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bench=$(cd ../shared/bench && pwd)
export BENCH_ROOT=${BENCH_ROOT:-/tmp/mailbench}
rounds=${1:-3}
msgs=${2:-2000}

cargo build --release --locked --bin kinko-milter --example noop_milter
kinko=${KINKO_BIN:-$root/target/release/kinko-milter}
noop=$root/target/release/examples/noop_milter

[ -x "$(command -v rspamd)" ] || bash "$bench/install.sh"
[ -f "$BENCH_ROOT/msg/good.eml" ] || bash "$bench/setup.sh"
bash "$bench/start.sh" dns sink postfix

work=$(mktemp -d /tmp/kinko-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# The shipped sample configuration, with the policies read from here.
sed -e "s|/etc/kinko-milter/policy/|$root/policy/|" \
    -e 's|^metrics_address = .*|metrics_address = "127.0.0.1:9442"|' \
    -e 's|^socket = .*|socket = "inet:127.0.0.1:7044"|' \
    deploy/kinko-milter.toml >"$work/kinko.toml"
"$kinko" config check "$work/kinko.toml"

wait_port() {
  for _ in $(seq 100); do
    ss -Hltn "sport = :$1" | grep -q LISTEN && return 0
    sleep 0.1
  done
  echo "port $1 not listening" >&2
  return 1
}

"$bench/ns-exec.sh" "$BENCH_ROOT/dns/resolv.conf" "$kinko" run -c "$work/kinko.toml" \
  >"$work/kinko.log" 2>&1 &
kpid=$!
pids+=("$kpid")
wait_port 7044

floors=${FLOORS:-plain headers${KINKO_BEFORE:+ before}}
for floor in $floors; do
  case $floor in
    plain) "$noop" 127.0.0.1:7045 >"$work/floor-$floor.log" 2>&1 & ;;
    headers) "$noop" 127.0.0.1:7045 --headers >"$work/floor-$floor.log" 2>&1 & ;;
    before)
      sed -e "s|/etc/kinko-milter/policy/|${KINKO_BEFORE_POLICY:-$root/policy}/|" \
          -e 's|^metrics_address = .*|metrics_address = "127.0.0.1:9443"|' \
          -e 's|^socket = .*|socket = "inet:127.0.0.1:7045"|' \
          deploy/kinko-milter.toml >"$work/before.toml"
      "$bench/ns-exec.sh" "$BENCH_ROOT/dns/resolv.conf" "$KINKO_BEFORE" run -c "$work/before.toml" \
        >"$work/floor-$floor.log" 2>&1 & ;;
    *) echo "unknown floor $floor" >&2; exit 2 ;;
  esac
  npid=$!
  wait_port 7045
  echo "== on 7045 (rnoop): $floor"
  # Both PIDs: each run's milter CPU is that of whichever milter is attached.
  MILTER=inet:127.0.0.1:7044 MILTER_PIDS="$kpid $npid" CONFIGS="none rnoop custom" \
    ROUNDS=$rounds MSGS=$msgs SESSIONS=20 OUT="$BENCH_ROOT/results/kinko-$floor-$(date +%H%M%S)" \
    bash "$bench/bench.sh"
  kill "$npid"
  wait "$npid" 2>/dev/null || true
done
echo "kinko-milter log: $work/kinko.log"
