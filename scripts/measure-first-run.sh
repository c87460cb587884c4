#!/usr/bin/env bash
# Measures the README's first run: a fresh Debian 12 (debootstrap --variant=minbase bookworm, in a
# chroot under WORKDIR) with this repository's tracked files copied in, then `./scripts/run.sh`
# timed to its READY line. Prints the time each phase began (seen from outside, polled every
# 0.5 s), the total, and the CPU time (user+sys) the set-up and build used. Needs root,
# debootstrap (apt-get install debootstrap) and Debian's mirror; not part of the test command.
#   sudo scripts/measure-first-run.sh [WORKDIR]      (default /var/tmp/peerrtc-first-run)
set -uo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
W=${1:-/var/tmp/peerrtc-first-run}; R=$W/root
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$W"
if [ ! -f "$W/pristine.tar" ]; then  # the bare system, made once and reused
  rm -rf "$R"; debootstrap --variant=minbase bookworm "$R" "$MIRROR" >"$W/debootstrap.log" 2>&1 \
    || { echo "debootstrap failed: $W/debootstrap.log"; exit 1; }
  tar -C "$R" -cf "$W/pristine.tar" .
fi
rm -rf "$R" && mkdir "$R" && tar -C "$R" -xf "$W/pristine.tar"
mkdir -p "$R/root/peerrtc"
(cd "$SRC" && git ls-files -c | tar -cf - -T -) | tar -C "$R/root/peerrtc" -xf -
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
out=$W/run.out phases=$W/phases; : >"$out"; : >"$phases"
start=$(date +%s.%N)
chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  /bin/bash -c 'cd /root/peerrtc && PORT=0 exec ./scripts/run.sh' >"$out" 2>&1 &
pid=$!
declare -A seen
mark() {
  [[ -n "${seen[$1]:-}" ]] && return; seen[$1]=1
  printf '%7.1f s  %s (load %s)\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$1" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$phases"
}
mark "run.sh starts"
while kill -0 $pid 2>/dev/null; do
  grep -q 'build-usrsctp: building' "$out" && mark "packages installed; usrsctp"
  grep -qE '^\[ *[0-9]+(%|/[0-9]+)\] Building' "$out" && mark "server compile starts"  # Make or Ninja
  if grep -q '^READY' "$out"; then mark "READY"; break; fi
  sleep 0.5
done
if grep -q '^READY' "$out"; then
  # run.sh exec'ed the server: the children's CPU times of the set-up and build survive the exec.
  read -r cu cs < <(sed 's/^.*) //' /proc/$pid/stat | awk '{print $14, $15}')
  echo "CPU (user+sys) of the set-up and build: $(( (cu + cs) / $(getconf CLK_TCK) )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
  rc=0
else
  echo "run.sh ended without READY; its output: $out"; tail -20 "$out"; rc=1
fi
kill $pid 2>/dev/null; sleep 1
for p in /proc/[0-9]*; do [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill "${p#/proc/}" 2>/dev/null; done
wait $pid 2>/dev/null
umount "$R/proc"
exit $rc
