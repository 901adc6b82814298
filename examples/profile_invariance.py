"""Profile the augmentation invariance of a real pretrained network.

EfficientNet-Lite0 (ImageNet weights, shipped in a package) is profiled on crops of the photos
that ship with scikit-image and scikit-learn, next to a "pixels" baseline (the image itself,
average-pooled to 16 x 16). The figure shows, per augmentation family, how far the views of an
image spread relative to the spacing between images, and how much of each view's NNK
neighbourhood is made of views of the same image.

Run:  python examples/profile_invariance.py [--quick] [--out docs/figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import manifold
from manifold.datasets import efficientnet_lite0, load_photos
from manifold.plot import plot_invariance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--out", default="docs/figures")
    args = parser.parse_args()

    n_images, n_views = (40, 4) if args.quick else (200, 8)
    images, _ = load_photos(size=64, n_crops=n_images)
    models = {
        "efficientnet-lite0": efficientnet_lite0(),
        "pixels": torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(16), torch.nn.Flatten()),
    }
    profiles = []
    for name, model in models.items():
        t0 = time.time()
        profiles.append(
            manifold.profile(
                model, images, n_views=n_views, k=10, seed=0, name=name, progress=False
            )
        )
        print(f"{name}: {time.time() - t0:.1f} s")
    prof = manifold.Profile.concat(profiles)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.5))
    plot_invariance(prof, "spread_ratio", ax=axes[0])
    plot_invariance(prof, "same_source_rate", ax=axes[1])
    fig.suptitle(f"{n_images} photo crops (64 px), {n_views} views per image and family")
    fig.tight_layout()
    fig.savefig(out / "invariance_efficientnet.png", dpi=110)
    matrix = prof.to_matrix()
    cols = [c for c in matrix.columns if c.endswith(("/spread_ratio", "/same_source_rate"))]
    print(matrix[cols].T.round(3).to_string())
    print(f"wrote {out / 'invariance_efficientnet.png'}")


if __name__ == "__main__":
    main()
