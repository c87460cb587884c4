#!/usr/bin/env bash
# libwebrtc clients (bench/wrtc_loadgen.mjs over K Node processes) against several servers side
# by side: for each run, each rate, each server in turn (interleaved, so all see the same machine),
# a fresh server process, 8 wrtc peers in one room sending 100-B messages for 5 s. One JSON line
# per run in $OUT (default build-bench/bench-out/wrtc-ab.jsonl), then a table of medians.
#
#   bench/wrtc_ab.sh [--runs 3] [--rates "600 200"] [--procs 4] [--servers "peerrtc pion"]
#
# Servers: peerrtc (build-bench/apps/peerrtc-server, or $PEERRTC_SERVER), peerrtc-wN (the same
# with --bundle-wait-us N), peerrtc-b (another build, $PEERRTC_SERVER_B: two commits side by side), peerrtc-pre (the same
# with LD_PRELOAD=$PEERRTC_PRELOAD, e.g. another malloc), peerrtc-v2 (the same server, its clients
# on protocol v2: seqs, acks, the resume buffer; docs/protocol.md "v2"), pion (build-bench/pion-relay, or $PION_RELAY; bench/setup.sh builds both).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BENCH_BUILD:-$ROOT/build-bench}"
OUT="${OUT:-$BUILD/bench-out/wrtc-ab.jsonl}"
SERVER_BIN="${PEERRTC_SERVER:-$BUILD/apps/peerrtc-server}"
PION="${PION_RELAY:-$BUILD/pion-relay}"
PORT="${BENCH_PORT:-18430}"
RUNS=3 RATES="600 200" PROCS=4 SERVERS="peerrtc pion"
while (($#)); do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --rates) RATES="$2"; shift ;;
    --procs) PROCS="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    *) echo "usage: $0 [--runs N] [--rates LIST] [--procs K] [--servers LIST]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
srv_out="$(dirname "$OUT")/wrtc-ab-server.out"
PID=""
stop() { [[ -n "$PID" ]] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; PID=""; }
trap stop EXIT
for run in $(seq "$RUNS"); do
  for rate in $RATES; do
    for s in $SERVERS; do
      case "$s" in
        peerrtc|peerrtc-w*|peerrtc-b|peerrtc-pre|peerrtc-v2)
          extra=(); [[ "$s" == peerrtc-w* ]] && extra=(--bundle-wait-us "${s#peerrtc-w}")
          bin="$SERVER_BIN"; [[ "$s" == peerrtc-b ]] && bin="${PEERRTC_SERVER_B:?peerrtc-b needs PEERRTC_SERVER_B}"
          pre=""; [[ "$s" == peerrtc-pre ]] && pre="${PEERRTC_PRELOAD:?peerrtc-pre needs PEERRTC_PRELOAD}"
          LD_PRELOAD="$pre" "$bin" --host 127.0.0.1 --port "$PORT" --no-examples --log-level warn --max-peers-per-room 2000 \
            --peer-message-rate 0 --peer-byte-rate 0 "${extra[@]}" >"$srv_out" 2>&1 & ;;
        pion) "$PION" --host 127.0.0.1 --port "$PORT" >"$srv_out" 2>&1 & ;;
        *) echo "unknown server $s" >&2; exit 2 ;;
      esac
      PID=$!
      for _ in $(seq 200); do grep -q '^READY' "$srv_out" 2>/dev/null && break; sleep 0.05; done
      proto=1; [[ "$s" == peerrtc-v2 ]] && proto=2
      line=$(timeout 120 node "$ROOT/bench/wrtc_loadgen.mjs" --http-port "$PORT" --server-pid "$PID" --peers 8 \
               --procs "$PROCS" --rate "$rate" --duration 5 --protocol "$proto" 2>/dev/null | grep '^{' | tail -1 || true)
      [[ -n "$line" ]] || line='{"error":"loadgen failed"}'
      echo "{\"server\":\"$s\",\"rate\":$rate,\"run\":$run,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"r\":$line}" >>"$OUT"
      stop
      sleep 0.5
    done
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
d = defaultdict(list)
for r in rows:
    d[(r["rate"], r["server"])].append(r["r"])
F = [("server_cpu_us_per_delivery", "server CPU us/delivery"), ("lat_p50_ms", "p50 ms"), ("lat_p99_ms", "p99 ms"),
     ("client_datagrams_per_delivery", "UDP datagrams/delivery (both ways)"), ("delivered_fraction", "delivered"),
     ("client_cpu_pct", "clients CPU %"), ("machine_busy_pct", "machine busy %")]
for (rate, server), v in sorted(d.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
    ok = [x for x in v if "error" not in x]
    cells = []
    for f, name in F:
        vals = [x[f] for x in ok if isinstance(x.get(f), (int, float))]
        cells.append(f"{name} {st.median(vals):.3g} [{', '.join(f'{a:.3g}' for a in vals)}]" if vals else f"{name} -")
    bn = sum(1 for x in ok if x.get("clients_bottleneck"))
    print(f"{rate} msg/s {server}: " + "; ".join(cells) + f"; clients the bottleneck in {bn}/{len(ok)} runs; {len(v) - len(ok)} failed")
PY
