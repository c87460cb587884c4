#!/usr/bin/env bash
# Runs the cluster suite (node:test): peerrtc-server nodes on a real redis-server that each test
# file starts on a free port and kills, real @roamhq/wrtc peers and JS clients.
#
#   bash tests/cluster/run.sh                                  # build/apps/peerrtc-server
#   PEERRTC_SERVER=/path/to/peerrtc-server bash tests/cluster/run.sh
#   bash tests/cluster/run.sh tests/cluster/cluster.test.mjs   # a subset
#
# Env: PEERRTC_CLUSTER_TIMEOUT (seconds, default 240) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards the servers' output to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if [[ ! -d node_modules/@roamhq/wrtc ]]; then
  echo "cluster tests: node_modules incomplete; run 'npm install' (or 'npm ci') in $root" >&2
  exit 2
fi
if ! command -v redis-server >/dev/null; then
  echo "cluster tests: redis-server missing (apt-get install redis-server, or scripts/setup.sh)" >&2
  exit 2
fi
echo "cluster tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}, $(redis-server --version | cut -d' ' -f1-3)"

exec bash tests/lib/run-node-suite.sh "cluster tests" "${PEERRTC_CLUSTER_TIMEOUT:-240}" tests/cluster/ "$@"
