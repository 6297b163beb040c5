#!/usr/bin/env bash
# The engine's memory over a long run: `streamrnn replay --streams N --pace max` (default 1,000
# sessions) over a recording of MINUTES minutes (default 60: the bundled demo speech repeated),
# events only (--segments --quiet, no output files), with the process's resident set sampled every
# 10 s. Prints the samples and the growth after the first minute; run by hand (README, Speed).
#   Scripts/measure_engine_memory.sh [SESSIONS] [MINUTES] [STREAMRNN]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions="${1:-1000}"
minutes="${2:-60}"
streamrnn="${3:-.build/release/streamrnn}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$minutes" "$work/long.wav" <<'PY'
import sys, wave
minutes, path = float(sys.argv[1]), sys.argv[2]
with wave.open("Examples/demo/speech_with_pauses.wav") as w:
    params, frames = w.getparams(), w.readframes(w.getnframes())
with wave.open(path, "wb") as out:
    out.setparams(params)
    need = int(minutes * 60 * params.framerate) * params.sampwidth
    data = frames * (need // len(frames) + 1)
    out.writeframes(data[:need])
PY
start=$(date +%s)
"$streamrnn" replay "$work/long.wav" --streams "$sessions" --pace max --segments --quiet \
  --stats-json "$work/stats.json" > /dev/null &
pid=$!
first=""
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] || break
  now=$(( $(date +%s) - start ))
  echo "t=${now}s RSS ${rss} KiB"
  if [ -z "$first" ] && [ "$now" -ge 60 ]; then first=$rss; fi
  last=$rss
  sleep 10
done
wait "$pid"
echo "wall $(( $(date +%s) - start )) s; RSS after the first minute ${first:-?} KiB, at the end ${last:-?} KiB"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print({k: d[k] for k in list(d)[:12]})" "$work/stats.json"
