#!/usr/bin/env bash
# Renders the evidence report's snapshot (shared/src/evidence/snapshots/, fixed data: a
# failure resolved, one still open and a forged resolution) in headless Chromium and writes
# docs/images/evidence-report.png, the picture docs/evidence.md shows.
# Needs Debian's chromium (apt-get install chromium). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot=shared/src/evidence/snapshots/idc_guard_core__evidence__html__tests__report_snapshot.snap
html="$(mktemp --suffix=.html)"
trap 'rm -f "$html"' EXIT
# The snapshot is insta's header (between two --- lines), then the page.
awk 'n>=2 {print} /^---$/ {n++}' "$snapshot" > "$html"
mkdir -p docs/images
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1200,1500 --screenshot=docs/images/evidence-report.png "file://$html" 2>/dev/null
echo "docs/images/evidence-report.png"
