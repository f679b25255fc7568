#!/usr/bin/env bash
# The CUDA check and benchmark, run on a GPU machine that has the NVIDIA driver and the CUDA 13
# runtime libraries (as Python nvidia-* wheels) but no Rust toolchain. Needs, beside the repo:
#   target/cuda/probegan.xz      from scripts/build-cuda.sh
#   .device/efficientnet_lite2.onnx, .device/lite2_substrate5.toml   (a copy of the shared model
#                                 and adapters/efficientnet_lite2_substrate5.toml pointing at it)
#   .device/wallpapers/          the substrate photos, shrunk to 400 px (scripts/substrates.sh)
#
#   bash scripts/device_check.sh OUT_DIR [PHASES] [SUBSTRATE_SECONDS]
# PHASES: a comma list of sanity,check,bench,probegan,demo,substrate (default: all but demo).
# Every phase logs to OUT_DIR/device_check.log; a failing phase is reported and the next runs.
# The substrate phase trains against Lite2 for SUBSTRATE_SECONDS (default 60), stops it as
# Ctrl-C would (a checkpoint of the current step), and packs the run into OUT_DIR/substrate_run.tar.
set -u
cd "$(dirname "$0")/.."
OUT_DIR=${1:?usage: device_check.sh OUT_DIR [PHASES] [SUBSTRATE_SECONDS]}
PHASES=${2:-sanity,check,bench,probegan,substrate}
SUB_S=${3:-60}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/device_check.log"
exec > >(tee -a "$LOG") 2>&1
has() { [[ ",$PHASES," == *",$1,"* ]]; }
phase() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
timed() { local t0=$(date +%s%N); "$@"; local rc=$?; echo "[wall $(( ($(date +%s%N) - t0) / 1000000 )) ms, rc $rc] $*"; return $rc; }

BIN=/tmp/probegan-cuda
[ -x "$BIN" ] || { xz -dc target/cuda/probegan.xz > "$BIN" && chmod +x "$BIN"; } || { echo "cannot unpack target/cuda/probegan.xz"; exit 1; }
# The CUDA 13 runtime, cuBLAS, cuRAND and NVRTC that PyTorch's wheels bring.
LIBDIRS=$(python3 - <<'EOF'
import glob, os, site
dirs = set()
for s in site.getsitepackages():
    for p in glob.glob(s + "/nvidia/**/lib*.so*", recursive=True):
        dirs.add(os.path.dirname(p))
print(":".join(sorted(dirs)))
EOF
)
export LD_LIBRARY_PATH="$LIBDIRS:${LD_LIBRARY_PATH:-}"
ORT=$(python3 -c "import onnxruntime, glob, os; print(sorted(glob.glob(os.path.dirname(onnxruntime.__file__) + '/capi/libonnxruntime.so*'))[0])" 2>/dev/null)
[ -n "$ORT" ] && export ORT_DYLIB_PATH="$ORT"
LITE2=.device/efficientnet_lite2.onnx
LITE2_ADAPTER=.device/lite2_substrate5.toml

if has sanity; then
  phase "sanity"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
  nproc
  ldd "$BIN" | grep -E "not found|cuda|cublas|curand|nvrtc"
  "$BIN" --version
  echo "ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-unset}"
fi

if has check; then
  phase "check: the bundled classifier and Lite2 on CUDA (forward vs tract/onnxruntime, gradients vs finite differences)"
  timed "$BIN" check models/fmnist_regular.onnx --device cuda
  timed "$BIN" check "$LITE2" --adapter "$LITE2_ADAPTER" --coords 16 --device cuda
fi

if has bench; then
  phase "bench: Lite2, batch 8, CUDA then CPU ($(nproc) cores), each beside tract and onnxruntime on CPU"
  timed "$BIN" bench "$LITE2" --adapter "$LITE2_ADAPTER" --batch 8 --reps 5 --device cuda
  timed "$BIN" bench "$LITE2" --adapter "$LITE2_ADAPTER" --batch 8 --reps 3 --device cpu
fi

if has probegan; then
  phase "probegan: one ProbeGAN iteration (configs/probegan_fmnist32.toml) vs its PyTorch-eager twin"
  timed "$BIN" train --config configs/probegan_fmnist32.toml --device cuda \
    --set 'data.source="embedded"' --set run.steps=60 --set run.sample_every=1000 \
    --set run.checkpoint_every=1000 --set 'run.out_dir="/tmp/pg_cuda"'
  timed python3 bench/probegan_torch.py --steps 20 --device cuda
  timed "$BIN" train --config configs/probegan_fmnist32.toml --device cpu \
    --set 'data.source="embedded"' --set run.steps=6 --set run.sample_every=1000 \
    --set run.checkpoint_every=1000 --set 'run.out_dir="/tmp/pg_cpu"'
  timed python3 bench/probegan_torch.py --steps 3 --threads "$(nproc)" --device cpu
fi

if has demo; then
  phase "demo: the embedded default on CUDA (400 steps, verdict by the bundled judge)"
  timed "$BIN" demo --device cuda --out /tmp/demo_cuda
  cp /tmp/demo_cuda/*.png "$OUT_DIR/" 2>/dev/null
fi

if has substrate; then
  phase "substrate: configs/substrate_imagenet.toml against Lite2 on CUDA for ${SUB_S} s"
  timed timeout -s INT -k 60 "$SUB_S" "$BIN" train --config configs/substrate_imagenet.toml --device cuda \
    --set 'data.source="substrates:.device/wallpapers"' --set "classifier.adapter=\"$LITE2_ADAPTER\"" \
    --set 'run.out_dir="/tmp/substrate_cuda"' --set run.steps=200000 --set run.log_every=50 \
    --set run.sample_every=2000 --set run.checkpoint_every=2000 \
    --set method.view_jitter=0.15 --set method.view_resample=0.5
  tar -cf "$OUT_DIR/substrate_run.tar" -C /tmp substrate_cuda && ls -la "$OUT_DIR/substrate_run.tar"
fi
phase "done"
