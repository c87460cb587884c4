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
# A second reporter (TAP, to a file) keeps what spec does not print: the exit code or signal of
# a test file whose process died after its tests passed (e.g. a native add-on crashing at exit).
tap=$(mktemp "${TMPDIR:-/tmp}/peerrtc-$name-XXXXXX.tap")
timeout --kill-after=15 "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec \
  --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$tap" "${targets[@]}"
rc=$?
if [[ $rc -ne 0 ]] && grep -q '^not ok' "$tap"; then
  echo "$name: failed files and tests (TAP, with exit codes and signals):" >&2
  grep -E -A12 '^not ok' "$tap" | grep -E '^not ok|location:|failureType:|exitCode:|signal:|error:' >&2
fi
rm -f "$tap"
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "$name: FAILED: global timeout of ${timeout_s}s exceeded" >&2
elif [[ $rc -ne 0 ]]; then
  echo "$name: FAILED (exit $rc) after $(( $(date +%s) - start ))s" >&2
fi
exit $rc
