#!/usr/bin/env bash
# The whole test suite: set-up, build, then
#   1. C++ unit + in-process end-to-end tests (ctest)
#   2. libFuzzer targets, briefly, replaying tests/fuzz/ regression inputs
#   3. engine interop: @roamhq/wrtc, headless Chromium, headless Firefox ESR, aiortc, pion and
#      the C++ client against the test server; the C++ client against aiortc and pion relays
#   4. peerrtc-server over HTTP (bad input, limits, signals) and the cpp-httplib quick start
#   5. the JS client against the server with real libwebrtc peers; five stacks in one room
#   6. the examples in headless Chromium (chat, whiteboard, echo, reconnect, terminal chat)
#   7. faults and abuse: killed peers, churn, offer floods, rate limits, slow receivers, garbage
#   7b. networks: clients in network namespaces with UDP dropped (ICE-TCP) or relay-only through
#      a real coturn (TURN), next to ordinary UDP peers; then the cluster: peerrtc-server
#      nodes on a real redis-server (forwarding, SIGKILL failover, Redis restarted under load)
#   7b''. chaos: the cluster under faults on a real redis-server (a holder paused past its lease,
#      a node paused under cross-node calls, Redis paused, a Sentinel failover, forged forwarding
#      headers and fencing tokens, retried API calls), with sequence-numbered messages and a checker
#   7b'. peerrtc-server --workers 2 on a real redis-server: supervisor, shared port, restarts,
#      rooms on both workers, a killed worker survived
#   7b'''. long tests (tests/long: a 150-s network cut past the resume window), started in the
#      background right after the build and collected here: no wall time of their own
#   7c. the Python module peerpyrtc (pytest, Debian's /usr/bin/python3): the Flask example with
#      real wrtc peers, handlers, filter, participants, errors, interpreter exit
#   7d. the installed C++ package: cmake --install into a temporary prefix, then the
#      quick start built out of tree against find_package(peerrtc) and pkg-config
#   7e. the packages: cpack -G DEB (peerrtc-server, libpeerrtc-dev, python3-peerpyrtc): contents,
#      the systemd unit, the config file, the extracted server serving Chromium, the quick start
#      against the extracted libpeerrtc-dev; the npm package of the JS client (tsc --strict,
#      esbuild, the bundle in Chromium); run.sh's package list stays lean
#   8. the same code built with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/):
#      ctest, engine interop, server, client and cluster suites again. (The browser and fault suites
#      assert RSS and timing, which ASan's shadow memory and quarantine distort; they run on
#      the release build only.) PEERRTC_SKIP_SANITIZE=1 skips this stage locally.
# Exits non-zero on the first failing stage. Before the suites, tests/lib/selftest.sh checks that
# the node suites' runner turns a failed or crashed test file red.
# Ends with a table of the counts per suite (passed, failed, skipped, re-run) and one line in the
# form CI reads: `tests: N passed, N failed, N skipped` (failed > 0 whenever the exit is non-zero).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# stage NAME [-]: a heading; the counts per suite and the closing line (tests/lib/counts.sh).
source tests/lib/counts.sh

./scripts/setup.sh
stage "test runner self-test (tests/lib/selftest.sh)"
bash tests/lib/selftest.sh

stage "build" -
# -g1 (line tables: backtraces and sanitizer reports keep file:line) compiles ~25% faster
# than -g; the optimisation level is the release one.
./scripts/build.sh -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

# tests/long (minutes of waiting on timers) runs in the background from here, beside the stages
# below, with its own counts file; collected after the release node suites. Bounded by its
# runner's global timeout (tests/long/run.sh), so it ends by itself if this script stops first.
long_counts=$(mktemp "${TMPDIR:-/tmp}/peerrtc-long-counts-XXXXXX")
long_log=$(mktemp "${TMPDIR:-/tmp}/peerrtc-long-XXXXXX")
PEERRTC_SERVER="$PWD/build/apps/peerrtc-server" PEERRTC_COUNTS_FILE="$long_counts" \
  bash tests/long/run.sh >"$long_log" 2>&1 </dev/null &
long_pid=$!

# The node suites, on the binaries of one build directory; `label` prefixes the stage names.
node_suites() {  # label build-dir suite...
  local label="$1" dir="$PWD/$2" s
  shift 2
  local -x PEERRTC_SUITE_LABEL="$label"  # prefixes the suites' rows in the counts (tests/lib/counts.sh)
  export PEERRTC_TESTSERVER="$dir/apps/peerrtc-testserver" PEERRTC_TESTCLIENT="$dir/apps/peerrtc-testclient"
  export PEERRTC_SERVER="$dir/apps/peerrtc-server" PEERRTC_PROBE="$dir/apps/peerrtc-probe"
  export PEERRTC_QUICKSTART="$dir/examples/quickstart-httplib"
  for s in "$@"; do
    case "$s" in
      interop) stage "${label}engine interop (wrtc, Chromium, Firefox, aiortc, pion, C++ client)" ;;
      server) stage "${label}peerrtc-server over HTTP" ;;
      client) stage "${label}JS client against the server (wrtc; five stacks in one room)" ;;
      browser) stage "${label}examples in Chromium" ;;
      fault) stage "${label}faults and abuse" ;;
      network) stage "${label}networks: UDP dropped (ICE-TCP), relay-only (TURN), in network namespaces" ;;
      cluster) stage "${label}cluster: nodes on a real redis-server (forwarding, failover, Redis restarts)" ;;
      chaos) stage "${label}chaos: the cluster under faults (leases, forwarding, Redis paused, forged headers)" ;;
      workers) stage "${label}--workers: supervisor, SO_REUSEPORT, restarts (real redis-server)" ;;
    esac
    bash "tests/$s/run.sh"
  done
}

stage "C++ tests (ctest)"
counted ctest "C++ tests (ctest)" ctest --test-dir build --output-on-failure -j2 --timeout 300

stage "fuzzers (libFuzzer, ${FUZZ_SECONDS:-5} s each)"
counted fuzz "fuzzers" ./scripts/fuzz.sh "${FUZZ_SECONDS:-5}"

node_suites "" build interop server client browser fault network cluster chaos workers

stage "long tests, run in the background since the build (tests/long)"
long_rc=0
wait "$long_pid" || long_rc=$?
cat "$long_log"
cat "$long_counts" >>"$counts"
rm -f "$long_log" "$long_counts"
[[ $long_rc -eq 0 ]] || exit "$long_rc"

stage "Python module peerpyrtc (pytest)"
counted pytest "Python module (pytest)" bash tests/python/run.sh

stage "installed C++ package (find_package(peerrtc), pkg-config) with the quick start out of tree"
bash tests/install/run.sh

stage "packages: .deb (cpack), the installed server in Chromium, npm (tsc --strict, esbuild)"
bash tests/package/run.sh

if [[ "${PEERRTC_SKIP_SANITIZE:-0}" != "1" ]]; then
  stage "sanitizers: build (ASan + UBSan)" -
  # -O0 -g1: the sanitizer build was 11 of CI's 20.6 minutes at -O1 -g1; -O0 compiles the
  # heaviest file 1.7x faster (55 -> 32 s) and the suites' timeouts leave room for the slower
  # code. Line numbers stay in reports.
  # A new build-asan, like scripts/build.sh's build/: Ninja (no core idle while a library of the
  # chain is archived) and a unity build (the shared templates instrumented once per batch).
  asan_new=()
  if [[ ! -f build-asan/CMakeCache.txt ]]; then
    asan_new=(-DPEERRTC_UNITY=ON)
    if command -v ninja >/dev/null; then asan_new+=(-G Ninja); fi
  fi
  cmake -S . -B build-asan "${asan_new[@]}" -DPEERRTC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG" >/dev/null
  # What the sanitizer stages run: every test binary, the servers, the test client, the probe
  # (the native client against aiortc and pion in the interop suite), the quick start (not the
  # benchmark's load generator, to keep CI short).
  cmake --build build-asan -j2 --target \
    $(for d in tests/unit/*/; do compgen -G "${d}*_test.cpp" >/dev/null && echo "test_$(basename "$d")"; done) \
    peerrtc-testserver peerrtc-testclient peerrtc-probe peerrtc-server quickstart-httplib
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  stage "sanitizers: C++ tests"
  counted ctest "sanitizers: C++ tests (ctest)" ctest --test-dir build-asan --output-on-failure -j2 --timeout 300
  node_suites "sanitizers: " build-asan interop server client cluster
fi

