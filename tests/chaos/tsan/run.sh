#!/usr/bin/env bash
# Builds tests/chaos/tsan/redis_sentinel.cpp with -fsanitize=thread (cluster/redis*.cpp and the
# logger only, ~2 min) and runs it against a master, a replica and a sentinel on free ports while
# two SENTINEL FAILOVERs happen. Exit 0 and "0 ThreadSanitizer warnings" expected.
#
#   bash tests/chaos/tsan/run.sh
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
d=$(mktemp -d /tmp/peerrtc-tsan.XXXX)
mp= rp= sp=
trap 'kill $mp $rp $sp 2>/dev/null; rm -rf "$d"' EXIT
g++ -std=c++20 -fsanitize=thread -Wno-tsan -O1 -g -I"$root/src" -I"$root/include" "$root/tests/chaos/tsan/redis_sentinel.cpp" \
  "$root/src/cluster/redis.cpp" "$root/src/cluster/redis_url.cpp" "$root/src/common/log.cpp" -o "$d/prog" -lhiredis -lspdlog -lfmt -lpthread 2> "$d/build.log" ||
  { cat "$d/build.log"; exit 1; }
M=$((30000 + RANDOM % 5000)); R=$((M+1)); S=$((M+2))
redis-server --port $M --bind 127.0.0.1 --save '' --dir "$d" --loglevel warning > "$d/m.log" 2>&1 & mp=$!
redis-server --port $R --bind 127.0.0.1 --save '' --dir "$d" --replicaof 127.0.0.1 $M --loglevel warning > "$d/r.log" 2>&1 & rp=$!
printf "port $S\nbind 127.0.0.1\ndir $d\nsentinel monitor m 127.0.0.1 $M 1\nsentinel down-after-milliseconds m 1000\nsentinel failover-timeout m 3000\n" > "$d/s.conf"
redis-server "$d/s.conf" --sentinel > "$d/s.log" 2>&1 & sp=$!
for _ in $(seq 50); do [[ "$(redis-cli -p $S SENTINEL replicas m 2>/dev/null | grep -c $R)" -ge 1 ]] && break; sleep 0.2; done
TSAN_OPTIONS="halt_on_error=0" "$d/prog" $S 14 > "$d/prog.log" 2>&1 & pp=$!
sleep 3; redis-cli -p $S SENTINEL FAILOVER m >/dev/null; sleep 6; redis-cli -p $S SENTINEL FAILOVER m >/dev/null
wait $pp; rc=$?
grep -E "announced a failover|^(start|reader|final)|SUMMARY: ThreadSanitizer" "$d/prog.log"
n=$(grep -c "WARNING: ThreadSanitizer" "$d/prog.log")
echo "exit $rc, $n ThreadSanitizer warnings"
[[ $rc == 0 && $n == 0 ]]
