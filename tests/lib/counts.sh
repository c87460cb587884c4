# Sourced by scripts/test.sh (which sets `start`, the time it began): stage(), counted() and the
# table of counts plus the closing line CI reads, printed on exit whatever the exit status.
#
# The counts: node suites append `name<TAB>passed<TAB>failed<TAB>skipped<TAB>re-run` rows to
# $PEERRTC_COUNTS_FILE themselves (tests/lib/run-node-suite.sh), counted() parses the summaries
# of ctest, pytest and the fuzzers, and a stage that records no row counts as one test: passed
# when the script went past it, failed when it stopped there. `stage NAME -`: not a test (build).
counts=$(mktemp "${TMPDIR:-/tmp}/peerrtc-counts-XXXXXX")
export PEERRTC_COUNTS_FILE="$counts"
stage() { echo; echo "== $1  [$(( $(date +%s) - start )) s]"; printf '#stage\t%s\t%s\n' "$1" "${2:-}" >>"$counts"; }
count_row() { printf '%s\t%d\t%d\t%d\t%d\n' "$@" >>"$counts"; }  # name passed failed skipped re-run
counted() {  # ctest|pytest|fuzz NAME command...: runs it (stdout also to a log), records its counts
  local kind=$1 name=$2 log rc=0 p=0 f=0 s=0 line
  shift 2
  log=$(mktemp "${TMPDIR:-/tmp}/peerrtc-stage-XXXXXX")
  "$@" | tee "$log" || rc=$?
  case "$kind" in
    ctest)
      line=$(sed -n 's/.*tests passed, \([0-9]*\) tests* failed out of \([0-9]*\).*/\1 \2/p' "$log" | tail -1)
      if [[ -n "$line" ]]; then
        s=$(grep -cE '^ *[0-9]+ - .*\((Skipped|Disabled)\)' "$log" || true)
        f=${line% *}; p=$(( ${line#* } - f - s ))
      fi ;;
    pytest)
      line=$(grep -E '[0-9]+ (passed|failed|errors?)' "$log" | tail -1 || true)
      for k in passed failed error errors skipped xfailed xpassed; do
        local n
        n=$(grep -oE "[0-9]+ $k\b" <<<"$line" | cut -d' ' -f1 || true)
        [[ -n "$n" ]] || continue
        case $k in passed|xpassed) p=$((p + n)) ;; failed|error|errors) f=$((f + n)) ;; *) s=$((s + n)) ;; esac
      done ;;
    fuzz)
      p=$(grep -cE '^fuzz: [a-z0-9_]+ ok \(' "$log" || true)
      f=$(grep -cE '^fuzz: [a-z0-9_]+ FAILED' "$log" || true) ;;
  esac
  rm -f "$log"
  [[ $rc -eq 0 || $f -gt 0 ]] || f=1
  count_row "$name" "$p" "$f" "$s" 0
  return $rc
}
summary() {
  local rc=$?
  trap - EXIT
  local table failed
  table=$(awk -F'\t' -v rc="$rc" '
    function close_stage(failed_here) {
      if (stage != "" && !rows && (failed_here || counted)) add(stage, !failed_here, failed_here, 0, 0)
    }
    function add(n, p, f, s, r) { name[++k] = n; P[k] = p; F[k] = f; S[k] = s; R[k] = r; tp += p; tf += f; ts += s; tr += r }
    $1 == "#stage" { close_stage(0); stage = $2; counted = ($3 != "-"); rows = 0; next }
    { add($1, $2, $3, $4, $5); rows++ }
    END {
      close_stage(rc != 0)
      if (rc != 0 && tf == 0) add("(exit status " rc ")", 0, 1, 0, 0)
      printf "%-44s %7s %7s %7s %7s\n", "suite", "passed", "failed", "skipped", "re-run"
      for (i = 1; i <= k; i++) printf "%-44s %7d %7d %7d %7d\n", substr(name[i], 1, 44), P[i], F[i], S[i], R[i]
      printf "%-44s %7d %7d %7d %7d\n", "total", tp, tf, ts, tr
      printf "tests: %d passed, %d failed, %d skipped\n", tp, tf, ts
    }' "$counts")
  rm -f "$counts"
  # A failure counted by a stage that exited 0 still fails the run.
  failed=$(sed -n '$s/^tests: [0-9]* passed, \([0-9]*\) failed.*/\1/p' <<<"$table")
  [[ $rc -ne 0 || "${failed:-1}" == 0 ]] || rc=1
  echo
  if [[ $rc -eq 0 ]]; then echo "== all tests passed in $(( $(date +%s) - start )) s"
  else echo "== FAILED (exit $rc) after $(( $(date +%s) - start )) s"; fi
  echo "$table"
  exit "$rc"
}
trap summary EXIT
