#!/usr/bin/env bash
# The project's one test command (README; .ci/run runs exactly this).
#
# The end-to-end tests start a private Postfix, dnsmasq and the milter on
# loopback, and tests/deploy.rs checks deploy/ with systemd-analyze (which
# runs man for the unit's Documentation=) and promtool. On a fresh Debian 12 (as root, no stdin) this installs whatever of
# that is missing, then runs every test target. Exit status: cargo's.
set -euo pipefail
cd "$(dirname "$0")/.."
# Postfix and dnsmasq live in sbin, which a non-login shell may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# command the tests run -> Debian package that provides it
declare -A provider=(
  [postfix]=postfix
  [dnsmasq]=dnsmasq-base
  [openssl]=openssl
  [systemd-analyze]=systemd
  [promtool]=prometheus
  [man]=man-db
  [cc]=gcc
  [sudo]=sudo
)
missing=()
# cc: ring (DKIM's RSA) compiles C and assembly. sudo: the e2e suite runs
# the quarantine runbook as a non-root operator through its sudo rule.
for cmd in postfix dnsmasq openssl systemd-analyze promtool man cc sudo; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${provider[$cmd]}")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "test.sh: missing ${missing[*]}; run as root on Debian, or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # The tests run their own Postfix under a temporary directory; the
  # system's instance must stay unconfigured and stopped, so it can neither
  # be required nor get in the way. The same goes for Prometheus, which we
  # install only for promtool: keep package scripts from starting services.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  apt-get update -qq
  required=()
  for p in "${missing[@]}"; do [ "$p" = prometheus ] || required+=("$p"); done
  if [ ${#required[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${required[@]}" >/dev/null
  fi
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    # Large, and only promtool is used: if it cannot be installed the rest
    # still runs, and the promtool test says what is missing.
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null ||
      echo "test.sh: warning: prometheus (promtool) could not be installed" >&2
  fi
  if [ -n "$guard" ]; then rm -f "$guard"; trap - EXIT; fi
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: warning: not root; the end-to-end tests need root to run Postfix" >&2
fi

# --no-fail-fast: one failing target must not hide the results of the others.
set +e
cargo test --locked --no-fail-fast
status=$?
echo "test.sh: cargo test exited with $status" >&2

# In CI (or when asked) also build the Debian package, install it and start
# the installed binary: it changes the system, so not on a developer's
# machine by default.
if [ "$status" -eq 0 ] && { [ "${CI:-}" = true ] || [ -n "${KINKO_TEST_PACKAGE:-}" ]; }; then
  bash scripts/package.sh --install-and-test
  status=$?
  echo "test.sh: package test exited with $status" >&2
fi
exit $status
