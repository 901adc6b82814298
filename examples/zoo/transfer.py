"""Linear-probe transfer table of the zoo (writes manifold/data/zoo/transfer.csv).

For every zoo model (and EfficientNet-Lite0, ImageNet weights, on the same grey images
upsampled to 32 px) the frozen representations are standardised (mean/std of the probe's
training set) and a multinomial ``sklearn.linear_model.LogisticRegression`` is fitted. Its
inverse regularisation ``C`` is chosen from ``C_GRID`` on a stratified 20 % validation part of
the probe's training set (seed 0), then the probe is refitted on the whole training set and the
test accuracy (percent) is reported. Tasks:

* ``mnist``: 10 classes, train split (4000) -> test split (1000) of ``load_mnist``.
* ``digits``: domain shift to scikit-learn's 8x8 digits upsampled to 28x28 (``load_digits``):
  stratified 50/50 split (seed 0) of the 1797 images.
* ``mnist_fewshot``: 10 labelled train images per class, test split; mean over seeds 0-4.
* ``faces``: face vs non-face on ``load_faces(size=28)``, stratified 50/50 split (seed 0).
* ``rotation``: which of 0/90/180/270 degrees was applied; 2000 train-split images and the 1000
  test images, each rotated by a seeded random multiple of 90 degrees.

    python examples/zoo/transfer.py                 # all models, all tasks
    python examples/zoo/transfer.py --models supervised --tasks faces   # print one cell
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from manifold.datasets import efficientnet_lite0, load_digits, load_faces, load_mnist, load_zoo

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "manifold" / "data" / "zoo" / "transfer.csv"
TASKS = ("mnist", "digits", "mnist_fewshot", "faces", "rotation")
C_GRID = (0.01, 0.1, 1.0, 10.0)
FEWSHOT_SEEDS = range(5)


def probe(z_train, y_train, z_test, y_test, seed: int = 0) -> float:
    """Test accuracy (percent) of a logistic-regression probe with C picked on validation."""
    scaler = StandardScaler().fit(z_train)
    z_train, z_test = scaler.transform(z_train), scaler.transform(z_test)
    fit_idx, val_idx = train_test_split(
        np.arange(len(y_train)), test_size=0.2, stratify=y_train, random_state=seed
    )

    def fit(c, idx):
        # one BLAS thread: on a shared 2-core machine oversubscribed threads ran ~40x slower
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            return LogisticRegression(C=c, max_iter=1000).fit(z_train[idx], y_train[idx])

    scores = [fit(c, fit_idx).score(z_train[val_idx], y_train[val_idx]) for c in C_GRID]
    best = C_GRID[int(np.argmax(scores))]
    return 100.0 * fit(best, np.arange(len(y_train))).score(z_test, y_test)


def _rotated(images: torch.Tensor, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    k = np.random.default_rng(seed).integers(0, 4, len(images))
    out = torch.stack(
        [torch.rot90(im, int(r), dims=(1, 2)) for im, r in zip(images, k, strict=True)]
    )
    return out, k


def task_data(task: str) -> dict:
    """Images and labels of one task: {"train": (x, y), "test": (x, y)} or few-shot pools."""
    if task in ("mnist", "mnist_fewshot"):
        (xtr, ytr), (xte, yte) = load_mnist("train"), load_mnist("test")
        return {"train": (xtr, ytr.numpy()), "test": (xte, yte.numpy())}
    if task in ("digits", "faces"):
        x, y = load_digits() if task == "digits" else load_faces(size=28)
        tr, te = train_test_split(np.arange(len(y)), test_size=0.5, stratify=y, random_state=0)
        y = y.numpy()
        return {"train": (x[tr], y[tr]), "test": (x[te], y[te])}
    if task == "rotation":
        xtr = load_mnist("train")[0][
            torch.as_tensor(np.random.default_rng(0).permutation(4000)[:2000])
        ]
        return {"train": _rotated(xtr, 1), "test": _rotated(load_mnist("test")[0], 2)}
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


@torch.no_grad()
def embed(model: torch.nn.Module, x: torch.Tensor, batch: int = 500) -> np.ndarray:
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)]).double().numpy()


def evaluate(model: torch.nn.Module, task: str, data: dict | None = None) -> float:
    """Accuracy (percent) of the linear probe of ``model`` on ``task``."""
    data = data or task_data(task)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    ztr, zte = embed(model, xtr), embed(model, xte)
    if task != "mnist_fewshot":
        return probe(ztr, ytr, zte, yte)
    scores = []
    for seed in FEWSHOT_SEEDS:
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(ytr == c), 10, replace=False)
                              for c in range(10)])  # fmt: skip
        scores.append(probe(ztr[idx], ytr[idx], zte, yte, seed=seed))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", help="zoo models (default: all + efficientnet)")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-efficientnet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models, _ = load_zoo(args.models)
    if args.models is None and not args.no_efficientnet:
        models["efficientnet_lite0"] = efficientnet_lite0()
    data = {task: task_data(task) for task in args.tasks}
    rows = {}
    for name, model in models.items():
        start = time.perf_counter()
        rows[name] = {task: round(evaluate(model, task, data[task]), 2) for task in args.tasks}
        print(f"{name:>20}: {rows[name]}  ({time.perf_counter() - start:.1f} s)", flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    if args.models is None and args.tasks == list(TASKS):
        table.to_csv(TABLE)
        print(f"wrote {TABLE}")
    else:
        table.to_csv(sys.stdout)


if __name__ == "__main__":
    main()
