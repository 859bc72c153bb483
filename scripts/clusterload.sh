#!/usr/bin/env bash
# Bridged against local forwarding, for `make clusterload`: starts a
# redis-server and two bin/tandem instances in cluster mode on loopback, then
# runs bin/tandem-load against them in alternating rounds:
#   local:   every user on instance A (pairs forwarded inside A; B idle),
#   spread:  the pairs spread over A and B round robin, both users of a pair
#            on one instance (every forward local, both instances as busy
#            as in the bridged run),
#   bridged: users spread over A and B round robin, so that every first pair
#            has one user on each instance and its media crosses the bridge,
# measuring the CPU of both instances in every run, and prints a summary.
# Everything stops on exit, also when something fails or the run is
# interrupted. Exits non-zero if a run failed.
#
#   LOAD_PAIRS=40 LOAD_BITRATE=1500000 LOAD_NEXT=0 LOAD_DURATION=30s \
#   CLUSTERLOAD_ROUNDS=3 CLUSTERLOAD_PIN=1 scripts/clusterload.sh
#
# LOAD_NEXT is 0 by default: with Next the shared queue pairs whoever waits,
# on either instance, and the bridged run turns into a mix (the load tool
# prints the share of packets that came over the bridge). CLUSTERLOAD_PIN=1
# runs both instances on core 0 with GOMAXPROCS=1 and the load generator on
# core 1, as docs/performance.md's load runs do. CLUSTERLOAD_BRIDGE_PORTS
# (default 39146,39147) are the two bridges' UDP ports on 127.0.0.1;
# CLUSTERLOAD_TANDEM (default bin/tandem) is the server binary, to compare
# builds; CLUSTERLOAD_RUNS (default "local spread bridged") the runs of a
# round, in order.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=${LOAD_PAIRS:-40}
bitrate=${LOAD_BITRATE:-1500000}
next=${LOAD_NEXT:-0}
duration=${LOAD_DURATION:-30s}
warmup=${LOAD_WARMUP:-8s}
rounds=${CLUSTERLOAD_ROUNDS:-1}
runs=${CLUSTERLOAD_RUNS:-local spread bridged}
IFS=, read -r bridge_a bridge_b <<<"${CLUSTERLOAD_BRIDGE_PORTS:-39146,39147}"
tandem=${CLUSTERLOAD_TANDEM:-bin/tandem}
for bin in "$tandem" bin/tandem-load; do
  [ -x "$bin" ] || { echo "clusterload: $bin missing; run make build" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "clusterload: redis-server not installed" >&2; exit 1; }
server_pin=() load_pin=()
if [ "${CLUSTERLOAD_PIN:-0}" = 1 ]; then
  server_pin=(env GOMAXPROCS=1 taskset -c 0)
  load_pin=(taskset -c 1)
fi

work=$(mktemp -d)
redis="" a="" b="" load=""
# stop ends the load tool, the instances and Redis (SIGTERM: each stops
# gracefully) and waits for them; it runs on every exit.
stop() {
  for pid in $load $a $b $redis; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port of 127.0.0.1 for Redis: the first in 39100-39199 nobody
# accepts on.
redis_port=""
for p in $(seq 39100 39199); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then redis_port=$p; break; fi
done
[ -n "$redis_port" ] || { echo "clusterload: no free port in 39100-39199 for Redis" >&2; exit 1; }
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --daemonize no \
  >"$work/redis.log" 2>&1 &
redis=$!

# start_instance NAME BRIDGE_PORT UDP_PORTS starts one instance and sets
# $NAME to its pid; its stdout and stderr go to $work/NAME.*.
start_instance() {
  TANDEM_HTTP_ADDR=127.0.0.1:0 TANDEM_ICE_IPS=127.0.0.1 TANDEM_TURN_ADDR= \
    TANDEM_UDP_PORTS="$3" TANDEM_DATA_DIR="$work/$1.data" \
    TANDEM_REDIS_URL="redis://127.0.0.1:$redis_port" \
    TANDEM_CLUSTER_ADDR="127.0.0.1:$2" \
    TANDEM_CLUSTER_SECRET=clusterload-secret-for-loopback-only \
    TANDEM_SESSIONS_PER_IP=$((4 * pairs + 10)) TANDEM_MEDIA_PER_IP=$((4 * pairs + 10)) \
    TANDEM_CONNECTIONS_PER_MINUTE=$((8 * pairs + 60)) \
    TANDEM_LOG_LEVEL=warn \
    "${server_pin[@]}" "$tandem" >"$work/$1.stdout" 2>"$work/$1.stderr" &
  printf -v "$1" %s $!
}

# url_of NAME waits until the instance prints its URL ("open
# http://127.0.0.1:PORT in ...") and prints its WebSocket URL.
url_of() {
  local pid=${!1} url=""
  for _ in $(seq 300); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/$1.stdout" || true)
    if [ -n "$url" ]; then echo "ws://${url#http://}/ws"; return; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clusterload: instance $1 did not start:" >&2
      cat "$work/$1.stderr" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "clusterload: instance $1 printed no URL within 30 s:" >&2
  cat "$work/$1.stderr" >&2
  return 1
}

start_instance a "$bridge_a" 40000-40499
start_instance b "$bridge_b" 40500-40999
url_a=$(url_of a)
url_b=$(url_of b)
echo "clusterload: $("$tandem" -version); Redis on 127.0.0.1:$redis_port; A $url_a (pid $a), B $url_b (pid $b)"

# run_load KIND URLS [ARGS...] runs the load tool once (with ARGS added) and
# keeps its output in $work/KIND.N.
status=0
run_load() {
  local out="$work/$1.$round" urls=$2
  shift 2
  echo
  echo "clusterload: round $round, $(basename "$out" ".$round") (users on $urls${*:+, $*})"
  "${load_pin[@]}" bin/tandem-load -url "$urls" -pid "$a,$b" -pairs "$pairs" -bitrate "$bitrate" \
    -next "$next" -duration "$duration" -warmup "$warmup" "$@" >"$out" 2>&1 &
  load=$!
  wait "$load" || { status=$?; echo "clusterload: the $1 run failed ($status)" >&2; }
  load=""
  cat "$out"
}
for round in $(seq "$rounds"); do
  for kind in $runs; do
    case $kind in
      local) run_load local "$url_a" ;;
      spread) run_load spread "$url_a,$url_b" -spread pairs ;;
      bridged) run_load bridged "$url_a,$url_b" ;;
      *) echo "clusterload: unknown run $kind in CLUSTERLOAD_RUNS" >&2; exit 2 ;;
    esac
  done
done

echo
echo "clusterload: summary (both instances' CPU per packet received by a client; kernel part; their context switches)"
for f in "$work"/local.* "$work"/spread.* "$work"/bridged.*; do
  [ -e "$f" ] || continue
  line=$(grep 'CPU per packet received by a client' "$f" || echo "no CPU figure")
  switches=$(grep -o 'switches per 1000 packets received by a client: [0-9]*' "$f" | grep -o '[0-9]*$' || true)
  share=$(grep -o '[0-9.]* % of them from a partner on another instance' "$f" | cut -d' ' -f1 || true)
  echo "  $(basename "$f"): ${line#server CPU per packet received by a client: }, ${switches:-?} context switches per 1000 packets, bridged share ${share:-0} %"
done
for n in a b; do
  echo "clusterload: instance $n logged $(grep -c 'level=WARN' "$work/$n.stderr" || true) warnings and $(grep -c 'level=ERROR' "$work/$n.stderr" || true) errors"
  grep 'level=ERROR' "$work/$n.stderr" | head -10 || true
done
exit "$status"
