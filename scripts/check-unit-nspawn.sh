#!/usr/bin/env bash
# Runs the packaged unit under a real systemd: a Debian 12 made with debootstrap (with systemd),
# booted with systemd-nspawn (the host needs no systemd), the peerrtc-server .deb installed in it
# with apt-get, then `systemctl start peerrtc-server` with the packaged, hardened unit and a
# message exchange through it by the C++ client (peerrtc-probe --exchange). The container shares
# the host's network, so the server listens on the host's loopback (PORT, default 18777).
# Needs root, Debian's mirror and a build with the packages (cpack -G DEB); not part of the test
# command (the debootstrap alone takes minutes). docs/deploy.md "Checked under a real systemd".
#
#   sudo scripts/check-unit-nspawn.sh [BUILD_DIR]         (default build/; WORKDIR=/var/tmp/peerrtc-unit)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
W=${WORKDIR:-/var/tmp/peerrtc-unit}; R=$W/root
PORT=${PORT:-18777}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "check-unit-nspawn: needs root" >&2; exit 2; }
command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null \
  || DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd-container debootstrap >/dev/null
mkdir -p "$W"
(cd "$BUILD" && cpack -G DEB -B "$W/debs" >/dev/null)
deb=$(ls "$W"/debs/peerrtc-server_*.deb | head -1)
if [ ! -f "$W/pristine.tar" ]; then  # the bare system with systemd, made once and reused
  rm -rf "$R"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates bookworm "$R" "$MIRROR" \
    >"$W/debootstrap.log" 2>&1 || { echo "debootstrap failed: $W/debootstrap.log" >&2; exit 1; }
  tar -C "$R" -cf "$W/pristine.tar" .
fi
rm -rf "$R" && mkdir "$R" && tar -C "$R" -xf "$W/pristine.tar"
cp /etc/resolv.conf "$R/etc/resolv.conf"
cp "$deb" "$R/root/"
chroot "$R" /bin/bash -c "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/$(basename "$deb") >/dev/null"
sed -i "s/^# port = 8080\$/port = $PORT/" "$R/etc/peerrtc/peerrtc.conf"

systemd-nspawn -D "$R" -b --register=no --keep-unit --console=passive >"$W/boot.log" 2>&1 &
nspawn=$!
cleanup() {
  [ -n "${leader:-}" ] && nsenter -t "$leader" -m -u -i -n -p systemctl poweroff >/dev/null 2>&1 || kill "$nspawn" 2>/dev/null || true
  wait "$nspawn" 2>/dev/null || true
}
trap cleanup EXIT
leader=""
for _ in $(seq 100); do leader=$(pgrep -P "$nspawn" | head -1 || true); [ -n "$leader" ] && break; sleep 0.1; done
[ -n "$leader" ] || { echo "the container did not start: $W/boot.log" >&2; exit 1; }
in_ct() { nsenter -t "$leader" -m -u -i -n -p "$@"; }
for _ in $(seq 100); do
  state=$(in_ct systemctl is-system-running 2>/dev/null || true)
  [[ "$state" == running || "$state" == degraded ]] && break
  sleep 0.2
done
echo "systemd in the container: $state"
in_ct systemctl start peerrtc-server
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
in_ct systemctl --no-pager status peerrtc-server | sed -n 1,8p
echo "/health: $(curl -fs "http://127.0.0.1:$PORT/health")"
"$BUILD/apps/peerrtc-probe" --port "$PORT" --exchange --room unit-check --log-level warn | tail -1
echo "journal:"; in_ct journalctl -u peerrtc-server --no-pager -o cat | tail -5
