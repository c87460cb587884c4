#!/usr/bin/env bash
# Installs and builds everything the benchmark needs (Debian 12, root):
#   the reference relays' stacks (python3-aiortc, golang-go + pion v3), valgrind for profiling,
#   then peerrtc-server + peerrtc-loadgen (CMake, Release with debug info) and the pion relay.
# Usage: bench/setup.sh            (BENCH_BUILD=<dir> to change the build directory)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BENCH_BUILD:-$ROOT/build-bench}"

need=()
for p in python3-aiortc golang-go golang-github-pion-webrtc.v3-dev valgrind cmake g++ libcli11-dev \
         libboost-dev libssl-dev nlohmann-json3-dev libspdlog-dev libusrsctp-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi

# usrsctp -O2 from Debian's source package (PEERRTC_USRSCTP=optimised, the default).
bash "$ROOT/scripts/build-usrsctp.sh"

# C++: the main project plus bench/ (via a CMake hook while the top level lacks add_subdirectory(bench)).
extra=()
grep -q 'add_subdirectory(bench)' "$ROOT/CMakeLists.txt" || extra+=("-DCMAKE_PROJECT_INCLUDE=$ROOT/bench/cmake_hook.cmake")
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERRTC_TESTS=OFF "${extra[@]}" >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target peerrtc-server peerrtc-loadgen

# Go: the pion relay, built against Debian's pion as it is (tests/interop/stacks/build-pion.sh).
# Until PeerRTC's DTLS offered use_srtp this copy had to be patched: pion 3.1 failed every DTLS
# connection that selected no SRTP profile, media or not.
bash "$ROOT/tests/interop/stacks/build-pion.sh" "$BUILD/stacks" >/dev/null
ln -sf "$BUILD/stacks/pion-relay" "$BUILD/pion-relay"

/usr/bin/python3 -c 'import aiortc' # the relay's interpreter (not the python3 first on PATH)
echo "bench: built $BUILD/apps/peerrtc-server $BUILD/bench/peerrtc-loadgen $BUILD/pion-relay"
