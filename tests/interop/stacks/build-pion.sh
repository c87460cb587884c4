#!/usr/bin/env bash
# Builds tests/interop/stacks/pion_client (the pion interop / room client) against Debian's pion
# packages in GOPATH mode, with no network: prints the binary's path on stdout.
#
#   bash tests/interop/stacks/build-pion.sh [OUT_DIR]     # default build/stacks -> OUT_DIR/pion-client
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
cd "$root/tests/interop/stacks/pion_client"
GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOPROXY=off GOCACHE="$out/gocache" \
  go build -o "$out/pion-client" .
echo "$out/pion-client"
