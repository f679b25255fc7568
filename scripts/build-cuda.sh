#!/usr/bin/env bash
# Builds probegan with CUDA (cargo feature `cuda`) on a machine WITHOUT a GPU, following the
# recipe in docs/ARCHITECTURE.md: nvcc and the CUDA 13.0 runtime libraries come from PyPI
# wheels pinned to the target driver (580 = CUDA 13.0; PTX from a newer nvcc will not load),
# the compute capability is given explicitly (no nvidia-smi at build time), and a stub
# libcuda.so.1 satisfies the linker. The resulting binary needs the NVIDIA driver to start;
# carry it to the GPU machine (which has no Rust toolchain).
#
# CCCL (the nvidia-cuda-cccl wheel) provides <nv/target>, which CUDA 13's cuda_fp16.h includes;
# without it every candle kernel fails to compile ("nv/target: No such file or directory").
# nvvm and crt are pinned too: nvcc 13.0's unpinned dependencies pull 13.5, whose PTX (.version
# 9.5) the 13.0 ptxas rejects.
#
# Usage: scripts/build-cuda.sh [extra cargo args]   (env: CUDA_COMPUTE_CAP, default 90 = H100/H200)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CUDA_VENV:-$PWD/target/cuda-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q \
  "nvidia-cuda-nvcc==13.0.88" "nvidia-cuda-runtime==13.0.*" "nvidia-cublas==13.0.*" \
  "nvidia-curand==10.4.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cuda-cccl==13.0.*" \
  "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" >/dev/null \
  || { echo "build-cuda: could not install the CUDA 13.0 wheels from PyPI" >&2; exit 1; }
SITE="$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
CUDA_ROOT="$SITE/nvidia/cu13"
[ -d "$CUDA_ROOT" ] || CUDA_ROOT="$SITE/nvidia/cuda_nvcc"
NVCC="$(find "$SITE/nvidia" -name nvcc -type f | head -n1)"
[ -n "$NVCC" ] || { echo "build-cuda: nvcc not found in the wheels under $SITE/nvidia" >&2; exit 1; }
CUDA_HOME="$(dirname "$(dirname "$NVCC")")"
LIBDIRS="$(find "$SITE/nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | tr '\n' ':')"
# A stub libcuda.so(.1) for linking only; the real one comes with the driver at run time. It
# must define every driver entry point cudarc links against (the binary is linked with
# `-z now`), so the names are read from cudarc's own bindings.
STUB="$PWD/target/cuda-stub"
mkdir -p "$STUB"
if [ ! -f "$STUB/libcuda.so.1" ] || [ ! -f "$STUB/.all-symbols" ]; then
  CUDARC_VERSION="$(awk '/^name = "cudarc"/{getline; gsub(/"/, "", $3); print $3}' Cargo.lock)"
  # On a fresh machine the registry is empty until `cargo fetch` (the `|| true` keeps
  # pipefail from ending the script silently here).
  BINDINGS="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$CUDARC_VERSION"/src/driver/sys/mod.rs 2>/dev/null | head -n1 || true)"
  [ -f "$BINDINGS" ] || cargo fetch -q
  BINDINGS="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$CUDARC_VERSION"/src/driver/sys/mod.rs | head -n1)"
  grep -oE '^ +fn cu[A-Za-z0-9_]+\(' "$BINDINGS" | sed -E 's/^ +fn ([A-Za-z0-9_]+)\(/int \1(void) { return 999; }/' | sort -u > "$STUB/stub.c"
  [ -s "$STUB/stub.c" ] || { echo "build-cuda: no driver symbols found in $BINDINGS" >&2; exit 1; }
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUB/libcuda.so.1" "$STUB/stub.c"
  ln -sf libcuda.so.1 "$STUB/libcuda.so"
  touch "$STUB/.all-symbols"
fi
for d in $(echo "$LIBDIRS" | tr ':' ' '); do
  for f in "$d"/lib*.so.*; do
    [ -e "$f" ] || continue
    base="$(basename "$f" | sed 's/\.so\..*/.so/')"
    [ -e "$d/$base" ] || ln -sf "$(basename "$f")" "$d/$base"
  done
done
export CUDA_HOME CUDA_PATH="$CUDA_HOME" PATH="$(dirname "$NVCC"):$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
export LIBRARY_PATH="$STUB:$LIBDIRS${LIBRARY_PATH:-}"
export RUSTFLAGS="${RUSTFLAGS:-} -L $STUB $(echo "$LIBDIRS" | tr ':' '\n' | sed '/^$/d; s/^/-L /' | tr '\n' ' ')"
cargo build --release --features cuda --target-dir target/cuda "$@"
# The device machine takes at most 64 MiB of carried files: strip (350 MB -> ~96 MB, mostly
# the embedded PTX) and compress (~21 MB); unpack there with `xz -dc ... > probegan`.
strip -o target/cuda/probegan-stripped target/cuda/release/probegan
xz -T2 -6 -c target/cuda/probegan-stripped > target/cuda/probegan.xz
echo "carry target/cuda/probegan.xz ($(du -h target/cuda/probegan.xz | cut -f1)) to a GPU machine"
echo "built target/cuda/release/probegan (needs the NVIDIA driver and the CUDA 13.0 runtime libs: LD_LIBRARY_PATH=$LIBDIRS)"
