#!/usr/bin/env bash
# StreamRNN against RTNeural on the benchmark zoo, in one sitting: ROUNDS alternating rounds of
# `streamrnn bench --zoo`, RTNeural's Eigen backend and its xsimd backend (both g++ -O3
# -march=native, as RTNeural's README builds them), then the median over the rounds of each
# engine's per-model median, and StreamRNN / the better RTNeural backend.
#
#   Scripts/rtneural/side_by_side.sh RTNEURAL_DIR XSIMD_DIR [ROUNDS=5] [OUT_DIR=/tmp/streamrnn-rtneural]
#
# RTNEURAL_DIR: a checkout of https://github.com/jatinchowdhury18/RTNeural (its Eigen is vendored);
# XSIMD_DIR: a checkout of https://github.com/xtensor-stack/xsimd at the commit RTNeural's
# modules/xsimd submodule names. Both stay outside this repository; nothing of them is copied in.
# Needs g++ and a release build of streamrnn-bench (swift build -c release --product streamrnn-bench).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rtneural=${1:?RTNeural checkout}
xsimd=${2:?xsimd checkout}
rounds=${3:-5}
out=${4:-/tmp/streamrnn-rtneural}
mkdir -p "$out"
bench="$root/.build/release/streamrnn-bench"
[ -x "$bench" ] || { echo "build streamrnn-bench first: swift build -c release --product streamrnn-bench" >&2; exit 1; }
common=(-O3 -DNDEBUG -march=native -std=c++17 -DRTNEURAL_DEFAULT_ALIGNMENT=32 -I"$rtneural")
g++ "${common[@]}" -DRTNEURAL_USE_EIGEN=1 -DEIGEN_STACK_ALLOCATION_LIMIT=0 -I"$rtneural/modules/Eigen" \
  "$here/zoo.cpp" -o "$out/zoo_eigen"
g++ "${common[@]}" -DRTNEURAL_USE_XSIMD=1 -I"$xsimd/include" "$here/zoo.cpp" -o "$out/zoo_xsimd"
for round in $(seq 1 "$rounds"); do
  "$bench" --zoo --no-features --json "$out/streamrnn_$round.json" > /dev/null
  "$out/zoo_eigen" > "$out/eigen_$round.jsonl"
  "$out/zoo_xsimd" > "$out/xsimd_$round.jsonl"
done
python3 - "$out" "$rounds" "$(git -C "$rtneural" rev-parse HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, statistics, sys
out, rounds, commit = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names = ["gru2x64+head", "lstm2x64+head", "gru1x256", "lstm1x256", "gru1x16"]
medians = {engine: {name: [] for name in names} for engine in ("streamrnn", "eigen", "xsimd")}
for r in range(1, rounds + 1):
    for row in json.load(open(f"{out}/streamrnn_{r}.json"))["results"]:
        medians["streamrnn"][row["model"]].append(row["median_us"])
    for engine in ("eigen", "xsimd"):
        for line in open(f"{out}/{engine}_{r}.jsonl"):
            row = json.loads(line)
            medians[engine][row["model"]].append(row["median_us"])
print(f"RTNeural {commit}; {rounds} alternating rounds; µs per step, median over rounds of each round's median")
print("| model | RTNeural Eigen | RTNeural xsimd | StreamRNN f32 | StreamRNN / best RTNeural |")
print("|---|---|---|---|---|")
for name in names:
    s, e, x = (statistics.median(medians[k][name]) for k in ("streamrnn", "eigen", "xsimd"))
    print(f"| {name} | {e:.3f} | {x:.3f} | {s:.3f} | {s / min(e, x):.2f}x |")
PY
