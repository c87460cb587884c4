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

if [[ ! -d node_modules/@roamhq/wrtc ]]; then
  echo "server tests: node_modules incomplete; run 'npm install' (or 'npm ci') in $root" >&2
  exit 2
fi
echo "server tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}, quickstart = ${PEERRTC_QUICKSTART:-build/examples/quickstart-httplib}"

timeout_s="${PEERRTC_SERVER_TIMEOUT:-300}"
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=(tests/server/); fi

start=$(date +%s)
# --kill-after: a wrtc thread that ignores SIGTERM must not keep CI hanging.
timeout --kill-after=15 "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec "${targets[@]}"
rc=$?
end=$(date +%s)
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "server tests: FAILED: global timeout of ${timeout_s}s exceeded" >&2
elif [[ $rc -ne 0 ]]; then
  echo "server tests: FAILED (exit $rc) after $((end - start))s" >&2
fi
exit $rc
