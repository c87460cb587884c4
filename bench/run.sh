#!/usr/bin/env bash
# Runs every benchmark scenario against peerrtc-server, the aiortc relay and the pion relay, one
# fresh server process per run, and writes bench/RESULTS.md (bench/README.md explains it all).
#
#   bench/run.sh                 # everything, 3 runs per scenario and server (medians)
#   bench/run.sh --smoke         # scenario 1 for 3 s against peerrtc-server only (exit 0 = all joined, all delivered)
#   bench/run.sh --runs 1 --servers "peerrtc pion" --scenarios "chat bulk" --no-build
#
# Env: BENCH_BUILD (build dir, default build-bench), BENCH_OUT (raw results dir), BENCH_PORT.
set -euo pipefail
ARGS="$*"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BENCH_BUILD:-$ROOT/build-bench}"
OUT="${BENCH_OUT:-$BUILD/bench-out}"
PORT="${BENCH_PORT:-18400}"
RUNS=3
SERVERS="peerrtc aiortc pion"
SCENARIOS="chat saturation fanout scale bulk bulk64"
SMOKE=0
BUILD_FIRST=1
RESULTS="$ROOT/bench/RESULTS.md"
while (($#)); do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --runs) RUNS="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --no-build) BUILD_FIRST=0 ;;
    --results) RESULTS="$2"; shift ;;
    *) echo "usage: $0 [--smoke] [--runs N] [--servers LIST] [--scenarios LIST] [--no-build] [--results FILE]" >&2; exit 2 ;;
  esac
  shift
done

LG="$BUILD/bench/peerrtc-loadgen"
SERVER_BIN="$BUILD/apps/peerrtc-server"
PION="$BUILD/pion-relay"

if ((SMOKE)); then
  if ((BUILD_FIRST)) || [[ ! -x "$LG" || ! -x "$SERVER_BIN" ]]; then
    extra=()
    grep -q 'add_subdirectory(bench)' "$ROOT/CMakeLists.txt" || extra+=("-DCMAKE_PROJECT_INCLUDE=$ROOT/bench/cmake_hook.cmake")
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERRTC_TESTS=OFF "${extra[@]}" >/dev/null
    cmake --build "$BUILD" -j"${JOBS:-2}" --target peerrtc-server peerrtc-loadgen >/dev/null
  fi
  SERVERS="peerrtc"; SCENARIOS="chat"; RUNS=1
elif ((BUILD_FIRST)); then
  "$ROOT/bench/setup.sh"
fi
mkdir -p "$OUT"
RAW="$OUT/results.jsonl"
LOG="$OUT/run.log"
((SMOKE)) || : >"$RAW"
: >"$LOG"

SRV_PID=""
start_server() {  # kind port -> SRV_PID
  local kind="$1" port="$2" out="$OUT/server-$1-$2.out"
  case "$kind" in
    # The reference relays have no per-peer rate limits: compare like with like.
    # shellcheck disable=SC2086
    peerrtc) "$SERVER_BIN" --host 127.0.0.1 --port "$port" --no-examples --log-level warn \
               --max-peers-per-room 2000 ${SERVER_EXTRA---peer-message-rate 0 --peer-byte-rate 0} >"$out" 2>&1 & ;;
    aiortc) /usr/bin/python3 "$ROOT/bench/aiortc_relay.py" --host 127.0.0.1 --port "$port" >"$out" 2>&1 & ;;
    pion) "$PION" --host 127.0.0.1 --port "$port" >"$out" 2>&1 & ;;
  esac
  SRV_PID=$!
  for _ in $(seq 200); do
    grep -q '^READY' "$out" 2>/dev/null && return 0
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: $kind did not start on port $port:" >&2
  cat "$out" >&2
  return 1
}
stop_server() {
  [[ -n "$SRV_PID" ]] || return 0
  kill -TERM "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}
trap stop_server EXIT

LAST=""  # the last run's JSON line
run_one() {  # kind scenario loadgen-args...
  local kind="$1" scen="$2"; shift 2
  PORT=$((PORT + 1))
  start_server "$kind" "$PORT"
  local cmd=("$LG" --server-host 127.0.0.1 --http-port "$PORT" --server-pid "$SRV_PID" --label "$kind" --scenario "$scen" --json "$@")
  echo "+ ${cmd[*]}" >>"$LOG"
  LAST="$("${cmd[@]}" 2>>"$LOG" | tail -1)" || true
  stop_server
  [[ "$LAST" == \{* ]] || LAST="{\"server\":\"$kind\",\"scenario\":\"$scen\",\"error\":\"loadgen failed\"}"
  echo "$LAST" >>"$RAW"
  echo "  $kind $scen: $LAST" | cut -c1-220
}

CHAT=(--peers 8 --rooms 1 --rate 200 --size 100 --duration 5)
FANOUT=(--peers 101 --rooms 1 --senders 1 --rate 200 --size 100 --duration 5)
SCALE=(--peers 1000 --rooms 100 --duration 0 --idle 5 --join-timeout 240)
BULK=(--peers 2 --rooms 1 --senders 1 --bulk --size 262078 --duration 5)
BULK64=(--peers 2 --rooms 1 --senders 1 --bulk --size 65000 --duration 5)  # pion 3.1 takes <= 64 KiB
SAT=(--peers 32 --rooms 4 --size 100 --duration 3)

passes() {  # JSON line -> exit 0 if every message arrived and p99 < 50 ms
  /usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if j.get("delivered_fraction")==1 and j.get("send_fail",1)==0 and 0<=j.get("lat_p99_ms",99)<50 and j.get("joined")==j.get("peers") else 1)' "$1"
}

probe() {  # kind rate -> exit 0 if it passes; a failing probe is tried once more (a busy
  # machine's scheduling hiccup must not end the search)
  run_one "$1" saturation-probe "${SAT[@]}" --rate "$2"
  passes "$LAST" && return 0
  run_one "$1" saturation-probe "${SAT[@]}" --rate "$2"
  passes "$LAST"
}

saturation() {  # kind: doubling, then bisection of the per-peer rate; every probe is recorded
  local kind="$1" rate=25 lo=0 hi=0 mid
  while ((hi == 0 && rate <= 6400)); do
    if probe "$kind" "$rate"; then lo=$rate; rate=$((rate * 2)); else hi=$rate; fi
  done
  for _ in 1 2 3; do
    ((hi > 0 && lo > 0 && hi - lo > lo / 8)) || break
    mid=$(((lo + hi) / 2))
    if probe "$kind" "$mid"; then lo=$mid; else hi=$mid; fi
  done
  # The best passing rate, measured again as the scenario's result.
  local best=$((lo > 0 ? lo : 25))
  for r in $(seq "$RUNS"); do run_one "$kind" saturation "${SAT[@]}" --rate "$best"; done
}

echo "bench: load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
START=$(date +%s)
for scen in $SCENARIOS; do
  for kind in $SERVERS; do
    echo "bench: $scen / $kind"
    case "$scen" in
      chat) for r in $(seq "$RUNS"); do run_one "$kind" chat "${CHAT[@]}" $( ((SMOKE)) && echo --duration 3); done ;;
      saturation) saturation "$kind" ;;
      fanout) for r in $(seq "$RUNS"); do run_one "$kind" fanout "${FANOUT[@]}"; done ;;
      scale) for r in $(seq "$(( RUNS < 2 ? RUNS : 2 ))"); do run_one "$kind" scale "${SCALE[@]}"; done ;;
      bulk) for r in $(seq "$RUNS"); do run_one "$kind" bulk "${BULK[@]}"; done ;;
      bulk64) for r in $(seq "$RUNS"); do run_one "$kind" bulk64 "${BULK64[@]}"; done ;;
      *) echo "unknown scenario $scen" >&2; exit 2 ;;
    esac
  done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

if ((SMOKE)); then
  # Not a timed test: the smoke run checks that every peer joined and every message arrived.
  /usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if j.get("delivered_fraction")==1 and j.get("joined")==j.get("peers") else 1)' "$LAST" \
    && { echo "bench smoke: OK"; exit 0; }
  echo "bench smoke: FAILED: $LAST" >&2
  exit 1
fi

/usr/bin/python3 "$ROOT/bench/report.py" --raw "$RAW" --out "$RESULTS" --runs "$RUNS" \
  --load-before "$LOAD_BEFORE" --load-after "$LOAD_AFTER" --seconds $(( $(date +%s) - START )) \
  --command "bench/run.sh $ARGS"
echo "bench: wrote $RESULTS (raw: $RAW)"
