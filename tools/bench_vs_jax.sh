#!/usr/bin/env bash
# Paired, interleaved timing of this project against the JAX peer (peer_train.py) on the paper's
# configs, on this machine: config A training (3 x 100, batch 2,000), config B training
# (2 x 1000, batch 2,000) and Euler ODE sampling of config A (20,000 particles).
#
# Each round runs ours and JAX back to back at two lengths and takes the per-iteration cost as
# the difference (start-up, data and compile costs cancel). Machines here are shared and noisy,
# so the table gives every round's ratio and their median. Ratios are JAX's time over ours
# (above 1: we are faster); for ODE sampling, our rate over JAX's.
#
# Usage: tools/bench_vs_jax.sh [ROUNDS]   (default 5; about 90 s a round on 2 cores)
#        tools/bench_vs_jax.sh --pool LOG...   pools the rounds of saved runs (this script's
#        output): each goal's median over all their rounds, and how many runs met it
#   BIN    the binary to time (default: the one `cargo build` makes, the build `cargo run` runs)
#   PEERS  the folder of peer_train.py (default ../shared/peers beside the repository)
#   PEER_PY  the peer venv's python (default ~/.venv-peers/bin/python; set-up in PEERS/README.md)
#   COLLAPSE_EXPLORER_SIMD=avx2  times our AVX2-only code on an AVX-512 CPU, and holds JAX to
#            AVX2 as well: XLA's own code with XLA_FLAGS=--xla_cpu_max_isa=AVX2, its matmuls
#            (oneDNN's, which that flag does not reach) with ONEDNN_MAX_CPU_ISA=AVX2; both sides
#            then run what an AVX2-only CPU runs
set -euo pipefail
# The table: of this run's rounds (`report rounds FILE`), or of saved runs' rounds pooled
# (`report pool LOG...`). The three rows and their goals are written here once, for both.
report() {
  python3 - "$@" <<'PY'
import statistics, sys
WORKS = [("config A training, ms/iter", "{:.2f}", 1.25),
         ("config B training, ms/iter", "{:.1f}", 1.0),
         ("ODE sampling, M particle-steps/s", "{:.2f}", 1.3)]
mode, paths = sys.argv[1], sys.argv[2:]

if mode == "rounds":
    rows = [list(map(float, l.split())) for l in open(paths[0]) if l.strip()]
    a, b, o = [], [], []
    for a1, a3, b1, b3, o1, o3, ja1, ja3, jb1, jb3, jode in rows:
        oa, ja = (a3 - a1) / 3000, (ja3 - ja1) / 3000
        ob, jb = (b3 - b1) / 100, (jb3 - jb1) / 100
        ode = 20000 * 200 / ((o3 - o1) / 1000)
        a.append((oa, ja, ja / oa)); b.append((ob, jb, jb / ob)); o.append((ode / 1e6, jode / 1e6, ode / jode))
    def span(v, f): return f"{f.format(min(v))}-{f.format(max(v))}"
    print("| work | ours | JAX (same rounds) | ratio per round | median | goal |")
    print("|---|---|---|---|---|---|")
    for (name, f, goal), v in zip(WORKS, [a, b, o]):
        ratios = sorted(r for _, _, r in v)
        print(f"| {name} | {span([x for x, _, _ in v], f)} | {span([y for _, y, _ in v], f)} | "
              f"{', '.join(f'{r:.2f}' for r in ratios)} | **{statistics.median(ratios):.2f}x** | >= {goal}x |")
    sys.exit()

pooled = {w: [] for w, _, _ in WORKS}
met = {w: 0 for w, _, _ in WORKS}
all_met = 0
for path in paths:
    rows = {}
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.split("|")]
        for w, _, _ in WORKS:
            if len(cells) > 5 and cells[1] == w:
                try:
                    rows[w] = [float(r) for r in cells[4].split(",")]
                except ValueError:
                    sys.exit(f"bench_vs_jax: {path}: no ratios in the row '{w}'")
    if len(rows) != len(WORKS):
        sys.exit(f"bench_vs_jax: {path} lacks the table of config A, config B and ODE rows")
    every = True
    for w, _, goal in WORKS:
        pooled[w] += rows[w]
        ok = statistics.median(rows[w]) >= goal
        met[w] += ok
        every &= ok
    all_met += every
print("| work | rounds | ratio per round, min-max | pooled median | runs meeting the goal | goal |")
print("|---|---|---|---|---|---|")
for w, _, goal in WORKS:
    v = pooled[w]
    print(f"| {w.split(',')[0]} | {len(v)} | {min(v):.2f}-{max(v):.2f} | **{statistics.median(v):.2f}x** "
          f"| {met[w]} of {len(paths)} | >= {goal}x |")
print(f"runs meeting all three goals: {all_met} of {len(paths)}")
PY
}
if [[ ${1:-} == --pool ]]; then
  shift
  (($#)) || { echo "bench_vs_jax: --pool needs the logs of earlier runs (this script's output)" >&2; exit 1; }
  report pool "$@"
  exit
fi
rounds=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/collapse-explorer}
peers=${PEERS:-$root/../shared/peers}
py=${PEER_PY:-$HOME/.venv-peers/bin/python}
[ -x "$bin" ] || { echo "bench_vs_jax: no binary at $bin (run cargo build, or set BIN)" >&2; exit 1; }
[ -f "$peers/peer_train.py" ] || { echo "bench_vs_jax: no peer_train.py in $peers (set PEERS)" >&2; exit 1; }
[ -x "$py" ] || { echo "bench_vs_jax: no python at $py (set up the peer venv, or set PEER_PY)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "bench_vs_jax: failed: $*" >&2; return 1; }; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
peer() { (cd "$tmp" && "$py" "$peers/peer_train.py" "$@" --out-dir "$tmp"); }
if [[ ${COLLAPSE_EXPLORER_SIMD:-} == avx2 ]]; then
  export ONEDNN_MAX_CPU_ISA=AVX2 XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_cpu_max_isa=AVX2"
  echo "AVX2 code on both sides: ours COLLAPSE_EXPLORER_SIMD=avx2; JAX ONEDNN_MAX_CPU_ISA=AVX2, XLA_FLAGS=$XLA_FLAGS"
fi

"$bin" speed --kernels 2>/dev/null | grep -E "^CPU|peak|fused path uses|packed$|^sampling kernel" || true
echo "date: $(date -u +%Y-%m-%d); binary: $bin; rounds: $rounds"
: >"$tmp/rounds"
for r in $(seq "$rounds"); do
  a1=$(ms "$bin" train --dataset chessboard --preset 2d --iters 1000 --seed 1 --out "$tmp/a1")
  ja1=$(ms peer --config A --iters 1000 --no-sample --tag _p1)
  a3=$(ms "$bin" train --dataset chessboard --preset 2d --iters 4000 --seed 1 --out "$tmp/a3")
  ja3=$(ms peer --config A --iters 4000 --no-sample --tag _p3)
  b1=$(ms "$bin" train --dataset mog --dim 10 --preset mog --n 50000 --iters 20 --seed 1 --out "$tmp/b1")
  jb1=$(ms peer --config B --iters 60 --chunk 20 --no-sample --tag _p4)
  b3=$(ms "$bin" train --dataset mog --dim 10 --preset mog --n 50000 --iters 120 --seed 1 --out "$tmp/b3")
  jb3=$(ms peer --config B --iters 160 --chunk 20 --no-sample --tag _p5)
  o1=$(ms "$bin" sample --model "$tmp/a3" --sampler ode --steps 20 --n 20000 --seed 5 --out "$tmp/o1.npy")
  o3=$(ms "$bin" sample --model "$tmp/a3" --sampler ode --steps 220 --n 20000 --seed 5 --out "$tmp/o3.npy")
  jode=$(peer --config A --iters 300 --chunk 100 --n-sample 20000 --tid-repeats 1 --tag _p6 2>&1 \
    | sed -n 's/.*sample ode:.*-> \([0-9.e+]*\) particle-steps\/s.*/\1/p')
  echo "$a1 $a3 $b1 $b3 $o1 $o3 $ja1 $ja3 $jb1 $jb3 $jode" >>"$tmp/rounds"
  echo "round $r of $rounds done" >&2
done
report rounds "$tmp/rounds"
