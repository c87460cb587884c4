#!/usr/bin/env bash
# Configures and builds into build/ (or $BUILD_DIR). Extra arguments go to cmake's configure step.
#   scripts/build.sh                      everything: tests and the Python module on (scripts/test.sh)
#   BUILD_SET=server scripts/build.sh     peerrtc-server only, configured without the tests and the
#                                         Python module, so their packages need not be installed
#                                         (scripts/run.sh; `scripts/setup.sh server` installs the rest)
# Both use the same compile flags, so switching between them in one build directory recompiles nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
case "${BUILD_SET:-all}" in
  all) set_args=(-DPEERRTC_TESTS=ON -DPEERRTC_PYTHON=ON) targets=() ;;
  server) set_args=(-DPEERRTC_TESTS=OFF -DPEERRTC_PYTHON=OFF) targets=(--target peerrtc-server) ;;
  *) echo "build: BUILD_SET must be all or server, not '$BUILD_SET'" >&2; exit 2 ;;
esac
# A new build directory uses Ninja when it is there (scripts/setup.sh installs ninja-build): it
# compiles the sources of every library at once, where Make waits for each library to be archived
# before the sources of the next one in the chain start, one core idle at each step (issue 22: the
# first run). An existing directory keeps its generator.
# A new build directory is also a unity build (PEERRTC_UNITY, CMakeLists.txt): each target's
# sources compiled in batches, the shared templates generated once per batch, not once per file.
gen_args=()
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  gen_args=(-DPEERRTC_UNITY=ON)
  if command -v ninja >/dev/null; then gen_args+=(-G Ninja); fi
fi
cmake -S . -B "$BUILD_DIR" "${gen_args[@]}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${set_args[@]}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j2 "${targets[@]}"
