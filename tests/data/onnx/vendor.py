#!/usr/bin/env python3
"""Vendor the ONNX backend tests the engine claims to support from Debian's libonnx-testdata.

Copies every test under node/, pytorch-converted/ and pytorch-operator/ whose ops are all in
the engine's registry (src/onnx/ops/mod.rs SUPPORTED) and whose tensors are float/int/bool,
skipping tests over SIZE_CAP bytes. Re-run after adding ops:
    python3 tests/data/onnx/vendor.py

Also vendors the PyPI onnx wheel's `light` zoo (onnx/backend/test/data/light: AlexNet,
DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512 with
placeholder ConstantOfShape weights) into light/NAME/{model.onnx, output_0.pb}. Its input is not
stored: onnx's runner feeds arange(n)/n in the declared shape, and tests/onnx_conformance.rs
builds the same.
"""
import os, re, shutil, sys
import onnx

SRC = "/usr/share/libonnx-testdata/data"
HERE = os.path.dirname(os.path.abspath(__file__))
SIZE_CAP = 40_000
OK_TYPES = {1, 2, 3, 5, 6, 7, 9, 11}  # float, u8, i8, i16, i32, i64, bool, double

reg = open(os.path.join(HERE, "../../../src/onnx/ops/mod.rs")).read()
block = reg[reg.index("pub const SUPPORTED"):]
block = block[: block.index("];")]
supported = set(re.findall(r'"(\w+)"', block))

def tensor_types_ok(model):
    vis = list(model.graph.input) + list(model.graph.output)
    for v in vis:
        if v.type.WhichOneof("value") != "tensor_type" or v.type.tensor_type.elem_type not in OK_TYPES:
            return False
    return True

def all_nodes(graph):
    """The graph's nodes and, recursively, those of its subgraphs (If branches)."""
    out = []
    for n in graph.node:
        out.append(n)
        for a in n.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                out.extend(all_nodes(g))
    return out

def dir_size(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)

kept, skipped = 0, 0
for suite in ["node", "pytorch-converted", "pytorch-operator"]:
    dst_suite = os.path.join(HERE, suite)
    shutil.rmtree(dst_suite, ignore_errors=True)
    for name in sorted(os.listdir(os.path.join(SRC, suite))):
        src = os.path.join(SRC, suite, name)
        try:
            m = onnx.load(os.path.join(src, "model.onnx"))
        except Exception:
            skipped += 1
            continue
        nodes = all_nodes(m.graph)
        ops = {n.op_type for n in nodes}
        if not ops <= supported or any(n.domain not in ("", "ai.onnx") for n in nodes):
            skipped += 1
            continue
        if not tensor_types_ok(m) or dir_size(src) > SIZE_CAP:
            skipped += 1
            continue
        shutil.copytree(src, os.path.join(dst_suite, name))
        kept += 1
print(f"vendored {kept} tests, skipped {skipped}", file=sys.stderr)

light_src = os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/light")
light_dst = os.path.join(HERE, "light")
shutil.rmtree(light_dst, ignore_errors=True)
n_light = 0
for f in sorted(os.listdir(light_src)):
    if not (f.startswith("light_") and f.endswith(".onnx")):
        continue
    name = f[len("light_"):-len(".onnx")]
    os.makedirs(os.path.join(light_dst, name))
    shutil.copy(os.path.join(light_src, f), os.path.join(light_dst, name, "model.onnx"))
    shutil.copy(os.path.join(light_src, f"light_{name}_output_0.pb"), os.path.join(light_dst, name, "output_0.pb"))
    n_light += 1
print(f"vendored {n_light} light zoo models (onnx {onnx.__version__})", file=sys.stderr)
