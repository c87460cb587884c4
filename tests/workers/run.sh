#!/usr/bin/env bash
# Runs the `peerrtc-server --workers N` tests (node:test, a real redis-server started by the
# tests on a free port, real @roamhq/wrtc peers).
#
#   bash tests/workers/run.sh                              # build/apps/peerrtc-server
#   PEERRTC_SERVER=/path/to/peerrtc-server bash tests/workers/run.sh
#   bash tests/workers/run.sh tests/workers/supervisor.test.mjs
#
# Env: PEERRTC_WORKERS_TIMEOUT (seconds, default 180) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards the servers' output to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

echo "workers tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}"

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc cmd:redis-server" exec bash tests/lib/run-node-suite.sh "workers tests" "${PEERRTC_WORKERS_TIMEOUT:-180}" tests/workers/ "$@"
