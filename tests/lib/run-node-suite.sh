#!/usr/bin/env bash
# Shared tail of tests/*/run.sh: runs node's test runner over a suite with a global timeout.
#   run-node-suite.sh NAME TIMEOUT_S DEFAULT_TARGET [targets...]
# --kill-after: a browser or libwebrtc thread that ignores SIGTERM must not keep CI hanging.
# On success the node test runner's summary stays the last thing printed (CI reads it).
#
# A test file whose node process is killed by a signal (SIGSEGV, SIGABRT...) with no test of it
# failed is the @roamhq/wrtc add-on crashing (e.g. in its N-API finalizers as closed peers are
# collected, WonderInventions/node-webrtc#35), not an assertion: its backtrace is printed from
# the core dump (gdb, when the kernel writes cores to the working directory) and that file is
# run once more; a second crash, or any failed test, fails the suite.
set -uo pipefail
name=$1 timeout_s=$2 default=$3
shift 3
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("$default"); fi
start=$(date +%s)
ulimit -c unlimited 2>/dev/null || true
marker=$(mktemp "${TMPDIR:-/tmp}/peerrtc-$name-start-XXXXXX")

# Runs node's test runner; a second reporter (TAP, to $tap) keeps what spec does not print: the
# exit code or signal of a test file whose process died after its tests passed.
run() {
  timeout --kill-after=15 "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$tap" "$@"
}
report() {
  echo "$name: failed files and tests (TAP, with exit codes and signals):" >&2
  grep -E -A12 '^not ok' "$tap" | grep -E '^not ok|location:|failureType:|exitCode:|signal:|error:' >&2
}
# The files (top-level "not ok") that died by a signal, when that is every failure of the run.
crashed_only() {
  grep -qE '^\s+not ok' "$tap" && return 1  # a test failed: no retry
  local files
  files=$(awk '/^not ok/ {f = $0; sub(/^not ok [0-9]+ - /, "", f)} /^  signal: \047/ && f != "" {print f; f = ""}' "$tap")
  local failed
  failed=$(grep -cE '^not ok' "$tap")
  [[ -n "$files" && $(wc -l <<<"$files") -eq $failed ]] || return 1
  echo "$files"
}
backtraces() {
  local found=0 core
  while IFS= read -r core; do
    found=1
    echo "$name: core dump $core ($(du -h "$core" | cut -f1)):" >&2
    if command -v gdb >/dev/null; then
      gdb -batch -nx -ex 'bt 40' "$(command -v node)" "$core" 2>/dev/null | grep -E '^#' | head -40 >&2
    fi
    rm -f "$core"
  done < <(find . -maxdepth 1 -name 'core*' -type f -newer "$marker" 2>/dev/null)
  [[ $found -eq 1 ]] || echo "$name: no core dump in $(pwd) (core_pattern: $(cat /proc/sys/kernel/core_pattern 2>/dev/null))" >&2
}

tap=$(mktemp "${TMPDIR:-/tmp}/peerrtc-$name-XXXXXX.tap")
run "${targets[@]}"
rc=$?
if [[ $rc -ne 0 && $rc -ne 124 && $rc -ne 137 ]] && grep -q '^not ok' "$tap"; then
  report
  if crashed=$(crashed_only); then
    backtraces
    mapfile -t again <<<"$crashed"
    echo "$name: RETRYING once, the node process of ${again[*]} was killed by a signal with no test" \
      "failed (a pass of the retry passes the suite; the crash stays reported above)" >&2
    touch "$marker"
    run "${again[@]}"
    rc=$?
    if [[ $rc -ne 0 ]]; then
      grep -q '^not ok' "$tap" && report
      grep -qE "^  signal: '" "$tap" && backtraces
    fi
  fi
fi
# Cores of anything else the tests started (a crashed server, say): shown on failure, never left.
if [[ -n "$(find . -maxdepth 1 -name 'core*' -type f -newer "$marker" 2>/dev/null)" ]]; then
  [[ $rc -ne 0 ]] && backtraces
  find . -maxdepth 1 -name 'core*' -type f -newer "$marker" -delete 2>/dev/null
fi
rm -f "$tap" "$marker"
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "$name: FAILED: global timeout of ${timeout_s}s exceeded" >&2
elif [[ $rc -ne 0 ]]; then
  echo "$name: FAILED (exit $rc) after $(( $(date +%s) - start ))s" >&2
fi
exit $rc
