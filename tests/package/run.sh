#!/usr/bin/env bash
# The packages (docs/deploy.md, "Packages"), built from the existing build directory:
#   1. `cpack -G DEB` in build/: peerrtc-server, libpeerrtc-dev, python3-peerpyrtc (build/packages/);
#   2. node's test runner over tests/package/:
#      lean-run.test.mjs  scripts/run.sh installs no browser, no Go, no test-only package
#      deb.test.mjs       the .deb contents, the systemd unit (systemd-analyze verify), the config
#                         file (every flag; --config; --version), the server extracted with
#                         dpkg-deb -x serving the chat to Chromium, the quick start built against
#                         the extracted libpeerrtc-dev (tests/install/run.sh with PEERRTC_PREFIX)
#      npm.test.mjs       npm pack of clients/js, installed into a temporary project, a sample app
#                         type-checked with tsc --strict, bundled with esbuild, run in Chromium
#
#   bash tests/package/run.sh [tests/package/npm.test.mjs]
# Needs: a build (scripts/build.sh), node_modules (npm ci: typescript, esbuild, playwright-core),
# /usr/bin/chromium, dpkg-deb, systemd-analyze (Debian systemd).
# Env: BUILD_DIR (default build); PEERRTC_PACKAGE_TIMEOUT (seconds, default 300) bounds the run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
BUILD_DIR=${BUILD_DIR:-build}
for tool in node_modules/.bin/tsc node_modules/.bin/esbuild node_modules/playwright-core; do
  [[ -e "$tool" ]] || { echo "package: $tool missing; run 'npm ci' in $root" >&2; exit 2; }
done
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || { echo "package: no build in $BUILD_DIR; run scripts/build.sh" >&2; exit 2; }
start=$(date +%s)
rm -rf "$BUILD_DIR/packages"
# The packaged targets (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack does not build them itself).
packaged=(peerrtc-server peerrtc_static)
[[ -f "$BUILD_DIR/python/cmake_install.cmake" ]] && packaged+=(_peerpyrtc)  # the Python module is configured
cmake --build "$BUILD_DIR" -j2 --target "${packaged[@]}" >/dev/null
if ! (cd "$BUILD_DIR" && cpack -G DEB) > "$BUILD_DIR/cpack.log" 2>&1; then
  echo "package: cpack -G DEB failed:" >&2; cat "$BUILD_DIR/cpack.log" >&2; exit 1
fi
echo "package: $(cd "$BUILD_DIR/packages" && ls -- *.deb | tr '\n' ' ')($(( $(date +%s) - start )) s)"
export PEERRTC_PACKAGE_DIR="$root/$BUILD_DIR/packages"
export PEERRTC_SERVER="${PEERRTC_SERVER:-$root/$BUILD_DIR/apps/peerrtc-server}"
exec bash tests/lib/run-node-suite.sh "package" "${PEERRTC_PACKAGE_TIMEOUT:-300}" tests/package/ "$@"
