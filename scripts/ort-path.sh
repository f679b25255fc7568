#!/usr/bin/env bash
# Prints the path of libonnxruntime.so from the PyPI onnxruntime wheel, if installed.
# Use: export ORT_DYLIB_PATH="$(scripts/ort-path.sh)"
python3 - <<'PY' 2>/dev/null
import glob, os
import onnxruntime
libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))
print(libs[0] if libs else "")
PY
