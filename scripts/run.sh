#!/usr/bin/env bash
# Builds and runs the server. Until the product server lands this is the engine's test server
# (echo + control channel) on HTTP/UDP port ${PORT:-8080}.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
PORT=${PORT:-8080}
exec ./build/apps/peerrtc-testserver --host "${HOST:-127.0.0.1}" --http-port "$PORT" --udp-port "$PORT" "$@"
