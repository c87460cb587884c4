#!/usr/bin/env bash
# Runs the chaos suite (node:test): peerrtc-server nodes on a real redis-server under faults —
# a holder paused past its lease, a node paused under cross-node calls, Redis paused, a node cut
# off from Redis (a network namespace and iptables: needs root), Sentinel failovers
# (redis-server --sentinel), forged and replayed forwarding headers, forged fencing tokens,
# retried API calls — with real @roamhq/wrtc peers that send
# sequence-numbered messages, and a checker (tests/chaos/lib.mjs).
#
#   bash tests/chaos/run.sh                                 # build/apps/peerrtc-server
#   bash tests/chaos/run.sh tests/chaos/lease.test.mjs      # a subset
#   bash tests/chaos/tsan/run.sh                            # by hand: the Redis client's Sentinel paths under TSan
#
# Env: PEERRTC_CHAOS_TIMEOUT (seconds, default 300) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards the servers' output to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

echo "chaos tests: server = ${PEERRTC_SERVER:-build/apps/peerrtc-server}, $(redis-server --version | cut -d' ' -f1-3)"

PEERRTC_SUITE_NEEDS="npm:@roamhq/wrtc cmd:redis-server" exec bash tests/lib/run-node-suite.sh "chaos tests" "${PEERRTC_CHAOS_TIMEOUT:-300}" tests/chaos/ "$@"
