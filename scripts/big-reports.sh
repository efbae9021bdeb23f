#!/usr/bin/env bash
# Writes the big reports of other producers that `make bench` parses beside the simulator's
# export (issue 14: 6,000-record reports from a browser's print-to-PDF and from other writers).
# They are generated, not committed (30 MB for Chromium's). Idempotent: a report already there is
# kept. Needs python3 (reportlab, fpdf2 and pikepdf go into a venv under target/) and Chromium.
# The Chromium report is also written again through qpdf (pikepdf), as a PDF optimiser would:
# the same records, every dictionary's keys sorted (`/Type` last).
# Usage: scripts/big-reports.sh [OUT_DIR]   (default target/bench-pdfs)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-pdfs}"
venv=target/bench-venv
mkdir -p "$out"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import reportlab, fpdf, pikepdf' 2>/dev/null; then
  echo "==> python venv for the report generators ($venv: reportlab, fpdf2, pikepdf)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q reportlab fpdf2 pikepdf
fi
for producer in chromium reportlab fpdf; do
  pdf="$out/customers-$producer-big.pdf"
  [ -s "$pdf" ] && [ -s "${pdf%.pdf}.expected.jsonl" ] && continue
  echo "==> $pdf (6,000 records)"
  "$venv/bin/python" fixtures/pdfs/make_fixtures.py --big "$pdf" --records 6000 --producer "$producer"
done
src="$out/customers-chromium-big"
dst="$out/customers-chromium-qpdf-big"
if [ ! -s "$dst.pdf" ] || [ ! -s "$dst.expected.jsonl" ]; then
  echo "==> $dst.pdf (the Chromium report written again by qpdf)"
  "$venv/bin/python" -c 'import sys, pikepdf; pikepdf.open(sys.argv[1]).save(sys.argv[2])' \
    "$src.pdf" "$dst.pdf"
  sed 's/"producer": "chromium"/"producer": "chromium", "altered_by": "pikepdf: saved again (keys sorted)"/' \
    "$src.meta.json" > "$dst.meta.json"
  cp "$src.expected.jsonl" "$dst.expected.jsonl"
fi
