#!/usr/bin/env python3
"""Independent FID / KID reference (numpy + scipy), the way pytorch-fid and torch-fidelity
compute them, for cross-checking probegan's Rust implementation on the same features.

Usage: fid_reference.py DIR
DIR holds meta.json ({"real": [N, D], "fake": [M, D], "kid_subsets": [[real_idx, fake_idx], ...]})
and real.f64 / fake.f64 (row-major little-endian float64). Prints one JSON object:
{"fid": ..., "kid_mean": ..., "kid_std": ...}.
"""
import json
import os
import sys

import numpy as np
from scipy import linalg


def load(directory):
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    real = np.fromfile(os.path.join(directory, "real.f64"), dtype="<f8").reshape(meta["real"])
    fake = np.fromfile(os.path.join(directory, "fake.f64"), dtype="<f8").reshape(meta["fake"])
    return meta, real, fake


def fid(real, fake):
    """pytorch-fid's calculate_frechet_distance: scipy.linalg.sqrtm of the product."""
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def polynomial_mmd_unbiased(x, y):
    """torch-fidelity's KID kernel: (x.y / d + 1)^3, unbiased MMD^2."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    xx = (kxx.sum() - np.diag(kxx).sum()) / (m * (m - 1))
    yy = (kyy.sum() - np.diag(kyy).sum()) / (n * (n - 1))
    return xx + yy - 2 * kxy.sum() / (m * n)


def kid(real, fake, subsets):
    values = [polynomial_mmd_unbiased(real[np.asarray(r)], fake[np.asarray(f)]) for r, f in subsets]
    return float(np.mean(values)), float(np.std(values))


def main():
    meta, real, fake = load(sys.argv[1])
    kid_mean, kid_std = kid(real, fake, meta["kid_subsets"])
    print(json.dumps({"fid": fid(real, fake), "kid_mean": kid_mean, "kid_std": kid_std}))


if __name__ == "__main__":
    main()
