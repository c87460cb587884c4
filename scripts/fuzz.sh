#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp) with clang + ASan/UBSan and runs each one.
#   scripts/fuzz.sh            # every target for 10 s (what the test command runs)
#   scripts/fuzz.sh 600 stun   # one target for 10 minutes
# Crashes are written to fuzz-artifacts/; copy a crashing input into tests/fuzz/<target>/ to keep
# it as a regression input: every run replays that folder first.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
only=${2:-}
out=${FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$out" fuzz-artifacts
CXX=${FUZZ_CXX:-clang++}
FLAGS=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc -Iinclude)

declare -A SOURCES=(
  [stun]="src/stun/stun.cpp src/common/bytes.cpp src/common/log.cpp"
  [sdp]="src/sdp/sdp.cpp src/common/bytes.cpp"
  [dcep]="src/dcep/dcep.cpp src/common/bytes.cpp src/common/log.cpp"
  [signaling]="src/signaling/requests.cpp src/signaling/frames.cpp src/signaling/names.cpp src/common/bytes.cpp"
  [rfc4571]=""
  [sctp_bundle]="src/sctp/bundle.cpp"
)
LIBS=(-lcrypto -lspdlog -lfmt)

names=()
for name in stun sdp dcep signaling rfc4571 sctp_bundle; do
  [[ -n "$only" && "$only" != "$name" ]] && continue
  names+=("$name")
done

# Build what is stale, two compilers at a time (the machine has two cores).
build_one() {
  local name=$1 bin="$out/${1}_fuzz"
  local srcs=(fuzz/${name}_fuzz.cpp ${SOURCES[$name]})
  if [[ ! -x "$bin" ]] || [[ -n "$(find "${srcs[@]}" src -name '*.hpp' -newer "$bin" 2>/dev/null | head -1)" ]]; then
    echo "fuzz: building $name"
    $CXX "${FLAGS[@]}" "${srcs[@]}" "${LIBS[@]}" -o "$bin" > "$out/$name.build.log" 2>&1 ||
      { echo "fuzz: building $name FAILED"; cat "$out/$name.build.log"; return 1; }
  fi
}
pids=()
for name in "${names[@]}"; do
  build_one "$name" & pids+=($!)
  if (( ${#pids[@]} >= 2 )); then wait "${pids[0]}" || exit 1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || exit 1; done

# Two targets at a time (the machine has 2 cores); each writes its own log, and the verdicts
# are printed in order once a pair is done.
fuzz_one() {
  local name=$1 bin="$out/${1}_fuzz" corpus="$out/corpus-$1"
  mkdir -p "$corpus" "tests/fuzz/$name"
  local seeds=("tests/fuzz/$name")
  [[ "$name" == "sdp" ]] && seeds+=(tests/fixtures/sdp)
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
    -artifact_prefix="fuzz-artifacts/${name}-" "$corpus" "${seeds[@]}" > "$out/$name.log" 2>&1
}
status=0
for ((i = 0; i < ${#names[@]}; i += 2)); do
  pair=("${names[@]:i:2}")
  declare -A pid=()
  for name in "${pair[@]}"; do
    echo "fuzz: $name for ${seconds}s (regression inputs: tests/fuzz/$name)"
    fuzz_one "$name" & pid[$name]=$!
  done
  for name in "${pair[@]}"; do
    if ! wait "${pid[$name]}"; then
      echo "fuzz: $name FAILED — see $out/$name.log and fuzz-artifacts/"; tail -30 "$out/$name.log"; status=1
    else
      echo "fuzz: $name ok ($(grep -o 'Done [0-9]* runs' "$out/$name.log" | tail -1))"
    fi
  done
  unset pid
done
exit $status
