#!/usr/bin/env bash
# Self-test of tests/lib/run-node-suite.sh (run by scripts/test.sh before the suites, ~15 s):
# temporary test files that fail and then crash, pass and then crash, or pass, must give the exit
# code, messages and counts the suites rely on. A red run must mean red: a test file whose
# process dies by a signal fails the suite even when a re-run of it passes.
#   bash tests/lib/selftest.sh
set -uo pipefail
runner="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run-node-suite.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/peerrtc-selftest-XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fails=0 checks=0
check() {  # description, then a command that must succeed
  local what=$1
  shift
  checks=$((checks + 1))
  if "$@"; then echo "selftest: ok: $what"; else echo "selftest: FAILED: $what" >&2; fails=$((fails + 1)); fi
}
# Runs the runner over one file: sets $rc and $out (stdout and stderr).
suite() {
  out=$(env -u PEERRTC_COUNTS_FILE PEERRTC_CORE_DUMPS=0 "$@" bash "$runner" selftest 60 "$dir/none" "$file" 2>&1)
  rc=$?
  printf '%s\n' "$out" | sed 's/^/    | /' >"$dir/last.log"
}
has() { grep -qF -- "$1" <<<"$out" || { echo "selftest: no '$1' in the output:" >&2; cat "$dir/last.log" >&2; false; }; }

# Every node process of the suites loads @roamhq/wrtc through tests/lib/wrtc.mjs, whose exit
# guard absorbs the add-on's crash at teardown where it happens (an explicit exit once the
# reporter has flushed), so that a crash after the results is never absorbed by re-running.
root="$(cd "$(dirname "$runner")/../.." && pwd)"
direct=$(grep -rlE "(require|import)\(['\"]@roamhq/wrtc['\"]\)|from ['\"]@roamhq/wrtc['\"]" "$root/tests" "$root/bench" \
  --include='*.mjs' --include='*.js' | grep -v -e '/tests/lib/wrtc\.mjs$' -e '/tests/fixtures/')
check "every node process loads @roamhq/wrtc through tests/lib/wrtc.mjs${direct:+ (not: $direct)}" [ -z "$direct" ]

# (a) A failed assertion, then SIGSEGV in the test's own `finally`, before node's runner has the
# result: all it sees is the signal. The suite must fail (the old runner re-ran the file, and a
# passing re-run passed the suite).
file=$dir/fail-then-crash.test.mjs
cat >"$file" <<'EOF'
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
const once = new URL('./fail-then-crash.ran', import.meta.url);
test('fails, then crashes in its finally', () => {
  const first = !existsSync(once);
  writeFileSync(once, '');
  try {
    assert.equal(first ? 1 : 2, 2, 'the deliberate assertion message');
  } finally {
    if (first) process.kill(process.pid, 'SIGSEGV');
  }
});
EOF
suite
check "(a) a failed test whose process then dies by SIGSEGV fails the suite, though its re-run passes" [ "$rc" -ne 0 ]
check "(a) the signal is named" has "signal: 'SIGSEGV'"
check "(a) the file is said to be killed by a signal" has "was killed by a signal"
check "(a) the final count shows the failure" has "== selftest: 0 passed, 1 failed, 0 skipped, 1 re-run"

# (a') A failed assertion, then SIGSEGV once the result is out (a later turn of the loop, as a
# wrtc finalizer would): the assertion message must be printed, and the suite fail.
file=$dir/fail-then-late-crash.test.mjs
cat >"$file" <<'EOF'
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
test('fails', () => { assert.equal(1, 2, 'the deliberate assertion message'); });
after(async () => { await new Promise(setImmediate); process.kill(process.pid, 'SIGSEGV'); });
EOF
suite PEERRTC_CRASH_RERUN=0
check "(a') a failed test, then a crash: the suite fails" [ "$rc" -ne 0 ]
check "(a') the assertion message is printed" has "the deliberate assertion message"

# (b) Every test passes, then the process dies by a signal (the first run only): fails the suite,
# unless PEERRTC_ABSORB_CRASHES=1 (which CI never sets) and the re-run passes.
file=$dir/pass-then-crash.test.mjs
cat >"$file" <<'EOF'
import test, { after } from 'node:test';
import { existsSync, writeFileSync } from 'node:fs';
const once = new URL('./pass-then-crash.ran', import.meta.url);
test('passes', () => {});
after(() => {
  if (existsSync(once)) return;
  writeFileSync(once, '');
  process.kill(process.pid, 'SIGSEGV');
});
EOF
suite
check "(b) a passing file whose process then dies by SIGSEGV fails the suite" [ "$rc" -ne 0 ]
check "(b) the final count shows the failure" has "1 failed"
rm -f "$dir/pass-then-crash.ran"
suite PEERRTC_ABSORB_CRASHES=1
check "(b) with PEERRTC_ABSORB_CRASHES=1 the passing re-run passes the suite" [ "$rc" -eq 0 ]

# (c) A clean pass, counted (and recorded for scripts/test.sh's table).
file=$dir/pass.test.mjs
cat >"$file" <<'EOF'
import test from 'node:test';
test('one', () => {});
test('two', () => {});
test('skipped', { skip: 'on purpose' }, () => {});
EOF
suite PEERRTC_COUNTS_FILE="$dir/counts"
check "(c) a clean pass exits 0" [ "$rc" -eq 0 ]
check "(c) the final count" has "== selftest: 2 passed, 0 failed, 1 skipped, 0 re-run"
check "(c) the counts file" grep -qxP 'selftest\t2\t0\t1\t0' "$dir/counts"

# (d) A plain failure: non-zero, the message shown, counted.
file=$dir/fail.test.mjs
cat >"$file" <<'EOF'
import test from 'node:test';
import assert from 'node:assert/strict';
test('passes', () => {});
test('fails', () => { assert.ok(false, 'the plain failure message'); });
EOF
suite
check "(d) a failed test fails the suite" [ "$rc" -ne 0 ]
check "(d) its message is printed" has "the plain failure message"
check "(d) the final count" has "== selftest: 1 passed, 1 failed, 0 skipped, 0 re-run"

if [[ $fails -ne 0 ]]; then
  echo "selftest: $fails of $checks checks of tests/lib/run-node-suite.sh FAILED" >&2
  [[ -n "${PEERRTC_COUNTS_FILE:-}" ]] && printf 'runner self-test\t%d\t%d\t0\t0\n' $((checks - fails)) "$fails" >>"$PEERRTC_COUNTS_FILE"
  exit 1
fi
[[ -n "${PEERRTC_COUNTS_FILE:-}" ]] && printf 'runner self-test\t%d\t0\t0\t0\n' "$checks" >>"$PEERRTC_COUNTS_FILE"
echo "selftest: $checks passed, 0 failed"
