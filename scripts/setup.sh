#!/usr/bin/env bash
# Installs what the build, the server and the tests need on a fresh Debian 12 machine: Debian
# packages with apt-get, Node packages with npm. Idempotent and quick when all is there.
#   scripts/setup.sh          everything (scripts/test.sh)
#   scripts/setup.sh server   only what building and running peerrtc-server needs (scripts/run.sh):
#                             no browser, no Go, no test-only package, no npm
#   scripts/setup.sh --list [server]   prints the Debian packages of that set, one a line
#                             (tests/package/lean-run.test.sh checks the server set stays lean)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=all list=0
[[ "${1:-}" == "--list" ]] && { list=1; shift; }
case "${1:-}" in
  "" | all) ;;
  server) mode=server ;;
  *) echo "setup: unknown set '$1' (server, or nothing for all)" >&2; exit 2 ;;
esac

# What building and running peerrtc-server needs (scripts/run.sh). Only the build's needs go
# here: the tests' packages go in TEST_PACKAGES below.
SERVER_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libssl-dev libusrsctp-dev libboost-dev libboost-system-dev nlohmann-json3-dev
  libspdlog-dev libcli11-dev libhiredis-dev prometheus-cpp-dev
)
# The rest: tests, fuzzers, benchmarks, the other examples, the Python module, packaging checks.
TEST_PACKAGES=(
  libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev
  chromium firefox-esr libcpp-httplib-dev
  # Other WebRTC stacks as clients (aiortc for Debian's /usr/bin/python3, pion for Go in GOPATH
  # mode), a TURN server, and network namespaces with a firewall for the reachability tests.
  python3-aiortc golang-go golang-github-pion-webrtc.v3-dev coturn iptables iproute2
  # The Python module peerpyrtc (pybind11 for /usr/bin/python3) and its tests (Flask, pytest).
  pybind11-dev python3-dev python3-flask python3-pytest
  # Cluster mode: Redis (the tests start their own redis-server, and their own sentinel with
  # redis-server --sentinel; redis-sentinel is what a deployment runs) and its C client on the Asio
  # loop; Prometheus metrics. (Join tokens are HS256 with OpenSSL's HMAC: no JWT library.)
  redis-server redis-sentinel libhiredis-dev prometheus-cpp-dev
  # Packaging tests (tests/package): systemd-analyze verify on the unit.
  systemd
)
DEB_PACKAGES=("${SERVER_PACKAGES[@]}")
if [[ $mode == all ]]; then
  DEB_PACKAGES+=("${TEST_PACKAGES[@]}")
  # Node.js 18+ with npm: use the machine's if present, else Debian's.
  command -v node >/dev/null && command -v npm >/dev/null || DEB_PACKAGES+=(nodejs npm)
fi
if ((list)); then printf '%s\n' "${DEB_PACKAGES[@]}"; exit 0; fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # The deb-src entry scripts/build-usrsctp.sh needs goes in first, so that one update fetches
  # both (it ran a second update of its own on a fresh machine).
  [ -f "${PEERRTC_DEPS:-build-deps}/usrsctp/lib/libusrsctp.a" ] || ./scripts/build-usrsctp.sh --deb-src
  $SUDO apt-get update -qq
  # --force-unsafe-io: dpkg skips its fsync per unpacked file (Boost's headers alone are ~15000),
  # as Debian's container images do; the price (dpkg's manual) is an unlikely zero-length file if
  # the machine loses power during the install.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-unsafe-io "${missing[@]}"
fi

if [[ $mode == all ]] && { [ ! -d node_modules/@roamhq/wrtc ] || [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/puppeteer-core ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# usrsctp at -O2 without SCTP_DEBUG, from Debian's source package of the installed version, into
# build-deps/usrsctp (CMake's default PEERRTC_USRSCTP=optimised links it). ~20 s the first time.
./scripts/build-usrsctp.sh
