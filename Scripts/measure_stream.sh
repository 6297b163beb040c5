#!/usr/bin/env bash
# Measures the stream's bars (run by hand after `swift build -c release`; needs sox):
#  1. latency: a 60 s file replayed at real-time pace through the demo 2x64 GRU + head;
#     capture-to-output p99 should be <= one hop (10 ms) + 1 ms; CPU use of the whole process.
#  2. soak: 1 hour of audio at --pace max; nothing dropped, memory (RSS) flat.
# Usage: Scripts/measure_stream.sh [WORKDIR]   (default: a fresh temp dir; ~120 MB for the 1 h file)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/streamrnn
model=Examples/demo/gru2x64-head2.safetensors
work=${1:-$(mktemp -d)}
mkdir -p "$work"
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
command -v sox >/dev/null || { echo "needs sox (apt-get install sox)" >&2; exit 1; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. 60 s at real-time pace.
[ -f "$work/speech60.wav" ] || sox Examples/demo/speech.wav "$work/speech60.wav" repeat 11 trim 0 60
start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$work/time60.txt" "$bin" replay "$work/speech60.wav" --model "$model" \
  --quiet --stats-json "$work/stats60.json" 2> "$work/table60.txt"
end=$(date +%s.%N)
read -r user sys < "$work/time60.txt"
python3 - "$work/stats60.json" "$start" "$end" "$user" "$sys" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); wall = float(sys.argv[3]) - float(sys.argv[2])
cpu = float(sys.argv[4]) + float(sys.argv[5])
c, q, st = s["capture_to_output"], s["queue_wait"], s["step"]
print(f"60 s paced: {s['frames']} frames, dropped {s['dropped']}, wall {wall:.2f} s, CPU {cpu:.2f} s ({100*cpu/wall:.1f} % of one core)")
print(f"  capture-to-output µs: p50 {c['p50_us']:.0f}  p90 {c['p90_us']:.0f}  p99 {c['p99_us']:.0f}  p99.9 {c['p999_us']:.0f}  max {c['max_us']:.0f}"
      f"   (bar: p99 <= 11000: {'met' if c['p99_us'] <= 11000 else 'NOT met'})")
print(f"  queue wait (push -> pop, includes waking the consumer) µs: p50 {q['p50_us']:.0f}  p99 {q['p99_us']:.0f}")
print(f"  step µs: p50 {st['p50_us']:.1f}  p99 {st['p99_us']:.1f}")
PY

# 2. One hour at maximum pace (it takes about a second), RSS sampled every 10 ms.
[ -f "$work/speech3600.wav" ] || sox "$work/speech60.wav" "$work/speech3600.wav" repeat 59
"$bin" replay "$work/speech3600.wav" --model "$model" --pace max --quiet --stats-json "$work/stats3600.json" \
  2> "$work/table3600.txt" &
pid=$!
: > "$work/rss.txt"
while kill -0 "$pid" 2>/dev/null; do
  awk '/^VmRSS/ {print $2}' "/proc/$pid/status" >> "$work/rss.txt" 2>/dev/null || true
  sleep 0.01
done
wait "$pid"
python3 - "$work/stats3600.json" "$work/rss.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rss = [int(x) for x in open(sys.argv[2]).read().split()]
rss = rss[len(rss) // 10:]  # skip start-up (loading, first allocations)
half = len(rss) // 2
print(f"1 h at --pace max: {s['frames']} frames of {s['audio_seconds']:.0f} s audio, dropped {s['dropped']}, "
      f"{s['x_real_time']:.0f} x real-time (compute)")
print(f"  RSS KiB over {len(rss)} samples after start-up: first half max {max(rss[:half] or [0])}, second half max {max(rss[half:] or [0])}, "
      f"overall min {min(rss or [0])} max {max(rss or [0])}")
PY
