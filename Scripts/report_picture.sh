#!/usr/bin/env bash
# Renders the report of the bundled demo (the bundled Silero VAD on the bundled speech, replayed at
# real-time pace with speech segments) and takes a picture of it in headless Chromium, as a person
# would see it: docs/report.html and docs/report.png. Run by hand (needs Debian's `chromium`; the
# tests check the HTML's structure without a browser).
#   Scripts/report_picture.sh [STREAMRNN_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build/release/streamrnn}
[ -x "$binary" ] || swift build -c release --product streamrnn
command -v chromium >/dev/null || { echo "report_picture.sh: needs chromium (apt-get install chromium)" >&2; exit 2; }
mkdir -p docs
"$binary" replay Sources/CBundledModels/demo_speech_16k.wav --segments --quiet --no-meter \
  --report docs/report.html > /dev/null
# The page is 1220 px wide; the window's height fits the timeline, one row of histograms and the
# summary.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size=1220,760 --screenshot="$PWD/docs/report.png" "file://$PWD/docs/report.html" 2>/dev/null
echo "docs/report.html ($(stat -c %s docs/report.html) bytes) and docs/report.png written"
