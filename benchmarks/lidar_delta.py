"""LiDAR with the paper's absolute ridge δ against the relative ridge δ · tr(Σ_w)/D.

On the bundled MNIST zoo: for every model, K views of N test digits per augmentation family,
LiDAR with δ = 1e-4 absolute (the paper) and relative (what ``profile`` reports), the models'
within-image variance per dimension tr(Σ_w)/D, and the Spearman correlation of the two rankings.

    python benchmarks/lidar_delta.py --n 500 --views 8
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.stats import spearmanr

from manifold import Embedder, lidar
from manifold.datasets import load_mnist, load_zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--families", default="crop,rotation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = load_mnist("test")[0][: args.n]
    models, _ = load_zoo(zoo="mnist")  # the zoo the figures in docs/spectral.md were measured on
    print(f"N = {args.n} test digits, K = {args.views} views, delta = 1e-4")
    print(f"{'family':9s} {'model':22s} {'tr(Sw)/D':>10s} {'absolute':>9s} {'relative':>9s}")
    for family in args.families.split(","):
        absolute, relative = [], []
        for name, model in models.items():
            emb = Embedder(model, progress=False)
            v = emb.embed_views(images, family, n_views=args.views, seed=0).double()
            dev = v - v.mean(dim=1, keepdim=True)
            within = float((dev**2).sum()) / (v.shape[0] * (v.shape[1] - 1) * v.shape[2])
            a, r = lidar(v), lidar(v, scale="within")
            absolute.append(a)
            relative.append(r)
            print(f"{family:9s} {name:22s} {within:10.3g} {a:9.3f} {r:9.3f}")
        a, r = np.array(absolute), np.array(relative)
        change = np.abs(r - a) / a
        trained = np.array([name != "random_init" for name in models])
        print(
            f"{family}: relative change median {np.median(change):.2%}, max {change.max():.2%}; "
            f"Spearman(absolute, relative) = {spearmanr(a, r).statistic:.3f} over all models, "
            f"{spearmanr(a[trained], r[trained]).statistic:.3f} without random_init"
        )


if __name__ == "__main__":
    main()
