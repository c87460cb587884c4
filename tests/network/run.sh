#!/usr/bin/env bash
# Runs the network suite: peers whose network drops UDP (ICE-TCP) or allows only a TURN relay,
# built from real network namespaces (ip netns, veth, iptables) and a real coturn, which the
# tests create and remove themselves. Needs root (CI and the dev machines run as root).
#
#   bash tests/network/run.sh                               # against build/apps/*
#   bash tests/network/run.sh tests/network/<file>.test.mjs # a subset
#
# Env: PEERRTC_NETWORK_TIMEOUT (seconds, default 600) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards server output to stderr.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

PEERRTC_SUITE_NEEDS="root npm:@roamhq/wrtc npm:playwright-core" exec bash tests/lib/run-node-suite.sh "network tests" "${PEERRTC_NETWORK_TIMEOUT:-600}" tests/network/ "$@"
