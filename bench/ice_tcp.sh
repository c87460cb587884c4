#!/usr/bin/env bash
# ICE-TCP next to UDP, side by side in one run: libwebrtc peers (@roamhq/wrtc,
# bench/wrtc_loadgen.mjs) in one room of one peerrtc-server, all over UDP or all over ICE-TCP,
# alternating phase by phase so both see the same machine. Writes bench/results-ice-tcp.md
# (report.py puts it into RESULTS.md) and the raw JSON lines next to the other raw results.
#
#   bench/ice_tcp.sh [--runs 3] [--no-build]      (BENCH_BUILD: build dir, default build-bench)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BENCH_BUILD:-$ROOT/build-bench}"
OUT="${BENCH_OUT:-$BUILD/bench-out}"
RUNS=3
BUILD_FIRST=1
while (($#)); do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --no-build) BUILD_FIRST=0 ;;
    *) echo "usage: $0 [--runs N] [--no-build]" >&2; exit 2 ;;
  esac
  shift
done
if ((BUILD_FIRST)) || [[ ! -x "$BUILD/apps/peerrtc-server" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERRTC_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"${JOBS:-2}" --target peerrtc-server >/dev/null
fi
mkdir -p "$OUT"
RAW="$OUT/ice-tcp.jsonl"
: >"$RAW"
srv_out="$OUT/server-ice-tcp.out"
"$BUILD/apps/peerrtc-server" --host 127.0.0.1 --port 0 --no-examples --log-level warn \
  --max-peers-per-room 2000 --peer-message-rate 0 --peer-byte-rate 0 >"$srv_out" 2>&1 &
SRV=$!
trap 'kill -TERM $SRV 2>/dev/null; wait $SRV 2>/dev/null' EXIT
for _ in $(seq 200); do grep -q '^READY' "$srv_out" && break; sleep 0.05; done
PORT=$(sed -n 's/^READY {"http":\([0-9]*\).*/\1/p' "$srv_out")
[[ -n "$PORT" ]] || { echo "bench: server did not start" >&2; cat "$srv_out" >&2; exit 1; }
start=$(date +%s)
for run in $(seq "$RUNS"); do
  for mode in chat bulk; do
    for tr in udp tcp; do
      if [[ $mode == chat ]]; then a=(--peers 8 --rate 200 --size 100 --duration 5); else a=(--peers 2 --bulk --size 65000 --duration 5); fi
      line=$(node "$ROOT/bench/wrtc_loadgen.mjs" --http-port "$PORT" --server-pid "$SRV" --transport "$tr" "${a[@]}" | tail -1)
      echo "$line" >>"$RAW"
      echo "  run $run $mode $tr: ${line:0:200}"
    done
  done
done
secs=$(( $(date +%s) - start ))
/usr/bin/python3 - "$RAW" "$ROOT/bench/results-ice-tcp.md" "$RUNS" "$secs" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import json, statistics, sys, datetime, os
raw, out, runs, secs, commit = sys.argv[1:]
rows = [json.loads(l) for l in open(raw) if l.startswith('{')]
def cell(mode, tr, key, fmt):
    v = [r[key] for r in rows if r['mode'] == mode and r['transport'] == tr and r.get(key) is not None]
    if not v: return 'n/a', None
    m = statistics.median(v)
    return f"{fmt(m)} [{', '.join(fmt(x) for x in v)}]", m
f1 = lambda x: f"{x:.2f}"; f0 = lambda x: f"{x:,.0f}"; f3 = lambda x: f"{x:.3f}"
metrics = [
  ('chat', 'deliveries (8 peers × 200 msg/s × 5 s × 7)', 'delivered', f0),
  ('chat', 'delivered fraction', 'delivered_fraction', f3),
  ('chat', 'latency p50 ms', 'lat_p50_ms', f3),
  ('chat', 'latency p99 ms', 'lat_p99_ms', f3),
  ('chat', 'server CPU µs/delivery', 'server_cpu_us_per_delivery', f1),
  ('chat', 'datagrams or TCP frames per delivery (both ways)', 'wire_units_per_delivery', f3),
  ('chat', 'offer→welcome, slowest peer ms', 'join_ms_max', f1),
  ('bulk', 'throughput Mbit/s (1 sender → 1 receiver, 65,000 B)', 'mbit_s', f0),
  ('bulk', 'server CPU µs/delivery (65,000 B)', 'server_cpu_us_per_delivery', f1),
  ('bulk', 'packets dropped at a full TCP write queue', 'tcp_dropped_send', f0),
]
lines = ["## ICE-TCP next to UDP (libwebrtc clients)", "",
  f"`bench/ice_tcp.sh --runs {runs}` ({secs} s), commit {commit}, {datetime.datetime.now():%Y-%m-%d %H:%M}. One peerrtc-server;",
  "phases alternate UDP / TCP so both see the same machine; clients are @roamhq/wrtc (libwebrtc) peers in one",
  "Node process (`bench/wrtc_loadgen.mjs`); a TCP peer is given the answer without its UDP candidates, so ICE-TCP to",
  "the shared HTTP/UDP port is its only path. Medians [runs]. Latency is send → receive in the one client process.", "",
  "| metric | UDP | ICE-TCP | TCP / UDP |", "| --- | --- | --- | --- |"]
for mode, name, key, fmt in metrics:
    u, um = cell(mode, 'udp', key, fmt); t, tm = cell(mode, 'tcp', key, fmt)
    ratio = f"{tm/um:.2f}×" if um and tm is not None and um != 0 else ''
    lines.append(f"| {mode}: {name} | {u} | {t} | {ratio} |")
open(out, 'w').write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
