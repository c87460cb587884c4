#!/usr/bin/env bash
# The installed C++ package, used from outside the source tree:
#   1. cmake --install build (component dev) into a temporary prefix;
#   2. examples/quickstart-httplib and examples/terminal-chat (the embedded HTTP server,
#      <peerrtc/server.hpp>) copied to a temporary directory and built there with
#      find_package(peerrtc CONFIG) -> peerrtc::peerrtc, CMAKE_PREFIX_PATH = the prefix only;
#   3. a one-file program built with only `pkg-config --cflags --libs peerrtc`;
#   4. the quick start run from the copy: READY, then POST /offer with a bad body -> 400 JSON;
#      the terminal chat run from its copy: READY, GET /config -> 200, POST /offer {} -> 400;
#   5. the Python module (component python, when built) imported from the prefix alone.
# Nothing of the source tree is on an include or link path of the builds.
# PEERRTC_PREFIX=DIR: use that prefix as it is (tests/package: libpeerrtc-dev and python3-peerpyrtc
# extracted with dpkg-deb -x, DIR = <root>/usr) instead of step 1. PEERRTC_INSTALL_WORKDIR=DIR:
# work in DIR (emptied first; a fixed path lets ccache hit on reruns) instead of a temporary one.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
if [ -n "${PEERRTC_INSTALL_WORKDIR:-}" ]; then
  rm -rf "$PEERRTC_INSTALL_WORKDIR"; mkdir -p "$PEERRTC_INSTALL_WORKDIR"; tmp=$(cd "$PEERRTC_INSTALL_WORKDIR" && pwd)
else
  tmp=$(mktemp -d)
fi
qs_pid=""
cleanup() { [ -n "$qs_pid" ] && kill "$qs_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
if [ -n "${PEERRTC_PREFIX:-}" ]; then
  prefix=$(cd "$PEERRTC_PREFIX" && pwd)
else
  cmake --build "$BUILD_DIR" -j2 --target peerrtc_static >/dev/null
  prefix="$tmp/prefix"
  cmake --install "$BUILD_DIR" --component dev --prefix "$prefix" >/dev/null
fi
echo "install: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"
test -f "$prefix/include/peerrtc/peerrtc.hpp"
# Nothing installed may point back into the source or build tree (e.g. the optimised usrsctp of
# build-deps/, which is installed as lib/libpeerrtc_usrsctp.a instead).
if grep -rlI -- "$PWD" "$prefix/lib" >/dev/null; then
  echo "install: installed files name the source tree:"; grep -rnI -- "$PWD" "$prefix/lib"; exit 1
fi

mkdir "$tmp/src"
cp examples/quickstart-httplib/main.cpp examples/quickstart-httplib/CMakeLists.txt "$tmp/src/"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build "$tmp/build" -j2 >/dev/null
echo "install: quick start built out of tree with find_package(peerrtc)"
mkdir "$tmp/tc-src"
cp examples/terminal-chat/main.cpp examples/terminal-chat/CMakeLists.txt "$tmp/tc-src/"
cmake -S "$tmp/tc-src" -B "$tmp/tc-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build "$tmp/tc-build" -j2 >/dev/null
echo "install: terminal chat (peerrtc::Server) built out of tree with find_package(peerrtc)"

cat > "$tmp/pc.cpp" <<'CPP'
#include <peerrtc/peerrtc.hpp>
#include <iostream>
int main() {
  peerrtc::SignalingManager m;
  auto [status, body] = m.handle("offer", "{}");
  std::cout << status << " " << body.dump() << "\n";
  return status == 400 ? 0 : 1;
}
CPP
# shellcheck disable=SC2046
c++ -O1 -o "$tmp/pc" "$tmp/pc.cpp" $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$(find "$prefix" -type d -name pkgconfig | head -1)" pkg-config --cflags --libs peerrtc)
"$tmp/pc"
echo "install: a program built with pkg-config peerrtc runs"
# With PEERRTC_USRSCTP=optimised the programs carry the package's own usrsctp, not Debian's.
usrsctp_kind=$(sed -n 's/^PEERRTC_USRSCTP:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
if [ "$usrsctp_kind" = optimised ]; then
  for exe in "$tmp/pc" "$tmp/build/quickstart-httplib"; do
    if ldd "$exe" | grep -q libusrsctp; then echo "install: $exe links Debian's libusrsctp"; exit 1; fi
  done
  echo "install: usrsctp linked from the package's libpeerrtc_usrsctp.a"
fi

cd "$tmp"
"$tmp/build/quickstart-httplib" --port 0 > "$tmp/qs.out" 2>&1 &
qs_pid=$!
for _ in $(seq 100); do grep -q '^READY' "$tmp/qs.out" && break; sleep 0.1; done
port=$(sed -n 's/^READY {"http":\([0-9]*\),.*/\1/p' "$tmp/qs.out")
[ -n "$port" ] || { echo "install: the quick start never printed READY:"; cat "$tmp/qs.out"; exit 1; }
answer=$(curl -s -w ' %{http_code}' -X POST -d '{"room":"r"}' "http://127.0.0.1:$port/offer")
echo "install: POST /offer {room} -> $answer"
[[ "$answer" == *'"error"'*' 400' ]]
kill "$qs_pid"; wait "$qs_pid" 2>/dev/null || true; qs_pid=""
# The terminal chat: the embedded server's routes answer; /quit on stdin ends it with 0.
mkfifo "$tmp/tc.in"
"$tmp/tc-build/terminal-chat" --port 0 --static-root "$tmp" < "$tmp/tc.in" > "$tmp/tc.out" 2>&1 &
qs_pid=$!
exec 3> "$tmp/tc.in"
for _ in $(seq 100); do grep -q '^READY' "$tmp/tc.out" && break; sleep 0.1; done
port=$(sed -n 's/^READY {"http":\([0-9]*\),.*/\1/p' "$tmp/tc.out")
[ -n "$port" ] || { echo "install: the terminal chat never printed READY:"; cat "$tmp/tc.out"; exit 1; }
config=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/config")
offer=$(curl -s -w ' %{http_code}' -X POST -d '{}' "http://127.0.0.1:$port/offer")
echo "install: terminal chat GET /config -> $config; POST /offer {} -> $offer"
[[ "$config" == *'"iceServers"'*' 200' && "$offer" == *'"error"'*' 400' ]]
echo "/quit" >&3; exec 3>&-
wait "$qs_pid"; qs_pid=""
if compgen -G "$OLDPWD/$BUILD_DIR/python/peerpyrtc/_peerpyrtc*.so" >/dev/null; then
  [ -n "${PEERRTC_PREFIX:-}" ] || cmake --install "$OLDPWD/$BUILD_DIR" --component python --prefix "$prefix" >/dev/null
  site=$(find "$prefix" -type d -name dist-packages | head -1)
  [ -n "$site" ] || { echo "install: no dist-packages under $prefix (python3-peerpyrtc not extracted there?)"; exit 1; }
  PYTHONPATH="$site" /usr/bin/python3 -c '
import peerpyrtc, sys
assert peerpyrtc.__file__.startswith(sys.argv[1]), peerpyrtc.__file__
m = peerpyrtc.SignalingManager()
assert m.get_room_peers("none") == []
m.close()
print("install: peerpyrtc imported from", sys.argv[1])' "$site"
fi
echo "install: ok"
