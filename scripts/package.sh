#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it, and starts the
# installed binary with the installed configuration as the service user
# would (there is no systemd as PID 1 here), checking /ready and /metrics.
#   bash scripts/package.sh            # build, install, smoke-test
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
cargo deb --locked
deb=$(ls -t target/debian/kinko-milter_*.deb | head -1)
echo "built $deb"
dpkg-deb --info "$deb" | sed -n '1,20p'
dpkg -i "$deb"
getent passwd kinko-milter
kinko-milter config check /etc/kinko-milter/kinko-milter.toml \
  --policy /etc/kinko-milter/policy/example-shinkin.toml
# The installed sample listens on the default ports; stop anything of ours there first.
tmpcfg=$(mktemp)
sed -e 's|^authserv_id = .*|authserv_id = "mx.package.test"|' /etc/kinko-milter/kinko-milter.toml > "$tmpcfg"
chmod 644 "$tmpcfg"
# setpriv execs the milter itself as the service user (runuser would sit in
# between and turn our SIGTERM into a failure of its own).
setpriv --reuid=kinko-milter --regid=kinko-milter --init-groups \
  /usr/bin/kinko-milter run --config "$tmpcfg" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$tmpcfg"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:9442/ready && break; sleep 0.1; done
curl -sf http://127.0.0.1:9442/metrics | grep -E '^kinko_(build|policy)_info'
systemd-analyze verify /lib/systemd/system/kinko-milter.service
kill -TERM $pid; wait $pid
echo "package installed and started: ok"
