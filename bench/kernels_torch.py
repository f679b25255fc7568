#!/usr/bin/env python3
"""PyTorch-eager twin of `cargo bench --bench kernels`: the same layers, shapes and batch,
timed the same way (median ms of forward, and of forward + backward w.r.t. input and weights).

    python3 bench/kernels_torch.py --threads 2 [--seconds 1.5] [--rows conv3x3_64_32,...]
Prints one JSON object: {"torch": "<version>", "rows": {name: {"fwd": ms, "fwd_bwd": ms}}}.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

N = 64


def lrelu(x):
    return torch.maximum(x, x * 0.2)


def rows():
    """name -> (inputs that need gradients, forward function). Mirrors benches/kernels.rs."""
    r = {}

    def conv_row(name, c, o, hw, k, pad):
        x, w, b = torch.randn(N, c, hw, hw), torch.randn(o, c, k, k) * 0.05, torch.randn(o)
        r[name] = ([x, w, b], lambda x, w, b: F.conv2d(x, w, b, padding=pad))

    conv_row("conv3x3_64_32", 64, 64, 32, 3, 1)
    conv_row("conv3x3_64_16", 64, 64, 16, 3, 1)
    conv_row("conv3x3_128_8", 128, 128, 8, 3, 1)
    conv_row("conv1x1_64_32", 64, 64, 32, 1, 0)
    x, w, b = torch.randn(N, 128, 8, 8), torch.randn(128, 64, 4, 4) * 0.05, torch.randn(64)
    r["convT4x4s2_128_64_8"] = ([x, w, b], lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1))
    x, w, b = torch.randn(N, 64, 16, 16), torch.randn(64, 64, 3, 3) * 0.05, torch.randn(64)
    r["up2_conv3x3_64_16"] = ([x, w, b], lambda x, w, b: F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b, padding=1))
    x, g, b = torch.randn(N, 64, 32, 32), torch.randn(64), torch.randn(64)
    r["batchnorm_train_64_32"] = ([x, g, b], lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5))
    x = torch.randn(N, 1, 32, 32)
    ws = [torch.randn(64, 1, 4, 4) * 0.1, torch.randn(128, 64, 4, 4) * 0.05, torch.randn(256, 128, 4, 4) * 0.05]
    bs = [torch.randn(64), torch.randn(128), torch.randn(256)]
    lw, lb = torch.randn(1, 256 * 4 * 4) * 0.01, torch.randn(1)

    def disc(x, w1, w2, w3, b1, b2, b3, lw, lb):
        h = lrelu(F.conv2d(x, w1, b1, stride=2, padding=1))
        h = lrelu(F.conv2d(h, w2, b2, stride=2, padding=1))
        h = lrelu(F.conv2d(h, w3, b3, stride=2, padding=1))
        return F.linear(h.flatten(1), lw, lb)

    r["small_discriminator"] = ([x] + ws + bs + [lw, lb], disc)
    return r


def median_ms(f, seconds):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < seconds and len(times) < 50):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--rows", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    wanted = set(filter(None, a.rows.split(",")))
    out = {}
    for name, (inputs, fn) in rows().items():
        if wanted and name not in wanted:
            continue
        with torch.no_grad():
            fwd = median_ms(lambda: fn(*inputs), a.seconds)
        leaves = [t.clone().requires_grad_(True) for t in inputs]

        def fwd_bwd():
            for t in leaves:
                t.grad = None
            fn(*leaves).sum().backward()

        out[name] = {"fwd": fwd, "fwd_bwd": median_ms(fwd_bwd, a.seconds)}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": out}))


if __name__ == "__main__":
    main()
