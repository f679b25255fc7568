#!/usr/bin/env python3
"""Build the engine benchmark models as ONNX (random weights, fixed seed).

  small_cnn.onnx   a small CNN: 2x (conv3x3, BN, ReLU, maxpool), global pool, Gemm; 32x32x3 -> 10
  mobilenet.onnx   a MobileNetV2-style classifier, width 1.4 (~6.1 M parameters): inverted
                   residuals with depthwise convs, BN, ReLU6 (Clip), global average pooling,
                   Gemm; 3xHxW -> 1000 (H, W symbolic)

BN stays as separate nodes, as a PyTorch export in training-friendly form leaves it.
Batch is a symbolic dimension N.

usage: python3 scripts/make_bench_models.py OUT_DIR [small_cnn|mobilenet ...]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


class Net:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}{self.n}"

    def const(self, arr, p):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), n))
        return n

    def conv(self, x, cin, cout, k, stride=1, groups=1, bias=False):
        w = rng.normal(0, np.sqrt(2.0 / (cin // groups * k * k)), (cout, cin // groups, k, k))
        ins = [x, self.const(w, "w")]
        if bias:
            ins.append(self.const(np.zeros(cout), "b"))
        y = self.name("conv")
        p = k // 2
        self.nodes.append(helper.make_node("Conv", ins, [y], name=y, kernel_shape=[k, k], strides=[stride, stride],
                                           pads=[p, p, p, p], group=groups))
        return y

    def bn(self, x, c):
        ins = [x, self.const(rng.uniform(0.5, 1.5, c), "g"), self.const(rng.normal(0, 0.1, c), "beta"),
               self.const(rng.normal(0, 0.1, c), "mean"), self.const(rng.uniform(0.5, 1.5, c), "var")]
        y = self.name("bn")
        self.nodes.append(helper.make_node("BatchNormalization", ins, [y], name=y, epsilon=1e-5))
        return y

    def relu6(self, x):
        lo, hi = self.const(0.0, "lo"), self.const(6.0, "hi")
        y = self.name("relu6")
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [y], name=y))
        return y

    def op(self, op, ins, **attrs):
        y = self.name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [y], name=y, **attrs))
        return y

    def head(self, x, c, classes):
        g = self.op("GlobalAveragePool", [x])
        f = self.op("Flatten", [g], axis=1)
        w = self.const(rng.normal(0, np.sqrt(1.0 / c), (classes, c)), "fc")
        b = self.const(np.zeros(classes), "fcb")
        return self.op("Gemm", [f, w, b], transB=1)

    def save(self, out, path, hw, name):
        # hw=None: spatial size left symbolic (fully convolutional up to the global pool).
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, hw or "H", hw or "W"])
        outp = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", None])
        self.nodes[-1].output[0] = "logits"
        graph = helper.make_graph(self.nodes, name, [inp], [outp], self.inits)
        model = helper.make_model(graph, producer_name="probegan-bench", opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, path)
        params = sum(int(np.prod(t.dims)) for t in self.inits)
        print(f"{path}: {params / 1e6:.2f} M parameters, {len(self.nodes)} nodes", file=sys.stderr)


def small_cnn(path):
    n = Net()
    x = "input"
    for cin, cout in [(3, 16), (16, 32)]:
        x = n.op("Relu", [n.bn(n.conv(x, cin, cout, 3), cout)])
        x = n.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    n.head(x, 32, 10)
    n.save(None, path, 32, "small_cnn")


def mobilenet(path, width=1.4):
    def ch(c):
        return max(8, int(c * width + 4) // 8 * 8)

    n = Net()
    c = ch(32)
    x = n.relu6(n.bn(n.conv("input", 3, c, 3, stride=2), c))
    # (expansion, out channels, repeats, stride), as MobileNetV2
    for t, co, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        co = ch(co)
        for i in range(reps):
            stride = s if i == 0 else 1
            hidden = c * t
            y = x
            if t != 1:
                y = n.relu6(n.bn(n.conv(y, c, hidden, 1), hidden))
            y = n.relu6(n.bn(n.conv(y, hidden, hidden, 3, stride=stride, groups=hidden), hidden))
            y = n.bn(n.conv(y, hidden, co, 1), co)
            if stride == 1 and c == co:
                y = n.op("Add", [x, y])
            x, c = y, co
    last = 1792 if width > 1.0 else 1280
    x = n.relu6(n.bn(n.conv(x, c, last, 1), last))
    n.head(x, last, 1000)
    n.save(None, path, None, "mobilenet_v2_1.4")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    which = sys.argv[2:] or ["small_cnn", "mobilenet"]
    os.makedirs(out, exist_ok=True)
    for w in which:
        {"small_cnn": small_cnn, "mobilenet": mobilenet}[w](os.path.join(out, f"{w}.onnx"))
