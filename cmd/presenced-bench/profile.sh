#!/usr/bin/env bash
# The small load profile behind `make bench`: builds presenced and
# presenced-bench, then for each scenario starts a fresh presenced (dev auth,
# a new SQLite store in the output folder, listening on a free loopback
# port), runs the scenario against it with its pid (memory) and /metrics,
# and stops it with SIGTERM. Finishes in a few minutes on 2 cores.
#
# Results: one JSON file per scenario, the server logs and a chart of
# message latency against rate, in $BENCH_OUT (default: a new folder under
# /tmp, printed at the end). Exit status 1 when a run failed or a check
# did not hold.
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/presenced-bench.XXXXXX")}
mkdir -p "$OUT"

echo "building bin/presenced and bin/presenced-bench" >&2
"$GO" build -o bin/presenced ./cmd/presenced
"$GO" build -o bin/presenced-bench ./cmd/presenced-bench

SERVER_PID=""
SERVER_URL=""
trap 'if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi' EXIT

# start_server NAME [presenced flags...]: a fresh server for one scenario.
start_server() {
  local name=$1
  shift
  local log="$OUT/server-$name.log"
  rm -f "$OUT/$name.db"*
  PRESENCED_CONFIG='' bin/presenced --listen 127.0.0.1:0 --set auth.mode=dev \
    --set store.driver=sqlite --set store.sqlite.path="$OUT/$name.db" "$@" 2>"$log" &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 1 300); do
    addr=$(sed -n 's/.*msg="presenced listening" addr=\([^ ]*\).*/\1/p' "$log" | head -n 1)
    if [ -n "$addr" ]; then
      SERVER_URL="http://$addr"
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "presenced did not start:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "presenced did not listen within 30s:" >&2
  cat "$log" >&2
  exit 1
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

FAILED=()

# bench NAME [presenced-bench flags...]: one run against the current server.
bench() {
  local name=$1
  shift
  echo >&2
  echo "=== $name: presenced-bench $*" >&2
  local rc=0
  bin/presenced-bench --url "$SERVER_URL" --server-pid "$SERVER_PID" \
    --metrics-url "$SERVER_URL/metrics" "$@" >"$OUT/$name.json" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "=== $name: exit status $rc" >&2
    FAILED+=("$name")
  fi
}

# Idle: a heartbeat interval of 5s so that 20s of holding sees heartbeats.
start_server idle --set presence.heartbeat_interval=5s --set presence.heartbeat_timeout=15s
bench idle --scenario idle --conns 2000 --duration 20s
stop_server

# Presence: everyone sees everyone; churn at 20 changes/s. The offline
# grace is the default 2s, which the tool subtracts from disconnects.
start_server presence --set presence.visibility=all
bench presence --scenario presence --conns 1000 --changes 100 --changes-per-sec 20 --offline-grace 2s
stop_server

# Messages: 50 pairs at 1,000 msg/s (20 per sender, under the default
# per-connection limit of 50 frames/s), every ack checked in history.
start_server messages
bench messages --scenario messages --pairs 50 --rate 1000 --duration 15s
stop_server

# Connect storm with the default configuration.
start_server storm
bench storm --scenario storm --conns 2000 --concurrency 500
stop_server

# Message latency against rate, charted.
start_server sweep
bench messages-sweep --scenario messages --pairs 50 --duration 5s --sweep rates=250,500,1000,2000 \
  --chart "$OUT/messages-latency.svg"
stop_server

echo >&2
echo "results in $OUT: idle.json presence.json messages.json storm.json messages-sweep.json messages-latency.svg" >&2
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "failed: ${FAILED[*]}" >&2
  exit 1
fi
echo "every check held" >&2
