#!/usr/bin/env bash
# Runs the PeerRTC interop suite (wrtc, Chromium, Firefox, aiortc, pion, the C++ client, bad
# offers) with node's test runner.
#
#   bash tests/interop/run.sh                        # against build/apps/peerrtc-testserver
#   PEERRTC_REFERENCE=1 bash tests/interop/run.sh    # against tests/interop/reference-server.mjs
#   PEERRTC_TESTSERVER=/path/to/bin bash tests/interop/run.sh
#   bash tests/interop/run.sh tests/interop/firefox.test.mjs   # a subset
#
# Env: PEERRTC_INTEROP_TIMEOUT (seconds, default 600) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards server output and per-step logs to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"


if [[ "${PEERRTC_REFERENCE:-}" == "1" ]]; then
  echo "interop: server = reference (tests/interop/reference-server.mjs)"
else
  bin="${PEERRTC_TESTSERVER:-build/apps/peerrtc-testserver}"
  echo "interop: server = $bin"
fi

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc npm:playwright-core npm:puppeteer-core" exec bash tests/lib/run-node-suite.sh "interop" "${PEERRTC_INTEROP_TIMEOUT:-600}" tests/interop/ "$@"
