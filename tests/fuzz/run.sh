#!/usr/bin/env bash
# tests (unprivileged work, any user): builds every fuzz target with Clang (libFuzzer, ASan and
# UBSan) in BUILD_DIR and fuzzes each for SECONDS, starting from its seed corpus. Any crash, leak,
# sanitizer report or input slower than 30 s fails; the input is kept in BUILD_DIR/fuzz-crashes/.
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]   (tests/run_all.sh: about 10 s per target)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-10}

# A target per seed corpus: tests/fuzz/corpus/NAME is fuzzed by NAME_fuzz.
names=()
for corpus in "$src"/tests/fuzz/corpus/*/; do
  names+=("$(basename "$corpus")")
done

CXX=clang++ cmake -S "$src" -B "$build" -DBACKUPD_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >/dev/null
cmake --build "$build" -j2 --target "${names[@]/%/_fuzz}"

crashes=$build/fuzz-crashes
mkdir -p "$crashes"
failed=0
for name in "${names[@]}"; do
  # New inputs go to a folder of the build, never into the checkout's seeds.
  found=$build/fuzz-corpus/$name
  mkdir -p "$found"
  log=$build/fuzz-$name.log
  start=$SECONDS
  if "$build/bin/${name}_fuzz" -max_total_time="$seconds" -timeout=30 \
       -artifact_prefix="$crashes/$name-" "$found" "$src/tests/fuzz/corpus/$name" >"$log" 2>&1; then
    echo "fuzz $name: $(grep -o 'Done [0-9]* runs' "$log" | tail -1) in $((SECONDS - start)) s, clean"
  else
    echo "fuzz $name: FAILED; the input is in $crashes, the report in $log:"
    tail -n 40 "$log"
    failed=1
  fi
done
if [ "$failed" = 1 ]; then
  echo "fix the bug, then keep the input as a regression seed in tests/fuzz/corpus/NAME/"
  exit 1
fi
