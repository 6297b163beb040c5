#!/usr/bin/env bash
# Builds the libFuzzer harnesses (with AddressSanitizer) and runs each for SECONDS, starting from
# the committed seeds in Tests/Fuzz/Corpus/<harness>. New inputs go to a working corpus under
# Tests/Fuzz/.build/corpus (not committed); a crash leaves its input in Tests/Fuzz/.build/artifacts
# and makes this script exit 1. Copy a crashing input into Tests/Fuzz/Regressions/<harness>/ once
# it is fixed: every run replays those first.
#   Tests/Fuzz/run.sh SECONDS [HARNESS...]      (default: every harness)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(FuzzNpy FuzzSafeTensors FuzzMetadata FuzzJSON FuzzAudio FuzzWire FuzzReport)
# Coverage is asked for explicitly: with -sanitize=fuzzer and -sanitize=address together,
# swiftc 6.3.1 at -O left the Swift code without coverage counters (libFuzzer then saw 14 edges,
# all in C, and found nothing new).
swift build -c release --sanitize=fuzzer --sanitize=address \
  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table >/dev/null
status=0
for harness in "${harnesses[@]}"; do
  corpus=".build/corpus/$harness"
  artifacts=".build/artifacts/$harness/"
  mkdir -p "$corpus" "$artifacts" "Regressions/$harness"
  # Regressions first: each must run clean.
  if [ -n "$(ls -A "Regressions/$harness")" ]; then
    ".build/release/$harness" -runs=0 "Regressions/$harness" >/dev/null 2>&1 \
      || { echo "$harness: a regression input fails again"; status=1; }
  fi
  log=".build/$harness.log"
  if ".build/release/$harness" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$artifacts" -print_final_stats=1 "$corpus" "Corpus/$harness" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "$harness: ${seconds} s, $runs executions, coverage $cov edges, no finding"
  else
    echo "$harness: FINDING (see $log and $artifacts)"
    grep -m3 -E "ERROR|Fatal error|SUMMARY" "$log" || true
    status=1
  fi
done
exit $status
