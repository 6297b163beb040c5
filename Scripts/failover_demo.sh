#!/usr/bin/env bash
# Two `streamrnn serve` instances behind HAProxy on loopback (deploy/haproxy.cfg with its own
# ports), the load generator through the balancer, one instance killed (kill -9) mid-run:
# its sessions see the connection close and reconnect through HAProxy to the survivor (fresh
# state); the survivor's sessions run to the end and lose nothing.
#   Scripts/failover_demo.sh [STREAMS (default 40)] [SECONDS (default 20)]
# Needs haproxy (apt-get install haproxy) and a release build (swift build -c release).
set -euo pipefail
cd "$(dirname "$0")/.."
streams="${1:-40}"
seconds="${2:-20}"
binary=.build/release/streamrnn
dir="$(mktemp -d /tmp/streamrnn-failover.XXXXXX)"
front=18080 one=18081 two=18082
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
sed -e "s/127.0.0.1:8080/127.0.0.1:$front/; s/127.0.0.1:8081/127.0.0.1:$one/; s/127.0.0.1:8082/127.0.0.1:$two/" \
  deploy/haproxy.cfg >"$dir/haproxy.cfg"
"$binary" serve --port "$one" --threads 1 2>"$dir/serve1.log" & pids+=($!); first=$!
"$binary" serve --port "$two" --threads 1 2>"$dir/serve2.log" & pids+=($!); second=$!
haproxy -f "$dir/haproxy.cfg" -db 2>"$dir/haproxy.log" & pids+=($!)
for port in $one $two; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
sleep 2.5  # the health checks mark both up
"$binary" loadgen "ws://127.0.0.1:$front/v1/stream" --streams "$streams" --seconds "$seconds" \
  --file Sources/CBundledModels/demo_speech_16k.wav --reconnect --json "$dir/summary.json" &
loadgen=$!
sleep "$(echo "$seconds / 3" | bc -l)"
open_one=$(curl -s "http://127.0.0.1:$one/metrics" | awk '/^streamrnn_sessions_open /{print $2}')
open_two=$(curl -s "http://127.0.0.1:$two/metrics" | awk '/^streamrnn_sessions_open /{print $2}')
echo "before the kill: instance 1 has $open_one sessions, instance 2 has $open_two"
kill -9 "$first"
echo "instance 1 killed"
wait "$loadgen"
summary=$(cat "$dir/summary.json")
echo "load generator: $summary"
after_two=$(curl -s "http://127.0.0.1:$two/metrics" | awk '/^streamrnn_sessions_opened_total /{print $2}')
echo "instance 2 opened $after_two sessions in all (its own $open_two + the reconnected ones)"
echo "logs in $dir"
