"""What ``profile(..., n_bootstrap=B)`` costs against one profile.

Run from the repository root (``PYTHONPATH=.`` so the checkout's ``manifold`` is imported):

    PYTHONPATH=. python benchmarks/bench_bootstrap.py --n 2000 --dim 128 --views 8 --threads 1

Embeddings of a curved low-dimensional sheet with two families of noisy views. Times one profile
without standard errors (best of ``--repeats``) and one with ``n_bootstrap`` resamples, after a
warm-up run, and prints the ratio: B resamples naively cost about B + 1 profiles.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from manifold.profiling import profile


def _data(n: int, dim: int, views: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, size=(n, 4))
    z = np.zeros((n, dim))
    z[:, :4] = t
    z[:, 4] = np.sin(2 * t[:, 0])
    z += 0.05 * rng.normal(size=z.shape) * np.linspace(1, 0.1, dim)
    fams = {
        "noise": z[:, None] + 0.1 * rng.normal(size=(n, views, dim)),
        "shift": z[:, None] + 0.3 * rng.normal(size=(n, 1, dim)) * rng.random((n, views, 1)),
    }
    return z, fams


def _time(z, views, k: int, curvature: bool, n_bootstrap: int) -> float:
    start = time.perf_counter()
    profile(z, views=views, k=k, curvature=curvature, progress=False, n_bootstrap=n_bootstrap)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--curvature", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    z, views = _data(args.n, args.dim, args.views)
    print(
        f"N = {args.n}, D = {args.dim}, K = {args.views} views x 2 families, k = {args.k}, "
        f"curvature = {args.curvature}, B = {args.bootstrap}, threads = {args.threads}"
    )
    _time(z, views, args.k, args.curvature, 0)  # warm-up: imports, first allocations
    one = min(_time(z, views, args.k, args.curvature, 0) for _ in range(args.repeats))
    boot = _time(z, views, args.k, args.curvature, args.bootstrap)
    print(f"one profile {one:.2f} s; with B = {args.bootstrap}: {boot:.2f} s")
    print(
        f"ratio {boot / one:.2f} (B + 1 = {args.bootstrap + 1} profiles would be "
        f"{args.bootstrap + 1:.0f}x); bootstrap alone {(boot - one) / one:.2f} profiles"
    )


if __name__ == "__main__":
    main()
