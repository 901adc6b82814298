"""Test-retest of the factor-zoo results on a second, disjoint draw of images (docs/zoo-results.md).

``factor_results.py`` profiles every factor-zoo encoder on 500 factor-MNIST test images (seed 0).
This script profiles them again, with the same settings, on the **other** 500 test digits (no
source digit in common with the first draw) with freshly drawn factors (seed 1), and asks how
much of the page survives a new sample of images:

* **reliability of each metric**: the Spearman correlation across the self-supervised models
  between the two draws (with a bootstrap interval over models), and the noise ratio
  ``sqrt(mean_m (x_m1 - x_m2)^2 / 2)`` (the RMS sampling error of one draw) over the spread
  across models of the first draw (population standard deviation, the z-score's divisor): how
  large one draw's error is next to how much the models differ;
* **transfer prediction**, re-evaluated on the second draw exactly as on the first (controls
  apart, leave one model out), next to the first draw's numbers;
* **clustering**, re-run on the second draw: agreement with the objective and the recipe, and the
  adjusted Rand index between the two draws' trees cut at the number of recipes.

The second profile is cached in ``docs/factor_zoo_profile_retest.csv`` (model by model, reused
while the weights' SHA-256 matches). Numbers go between the ``<!-- begin:retest ... -->``
markers of docs/zoo-results.md.

    python examples/zoo/factor_retest.py                 # profile (cached) + analysis
    python examples/zoo/factor_retest.py --profile-only
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from manifold.datasets import load_factor_mnist, load_transfer, load_zoo
from manifold.profiling import DEFAULT_FAMILIES, Profile

try:  # run as a script (the folder is on sys.path)
    from factor_results import CACHE, CONTROLS, DOCS, N_IMAGES, N_VIEWS, SEED, K, zoo_profile
    from pages import cached_zoo_profile, md_table, script_arguments, update_page
except ImportError:  # pragma: no cover - imported as a package module
    from .factor_results import CACHE, CONTROLS, DOCS, N_IMAGES, N_VIEWS, SEED, K, zoo_profile
    from .pages import cached_zoo_profile, md_table, script_arguments, update_page

RETEST_CACHE = DOCS / "factor_zoo_profile_retest.csv"
RETEST_SEED = 1


def retest_images() -> torch.Tensor:
    """The test digits the first draw did not use, each once, with factors drawn from seed 1."""
    _, first = load_factor_mnist("test", n=N_IMAGES, seed=SEED)
    images, factors = load_factor_mnist("test", n=None, seed=RETEST_SEED)
    keep = ~factors["source"].isin(set(first["source"])).to_numpy()
    return images[torch.from_numpy(keep)]


def retest_profile() -> Profile:
    models, manifest = load_zoo()
    x = retest_images()
    return cached_zoo_profile(models, manifest, x, RETEST_CACHE, families=DEFAULT_FAMILIES,
                              n_views=N_VIEWS, k=K, seed=SEED)  # fmt: skip


def reliability(first: pd.DataFrame, second: pd.DataFrame, n_bootstrap: int) -> pd.DataFrame:
    """Per metric column: retest Spearman (bootstrap interval over models) and noise ratio."""
    rng = np.random.default_rng(SEED)
    n = len(first)
    picks = rng.integers(0, n, size=(n_bootstrap, n))
    rows = {}
    for col in first.columns:
        a, b = first[col].to_numpy(), second[col].to_numpy()
        if not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0:
            continue
        ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
        # a column constant on the second draw has no retest correlation
        rho = float(np.corrcoef(ra, rb)[0, 1]) if np.ptp(b) > 0 else float("nan")
        boot = []
        for p in picks:
            sa, sb = pd.Series(a[p]).rank().to_numpy(), pd.Series(b[p]).rank().to_numpy()
            if np.ptp(sa) > 0 and np.ptp(sb) > 0:
                boot.append(np.corrcoef(sa, sb)[0, 1])
        error = float(np.sqrt(np.mean((a - b) ** 2) / 2))  # one draw's RMS sampling error
        rows[col] = {
            "retest_spearman": rho,
            "low": float(np.quantile(boot, 0.025)) if boot else float("nan"),
            "high": float(np.quantile(boot, 0.975)) if boot else float("nan"),
            "noise_ratio": error / float(np.std(a)),
        }
    table = pd.DataFrame(rows).T.sort_values("retest_spearman")
    table.index.name = "metric"
    return table


def analyse(first: Profile, second: Profile, n_permutations: int, n_bootstrap: int) -> dict:
    from manifold.zoo import TransferPredictor, cluster_models

    _, manifest = load_zoo()
    transfer = load_transfer()
    ssl = [m for m in first.models if manifest.loc[m, "method"] not in CONTROLS]
    controls = [m for m in first.models if manifest.loc[m, "method"] in CONTROLS]
    m1, m2 = first.to_matrix("mean"), second.to_matrix("mean")
    columns = [c for c in m1.columns if c in m2.columns]
    blocks: dict[str, str] = {}
    numbers: dict[str, object] = {}

    rel = reliability(m1.loc[ssl, columns], m2.loc[ssl, columns], n_bootstrap)
    numbers["metrics"] = len(rel)
    numbers["retest_at_least_0.9"] = int((rel["retest_spearman"] >= 0.9).sum())
    numbers["noise_ratio_at_least_0.5"] = int((rel["noise_ratio"] >= 0.5).sum())
    numbers["median_retest"] = round(float(rel["retest_spearman"].median()), 3)
    blocks["retest reliability"] = (
        f"{len(rel)} metric columns (means and values) over the {len(ssl)} self-supervised "
        f"models; {numbers['retest_at_least_0.9']} have a retest Spearman of at least 0.9 "
        f"(median {numbers['median_retest']:.2f}), {numbers['noise_ratio_at_least_0.5']} a "
        "noise ratio of at least 0.5. The ten least reliable:\n\n"
        + md_table(rel.head(10), 3)
        + "\n\nThe ten most reliable:\n\n"
        + md_table(rel.tail(10).iloc[::-1], 3)
    )
    rel.to_csv(DOCS / "factor_retest_reliability.csv")

    tasks = list(transfer.columns)
    est = TransferPredictor()
    cols = ["spearman", "spearman_low", "spearman_high", "p_value", "regret", "rankme_spearman"]
    both = []
    for label, matrix in (("first draw", m1), ("second draw", m2)):
        x = matrix.loc[ssl + controls, columns]
        ev = est.evaluate(x, transfer.loc[ssl + controls, tasks], controls=controls,
                          n_bootstrap=n_bootstrap, n_permutations=n_permutations,
                          seed=SEED)  # fmt: skip
        both.append(ev.table[cols].assign(draw=label).reset_index().set_index(["task", "draw"]))
    blocks["retest transfer"] = md_table(
        pd.concat(both).sort_index(level=0, sort_remaining=False), 3
    )

    trees = {}
    agree = {}
    for label, prof in (("first draw", first), ("second draw", second)):
        ssl_prof = Profile(prof.table[prof.table["model"].isin(ssl)].reset_index(drop=True),
                           {m: prof.settings[m] for m in ssl})  # fmt: skip
        trees[label] = cluster_models(ssl_prof)
        for key in ("method", "recipe"):
            stats = trees[label].agreement(manifest.loc[ssl, key], n_permutations=999, seed=SEED)
            agree[(label, key)] = {k: stats[k] for k in ("ari", "ari_p_value", "nmi")}
    n_recipes = manifest.loc[ssl, "recipe"].nunique()
    from scipy.cluster.hierarchy import fcluster
    from sklearn.metrics import adjusted_rand_score

    # each tree's labels by model name, compared on the same models in the same order
    cuts = [pd.Series(fcluster(trees[d].linkage, n_recipes, criterion="maxclust"),
                      index=trees[d].models) for d in trees]  # fmt: skip
    between = float(adjusted_rand_score(cuts[0].loc[ssl], cuts[1].loc[ssl]))
    numbers["tree_ari_between_draws"] = round(between, 3)
    table = pd.DataFrame(agree).T
    table.index.names = ["draw", "grouping"]
    blocks["retest clustering"] = (
        md_table(table, 3)
        + f"\n\nThe two draws' trees, each cut into {n_recipes} clusters (the number of "
        f"recipes), agree with adjusted Rand index {between:.2f}."
    )
    (DOCS / "factor_retest.json").write_text(json.dumps(numbers, indent=1) + "\n")
    return blocks


def main() -> None:
    args = script_arguments(__doc__)
    second = retest_profile()
    if args.profile_only:
        return
    if not CACHE.exists():
        raise SystemExit(f"{CACHE} is missing: run examples/zoo/factor_results.py first")
    blocks = analyse(zoo_profile(), second, args.permutations, args.bootstrap)
    update_page(DOCS / "zoo-results.md", blocks, "Results on the factor zoo")


if __name__ == "__main__":
    main()
