#!/usr/bin/env bash
# Long tests: minutes of mostly waiting (issue 19's "past the window" at full scale: a 150-s
# network cut with --resume-window 60). scripts/test.sh starts this suite in the background right
# after the build, beside the other stages, and collects it after the release node suites, so its
# wall time hides behind theirs. Needs root (network namespaces, as tests/network).
#
#   bash tests/long/run.sh                     # against build/apps/*
#   bash tests/long/run.sh tests/long/<file>   # one file
#
# Env: PEERRTC_LONG_TIMEOUT (seconds, default 420) bounds the whole run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

PEERRTC_SUITE_NEEDS="root npm:@roamhq/wrtc" exec bash tests/lib/run-node-suite.sh "long tests" "${PEERRTC_LONG_TIMEOUT:-420}" tests/long/ "$@"
