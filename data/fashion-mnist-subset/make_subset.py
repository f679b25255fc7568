#!/usr/bin/env python3
"""Writes the bundled stratified Fashion-MNIST subset (the embedded default's data).

Run from the repository root:  python3 data/fashion-mnist-subset/make_subset.py
Reads the full set from Debian's dataset-fashion-mnist package; draws, per class, the first
TRAIN_PER_CLASS (TEST_PER_CLASS) images of a seeded permutation, kept in original order.
"""
import gzip, os, numpy as np

SRC = "/usr/share/datasets/fashion-mnist"
OUT = os.path.dirname(os.path.abspath(__file__))
TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 1000, 300, 20240601

def read(name):
    with gzip.open(os.path.join(SRC, name)) as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw[4 + 4 * rank:], dtype=np.uint8).reshape(dims)

def write(name, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    # mtime=0: byte-identical output on every run.
    with open(os.path.join(OUT, name), "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=9) as g:
        g.write(header + arr.tobytes())

rng = np.random.default_rng(SEED)
for prefix, per in [("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)]:
    x, y = read(f"{prefix}-images-idx3-ubyte.gz"), read(f"{prefix}-labels-idx1-ubyte.gz")
    order = rng.permutation(len(y))
    keep = np.sort(np.concatenate([order[y[order] == c][:per] for c in range(10)]))
    write(f"{prefix}-images-idx3-ubyte.gz", x[keep])
    write(f"{prefix}-labels-idx1-ubyte.gz", y[keep])
    print(prefix, len(keep), np.bincount(y[keep]))
