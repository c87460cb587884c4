#!/usr/bin/env bash
# Runs the peerrtc-server and quickstart-httplib tests (node:test, real @roamhq/wrtc peers).
#
#   bash tests/server/run.sh                                  # build/apps/peerrtc-server, build/examples/quickstart-httplib
#   PEERRTC_SERVER=/path/to/peerrtc-server PEERRTC_QUICKSTART=/path/to/quickstart-httplib bash tests/server/run.sh
#   bash tests/server/run.sh tests/server/http.test.mjs       # a subset
#
# Env: PEERRTC_SERVER_TIMEOUT (seconds, default 300) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards the servers' output to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

echo "server tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}, quickstart = ${PEERRTC_QUICKSTART:-build/examples/quickstart-httplib}"

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc" exec bash tests/lib/run-node-suite.sh "server tests" "${PEERRTC_SERVER_TIMEOUT:-300}" tests/server/ "$@"
