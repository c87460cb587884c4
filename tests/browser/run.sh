#!/usr/bin/env bash
# Runs the browser tests of the web examples and terminal-chat (headless Debian Chromium driven
# by playwright-core) against the real peerrtc-server, with node's test runner.
#
#   bash tests/browser/run.sh                                  # every suite
#   bash tests/browser/run.sh tests/browser/chat.test.mjs      # a subset
#
# Needs: build/apps/peerrtc-server and build/examples/terminal-chat
#   (cmake -S . -B build && cmake --build build -j2 --target peerrtc-server terminal-chat),
#   node_modules (npm ci), /usr/bin/chromium.
# Env: PEERRTC_SERVER / PEERRTC_TERMINAL_CHAT / PEERRTC_CHROMIUM override the binaries;
#      PEERRTC_BROWSER_TIMEOUT (seconds, default 600) bounds the whole run;
#      PEERRTC_VERBOSE=1 forwards process output and page consoles to stderr.
# Screenshots of the pages land in tests/browser/screenshots/ (git-ignored).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

server="${PEERRTC_SERVER:-build/apps/peerrtc-server}"
chat="${PEERRTC_TERMINAL_CHAT:-build/examples/terminal-chat}"
for bin in "$server" "$chat"; do
  if [[ ! -x "$bin" ]]; then
    echo "browser: $bin missing; build it: cmake --build build -j2 --target peerrtc-server terminal-chat" >&2
    exit 2
  fi
done
echo "browser: server = $server, terminal chat = $chat, chromium = ${PEERRTC_CHROMIUM:-/usr/bin/chromium}"

PEERRTC_SUITE_NEEDS="npm:playwright-core" exec bash tests/lib/run-node-suite.sh "browser" "${PEERRTC_BROWSER_TIMEOUT:-600}" tests/browser/ "$@"
