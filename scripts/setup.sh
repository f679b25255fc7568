#!/usr/bin/env bash
# Installs what probegan's tests use beyond Rust, where it can. Every piece is optional:
# the default build needs none of it, and tests that need a piece skip with a message.
#   - Debian: chromium (HTML report screenshot test), dataset-fashion-mnist (full-data
#     checks), libonnx-testdata (source of the vendored conformance tests), espeak-ng + sox
#     (audio path), plasma-workspace-wallpapers + tuxpaint-stamps-default (substrates, see
#     scripts/substrates.sh; the set-up below runs it).
#   - PyPI: onnxruntime (ORT_DYLIB_PATH peer for checks/benchmarks), numpy/scipy (independent
#     FID/KID reference), onnx (bench model generation).
set -u
log() { echo "[setup] $*" >&2; }

if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  pkgs="chromium dataset-fashion-mnist libonnx-testdata espeak-ng sox fillets-ng-data-cs plasma-workspace-wallpapers tuxpaint-stamps-default"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    log "apt-get install$missing"
    ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing) >/tmp/probegan-apt.log 2>&1 \
      || log "apt-get failed (see /tmp/probegan-apt.log); tests needing those packages will skip"
  fi
fi

if command -v python3 >/dev/null 2>&1; then
  if ! python3 -c "import onnxruntime, numpy, scipy, onnx" >/dev/null 2>&1; then
    log "pip install onnxruntime numpy scipy onnx"
    python3 -m pip install -q onnxruntime numpy scipy onnx >/tmp/probegan-pip.log 2>&1 \
      || log "pip failed (see /tmp/probegan-pip.log); cross-checks against onnxruntime/scipy will skip"
  fi
fi

scripts/substrates.sh >/dev/null 2>&1 || log "scripts/substrates.sh failed; the substrate configs need its folders"
