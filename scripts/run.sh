#!/usr/bin/env bash
# Builds and runs peerrtc-server with the examples: chat at http://HOST:PORT/, whiteboard at
# /whiteboard/, echo at /echo/. HTTP and UDP share the port number (default 8080).
#   HOST=0.0.0.0 PORT=9000 ./scripts/run.sh --public-ip 203.0.113.7
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
exec ./build/apps/peerrtc-server --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}" "$@"
