#!/usr/bin/env bash
# Random loss both ways: libwebrtc clients (bench/wrtc_loadgen.mjs, 8 wrtc peers in one room,
# 100-B messages) inside a network namespace whose iptables drop each UDP packet in and out with
# probability $LOSS (default 0.05: 5 % each way, `-m statistic --mode random`), against servers in
# the root namespace on the veth's root-side address (as tests/network does). Runs alternate
# between the servers (same machine state for each); a fresh server process per run. One JSON
# line per run in $OUT (default build-bench/bench-out/wrtc-loss.jsonl): p50/p99, delivered and the
# server's SCTP counters (/stats sctp, peerrtc only). Then per server: p99 of every run, medians.
#
#   bench/wrtc_loss.sh [--runs 10] [--rate 100] [--duration 5] [--servers "peerrtc pion"]
#
# TRACE_DIR=<dir>: per run, the load generator's --trace (every delivery's sender, receiver and
# latency, the server's /stats sctp every 20 ms) in <dir>/<server>-<run>.json; bench/loss_trace.py
# reads it.
#
# Needs root (ip netns, iptables). Servers: peerrtc ($PEERRTC_SERVER, default
# build-bench/apps/peerrtc-server), peerrtc-b ($PEERRTC_SERVER_B: another build side by side),
# pion ($PION_RELAY, default build-bench/pion-relay; bench/setup.sh builds both).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BENCH_BUILD:-$ROOT/build-bench}"
OUT="${OUT:-$BUILD/bench-out/wrtc-loss.jsonl}"
SERVER_BIN="${PEERRTC_SERVER:-$BUILD/apps/peerrtc-server}"
PION="${PION_RELAY:-$BUILD/pion-relay}"
LOSS="${LOSS:-0.05}"
PORT="${BENCH_PORT:-18431}"
RUNS=10 RATE=100 DURATION=5 SERVERS="peerrtc pion" PROCS=2
while (($#)); do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --rate) RATE="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --procs) PROCS="$2"; shift ;;
    *) echo "usage: $0 [--runs N] [--rate R] [--duration S] [--servers LIST] [--procs K]" >&2; exit 2 ;;
  esac
  shift
done
[[ "$(id -u)" -eq 0 ]] || { echo "wrtc_loss: needs root (ip netns, iptables)" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
srv_out="$(dirname "$OUT")/wrtc-loss-server.out"
NS="peerrtc-loss-$$"
VR="plr$$r" VN="plr$$n"
X=$((200 + $$ % 50))
HOST="10.214.$X.1" NSIP="10.214.$X.2"
PID=""
stop() { [[ -n "$PID" ]] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; PID=""; }
cleanup() { stop; ip netns del "$NS" 2>/dev/null || true; ip link del "$VR" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
ip link add "$VR" type veth peer name "$VN" netns "$NS"
ip addr add "$HOST/24" dev "$VR"; ip link set "$VR" up
ip netns exec "$NS" ip addr add "$NSIP/24" dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up
for chain in INPUT OUTPUT; do
  ip netns exec "$NS" iptables -w -A "$chain" -p udp -m statistic --mode random --probability "$LOSS" -j DROP
done
for run in $(seq "$RUNS"); do
  for s in $SERVERS; do
    case "$s" in
      peerrtc|peerrtc-b)
        bin="$SERVER_BIN"; [[ "$s" == peerrtc-b ]] && bin="${PEERRTC_SERVER_B:?peerrtc-b needs PEERRTC_SERVER_B}"
        "$bin" --host "$HOST" --port "$PORT" --no-examples --log-level warn --max-peers-per-room 2000 \
          --peer-message-rate 0 --peer-byte-rate 0 >"$srv_out" 2>&1 & ;;
      pion) "$PION" --host "$HOST" --port "$PORT" >"$srv_out" 2>&1 & ;;
      *) echo "unknown server $s" >&2; exit 2 ;;
    esac
    PID=$!
    trace=()
    [[ -n "${TRACE_DIR:-}" ]] && { mkdir -p "$TRACE_DIR"; trace=(--trace "$TRACE_DIR/$s-$run.json"); }
    for _ in $(seq 200); do grep -q '^READY' "$srv_out" 2>/dev/null && break; sleep 0.05; done
    line=$(timeout 120 ip netns exec "$NS" node "$ROOT/bench/wrtc_loadgen.mjs" --host "$HOST" --http-port "$PORT" \
             --server-pid "$PID" --peers 8 --procs "$PROCS" --rate "$RATE" --duration "$DURATION" "${trace[@]}" 2>/dev/null | grep '^{' | tail -1 || true)
    [[ -n "$line" ]] || line='{"error":"loadgen failed"}'
    echo "{\"server\":\"$s\",\"rate\":$RATE,\"loss\":$LOSS,\"run\":$run,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"r\":$line}" >>"$OUT"
    stop
    sleep 0.5
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
d = defaultdict(list)
for r in rows:
    d[r["server"]].append(r["r"])
for server, v in d.items():
    ok = [x for x in v if "error" not in x]
    p99 = [x["lat_p99_ms"] for x in ok]
    p50 = [x["lat_p50_ms"] for x in ok]
    dl = [x["delivered_fraction"] for x in ok]
    line = (f"{server}: p99 ms median {st.median(p99):.1f} [{', '.join(f'{a:.0f}' for a in p99)}]; "
            f"p50 ms median {st.median(p50):.1f}; runs with p99 > 100 ms: {sum(1 for a in p99 if a > 100)}/{len(ok)}; "
            f"all delivered in {sum(1 for a in dl if a >= 1)}/{len(ok)}; {len(v) - len(ok)} failed") if ok else f"{server}: all failed"
    print(line)
    sc = [x.get("sctp") for x in ok if x.get("sctp")]
    if sc:
        keys = ["t3_timeouts", "fast_retransmits", "retransmitted_chunks", "path_returns", "loss_probes", "sacks_in", "packets_out"]
        print("  sctp per run: " + "; ".join(", ".join(f"{k} {c.get(k, '-')}" for k in keys) for c in sc))
PY
