#!/usr/bin/env bash
# A short load run on this machine, for `make load`: starts bin/tandem on a
# free loopback port with media on loopback, drives it with bin/tandem-load
# (LOAD_PAIRS pairs of synthetic visitors sending video and audio, switching
# partners every LOAD_NEXT, for LOAD_DURATION after a short warm-up), prints
# the load tool's results, and stops the server, also when something fails or
# the run is interrupted. Exits with the load tool's status.
#
#   LOAD_PAIRS=10 LOAD_BITRATE=500000 LOAD_NEXT=5s LOAD_DURATION=20s scripts/load.sh
#
# docs/performance.md describes the figures and the pinned, longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=${LOAD_PAIRS:-10}
bitrate=${LOAD_BITRATE:-500000}
next=${LOAD_NEXT:-5s}
duration=${LOAD_DURATION:-20s}
for bin in bin/tandem bin/tandem-load; do
  [ -x "$bin" ] || { echo "load: $bin missing; run make build" >&2; exit 1; }
done

work=$(mktemp -d)
server="" load=""
# stop ends the load tool and the server (SIGTERM: each stops gracefully)
# and waits for them; it runs on every exit.
stop() {
  for pid in $load $server; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Loopback only; limits raised so that every synthetic visitor, all from
# 127.0.0.1, is admitted; TURN off (the load tool does not use it).
TANDEM_HTTP_ADDR=127.0.0.1:0 TANDEM_ICE_IPS=127.0.0.1 TANDEM_TURN_ADDR= \
  TANDEM_SESSIONS_PER_IP=$((2 * pairs + 10)) TANDEM_MEDIA_PER_IP=$((2 * pairs + 10)) \
  TANDEM_CONNECTIONS_PER_MINUTE=$((4 * pairs + 60)) \
  TANDEM_LOG_LEVEL=warn \
  bin/tandem >"$work/stdout" 2>"$work/stderr" &
server=$!

# The server prints its URL once it listens ("open http://127.0.0.1:PORT in ...").
url=""
for _ in $(seq 300); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/stdout" || true)
  [ -n "$url" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "load: the server did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "load: the server printed no URL within 30 s:" >&2
  cat "$work/stderr" >&2
  exit 1
fi

echo "load: $(bin/tandem -version) on ${url#http://}, pid $server"
# In the background, so that a signal to this script runs its traps at once.
bin/tandem-load -url "ws://${url#http://}/ws" -pairs "$pairs" -bitrate "$bitrate" -next "$next" \
  -duration "$duration" -warmup 5s -pid "$server" &
load=$!
status=0
wait "$load" || status=$?
load=""
# Pion warns while ICE starts ("Failed to ping without candidate pairs"):
# counted, not shown. Errors are shown.
echo "load: the server logged $(grep -c 'level=WARN' "$work/stderr" || true) warnings and $(grep -c 'level=ERROR' "$work/stderr" || true) errors"
grep 'level=ERROR' "$work/stderr" | head -20 || true
exit "$status"
