#!/usr/bin/env bash
# Builds an optimised usrsctp from Debian's own source package (the version libusrsctp-dev
# ships, 0.9.5.0 on Debian 12) into a project-local prefix that CMake picks with
# -DPEERRTC_USRSCTP=optimised (the default):
#   <deps>/usrsctp/include/usrsctp.h, <deps>/usrsctp/lib/libusrsctp.a  (static, PIC)
# Debian's libusrsctp2 is built with autotools' default --enable-debug: -O0 and SCTP_DEBUG
# (bench/profile-notes.md). This one is -O2 without SCTP_DEBUG and without INVARIANTS.
# Idempotent: does nothing when the prefix holds a library of the installed package's version.
#
#   scripts/build-usrsctp.sh            (PEERRTC_DEPS=<dir> to move <deps>, default build-deps/)
#   scripts/build-usrsctp.sh --deb-src  only writes the deb-src entry below when there is none, no
#                                       apt-get update: scripts/setup.sh calls it before its own
#                                       update, so that a fresh machine runs one update, not two
#
# Needs root only when no deb-src entry exists: it then writes
# /etc/apt/sources.list.d/peerrtc-deb-src.sources with the URIs, suites and keyring of the
# machine's Debian entries (/etc/apt/sources.list.d/debian.sources) and runs apt-get update.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEPS="${PEERRTC_DEPS:-$ROOT/build-deps}"
PREFIX="$DEPS/usrsctp"
SRC_CACHE="$DEPS/src"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# A deb-src entry for the machine's Debian sources, if there is none.
has_src() {
  grep -rqsE '^\s*deb-src\s|^Types:.*deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
add_src() {
  local main=/etc/apt/sources.list.d/debian.sources
  if [ -f "$main" ]; then
    echo "build-usrsctp: adding /etc/apt/sources.list.d/peerrtc-deb-src.sources (deb-src of $main)"
    # The same stanzas with Types: deb-src (comments dropped).
    sed -e '/^#/d' -e 's/^Types:.*/Types: deb-src/' "$main" | $SUDO tee /etc/apt/sources.list.d/peerrtc-deb-src.sources >/dev/null
  elif grep -qsE '^\s*deb\s' /etc/apt/sources.list; then
    # One-line format (a Debian installed by debootstrap or the installer): the deb lines as deb-src.
    echo "build-usrsctp: adding /etc/apt/sources.list.d/peerrtc-deb-src.list (deb-src of /etc/apt/sources.list)"
    sed -n 's/^\s*deb\s/deb-src /p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/peerrtc-deb-src.list >/dev/null
  else
    echo "build-usrsctp: no deb-src entry and no $main nor /etc/apt/sources.list to derive one from" >&2; exit 1
  fi
}
if [[ "${1:-}" == "--deb-src" ]]; then
  has_src || add_src
  exit 0
fi

version=$(dpkg-query -W -f='${Version}' libusrsctp-dev 2>/dev/null || true)
[ -n "$version" ] || version=$(apt-cache policy libusrsctp-dev | sed -n 's/ *Candidate: //p')
[ -n "$version" ] && [ "$version" != "(none)" ] || { echo "build-usrsctp: no libusrsctp-dev version known to apt" >&2; exit 1; }
if [ -f "$PREFIX/lib/libusrsctp.a" ] && [ "$(cat "$PREFIX/VERSION" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
start=$(date +%s)
echo "build-usrsctp: building usrsctp $version"

if ! has_src; then
  add_src
  $SUDO apt-get update -qq
fi

mkdir -p "$SRC_CACHE"
upstream=${version%-*}; upstream=${upstream#*:}
srcdir="$SRC_CACHE/usrsctp-$upstream"
if [ ! -f "$srcdir/usrsctplib/usrsctp.h" ]; then
  # The source package of libusrsctp-dev (Debian names it libusrsctp), at the installed version.
  (cd "$SRC_CACHE" && apt-get source -qq --download-only "libusrsctp-dev=$version" >/dev/null)
  rm -rf "$srcdir"
  (cd "$SRC_CACHE" && dpkg-source --no-check -x "libusrsctp_$upstream-${version##*-}.dsc" "$srcdir" >/dev/null)
fi

build="$DEPS/usrsctp-build"
rm -rf "$build" "$PREFIX"
# usrsctp's own CMake: sctp_debug defaults ON (SCTP_DEBUG); programs and the shared lib off.
cmake -S "$srcdir" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -g1 -DNDEBUG" \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
  -Dsctp_debug=OFF -Dsctp_invariants=OFF -Dsctp_build_programs=OFF -Dsctp_build_shared_lib=OFF \
  -Dsctp_werror=OFF ${CMAKE_C_COMPILER_LAUNCHER:+-DCMAKE_C_COMPILER_LAUNCHER=$CMAKE_C_COMPILER_LAUNCHER} >/dev/null
cmake --build "$build" -j"${JOBS:-2}" >/dev/null
cmake --install "$build" >/dev/null
rm -rf "$build"
echo "$version" > "$PREFIX/VERSION"
echo "build-usrsctp: usrsctp $version (-O2, no SCTP_DEBUG) in $PREFIX ($(( $(date +%s) - start )) s)"
