"""Linear-probe accuracy of every factor-zoo encoder on one task per factor.

Writes manifold/data/factor_zoo/transfer.csv (read by ``manifold.datasets.load_transfer()``).

Protocol (the same as the MNIST zoo's ``transfer.py``): frozen representations of
``load_factor_mnist("train")`` (4000 images) and ``load_factor_mnist("test")`` (1000 images,
disjoint source digits), standardised with the training mean and std, then a multinomial
logistic regression whose ``C`` is picked from ``C_GRID`` on a stratified 20 % validation part of
the training set (seed 0), refitted on the whole training set and scored on test (percent).

Tasks (factor tasks use balanced bins: quantiles of the training values, applied to test):

* ``digit``: the digit class (10 classes);
* ``digit_fewshot``: the same with 10 labelled training images per class, mean over 5 draws;
* ``hue``: 12 bins of the hue circle (30° each);
* ``rotation``: 4 bins of the rotation angle (22.5° each over ±45°);
* ``position``: 3 × 3 grid of the digit centre (tertiles of ``x`` times tertiles of ``y``);
* ``scale``: 3 bins of the digit size.

    python examples/zoo/factor_transfer.py                    # all encoders -> transfer.csv
    python examples/zoo/factor_transfer.py --models random_s0 --tasks hue   # print one cell
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from manifold.datasets import load_factor_mnist, load_zoo

try:
    from transfer import embed, probe
except ImportError:  # pragma: no cover - imported as a package module
    from .transfer import embed, probe

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "manifold" / "data" / "factor_zoo" / "transfer.csv"
TASKS = ("digit", "digit_fewshot", "hue", "rotation", "position", "scale")
#: Number of balanced bins per factor task.
BINS = {"hue": 12, "rotation": 4, "scale": 3}
FEWSHOT_SEEDS = range(5)
FEWSHOT_PER_CLASS = 10


def _bins(train: np.ndarray, test: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.quantile(train, np.linspace(0, 1, n + 1)[1:-1])
    return np.searchsorted(edges, train), np.searchsorted(edges, test)


def task_labels(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, tuple]:
    """``task -> (train labels, test labels)`` from the factor tables."""
    labels = {"digit": (train["digit"].to_numpy(), test["digit"].to_numpy())}
    labels["digit_fewshot"] = labels["digit"]
    for factor, n in BINS.items():
        labels[factor] = _bins(train[factor].to_numpy(), test[factor].to_numpy(), n)
    (xtr, xte), (ytr, yte) = _bins(train["x"], test["x"], 3), _bins(train["y"], test["y"], 3)
    labels["position"] = (3 * ytr + xtr, 3 * yte + xte)
    return labels


def fewshot_indices(y: np.ndarray, seed: int) -> np.ndarray:
    """``FEWSHOT_PER_CLASS`` training images per class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), FEWSHOT_PER_CLASS, replace=False)
         for c in np.unique(y)]
    )  # fmt: skip


def evaluate(model: torch.nn.Module, tasks=TASKS, data: tuple | None = None) -> dict[str, float]:
    """Accuracy (percent) of linear probes of ``model`` on each task."""
    (xtr, ftr), (xte, fte) = data or (load_factor_mnist("train"), load_factor_mnist("test"))
    ztr, zte = embed(model, xtr), embed(model, xte)
    labels = task_labels(ftr, fte)
    out = {}
    for task in tasks:
        ytr, yte = labels[task]
        if task == "digit_fewshot":
            scores = []
            for seed in FEWSHOT_SEEDS:
                idx = fewshot_indices(ytr, seed)
                scores.append(probe(ztr[idx], ytr[idx], zte, yte, seed=seed))
            out[task] = float(np.mean(scores))
        else:
            out[task] = probe(ztr, ytr, zte, yte)
    return out


def _evaluate_named(name: str, tasks: tuple[str, ...]) -> tuple[str, dict[str, float], float]:
    torch.set_num_threads(1)
    start = time.perf_counter()
    models, _ = load_zoo([name])
    scores = {t: round(v, 2) for t, v in evaluate(models[name], tasks).items()}
    return name, scores, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", help="factor-zoo encoders (default: all)")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS)
    parser.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    args = parser.parse_args()
    _, manifest = load_zoo(args.models)
    names = list(manifest.index)
    rows = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(_evaluate_named, n, tuple(args.tasks)) for n in names]
        for future in futures:
            name, scores, seconds = future.result()
            rows[name] = scores
            print(f"{name:>40}: {scores}  ({seconds:.1f} s)", flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")[list(args.tasks)]
    table.index.name = "model"
    if args.models is None and list(args.tasks) == list(TASKS):
        table.to_csv(TABLE)
        print(f"wrote {TABLE}")
    else:
        table.to_csv(sys.stdout)


if __name__ == "__main__":
    main()
