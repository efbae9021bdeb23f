#!/usr/bin/env bash
# Installs what blackant-sync needs and a bare Debian machine lacks. Idempotent and quiet when
# everything is there. Usage: scripts/ensure-deps.sh
#   always: Debian's chromium (the engine drives a real browser; tests too), e2fsprogs
#           when mkfs.ext4 is missing (the storage test fails a real ext4 disk in a loop device),
#           and poppler-utils (pdftotext: the simulator's tests read its exports back with it,
#           and the benchmarks compare our PDF parser with it)
set -euo pipefail

need=()
if [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null 2>&1 && [ -z "${BLACKANT_CHROMIUM:-}" ]; then
  need+=(chromium)
fi
if ! command -v mkfs.ext4 >/dev/null 2>&1 && [ ! -x /sbin/mkfs.ext4 ]; then
  need+=(e2fsprogs)
fi
if ! command -v pdftotext >/dev/null 2>&1; then
  need+=(poppler-utils)
fi
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1
  fi
fi
echo "==> installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
echo "==> installed ${need[*]}"
