#!/usr/bin/env bash
# Load test through a real Postfix: throughput with kinko-milter, with a
# no-op milter on the same library, and with no milter, measured in
# alternating rounds in one run so machine noise hits all three alike.
#
# Starts (all on loopback, all under one temporary directory, all stopped
# at exit): dnsmasq serving the sender's SPF, DKIM and DMARC; Postfix's
# smtp-sink as next hop; a private Postfix instance with three smtpd
# listeners (none / kinko / noop milter) that take a PROXY header, so
# Postfix and the milters see an external client address and SPF, DKIM and
# DMARC really run; kinko-milter and the no-op milter (release builds).
#
#   bash scripts/load.sh [ROUNDS] [MESSAGES_PER_ROUND] [SESSIONS] [TRANSPORT]
#   TRANSPORT: inet (default) or unix
#   SOAK_SECONDS=1800 bash scripts/load.sh 1 2000 20   # soak: RSS and fds over time
#   MSG_KB=1024 bash scripts/load.sh 1 300 100         # 100 connections of 1 MB messages
# Prints one JSON line per round and a summary with medians and ratios.
# Needs root (Postfix) and the packages scripts/test.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
per_round=${2:-2000}
sessions=${3:-20}
transport=${4:-inet}

cargo build --release --locked --bin kinko-milter --example noop_milter --example smtp_load --example dkim_sign >&2
bin=target/release
# Everything, the Postfix queue included, lives in memory (LOAD_DIR to
# change): on disk, writeback of the queue files made rounds swing by a third
# and swamped the differences being measured. Postfix alone gets faster, so
# the milters' share of the CPU, and the ratios' distance from 1, grow.
tmp=$(mktemp -d "${LOAD_DIR:-/dev/shm}/kinko-load.XXXXXX")
pids=()
cleanup() {
  set +e
  [ -f "$tmp/etc/main.cf" ] && postfix -c "$tmp/etc" stop >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

dns_port=$(free_port); sink_port=$(free_port); kinko_port=$(free_port); noop_port=$(free_port)
metrics_port=$(free_port); p_none=$(free_port); p_kinko=$(free_port); p_noop=$(free_port)

# Sender domain keys and records.
openssl genrsa -traditional -out "$tmp/dkim.pem" 2048 2>/dev/null
openssl rsa -in "$tmp/dkim.pem" -outform DER -out "$tmp/dkim.der" 2>/dev/null
pub=$(openssl rsa -in "$tmp/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
# TXT strings longer than 255 bytes are split: dnsmasq takes commas between strings.
dkim_txt="v=DKIM1; k=rsa; p=${pub:0:200},${pub:200}"
dnsmasq --no-daemon --port="$dns_port" --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --local=/test/ --local=/arpa/ --local=/com/ --local=/jp/ \
  --local-ttl=300 \
  --txt-record=load.test,"v=spf1 ip4:192.0.2.0/24 -all" \
  --txt-record=mail.load.test,"v=spf1 ip4:192.0.2.0/24 -all" \
  --txt-record=sel._domainkey.load.test,"$dkim_txt" \
  --txt-record=_dmarc.load.test,"v=DMARC1; p=reject" \
  --pid-file="$tmp/dnsmasq.pid" 2>"$tmp/dnsmasq.log" &
pids+=($!)

# A 13.5 KB message: text and HTML parts, a few links, signed.
python3 - "$tmp/msg.eml" "${MSG_KB:-13}" <<'PY'
import sys
para = ("Thank you for using Load Test Bank. Your monthly statement is ready. "
        "This paragraph is filler so the message has the size of real mail. ") * 3
# About 13 KB by default; MSG_KB grows the text part for large-message runs.
extra = max(0, int(sys.argv[2]) - 13) * 1024 // (len(para) + 2)
text = "\n\n".join([para] * (12 + extra))
html = "".join(f"<p>{para} <a href=\"https://www.load.test/info/{i}\">www.load.test/info/{i}</a></p>\n" for i in range(14))
msg = f"""From: Load Test Bank <info@load.test>
To: customer@sink.test
Subject: Your statement
Date: Tue, 24 Nov 2026 10:00:00 +0900
Message-ID: <load-{len(text)}@load.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

{text}
--b1
Content-Type: text/html; charset=utf-8

<html><body>{html}</body></html>
--b1--
"""
open(sys.argv[1], "w").write(msg)
PY
"$bin/examples/dkim_sign" "$tmp/dkim.der" load.test sel < "$tmp/msg.eml" > "$tmp/signed.eml"
echo "message: $(wc -c < "$tmp/signed.eml") bytes, DKIM-signed" >&2

# The sink Postfix relays to.
smtp-sink -u postfix "127.0.0.1:$sink_port" 1000 &
pids+=($!)

# Milters.
if [ "$transport" = unix ]; then
  kinko_sock="unix:$tmp/kinko.sock"
else
  kinko_sock="inet:127.0.0.1:$kinko_port"
fi
cat > "$tmp/kinko.toml" <<EOF
socket = "$kinko_sock"
metrics_address = "127.0.0.1:$metrics_port"
authserv_id = "mx.load.test"
trusted_networks = []
[dns]
nameservers = ["127.0.0.1:$dns_port"]
EOF
# Default log level: the one verdict line per message is part of the cost.
"$bin/kinko-milter" run --config "$tmp/kinko.toml" 2>"$tmp/kinko.log" &
kinko_pid=$!; pids+=($kinko_pid)
"$bin/examples/noop_milter" "127.0.0.1:$noop_port" 2>/dev/null &
noop_pid=$!; pids+=($noop_pid)
wait_port "$metrics_port"; wait_port "$noop_port"; wait_port "$sink_port"
[ "$transport" = unix ] && chmod 666 "$tmp/kinko.sock" 2>/dev/null || true

# Private Postfix instance.
mkdir -p "$tmp/etc" "$tmp/spool" "$tmp/data"
# Postfix's own processes run as the postfix user and must reach these.
chmod 755 "$tmp"
chown postfix "$tmp/data"
# Compiled-in defaults, not main.cf.dist (its empty placeholders break start).
: > "$tmp/etc/main.cf"
cp /usr/share/postfix/master.cf.dist "$tmp/etc/master.cf"
postconf -c "$tmp/etc" -e \
  "queue_directory = $tmp/spool" "data_directory = $tmp/data" \
  "inet_interfaces = loopback-only" "inet_protocols = ipv4" "mydestination =" \
  "myhostname = mx.load.test" "mynetworks = 127.0.0.0/8 192.0.2.0/24" \
  "relayhost = [127.0.0.1]:$sink_port" "smtp_dns_support_level = disabled" \
  "smtpd_relay_restrictions = permit_mynetworks, reject" \
  "milter_protocol = 6" "milter_default_action = tempfail" \
  "default_process_limit = 200" "smtpd_client_connection_count_limit = 0" \
  "smtpd_client_message_rate_limit = 0" "smtpd_client_connection_rate_limit = 0" \
  "maillog_file = $tmp/postfix.log" "maillog_file_prefixes = $tmp" "compatibility_level = 3.6" \
  "message_size_limit = 20480000" "notify_classes ="
# No default port 25 listener, and no chroot (the private queue has no jail set up).
sed -i -e '/^smtp[[:space:]]\+inet/d' \
  -e 's/^\([a-z]\+[[:space:]]\+[a-z-]\+[[:space:]]\+[-ny][[:space:]]\+[-ny][[:space:]]\+\)y/\1n/' "$tmp/etc/master.cf"
milter_kinko=$kinko_sock
[ "$transport" = unix ] && milter_kinko="unix:$tmp/kinko.sock"
cat >> "$tmp/etc/master.cf" <<EOF
127.0.0.1:$p_none inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy
127.0.0.1:$p_kinko inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy -o smtpd_milters=$milter_kinko
127.0.0.1:$p_noop inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy -o smtpd_milters=inet:127.0.0.1:$noop_port
EOF
postfix -c "$tmp/etc" set-permissions >/dev/null 2>&1 || true
if ! postfix -c "$tmp/etc" start >&2; then
  tail -20 "$tmp/postfix.log" >&2
  exit 1
fi
wait_port "$p_none"; wait_port "$p_kinko"; wait_port "$p_noop"

queue_empty() { [ -z "$(postqueue -c "$tmp/etc" -j 2>/dev/null)" ]; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run_round() { # name port
  local name=$1 port=$2 t0 t1 out
  t0=$(date +%s.%N)
  out=$("$bin/examples/smtp_load" --target "127.0.0.1:$port" --sessions "$sessions" \
        --messages "$per_round" --file "$tmp/signed.eml" --from info@load.test \
        --rcpt customer@sink.test --proxy-ip 192.0.2.10)
  for _ in $(seq 600); do queue_empty && break; sleep 0.1; done
  t1=$(date +%s.%N)
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['name']=sys.argv[2]; d['delivered_per_s']=round(d['accepted']/(float(sys.argv[4])-float(sys.argv[3])),1); print(json.dumps(d))" \
    "$out" "$name" "$t0" "$t1"
}

# Warm-up: DNS cache, page cache, Postfix process pool.
run_round warmup "$p_kinko" >/dev/null

# Soak mode (SOAK_SECONDS set): kinko rounds only, for that long, sampling
# the milter's RSS and open file descriptors after each round.
if [ -n "${SOAK_SECONDS:-}" ]; then
  end=$(( $(date +%s) + SOAK_SECONDS ))
  samples="$tmp/soak.tsv"
  echo -e "elapsed_s\tmessages\trss_kb\tfds\tdelivered_per_s" | tee "$samples"
  t0=$(date +%s); total=0
  while [ "$(date +%s)" -lt "$end" ]; do
    line=$(run_round kinko "$p_kinko")
    total=$((total + per_round))
    rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["delivered_per_s"])' "$line")
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$kinko_pid/status")
    fds=$(ls "/proc/$kinko_pid/fd" | wc -l)
    echo -e "$(( $(date +%s) - t0 ))\t$total\t$rss\t$fds\t$rate" | tee -a "$samples"
  done
  python3 - "$samples" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()[1:]]
rss = [int(r[2]) for r in rows]; fds = [int(r[3]) for r in rows]
warm = max(1, len(rows) // 5)  # the first fifth is warm-up
base_rss, base_fd = max(rss[:warm]), max(fds[:warm])
growth = (max(rss[warm:] or rss) - base_rss) / base_rss
print(f"soak: {len(rows)} rounds, RSS after warm-up {base_rss} kB -> max {max(rss)} kB "
      f"({growth:+.1%}), fds {base_fd} -> max {max(fds)}; "
      f"{'OK' if growth <= 0.10 and max(fds) <= base_fd + 10 else 'GROWTH ABOVE 10%'}")
PY
  exit 0
fi
results="$tmp/results.jsonl"
: > "$results"
cpu_kinko=0; cpu_noop=0; msgs=0
for r in $(seq "$rounds"); do
  for v in none kinko noop; do
    case $v in none) port=$p_none ;; kinko) port=$p_kinko ;; noop) port=$p_noop ;; esac
    k0=$(cpu_ticks "$kinko_pid"); n0=$(cpu_ticks "$noop_pid")
    line=$(run_round "$v" "$port")
    k1=$(cpu_ticks "$kinko_pid"); n1=$(cpu_ticks "$noop_pid")
    case $v in
      kinko) cpu_kinko=$((cpu_kinko + k1 - k0)); msgs=$((msgs + per_round)) ;;
      noop) cpu_noop=$((cpu_noop + n1 - n0)) ;;
    esac
    echo "$line" | tee -a "$results"
  done
done
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$kinko_pid/status")
curl -s "http://127.0.0.1:$metrics_port/metrics" > "$tmp/metrics.txt" || true

python3 - "$results" "$cpu_kinko" "$msgs" "$hz" "$rss_kb" "$tmp/metrics.txt" "$transport" "$cpu_noop" <<'PY'
import json, statistics, sys, re
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu_ticks, msgs, hz, rss_kb = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
noop_ticks = int(sys.argv[8])
med = {}
for v in ("none", "kinko", "noop"):
    r = [x for x in rows if x["name"] == v]
    med[v] = {k: statistics.median(x[k] for x in r) for k in ("delivered_per_s", "accepted_per_s", "eod_ms_p50", "eod_ms_p99")}
    med[v]["rejected_or_failed"] = sum(x["other_replies"] + x["session_errors"] for x in r)
def paired(a, b):
    ra = [x["delivered_per_s"] for x in rows if x["name"] == a]
    rb = [x["delivered_per_s"] for x in rows if x["name"] == b]
    return round(statistics.median(x / y for x, y in zip(ra, rb)), 3)
m = open(sys.argv[6]).read()
acts = dict(re.findall(r'kinko_messages_total\{action="(\w+)"\} (\d+)', m))
dmarc = dict(re.findall(r'kinko_auth_results_total\{method="dmarc",result="(\w+)"\} (\d+)', m))
summary = {
    "transport": sys.argv[7],
    "median": med,
    "ratio_kinko_vs_postfix_alone": round(med["kinko"]["delivered_per_s"] / med["none"]["delivered_per_s"], 3),
    "ratio_kinko_vs_noop_milter": round(med["kinko"]["delivered_per_s"] / med["noop"]["delivered_per_s"], 3),
    "ratio_noop_vs_postfix_alone": round(med["noop"]["delivered_per_s"] / med["none"]["delivered_per_s"], 3),
    # The machine drifts between rounds (disk writeback, other tenants):
    # ratios within one round, then their median, are steadier.
    "paired_median_kinko_vs_postfix_alone": paired("kinko", "none"),
    "paired_median_kinko_vs_noop_milter": paired("kinko", "noop"),
    "paired_median_noop_vs_postfix_alone": paired("noop", "none"),
    "kinko_cpu_ms_per_message": round(cpu_ticks * 1000 / hz / max(msgs, 1), 3),
    "noop_cpu_ms_per_message": round(noop_ticks * 1000 / hz / max(msgs, 1), 3),
    "kinko_peak_rss_mb": round(rss_kb / 1024, 1),
    "kinko_actions": acts,
    "kinko_dmarc_results": {k: v for k, v in dmarc.items() if v != "0"},
}
print(json.dumps(summary, indent=1))
PY
