#!/usr/bin/env bash
# Shared tail of tests/*/run.sh: runs node's test runner over a suite with a global timeout.
#   run-node-suite.sh NAME TIMEOUT_S DEFAULT_TARGET [targets...]
# --kill-after: a browser or libwebrtc thread that ignores SIGTERM must not keep CI hanging.
# Ends with `== NAME: N passed, N failed, N skipped, N re-run`; with PEERRTC_COUNTS_FILE set, also
# appends `NAME<TAB>passed<TAB>failed<TAB>skipped<TAB>re-run` to it (scripts/test.sh's table).
#
# A test file whose node process is killed by a signal (SIGSEGV, SIGABRT...) FAILS the suite,
# whatever its tests reported: node's runner loses the results a child had not yet written out
# when it died, so a test that failed and then crashed (say in a `finally` that closes wrtc
# peers) shows up as nothing but the signal. The crash's backtrace is printed from the core dump
# (gdb, when the kernel writes cores to the working directory) and, for diagnosis, the file is
# run once more (PEERRTC_CRASH_RERUN=0: not), which may show the assertion the crash hid. The
# exit stays non-zero. Only PEERRTC_ABSORB_CRASHES=1, which CI never sets, lets a passing re-run
# pass the suite (for local runs against a known add-on crash). The @roamhq/wrtc add-on's crash
# at teardown is absorbed where it happens instead: tests/lib/wrtc.mjs exits explicitly once the
# reporter has flushed. tests/lib/selftest.sh checks this script against crashing test files.
set -uo pipefail
name=$1 timeout_s=$2 default=$3
shift 3
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("$default"); fi
start=$(date +%s)
# What the suite needs before it can run (set by the suite's run.sh): PEERRTC_SUITE_NEEDS, words
# `npm:PACKAGE` (under node_modules/), `cmd:COMMAND` (on PATH) and `root` (ip netns, iptables). A missing one exits 2 with the
# fix, before any test runs.
for need in ${PEERRTC_SUITE_NEEDS:-}; do
  case "$need" in
    npm:*) [[ -d "node_modules/${need#npm:}" ]] ||
      { echo "$name: node_modules/${need#npm:} missing; run 'npm ci' in $PWD (scripts/setup.sh does)" >&2; exit 2; } ;;
    cmd:*) command -v "${need#cmd:}" >/dev/null ||
      { echo "$name: ${need#cmd:} missing (scripts/setup.sh installs it)" >&2; exit 2; } ;;
    root) [[ "$(id -u)" -eq 0 ]] || { echo "$name: need root for ip netns / iptables" >&2; exit 2; } ;;
    *) echo "$name: bad PEERRTC_SUITE_NEEDS word '$need'" >&2; exit 2 ;;
  esac
done
[[ "${PEERRTC_CORE_DUMPS:-1}" == "0" ]] || ulimit -c unlimited 2>/dev/null || true
marker=$(mktemp "${TMPDIR:-/tmp}/peerrtc-start-XXXXXX")
tap=$(mktemp "${TMPDIR:-/tmp}/peerrtc-XXXXXX.tap")
rerun_tap=$(mktemp "${TMPDIR:-/tmp}/peerrtc-rerun-XXXXXX.tap")
trap 'rm -f "$tap" "$rerun_tap" "$marker"' EXIT

# Runs node's test runner; a second reporter (TAP, to $1) keeps what spec does not print: the
# exit code or signal of a test file whose process died, and the counts.
run() {
  local out=$1
  shift
  timeout --kill-after=15 "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$out" "$@"
}
report() {  # tap-file
  echo "$name: failed files and tests (TAP, with exit codes and signals):" >&2
  grep -E -A12 '^ *not ok' "$1" | grep -E 'not ok|location:|failureType:|exitCode:|signal:|error:' >&2
}
# The test files (top-level "not ok" entries) whose process died by a signal.
crashed_files() {  # tap-file
  awk '/^not ok/ {f = $0; sub(/^not ok [0-9]+ - /, "", f)} /^  signal: \047/ && f != "" {print f; f = ""}' "$1"
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
# A count from the summary of a TAP file (`# pass 12`). Without a summary (the run was killed at
# the global timeout): the top-level `ok` / `not ok` lines for pass / fail, else 0.
count() {  # tap-file key
  local n
  n=$(sed -n "s/^# $2 \([0-9]*\)\$/\1/p" "$1" | tail -1)
  if [[ -z "$n" ]] && ! grep -q '^# tests ' "$1"; then
    case $2 in
      pass) n=$(grep -cE '^ok [0-9]+ ' "$1") ;;
      fail) n=$(grep -cE '^not ok [0-9]+ ' "$1") ;;
    esac
  fi
  echo "${n:-0}"
}

run "$tap" "${targets[@]}"
rc=$?
reruns=0
if [[ $rc -ne 0 ]] && grep -qE '^ *not ok' "$tap"; then
  report "$tap"
  mapfile -t crashed < <(crashed_files "$tap")
  if [[ ${#crashed[@]} -gt 0 ]]; then
    backtraces
    echo "$name: FAILED: the node process of ${crashed[*]} was killed by a signal; results its tests" \
      "had not yet written out are lost (a failed assertion may be among them)" >&2
    if [[ "${PEERRTC_CRASH_RERUN:-1}" != "0" ]]; then
      echo "$name: running ${crashed[*]} once more for diagnosis (the suite stays failed)" >&2
      touch "$marker"
      reruns=${#crashed[@]}
      run "$rerun_tap" "${crashed[@]}"
      rerun_rc=$?
      if [[ $rerun_rc -ne 0 ]]; then
        echo "$name: the diagnosis run failed too (exit $rerun_rc)" >&2
        grep -qE '^ *not ok' "$rerun_tap" && report "$rerun_tap"
        [[ -n "$(crashed_files "$rerun_tap")" ]] && backtraces
      else
        echo "$name: the diagnosis run passed: the crash is not deterministic" >&2
        # PEERRTC_ABSORB_CRASHES=1: the crash was every failure of the first run, and the re-run passed.
        if [[ "${PEERRTC_ABSORB_CRASHES:-0}" == "1" && $(grep -cE '^ *not ok' "$tap") -eq ${#crashed[@]} ]]; then
          echo "$name: PEERRTC_ABSORB_CRASHES=1: the passing re-run passes the suite (CI never sets it)" >&2
          rc=0
        fi
      fi
    fi
  fi
fi
# Cores of anything else the tests started (a crashed server, say): shown on failure, never left.
if [[ -n "$(find . -maxdepth 1 -name 'core*' -type f -newer "$marker" 2>/dev/null)" ]]; then
  [[ $rc -ne 0 ]] && backtraces
  find . -maxdepth 1 -name 'core*' -type f -newer "$marker" -delete 2>/dev/null
fi

passed=$(count "$tap" pass)
failed=$(( $(count "$tap" fail) + $(count "$tap" cancelled) ))
skipped=$(( $(count "$tap" skipped) + $(count "$tap" todo) ))
if [[ $rc -eq 0 ]]; then
  # An absorbed crash (PEERRTC_ABSORB_CRASHES=1): the re-run's counts replace the crashed files'.
  [[ $reruns -gt 0 ]] && { passed=$(( passed + $(count "$rerun_tap" pass) )); failed=0; }
else
  [[ $failed -gt 0 ]] || failed=1  # a timeout, or an exit with no summary: still a failure
fi
if [[ -n "${PEERRTC_COUNTS_FILE:-}" ]]; then  # scripts/test.sh; node_suites() sets the label
  printf '%s\t%d\t%d\t%d\t%d\n' "${PEERRTC_SUITE_LABEL:-}$name" "$passed" "$failed" "$skipped" "$reruns" >>"$PEERRTC_COUNTS_FILE"
fi
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "$name: FAILED: global timeout of ${timeout_s}s exceeded" >&2
elif [[ $rc -ne 0 ]]; then
  echo "$name: FAILED (exit $rc) after $(( $(date +%s) - start ))s" >&2
fi
echo "== $name: $passed passed, $failed failed, $skipped skipped, $reruns re-run"
exit $rc
