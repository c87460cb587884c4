#!/usr/bin/env bash
# The whole test suite: set-up, build, C++ unit + end-to-end tests (CTest), then the interop
# suite (Node @roamhq/wrtc, headless Chromium, headless Firefox ESR and the C++ client against
# the engine's test server). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

./scripts/setup.sh
./scripts/build.sh

echo "== C++ tests (ctest)"
ctest --test-dir build --output-on-failure -j2 --timeout 300

echo "== fuzzers (libFuzzer, ${FUZZ_SECONDS:-5} s each, regression inputs in tests/fuzz/)"
./scripts/fuzz.sh "${FUZZ_SECONDS:-5}"

echo "== interop tests (node --test)"
PEERRTC_TESTSERVER="$PWD/build/apps/peerrtc-testserver" \
PEERRTC_TESTCLIENT="$PWD/build/apps/peerrtc-testclient" \
  bash tests/interop/run.sh

echo "== all tests passed in $(( $(date +%s) - start )) s"
