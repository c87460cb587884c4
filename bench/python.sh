#!/usr/bin/env bash
# The seed's Flask quick start on peerpyrtc (this engine) against the aiortc reference relay
# (bench/aiortc_relay.py: aiortc is the engine PeerPyRTC uses), with the same libwebrtc load
# (bench/wrtc_loadgen.mjs, chat mode): server CPU per delivery, deliveries, latency.
#   bench/python.sh [peers=4] [rate=50] [duration=5] [size=100]   -> a markdown table on stdout
# Needs a build with the Python module (./scripts/build.sh) and Debian's python3-aiortc.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${1:-4} RATE=${2:-50} DURATION=${3:-5} SIZE=${4:-100}
export PYTHONPATH="$PWD/build/python"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

port_of() {  # waits for READY in $1 (bounded), prints the http port
  for _ in $(seq 200); do
    grep -q '^READY' "$1" && { sed -n 's/^READY {"http": *\([0-9]*\).*/\1/p' "$1" | head -1; return; }
    sleep 0.05
  done
  echo "no READY in $1:" >&2; cat "$1" >&2; return 1
}

run() {  # name command...
  local name=$1; shift
  : > "$tmp/$name.out"
  "$@" --port 0 > "$tmp/$name.out" 2>&1 &
  pid=$!
  local port; port=$(port_of "$tmp/$name.out")
  local res; res=$(node bench/wrtc_loadgen.mjs --http-port "$port" --server-pid "$pid" --peers "$PEERS" --rate "$RATE" \
    --size "$SIZE" --duration "$DURATION" --room "bench-${name//[^A-Za-z0-9_.-]/-}")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo "$res" > "$tmp/$name.json"
  /usr/bin/python3 - "$name" "$tmp/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
print(f"| {sys.argv[1]} | {r['delivered']}/{r['expected']} | {r['server_cpu_us_per_delivery']:.1f} | {r['lat_p50_ms']:.2f} | {r['lat_p99_ms']:.2f} | {r['join_ms_max']:.0f} |")
PY
}

echo "chat: $PEERS wrtc peers in one room, each sending $RATE msg/s of $SIZE bytes for $DURATION s (loopback; $(nproc) cores)"
echo
echo "| server | delivered | server CPU µs / delivery | p50 ms | p99 ms | slowest join ms |"
echo "| --- | --- | --- | --- | --- | --- |"
run peerpyrtc-quickstart /usr/bin/python3 bench/peerpyrtc_quickstart.py
run peerpyrtc-quickstart+handler /usr/bin/python3 bench/peerpyrtc_quickstart.py --handler
run aiortc-relay /usr/bin/python3 bench/aiortc_relay.py --host 127.0.0.1
