"""Results of the factor zoo: recipe effects, transfer prediction, clustering (docs/zoo-results.md).

Profiles every factor-zoo encoder with the package defaults (``manifold.profile``: families
crop, color, rotation, flip, blur; K = 8 views, k = 10) on 500 factor-MNIST test images, caches
the profile in ``docs/factor_zoo_profile.csv`` (model by model, reused while the weights' SHA-256
matches), then:

* the recipe x task table of probe accuracy (mean over objectives and seeds, and the seed
  spread) and the pre-registered effects of each recipe family on the task of its factor;
* transfer prediction on the self-supervised models (controls apart), leave one model out and
  leave one recipe out, next to what is known without geometry (four 0/1 columns: which
  augmentation families the recipe has; then also the objective and temperature), the gain of
  the geometry over it, the within-recipe rank correlation with its permutation p-value, and
  the label-free and directed RankMe, effective rank, alpha, TwoNN and LiDAR baselines;
* clustering of the self-supervised models, compared with the objective and with the recipe;
* the Spearman correlation of each invariance metric with each task, with bootstrap intervals.

Numbers go between the ``<!-- begin:NAME -->`` / ``<!-- end:NAME -->`` markers of
docs/zoo-results.md (the prose around them is written by hand), and the one-paragraph headline
also into README.md and docs/analysis.md; figures go to docs/figures/factor_*.png.

    python examples/zoo/factor_results.py                # profile (cached) + analysis
    python examples/zoo/factor_results.py --profile-only
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from manifold.datasets import load_factor_mnist, load_transfer, load_zoo
from manifold.profiling import DEFAULT_FAMILIES, Profile

try:  # run as a script (the folder is on sys.path)
    from pages import DOCS, FIGURES, cached_zoo_profile, md_table, script_arguments, update_page
except ImportError:  # pragma: no cover - imported as a package module
    from .pages import DOCS, FIGURES, cached_zoo_profile, md_table, script_arguments, update_page

CACHE = DOCS / "factor_zoo_profile.csv"
N_IMAGES, N_VIEWS, K, SEED = 500, 8, 10, 0
CONTROLS = ("random", "supervised")
FACTOR_TASKS = ("hue", "rotation", "position", "scale")
#: The pre-registered expectations: a recipe family lowers the task of the factor it randomises.
EXPECTED = {"color": ("hue",), "rotation": ("rotation",), "crop": ("position", "scale")}
#: Invariance metrics read per family against the family's task.
INVARIANCE = ("spread_ratio", "same_source_rate", "lidar", "alignment")


def zoo_profile() -> Profile:
    """Profile every factor-zoo model; cached models are reused while their SHA-256 matches."""
    models, manifest = load_zoo()
    x, _ = load_factor_mnist("test", n=N_IMAGES, seed=SEED)
    return cached_zoo_profile(models, manifest, x, CACHE, families=DEFAULT_FAMILIES,
                              n_views=N_VIEWS, k=K, seed=SEED)  # fmt: skip


def recipe_grid(transfer: pd.DataFrame, manifest: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Mean accuracy per recipe and task over objectives and seeds, and the seed spread.

    The seed spread of a cell is the mean, over the two objectives, of |seed 0 - seed 1|.
    """
    ssl = _recipe_models(manifest)
    table = transfer.loc[ssl.index].join(ssl[["method", "recipe", "seed"]])
    tasks = list(transfer.columns)
    mean = table.groupby("recipe")[tasks].mean()
    pairs = table.pivot_table(index=["recipe", "method"], columns="seed", values=tasks)
    spread = pd.DataFrame({t: (pairs[t][0] - pairs[t][1]).abs() for t in tasks})
    spread = spread.groupby(level="recipe").mean()
    order = sorted(mean.index, key=lambda r: (0 if r == "none" else len(r.split("+")), r))
    return mean.loc[order], spread.loc[order]


def _recipe_models(manifest: pd.DataFrame) -> pd.DataFrame:
    """The 64 recipe x objective x seed models (no sweep, no controls)."""
    ssl = manifest[~manifest["method"].isin(CONTROLS)]
    return ssl[~ssl.index.str.startswith("simclr_t")]


def effects(transfer: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Per family and task: accuracy without the family minus with it, vs the seed spread."""
    ssl = _recipe_models(manifest)
    table = transfer.loc[ssl.index].join(ssl[["method", "recipe", "seed"]])
    pairs = table.pivot_table(index=["recipe", "method"], columns="seed", values=FACTOR_TASKS)
    rows = []
    for family in ("crop", "color", "rotation", "blur"):
        has = table["recipe"].str.split("+").apply(lambda r, f=family: f in r)
        for task in FACTOR_TASKS:
            margin = table.loc[~has, task].mean() - table.loc[has, task].mean()
            spread = float((pairs[task][0] - pairs[task][1]).abs().mean())
            expected = task in EXPECTED.get(family, ())
            holds = ("yes" if margin > spread else "NO") if expected else ""
            rows.append({"family": family, "task": task, "expected": "yes" if expected else "",
                         "without - with": margin, "seed spread": spread,
                         "holds": holds})  # fmt: skip
    return pd.DataFrame(rows)


def recipe_indicators(recipes: pd.Series) -> pd.DataFrame:
    """Four 0/1 columns: is crop, color, rotation, blur in the training recipe?"""
    return pd.DataFrame({f: recipes.str.split("+").apply(lambda r, f=f: f in r).astype(float)
                         for f in ("crop", "color", "rotation", "blur")})  # fmt: skip


def _interval(row: pd.Series, prefix: str) -> str:
    rho, lo, hi = (row[f"{prefix}{k}"] for k in ("spearman", "spearman_low", "spearman_high"))
    return f"{rho:.2f} [{lo:.2f}, {hi:.2f}]"


def summary_table(ev) -> pd.DataFrame:  # noqa: ANN001
    """Per task: the profile next to the recipe, both, the gain, and the within-recipe rank."""
    rows = {}
    for task, row in ev.table.iterrows():
        rows[task] = {
            "profile": _interval(row, ""),
            "recipe (reference)": _interval(row, "reference_"),
            "profile + recipe": f"{row['combined_spearman']:.2f}",
            "gain": f"{row['gain_spearman']:+.2f} [{row['gain_spearman_low']:+.2f}, "
            f"{row['gain_spearman_high']:+.2f}]",
            "spectral ridge": f"{row['spectral_spearman']:.2f}",
            "RankMe (label-free)": f"{row['rankme_spearman']:.2f}",
            "RankMe (directed)": f"{row['directed_rankme_spearman']:.2f}",
            "within recipe": f"{row['within_spearman']:.2f} [{row['within_spearman_low']:.2f}, "
            f"{row['within_spearman_high']:.2f}]",
            "within p": f"{row['within_p_value']:.3f}",
        }
    frame = pd.DataFrame(rows).T
    frame.index.name = "task"
    return frame


def readme_block(ev, ev_group) -> str:  # noqa: ANN001
    """The sentences the README states, from the numbers.

    The within-recipe rank comes from the leave-one-recipe-out evaluation: there a recipe's
    models are all predicted by a fit that saw none of them, as a user's new checkpoints would
    be. (Leaving one model out, a held-out model's recipe-mates sit in its training set and pull
    its prediction towards their own scores, which biases the within-recipe rank down.)
    """
    t, g = ev.table, ev_group.table
    adds = [task for task in t.index if t.loc[task, "gain_spearman_low"] > 0]
    adds_g = [task for task in g.index if g.loc[task, "gain_spearman_low"] > 0]
    within = [task for task in g.index if g.loc[task, "within_p_value"] <= 0.05]
    not_within = [task for task in g.index if task not in within]
    return (
        f"On the factor zoo's {int(t['n_models'].iloc[0])} self-supervised encoders, the profile "
        f"ranks probe accuracy with Spearman {t['spearman'].min():.2f}–{t['spearman'].max():.2f} "
        f"(leave one model out; {g['spearman'].min():.2f}–{g['spearman'].max():.2f} leaving out a "
        "whole recipe), but four 0/1 columns saying which augmentations a model was trained with "
        f"reach {t['reference_spearman'].min():.2f}–{t['reference_spearman'].max():.2f}: most of "
        "the pooled number is the recipe. Added to those four columns, the geometry's gain has a "
        "95 % interval above 0 on " + (", ".join(adds) if adds else "no task")
        + f" of {len(t)} tasks (leave one model out), and on "
        + (", ".join(adds_g) if adds_g else "none") + " leaving out a recipe. Where the recipe "
        "cannot help, among the models of one recipe predicted by a fit that never saw it, the "
        "geometry still ranks "
        + ", ".join(f"{task} (ρ = {g.loc[task, 'within_spearman']:.2f})" for task in within)
        + " beyond chance (permutations inside recipes, p ≤ 0.05)"
        + (f"; not {', '.join(not_within)} (ρ = "
           + ", ".join(f"{g.loc[task, 'within_spearman']:.2f}" for task in not_within) + ")"
           if not_within else "")
        + "."
    )


def grid_figure(mean: pd.DataFrame, spread: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    z = (mean - mean.mean()) / mean.std()
    im = ax.imshow(z.to_numpy(), cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            ax.text(j, i, f"{mean.iat[i, j]:.0f}\n±{spread.iat[i, j]:.1f}", ha="center",
                    va="center", fontsize=7)  # fmt: skip
    ax.set_xticks(range(mean.shape[1]), mean.columns, rotation=20)
    ax.set_yticks(range(mean.shape[0]), mean.index, fontsize=8)
    ax.set_xlabel("task (linear-probe accuracy, %)")
    ax.set_ylabel("augmentation recipe")
    ax.set_title("Factor zoo: mean accuracy over objectives and seeds, ± seed spread\n"
                 "(colour: z-score within each task)", fontsize=10)  # fmt: skip
    fig.colorbar(im, ax=ax, label="z-score within task")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_figure(manifest: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, method in zip(axes, ("simclr", "vicreg", "supervised"), strict=True):
        rows = manifest[manifest["method"] == method]
        for name, row in rows.iterrows():
            ax.plot(range(1, len(row["epoch_losses"]) + 1), row["epoch_losses"], lw=0.8,
                    alpha=0.7, label=name if method == "supervised" else None)  # fmt: skip
        ax.set_title(f"{method} ({len(rows)} encoders)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean training loss")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def analyse(prof: Profile, n_permutations: int, n_bootstrap: int) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    from manifold.plot import plot_correlations, plot_predictions
    from manifold.zoo import TransferPredictor, cluster_models, metric_correlations

    _, manifest = load_zoo()
    transfer = load_transfer()
    matrix = prof.to_matrix("mean")
    ssl = [m for m in prof.models if manifest.loc[m, "method"] not in CONTROLS]
    controls = [m for m in prof.models if manifest.loc[m, "method"] in CONTROLS]
    FIGURES.mkdir(parents=True, exist_ok=True)
    blocks: dict[str, str] = {}
    numbers: dict[str, object] = {}

    settings = next(iter(prof.settings.values()))
    blocks["run"] = (
        f"{len(prof.models)} models ({len(ssl)} self-supervised, {len(controls)} controls); "
        f"N = {settings['n_images']} factor-MNIST test images, K = {settings['n_views']} views, "
        f"k = {settings['k']}, families {', '.join(settings['families'])}, seed "
        f"{settings['seed']}; {matrix.shape[1]} metric columns. Profiling failures: "
        f"{len(prof.failures)}."
    )

    mean, spread = recipe_grid(transfer, manifest)
    grid_figure(mean, spread, FIGURES / "factor_recipes.png")
    training_figure(manifest, FIGURES / "factor_training.png")
    shown = mean.round(1).astype(str) + " ± " + spread.round(1).astype(str)
    blocks["recipes"] = md_table(shown)
    eff = effects(transfer, manifest)
    blocks["effects"] = md_table(eff.set_index(["family", "task"]), 1)
    ranges = transfer.loc[ssl].agg(["min", "max"]).T
    ranges["span"] = ranges["max"] - ranges["min"]
    blocks["spans"] = (
        md_table(ranges, 1) + "\n\nControls:\n\n" + md_table(transfer.loc[controls], 1)
    )

    # -- transfer prediction, controls apart, against what is known without geometry
    tasks = list(transfer.columns)
    x = matrix.loc[ssl + controls]
    y = transfer.loc[ssl + controls, tasks]
    recipes = manifest.loc[ssl, "recipe"]
    reference = recipe_indicators(manifest.loc[ssl + controls, "recipe"])
    est = TransferPredictor()
    common = dict(controls=controls, groups=recipes, reference=reference,
                  n_bootstrap=n_bootstrap, n_permutations=n_permutations, seed=SEED)  # fmt: skip
    t0 = time.time()
    ev = est.evaluate(x, y, hold_out="model", **common)
    ev_group = est.evaluate(x, y, hold_out="group", **common)
    numbers["transfer_seconds"] = round(time.time() - t0, 1)
    blocks["geometry vs recipe"] = md_table(summary_table(ev), 2)
    blocks["geometry vs recipe, leave one recipe out"] = md_table(summary_table(ev_group), 2)
    cols = ["spearman", "spearman_low", "spearman_high", "p_value", "kendall", "weighted_tau",
            "regret", "top1", "top3", "r2", "null_r2"]  # fmt: skip
    blocks["transfer"] = md_table(ev.table[cols], 3)
    blocks["transfer by recipe"] = md_table(ev_group.table[cols], 3)
    # a stronger reference: the recipe, the objective and SimCLR's temperature
    known = reference.join(pd.get_dummies(manifest.loc[ssl + controls, "method"], dtype=float)
                           .add_prefix("method=")).assign(
        temperature=manifest.loc[ssl + controls, "temperature"].fillna(0.0))  # fmt: skip
    ev_known = est.evaluate(x, y, hold_out="model", controls=controls, groups=recipes,
                            reference=known, n_bootstrap=n_bootstrap, n_permutations=0,
                            seed=SEED)  # fmt: skip
    blocks["geometry vs recipe and objective"] = md_table(
        ev_known.table[["reference_spearman", "combined_spearman", "gain_spearman",
                        "gain_spearman_low", "gain_spearman_high"]], 2)  # fmt: skip
    base = []
    for name in ["", *ev.baselines]:
        prefix = f"{name}_" if name else ""
        sub = ev.table[[f"{prefix}spearman", f"{prefix}spearman_low", f"{prefix}spearman_high",
                        f"{prefix}regret", f"{prefix}within_spearman"]]  # fmt: skip
        sub.columns = ["spearman", "low", "high", "regret", "within_recipe"]
        base.append(sub.assign(predictor=name or "profile").reset_index())
    compare = (
        pd.concat(base).set_index(["task", "predictor"]).sort_index(level=0, sort_remaining=False)
    )
    blocks["baselines"] = md_table(compare)
    wins = sum(
        ev.table.loc[t, "spearman"] > ev.table.loc[t, "rankme_spearman"] for t in ev.table.index
    )
    numbers["beats_rankme_label_free"] = f"{wins} of {len(ev.table)}"
    for key, table in (("lomo", ev.table), ("loro", ev_group.table)):
        numbers[f"gain_above_zero_{key}"] = list(table.index[table["gain_spearman_low"] > 0])
    # the zoo's largest axis is colour augmentation on/off; the harder test is within each half
    halves = []
    has_color = manifest.loc[ssl, "recipe"].str.split("+").apply(lambda r: "color" in r)
    for label, members in (("with color", has_color[has_color].index),
                           ("without color", has_color[~has_color].index)):  # fmt: skip
        members = list(members)
        sub = est.evaluate(x.loc[members], y.loc[members], groups=recipes.loc[members],
                           hold_out="model", n_bootstrap=n_bootstrap,
                           n_permutations=n_permutations, seed=SEED)  # fmt: skip
        part = sub.table[["n_models", "spearman", "spearman_low", "spearman_high", "p_value",
                          "regret", "rankme_spearman"]].copy()  # fmt: skip
        halves.append(part.assign(models=label).reset_index().set_index(["models", "task"]))
    blocks["within colour halves"] = md_table(pd.concat(halves), 3)
    fig = plot_predictions(ev, baseline="reference")
    fig.savefig(FIGURES / "factor_predictions.png", dpi=100)
    ev.table.to_csv(DOCS / "factor_transfer_evaluation.csv")
    ev_group.table.to_csv(DOCS / "factor_transfer_evaluation_by_recipe.csv")
    blocks["readme"] = readme_block(ev, ev_group)

    # -- clustering of the self-supervised models
    ssl_prof = Profile(prof.table[prof.table["model"].isin(ssl)].reset_index(drop=True),
                       {m: prof.settings[m] for m in ssl})  # fmt: skip
    res = cluster_models(ssl_prof)
    agree = {key: res.agreement(manifest.loc[ssl, key], n_permutations=999, seed=SEED)
             for key in ("method", "recipe")}  # fmt: skip
    fam = {f: manifest.loc[ssl, "recipe"].str.split("+").apply(lambda r, f=f: f in r)
           for f in ("crop", "color", "rotation", "blur")}  # fmt: skip
    for f, has in fam.items():
        agree[f"has {f}"] = res.agreement(has.map({True: f, False: f"no {f}"}),
                                          n_permutations=999, seed=SEED)  # fmt: skip
    table = pd.DataFrame(agree).T[["n_groups", "ari", "ari_p_value", "nmi", "nmi_p_value",
                                   "nn_rate", "nn_chance", "nn_p_value"]]  # fmt: skip
    colour = fam["color"].map({True: "color", False: "no color"})
    conditional = {
        "method, within recipe": res.agreement(manifest.loc[ssl, "method"], n_permutations=999,
                                               seed=SEED, within=manifest.loc[ssl, "recipe"]),
        "method, within colour": res.agreement(manifest.loc[ssl, "method"], n_permutations=999,
                                               seed=SEED, within=colour),
    }  # fmt: skip
    for f in ("crop", "rotation", "blur"):
        conditional[f"has {f}, within colour"] = res.agreement(
            fam[f].map({True: f, False: f"no {f}"}), n_permutations=999, seed=SEED, within=colour)
    blocks["clustering within"] = md_table(pd.DataFrame(conditional).T[
        ["n_strata", "nn_rate", "nn_chance", "nn_p_value", "within_ari", "within_ari_p_value",
         "within_nmi"]], 3)  # fmt: skip
    blocks["clustering"] = (
        f"Average linkage, Euclidean distance on {res.matrix.shape[1]} z-scored metrics "
        f"({len(res.dropped)} dropped), {len(ssl)} self-supervised models; the tree is cut at "
        "each grouping's number of groups.\n\n" + md_table(table, 3)
    )
    res.plot_dendrogram(groups=manifest.loc[ssl, "method"]).savefig(
        FIGURES / "factor_dendrogram.png", dpi=100)  # fmt: skip
    res.plot_map(groups=manifest.loc[ssl, "recipe"]).savefig(FIGURES / "factor_map.png", dpi=100)

    # -- invariance <-> task
    corr = metric_correlations(matrix.loc[ssl], transfer.loc[ssl], n_bootstrap=n_bootstrap,
                               seed=SEED)  # fmt: skip
    rows = []
    for family, fam_tasks in EXPECTED.items():
        for metric in INVARIANCE:
            for task in fam_tasks:
                hit = corr[(corr["metric"] == f"{family}/{metric}") & (corr["task"] == task)]
                if len(hit):
                    rows.append(hit.iloc[0])
    blocks["invariance"] = md_table(pd.DataFrame(rows).set_index(["metric", "task"]))
    plot_correlations(matrix.loc[ssl], transfer.loc[ssl], n_bootstrap=n_bootstrap,
                      seed=SEED).savefig(FIGURES / "factor_correlations.png", dpi=100)  # fmt: skip
    (DOCS / "factor_results.json").write_text(json.dumps(numbers, indent=1) + "\n")
    return blocks


def main() -> None:
    args = script_arguments(__doc__)
    prof = zoo_profile()
    if args.profile_only:
        return
    blocks = analyse(prof, args.permutations, args.bootstrap)
    headline = {"zoo headline": blocks.pop("readme")}
    update_page(DOCS / "zoo-results.md", {**blocks, **headline}, "Results on the factor zoo")
    # the same sentence, from the same numbers, where the README and the methods page state it
    update_page(DOCS.parent / "README.md", headline, "manifold")
    update_page(DOCS / "analysis.md", headline, "Comparing models")


if __name__ == "__main__":
    main()
