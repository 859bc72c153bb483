#!/usr/bin/env bash
# Installs what the tests need beyond Go: Debian's chromium (browser tests),
# coturn (its turnutils_* clients check our TURN server, and its turnserver is
# the benchmark's reference), iproute2 and iptables (network namespace tests),
# nodejs and npm (npm installs TypeScript for the web client's type check,
# `make typecheck-web`), redis-server (the cluster's shared queue is tested
# against a real one), nginx (the deployment of deploy/ is tested behind it).
# Does nothing when everything is already there; starts no service.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v turnutils_uclient >/dev/null 2>&1 || missing+=(coturn)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${missing[*]}; install them (Debian packages): without them some tests skip, and without npm the web type check fails" >&2
  exit 0
fi
echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages such as nginx and redis-server would start their services on
# installation; a policy-rc.d that refuses keeps the machine's ports closed.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
