"""Leave-one-group-out inner CV of the transfer predictor: the closed form against refitting.

Run from the repository root (``PYTHONPATH=.`` so the checkout's ``manifold`` is imported):

    PYTHONPATH=. python benchmarks/bench_transfer.py --threads 1

``TransferPredictor`` picks its ridge penalty by the squared held-out errors of every model,
with each model's group left out (``groups=``). ``manifold.zoo._ridge.ridge_group_errors``
computes them for every penalty from one SVD (the block leave-one-out identity of a linear
smoother); the peer refits scikit-learn's ``Ridge`` without each group, for each penalty, as
``GridSearchCV(Ridge(), cv=LeaveOneGroupOut())`` does. Both are timed on the same matrices
(best of ``--repeats``), their errors compared, and the ratio printed. Sizes: the demo's inner
CV (31 models, 52 metrics, 16 recipes of about 2) and the sweep zoo's (140 models, 52 metrics,
7 groups of 20).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

SIZES = {"demo": (31, 52, 16), "sweep": (140, 52, 7)}


def _data(n: int, p: int, n_groups: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), -(-n // n_groups))[:n]
    x = rng.normal(size=(n, p)) + rng.normal(size=(n_groups, p))[groups]
    y = x[:, :3].sum(axis=1) + rng.normal(size=n)
    return (x - x.mean(axis=0)) / x.std(axis=0), y, groups


def _ours(x, y, groups, alphas):
    from manifold.zoo._ridge import ridge_group_errors

    xc, yc = x - x.mean(axis=0), y - y.mean()
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    return ridge_group_errors(u, s, yc, alphas, groups)


def _sklearn(x, y, groups, alphas):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import LeaveOneGroupOut

    xc, yc = x - x.mean(axis=0), y - y.mean()
    out = np.empty((alphas.size, x.shape[0]))
    for train, test in LeaveOneGroupOut().split(xc, groups=groups):
        for a, alpha in enumerate(alphas):
            fit = Ridge(alpha=alpha).fit(xc[train], yc[train])
            out[a, test] = (yc[test] - fit.predict(xc[test])) ** 2
    return out


def _best(fn, repeats: int, *args) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            pass
    from manifold.zoo.transfer import DEFAULT_ALPHAS

    alphas = np.asarray(DEFAULT_ALPHAS)
    print(f"{len(alphas)} penalties; best of {args.repeats}; load {os.getloadavg()[0]:.2f}")
    for name, (n, p, g) in SIZES.items():
        x, y, groups = _data(n, p, g)
        _best(_ours, 1, x, y, groups, alphas)  # warm-up
        ours, a = _best(_ours, args.repeats, x, y, groups, alphas)
        peer, b = _best(_sklearn, max(1, args.repeats // 2), x, y, groups, alphas)
        diff = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
        print(f"{name}: n={n}, p={p}, {g} groups | closed form {ours * 1e3:.2f} ms | "
              f"sklearn Ridge refits {peer * 1e3:.1f} ms | {peer / ours:.0f}x | "
              f"max rel diff {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
