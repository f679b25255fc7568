#!/usr/bin/env python3
"""The numpy/scipy peer of `cargo bench --bench metrics`: FID (pytorch-fid's formula,
scipy.linalg.sqrtm) + KID (torch-fidelity's polynomial-kernel unbiased MMD over the same
subsets) on the features the Rust benchmark exported. Prints one JSON line with the median
wall time over REPS runs and the values, so the bench can check both computed the same thing.

Usage: metrics_numpy.py DIR REPS
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import fid_reference  # noqa: E402  (the same formulas the correctness test uses)


def main():
    directory, reps = sys.argv[1], int(sys.argv[2])
    meta, real, fake = fid_reference.load(directory)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fid = fid_reference.fid(real, fake)
        kid_mean, kid_std = fid_reference.kid(real, fake, meta["kid_subsets"])
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"seconds": times[len(times) // 2], "fid": fid, "kid_mean": kid_mean, "kid_std": kid_std}))


if __name__ == "__main__":
    main()
