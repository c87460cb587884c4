#!/usr/bin/env bash
# Shared tail of tests/*/run.sh: runs node's test runner over a suite with a global timeout.
#   run-node-suite.sh NAME TIMEOUT_S DEFAULT_TARGET [targets...]
# --kill-after: a browser or libwebrtc thread that ignores SIGTERM must not keep CI hanging.
# On success the node test runner's summary stays the last thing printed (CI reads it).
set -uo pipefail
name=$1 timeout_s=$2 default=$3
shift 3
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("$default"); fi
start=$(date +%s)
timeout --kill-after=15 "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec "${targets[@]}"
rc=$?
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "$name: FAILED: global timeout of ${timeout_s}s exceeded" >&2
elif [[ $rc -ne 0 ]]; then
  echo "$name: FAILED (exit $rc) after $(( $(date +%s) - start ))s" >&2
fi
exit $rc
