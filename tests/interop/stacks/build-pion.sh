#!/usr/bin/env bash
# Builds the two pion programs of the tests against Debian's pion packages in GOPATH mode, with
# no network, and prints one line per binary: `pion-client <path>` and `pion-relay <path>`.
#   pion-client  tests/interop/stacks/pion_client (interop matrix, room member)
#   pion-relay   bench/pion_relay (the benchmark's reference relay; the C++ client's tests)
#
#   bash tests/interop/stacks/build-pion.sh [OUT_DIR]     # default build/stacks
#
# Needs golang-go and golang-github-pion-webrtc.v3-dev (scripts/setup.sh installs them). Debian
# installs pion/webrtc, whose import path ends in /v3, without a v3 folder, which GOPATH mode
# needs; so the package is copied as it is (unpatched, unlike bench/setup.sh's copy) into a
# private GOPATH under OUT_DIR. The Go build cache is OUT_DIR/gocache, so a rebuild is quick.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
out="$(mkdir -p "${1:-$root/build/stacks}" && cd "${1:-$root/build/stacks}" && pwd)"
src=/usr/share/gocode/src/github.com/pion/webrtc
if ! command -v go >/dev/null; then
  echo "build-pion: no 'go' on PATH; install golang-go (scripts/setup.sh)" >&2; exit 2
fi
if [[ ! -f "$src/go.mod" ]]; then
  echo "build-pion: $src missing; install golang-github-pion-webrtc.v3-dev (scripts/setup.sh)" >&2; exit 2
fi
gopath="$out/gopath"
w="$gopath/src/github.com/pion/webrtc/v3"
if [[ ! -f "$w/go.mod" ]] || ! diff -rq "$src" "$w" >/dev/null 2>&1; then
  rm -rf "$w.tmp"
  mkdir -p "$(dirname "$w")"
  cp -r "$src" "$w.tmp"
  rm -rf "$w"
  mv "$w.tmp" "$w"
fi
build() {  # build NAME DIR
  (cd "$2" && GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOPROXY=off \
    GOCACHE="$out/gocache" go build -o "$out/$1" .)
  echo "$1 $out/$1"
}
build pion-client "$root/tests/interop/stacks/pion_client"
build pion-relay "$root/bench/pion_relay"
