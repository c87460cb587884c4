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

if [[ ! -d node_modules/playwright-core ]]; then
  echo "browser: node_modules incomplete; run 'npm install' (or 'npm ci') in $root" >&2
  exit 2
fi
server="${PEERRTC_SERVER:-build/apps/peerrtc-server}"
chat="${PEERRTC_TERMINAL_CHAT:-build/examples/terminal-chat}"
for bin in "$server" "$chat"; do
  if [[ ! -x "$bin" ]]; then
    echo "browser: $bin missing; build it: cmake --build build -j2 --target peerrtc-server terminal-chat" >&2
    exit 2
  fi
done
echo "browser: server = $server, terminal chat = $chat, chromium = ${PEERRTC_CHROMIUM:-/usr/bin/chromium}"

timeout_s="${PEERRTC_BROWSER_TIMEOUT:-600}"
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=(tests/browser/); fi

start=$(date +%s)
# --kill-after: a browser that ignores SIGTERM must not keep CI hanging.
timeout --kill-after=15 "$timeout_s" node --test --test-concurrency=1 --test-reporter=spec "${targets[@]}"
rc=$?
end=$(date +%s)
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "browser: FAILED: global timeout of ${timeout_s}s exceeded" >&2
elif [[ $rc -ne 0 ]]; then
  echo "browser: FAILED (exit $rc) after $((end - start))s" >&2
fi
exit $rc
