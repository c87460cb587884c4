#!/usr/bin/env bash
# Runs the fault tests (node:test): killed peers, join/leave churn, offer floods, rate limits,
# slow receivers, wire garbage. They drive build/apps/peerrtc-server with @roamhq/wrtc peers,
# the JS client and the native probe (apps/probe.cpp).
#
#   bash tests/fault/run.sh                               # every test
#   bash tests/fault/run.sh tests/fault/churn.test.mjs    # a subset
#   PEERRTC_SERVER=/path/to/peerrtc-server PEERRTC_PROBE=/path/to/peerrtc-probe bash tests/fault/run.sh
#
# Env: PEERRTC_FAULT_TIMEOUT (seconds, default 180) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards the server's and probes' output to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

echo "fault tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}, probe = ${PEERRTC_PROBE:-build/apps/peerrtc-probe}"

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc" exec bash tests/lib/run-node-suite.sh "fault tests" "${PEERRTC_FAULT_TIMEOUT:-180}" tests/fault/ "$@"
