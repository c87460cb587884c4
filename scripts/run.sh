#!/usr/bin/env bash
# Builds and runs peerrtc-server with the examples: chat at http://HOST:PORT/, whiteboard at
# /whiteboard/, echo at /echo/. HTTP and UDP share the port number (default 8080).
#   HOST=0.0.0.0 PORT=9000 ./scripts/run.sh --public-ip 203.0.113.7
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what the server needs: its Debian packages (no browser, no test-only package, no npm) and
# its one target (the web assets are served from the source tree). scripts/test.sh does the rest.
./scripts/setup.sh server
# The compile flags of scripts/test.sh's build, so that a later test run reuses these objects.
BUILD_SET=server ./scripts/build.sh -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
exec ./build/apps/peerrtc-server --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}" "$@"
