#!/usr/bin/env bash
# Reruns the fuzz targets under fuzz/ (cargo-fuzz, libFuzzer; nightly toolchain) and prints one
# Markdown row per target for docs/RELIABILITY.md: executions, seconds, corpus size, crashes.
#
#   tools/fuzz.sh [--runs N] [--seconds S] [--jobs J] [target ...]
#
# Each target runs until N executions (default 1,000,000) or S seconds (default: no limit),
# whichever comes first, J targets at a time (default 2), from fuzz/corpus/<target> (kept between
# runs, not committed) seeded with fuzz/seeds/<target>. A crash, leak, out-of-memory (over
# 2 GB) or timeout (over 10 s per input) leaves its input in fuzz/artifacts/<target>/; this
# script copies it to fuzz/regressions/<target>/, where `cargo test` (tests/fuzz_regressions.rs)
# replays it on stable once the bug is fixed. `cargo install cargo-fuzz` first.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs=1000000 seconds=0 jobs=2
targets=()
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || mapfile -t targets < <(cargo +nightly fuzz list)
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/collapse-explorer/fuzz-target}"
cargo +nightly fuzz build --target-dir "$CARGO_TARGET_DIR" >&2
mkdir -p logs

one() {
  local t=$1 start end
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s)
  cargo +nightly fuzz run --target-dir "$CARGO_TARGET_DIR" "$t" "corpus/$t" "seeds/$t" -- \
    -runs="$runs" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -close_fd_mask=3 >"logs/$t.log" 2>&1 || true
  end=$(date +%s)
  local execs crashes
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  if ((crashes)); then
    mkdir -p "regressions/$t"
    cp "artifacts/$t"/* "regressions/$t/"
  fi
  printf '| `%s` | %s | %s | %s | %s |\n' "$t" "${execs:-0}" "$((end - start))" \
    "$(find "corpus/$t" -type f | wc -l)" "$crashes"
}
export -f one
export runs seconds
echo "| target | executions | seconds | corpus | crash inputs |"
echo "|---|---|---|---|---|"
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'one {}'
