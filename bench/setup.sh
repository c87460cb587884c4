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

# C++: the main project plus bench/ (via a CMake hook while the top level lacks add_subdirectory(bench)).
extra=()
grep -q 'add_subdirectory(bench)' "$ROOT/CMakeLists.txt" || extra+=("-DCMAKE_PROJECT_INCLUDE=$ROOT/bench/cmake_hook.cmake")
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEERRTC_TESTS=OFF "${extra[@]}" >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target peerrtc-server peerrtc-loadgen

# Go: GOPATH mode against Debian's pion (installed without a /v3 folder). A copy, patched: pion
# 3.1.56 fails every DTLS connection whose client offered no use_srtp extension ("no SRTP
# Protection Profile was chosen") even without media; PeerRTC's client offers none (data only).
GOP="$BUILD/gopath"
W="$GOP/src/github.com/pion/webrtc/v3"
rm -rf "$W"
mkdir -p "$(dirname "$W")"
cp -r /usr/share/gocode/src/github.com/pion/webrtc "$W"
perl -0pi -e 's/(srtpProfile, ok := dtlsConn.SelectedSRTPProtectionProfile\(\)\n\tif !ok \{\n)\t\tt.onStateChange\(DTLSTransportStateFailed\)\n\t\treturn ErrNoSRTPProtectionProfile\n/$1\t\tsrtpProfile = dtls.SRTP_AES128_CM_HMAC_SHA1_80 \/\/ bench patch: data-only peer\n/' "$W/dtlstransport.go"
grep -q 'bench patch' "$W/dtlstransport.go" || { echo "bench: could not patch pion's dtlstransport.go" >&2; exit 1; }
(cd "$ROOT/bench/pion_relay" && GOPATH="$GOP:/usr/share/gocode" GO111MODULE=off GOCACHE="$BUILD/gocache" \
  go build -o "$BUILD/pion-relay" .)

/usr/bin/python3 -c 'import aiortc' # the relay's interpreter (not the python3 first on PATH)
echo "bench: built $BUILD/apps/peerrtc-server $BUILD/bench/peerrtc-loadgen $BUILD/pion-relay"
