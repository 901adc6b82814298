"""Figures of the zoo page (docs/zoo.md): training curves and the transfer table.

Reads only what ships with the package (``manifest.json``'s per-epoch losses and
``transfer.csv``), so it runs in seconds and needs no training:

    python examples/zoo/figures.py    # docs/figures/zoo_training.png and zoo_transfer.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from manifold.datasets import load_transfer, load_zoo

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"
METHOD_ORDER = ("simclr", "simsiam", "barlow", "vicreg", "supervised")


def training_curves(manifest: pd.DataFrame):
    """One panel per method: mean training loss per epoch of each model trained with it.

    Losses of different methods live on different scales (NT-Xent is a log-probability, Barlow
    Twins a sum over the cross-correlation matrix), so each method gets its own y axis.
    """
    import matplotlib.pyplot as plt

    methods = [m for m in METHOD_ORDER if (manifest["method"] == m).any()]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 4.0), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        for name, row in manifest[manifest["method"] == method].iterrows():
            curve = np.asarray(row["epoch_losses"], dtype=float)
            ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", markersize=3, label=name)
        ax.set_title(method)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    axes[0, 0].set_ylabel("mean training loss")
    fig.suptitle("Zoo training curves (mean loss per epoch, from manifest.json)", fontsize=10)
    fig.tight_layout()
    return fig


def transfer_heatmap(table: pd.DataFrame):
    """Model x task linear-probe accuracy (%), each cell annotated."""
    import matplotlib.pyplot as plt

    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 2.6, 0.32 * table.shape[0] + 1.2))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    middle = np.nanmean(values)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                color="black" if v > middle else "white")  # fmt: skip
    fig.colorbar(image, ax=ax, label="test accuracy (%)")
    ax.set_title('Linear-probe transfer (load_transfer(zoo="mnist"))', fontsize=10)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    args.out.mkdir(parents=True, exist_ok=True)
    _, manifest = load_zoo(zoo="mnist")
    training_curves(manifest).savefig(args.out / "zoo_training.png", dpi=110)
    transfer_heatmap(load_transfer(zoo="mnist")).savefig(args.out / "zoo_transfer.png", dpi=110)
    print(f"wrote {args.out / 'zoo_training.png'} and {args.out / 'zoo_transfer.png'}")


if __name__ == "__main__":
    main()
