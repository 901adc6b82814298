"""Intrinsic dimension across the blocks of EfficientNet-Lite0, pretrained and re-initialised.

Ansuini et al. (NeurIPS 2019) found that in trained networks the intrinsic dimension of the
representation rises in the early layers and falls towards the output, and that untrained
networks do not show this hump. This script sweeps the 16 MBConv blocks of EfficientNet-Lite0
(``layers="all"``) in one call per network, on the photo crops that ship with scikit-image and
scikit-learn, for the ImageNet weights and for the same architecture re-initialised (every
module's ``reset_parameters``, seeded). TwoNN and MLE come with bootstrap standard errors over
the images.

Run:  python examples/layer_sweep.py [--quick] [--out docs/figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import manifold
from manifold.datasets import efficientnet_lite0, load_photos
from manifold.plot import plot_layers


def reinitialised(seed: int = 0) -> torch.nn.Module:
    """EfficientNet-Lite0 with every parameter and batch-norm statistic reset (seeded)."""
    model = efficientnet_lite0()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--n-bootstrap", type=int, default=20)
    args = parser.parse_args()

    size, n_crops = (64, 60) if args.quick else (96, None)
    images, _ = load_photos(size=size, n_crops=n_crops)
    models = {"pretrained": efficientnet_lite0(), "re-initialised": reinitialised(seed=0)}
    profiles = []
    for name, model in models.items():
        t0 = time.time()
        profiles.append(
            manifold.profile(model, images, families=[], k=10, seed=0, name=name,
                             layers="all", n_bootstrap=args.n_bootstrap, progress=False)
        )  # fmt: skip
        print(f"{name}: {len(profiles[-1].layers)} layers in {time.time() - t0:.1f} s")
    prof = manifold.Profile.concat(profiles)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    plot_layers(prof, "twonn_dimension", ax=axes[0])
    plot_layers(prof, "mle_dimension", ax=axes[1])
    fig.suptitle(f"EfficientNet-Lite0 on {images.shape[0]} photo crops ({size} px): "
                 f"bootstrap ± 1 s.e. ({args.n_bootstrap} resamples)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(out / "layers_efficientnet.png", dpi=110)

    t = prof.table
    rows = t[t["metric"].isin(["twonn_dimension", "mle_dimension"])]
    wide = rows.pivot_table(index="layer", columns=["metric", "model", "statistic"],
                            values="value", sort=False)  # fmt: skip
    wide.index = [layer.rsplit(".", 1)[-1] for layer in wide.index]
    wide.index.name = "block"
    print(wide.round(2).to_string())
    # the head (final 1x1 convolution, batch norm, activation) is the model's own output
    for name, model in models.items():
        head = manifold.profile(model, images, families=[], k=10, seed=0, name=name,
                                n_bootstrap=args.n_bootstrap, progress=False)  # fmt: skip
        twonn, se = head.value("twonn_dimension"), head.value("twonn_dimension", statistic="se")
        print(f"head, {name}: TwoNN {twonn:.2f} ± {se:.2f}")
    print(f"wrote {out / 'layers_efficientnet.png'}")


if __name__ == "__main__":
    main()
