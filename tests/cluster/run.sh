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

echo "cluster tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}, $(redis-server --version | cut -d' ' -f1-3)"

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc cmd:redis-server" exec bash tests/lib/run-node-suite.sh "cluster tests" "${PEERRTC_CLUSTER_TIMEOUT:-240}" tests/cluster/ "$@"
