"""Geometry of the MNIST zoo: profiles, clusters, transfer (docs/mnist-zoo-results.md).

Profiles every zoo model on 500 MNIST test images (K = 8 views per image for each of the crop,
color, rotation, flip and blur families, k = 10), caches the Profile under
``docs/zoo_profile.csv`` (one model at a time, so an interrupted run resumes), then clusters the
models, evaluates transfer prediction leave-one-model-out against the RankMe, alpha and mean
baselines, and writes the figures ``docs/figures/zoo_*.png`` and the numbers quoted in
``docs/mnist-zoo-results.md`` (printed as Markdown).

    python examples/zoo/mnist_results.py                 # profile (cached) + analysis
    python examples/zoo/mnist_results.py --profile-only  # only fill the cache
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from manifold.datasets import load_mnist, load_zoo
from manifold.profiling import Profile

try:  # run as a script (the folder is on sys.path)
    from pages import DOCS, FIGURES, cached_zoo_profile, md_table, update_page
except ImportError:  # pragma: no cover - imported as a package module
    from .pages import DOCS, FIGURES, cached_zoo_profile, md_table, update_page

CACHE = DOCS / "zoo_profile.csv"
N_IMAGES, N_VIEWS, K, SEED = 500, 8, 10, 0
FAMILIES = ("crop", "color", "rotation", "flip", "blur")


def images() -> torch.Tensor:
    """500 MNIST test images, a seeded subset (50 per class on average)."""
    x, _ = load_mnist("test")
    idx = np.sort(np.random.default_rng(SEED).permutation(len(x))[:N_IMAGES])
    return x[torch.as_tensor(idx)]


def zoo_profile() -> Profile:
    """Profile every zoo model; cached models are reused while their weights' SHA-256 matches."""
    models, manifest = load_zoo(zoo="mnist")
    return cached_zoo_profile(models, manifest, images(), CACHE, families=FAMILIES,
                              n_views=N_VIEWS, k=K, seed=SEED)  # fmt: skip


def baseline_correlations(matrix, transfer, methods) -> pd.DataFrame:
    """Spearman ρ and Kendall τ of RankMe and alpha with each task, overall and per sweep."""
    from scipy.stats import kendalltau, spearmanr

    rows = []
    scopes = [("all models", list(matrix.index))]
    for method, members in methods.groupby(methods).groups.items():
        if len(members) >= 3:
            scopes.append((f"{method} sweep", list(members)))
    for metric in ("semantic/rankme", "semantic/alpha"):
        for scope, members in scopes:
            for task in transfer.columns:
                x, y = matrix.loc[members, metric], transfer.loc[members, task]
                rho = spearmanr(x, y)
                rows.append({"metric": metric.split("/")[1], "models": scope, "n": len(members),
                             "task": task, "spearman": rho.statistic, "p": rho.pvalue,
                             "kendall": kendalltau(x, y).statistic})  # fmt: skip
    return pd.DataFrame(rows)


def invariance_effects(matrix, transfer) -> pd.DataFrame:
    """Spearman ρ of each family's spread ratio (higher = less invariant) with each task."""
    from manifold.zoo import metric_correlations

    cols = [f"{f}/spread_ratio" for f in FAMILIES if f"{f}/spread_ratio" in matrix.columns]
    corr = metric_correlations(matrix[cols], transfer)
    corr.index = [c.split("/")[0] for c in corr.index]
    corr.index.name = "family (spread ratio)"
    return corr


def analyse(prof: Profile, n_permutations: int = 200) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    from manifold import plot
    from manifold.datasets import load_transfer
    from manifold.zoo import TransferPredictor, cluster_models

    _, manifest = load_zoo(zoo="mnist")
    methods = manifest["method"]
    matrix = prof.to_matrix("mean")
    blocks: dict[str, str] = {}
    FIGURES.mkdir(parents=True, exist_ok=True)

    settings = next(iter(prof.settings.values()))
    blocks["run"] = (
        f"{len(prof.models)} models; N = {settings['n_images']} MNIST test images, "
        f"K = {settings['n_views']} views, k = {settings['k']}, families "
        f"{', '.join(settings['families'])}, seed {settings['seed']}; "
        f"{matrix.shape[1]} metric columns (statistic: mean). "
        f"Profiling failures: {len(prof.failures)}"
        + "".join(
            f"\n- {f['model']} / {f['manifold']} / {f['metric']}: {f['error'][:120]}"
            for f in prof.failures
        )  # fmt: skip
    )

    res = cluster_models(prof, groups=methods.loc[prof.models])
    free = cluster_models(prof)
    from sklearn.metrics import adjusted_rand_score

    free_ari = adjusted_rand_score(methods.loc[free.models], free.labels)
    members = pd.DataFrame({"method": res.groups, "cluster": res.labels,
                            "largest-gap cluster": free.labels})  # fmt: skip
    blocks["clustering"] = (
        f"Average linkage, Euclidean distance on {res.matrix.shape[1]} z-scored metrics "
        f"({len(res.dropped)} dropped: {', '.join(res.dropped) or 'none'}).\n\n"
        f"- cut at the number of methods ({res.n_clusters} clusters): **ARI = "
        f"{res.adjusted_rand_index:.2f}** against the training method\n"
        f"- cut at the largest gap ({free.n_clusters} clusters): ARI = {free_ari:.2f}\n"
        f"- the 2-D MDS map carries {100 * res.explained.sum():.0f} % of the variance\n\n"
        + md_table(members.sort_values(["cluster", "method"]))
    )
    res.plot_dendrogram().savefig(FIGURES / "zoo_dendrogram.png", dpi=110)
    res.plot_map().savefig(FIGURES / "zoo_map.png", dpi=110)
    plot.plot_invariance(prof).savefig(FIGURES / "zoo_invariance.png", dpi=110)

    try:
        transfer = load_transfer(zoo="mnist")
    except FileNotFoundError as err:
        blocks["transfer"] = f"The transfer table is not available yet ({err})."
        return blocks
    common = [m for m in prof.models if m in transfer.index]
    missing = sorted(set(prof.models) ^ set(transfer.index))
    transfer = transfer.loc[common]
    matrix = matrix.loc[common]
    blocks["transfer table"] = (
        f"Models without both a profile and scores (left out): {missing}\n\n" if missing else ""
    ) + md_table(transfer, 1)
    corr = baseline_correlations(matrix, transfer, methods.loc[common])
    blocks["rankme and alpha"] = md_table(
        corr.pivot_table(index=["metric", "models", "n"], columns="task", values="spearman",
                         sort=False), 2)  # fmt: skip
    blocks["rankme and alpha (kendall)"] = md_table(
        corr.pivot_table(index=["metric", "models", "n"], columns="task", values="kendall",
                         sort=False), 2)  # fmt: skip

    t0 = time.time()
    ev = TransferPredictor().evaluate(matrix, transfer, n_permutations=n_permutations, seed=SEED)
    ev5 = TransferPredictor(max_features=5).evaluate(
        matrix, transfer, n_permutations=n_permutations, seed=SEED
    )
    print(f"transfer evaluation: {time.time() - t0:.0f} s")
    cols = ["r2", "spearman", "kendall", "p_value", "rankme_r2", "rankme_spearman",
            "alpha_r2", "alpha_spearman", "null_r2"]  # fmt: skip
    table = ev.table[cols].copy()
    table.insert(4, "top5_r2", ev5.table["r2"])
    table.insert(5, "top5_spearman", ev5.table["spearman"])
    table.insert(6, "top5_p", ev5.table["p_value"])
    blocks["transfer prediction"] = (
        f"Leave-one-model-out over {len(common)} models, {ev.table['n_features'].iloc[0]} "
        f"metrics, ridge with the penalty chosen by inner leave-one-out; `top5_*`: the same with "
        f"the 5 metrics most correlated with the task, screened inside each fold; p-values from "
        f"{n_permutations} permutations.\n\n" + md_table(table, 2)
    )
    fig = plot.plot_predictions(ev, baseline="rankme")
    fig.savefig(FIGURES / "zoo_predictions.png", dpi=110)
    plot.plot_correlations(matrix, transfer, max_metrics=30).savefig(
        FIGURES / "zoo_correlations.png", dpi=110
    )

    drivers = TransferPredictor().drivers(matrix, transfer)
    top = drivers.groupby("task", sort=False).head(4)
    blocks["drivers"] = md_table(top[["task", "metric", "coef", "fold_std", "sign_agreement"]]
                                 .set_index("task"), 2)  # fmt: skip
    blocks["invariance and tasks"] = md_table(invariance_effects(matrix, transfer), 2)
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile-only", action="store_true")
    parser.add_argument("--permutations", type=int, default=200)
    args = parser.parse_args()
    prof = zoo_profile()
    if args.profile_only:
        return
    blocks = analyse(prof, args.permutations)
    update_page(DOCS / "mnist-zoo-results.md", blocks, "Geometry of the MNIST zoo")


if __name__ == "__main__":
    main()
