#!/usr/bin/env bash
# The README's test command: set-up on a fresh machine, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A clean test build takes about 3.5 GB under target/ (measured 2026-11-24, commit 99d180d); say so up front rather than
# fail mid-link with "No space left on device".
avail_mb=$(df -Pm . 2>/dev/null | awk 'NR==2 {print $4}')
if [ -n "$avail_mb" ] && [ "$avail_mb" -lt 5000 ]; then
  echo "[test] warning: only ${avail_mb} MB free on $(df -P . | awk 'NR==2 {print $6}'); a clean test build needs about 3.5 GB" >&2
fi
ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(scripts/ort-path.sh || true)}"
if [ -n "$ORT_DYLIB_PATH" ]; then export ORT_DYLIB_PATH; fi
cargo test "$@"
