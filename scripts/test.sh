#!/usr/bin/env bash
# The README's test command: set-up on a fresh machine, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(scripts/ort-path.sh || true)}"
if [ -n "$ORT_DYLIB_PATH" ]; then export ORT_DYLIB_PATH; fi
cargo test "$@"
