#!/usr/bin/env bash
# Writes the big reports of other producers that `make bench` parses beside the simulator's
# export (issue 14: 6,000-record reports from a browser's print-to-PDF and from other writers).
# They are generated, not committed (30 MB for Chromium's). Idempotent: a report already there is
# kept. Needs python3 (reportlab and fpdf2 go into a venv under target/) and Chromium.
# Usage: scripts/big-reports.sh [OUT_DIR]   (default target/bench-pdfs)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-pdfs}"
venv=target/bench-venv
mkdir -p "$out"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import reportlab, fpdf' 2>/dev/null; then
  echo "==> python venv for the report generators ($venv: reportlab, fpdf2)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q reportlab fpdf2
fi
for producer in chromium reportlab fpdf; do
  pdf="$out/customers-$producer-big.pdf"
  [ -s "$pdf" ] && [ -s "${pdf%.pdf}.expected.jsonl" ] && continue
  echo "==> $pdf (6,000 records)"
  "$venv/bin/python" fixtures/pdfs/make_fixtures.py --big "$pdf" --records 6000 --producer "$producer"
done
