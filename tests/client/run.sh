#!/usr/bin/env bash
# Runs the JS client tests (clients/js/peerrtc-client.js on @roamhq/wrtc) against the real
# peerrtc-server, with node's test runner, one file (one server, <= ~20 wrtc peers) at a time.
# five-stacks.test.mjs also puts Chromium, Firefox, aiortc and pion in one room with a wrtc peer.
#
#   bash tests/client/run.sh                              # against build/apps/peerrtc-server
#   PEERRTC_SERVER=/path/to/bin bash tests/client/run.sh
#   bash tests/client/run.sh tests/client/sizes.test.mjs  # a subset
#
# Env: PEERRTC_CLIENT_TIMEOUT (seconds, default 600) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards server output to stderr; PEERRTC_CLIENT_DEBUG=1 turns on the
#      client's console.debug logging.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

bin="${PEERRTC_SERVER:-build/apps/peerrtc-server}"
echo "client tests: server = $bin"

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc" exec bash tests/lib/run-node-suite.sh "client tests" "${PEERRTC_CLIENT_TIMEOUT:-600}" tests/client/ "$@"
