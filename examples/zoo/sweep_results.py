"""Selecting a checkpoint without labels, on the sweep zoo (docs/selection.md).

The sweep zoo (``load_zoo(zoo="sweep")``, trained by ``train_sweep_zoo.py``) has 8 **groups**
(4 recipes × SimCLR/VICReg), each of 20 candidates: 5 settings of the objective's main
hyperparameter × checkpoints after epochs 1, 3, 7 and 15. Within a group the recipe is the
same for every candidate, so what is known without geometry cannot choose among them. This
script profiles every candidate with the factor zoo's settings (families crop, color,
rotation, flip, blur; K = 8, k = 10; 500 factor-MNIST test images; 30 bootstrap resamples for
the standard errors), caches the profile in ``docs/sweep_zoo_profile.csv``, and selects within
each group with:

* every one-metric criterion in its paper's direction (``manifold.select(by=...)``): RankMe,
  effective rank, LiDAR (mean over families), alpha closest to 1, TwoNN lower;
* the profile's ``TransferPredictor`` fitted on the **other seven groups** (no label of the
  group is used), and one fitted on the factor zoo's 67 self-supervised models;
* the naive choices: the last checkpoint at the factor zoo's setting (SimCLR τ = 0.5, VICReg
  variance weight 25), and a random candidate (expected values).

Per task it reports the mean within-group Spearman correlation of the criterion's ranking with
the probe accuracy, the mean and worst regret (best accuracy in the group minus the accuracy of
the pick, in points) and the top-1 rate, with 95 % intervals from resampling the 8 groups; and
how many picks were collapsed (``select`` flags RankMe ≤ 2 or a failed spectrum) or degraded.
**Degraded** was fixed before any result was seen: the pick is at least 10 accuracy points below
the best candidate of its group on that task.

    python examples/zoo/sweep_results.py      # profile (cached, ~1 h on 2 cores) + analysis
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

from manifold.datasets import load_factor_mnist, load_transfer, load_zoo
from manifold.profiling import DEFAULT_FAMILIES, Profile
from manifold.zoo import TransferPredictor, select

try:  # run as a script (the folder is on sys.path)
    from factor_results import CONTROLS, N_IMAGES, N_VIEWS, SEED, K
    from pages import DOCS, FIGURES, md_table, script_arguments, update_page
except ImportError:  # pragma: no cover - imported as a package module
    from .factor_results import CONTROLS, N_IMAGES, N_VIEWS, SEED, K
    from .pages import DOCS, FIGURES, md_table, script_arguments, update_page

CACHE = DOCS / "sweep_zoo_profile.csv"
FACTOR_CACHE = DOCS / "factor_zoo_profile.csv"
N_BOOTSTRAP = 30
CRITERIA = ("rankme", "effective_rank", "lidar", "alpha", "twonn")
#: Fixed before any result: a pick this many points below its group's best is "degraded".
DEGRADED_POINTS = 10.0
DEFAULT_SETTING = {"simclr": 0.5, "vicreg": 25.0}
LAST_EPOCH = 15


_WORKER: dict = {}


def _init_worker() -> None:
    """Each worker draws every family's views once: the same views for every candidate."""
    import torch

    from manifold.augment import draw_views

    torch.set_num_threads(1)
    x, _ = load_factor_mnist("test", n=N_IMAGES, seed=SEED)
    _WORKER["images"] = x
    _WORKER["views"] = {f: draw_views(x, f, N_VIEWS, SEED) for f in DEFAULT_FAMILIES}


def _profile_one(name: str) -> Profile:
    """One candidate's profile from its embeddings and those of the shared views.

    ``Embedder.embed_drawn_views`` on views drawn by ``manifold.draw_views`` equals
    ``Embedder.embed_views`` number for number, so this is ``profile(model, images, ...)`` without
    drawing the views again for every candidate (colour jitter dominates a profile's cost).
    """
    from manifold import profile
    from manifold.embed import Embedder

    models, manifest = load_zoo([name], zoo="sweep")
    embedder = Embedder(models[name], progress=False)
    z = embedder.embed(_WORKER["images"])
    views = {f: embedder.embed_drawn_views(v) for f, v in _WORKER["views"].items()}
    prof = profile(z, views=views, k=K, seed=SEED, n_bootstrap=N_BOOTSTRAP, name=name,
                   progress=False)  # fmt: skip
    prof.settings[name]["sha256"] = manifest.loc[name, "sha256"]
    prof.settings[name]["method"] = manifest.loc[name, "method"]
    return prof


def sweep_profile(workers: int = 2) -> Profile:
    """Profile every sweep-zoo checkpoint, cached while its weights' SHA-256 is unchanged."""
    import time
    from concurrent.futures import ProcessPoolExecutor

    from manifold.engine import METRICS_VERSION

    _, manifest = load_zoo(zoo="sweep", verify=False)
    done = None
    if CACHE.exists():
        cached = Profile.load(CACHE)
        fresh = [m for m in cached.models if m in manifest.index
                 and cached.settings[m].get("sha256") == manifest.loc[m, "sha256"]
                 and cached.settings[m].get("metrics_version") == METRICS_VERSION]  # fmt: skip
        done = _subset(cached, fresh) if fresh else None
    todo = [m for m in manifest.index if done is None or m not in done.models]
    start = time.time()
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        for prof in pool.map(_profile_one, todo):
            done = prof if done is None else Profile.concat([done, prof])
            done.save(CACHE)
            print(f"profiled {prof.models[0]} ({len(done.models)}/{len(manifest)}, "
                  f"{time.time() - start:.0f} s)", flush=True)  # fmt: skip
    return _subset(done, list(manifest.index))


def _subset(prof: Profile, keep: list[str]) -> Profile:
    table = prof.table[prof.table["model"].isin(keep)].reset_index(drop=True)
    return Profile(table, {m: prof.settings[m] for m in keep},
                   [f for f in prof.failures if f["model"] in keep],
                   {m: prof.spectra[m] for m in keep if m in prof.spectra})  # fmt: skip


def pick_stats(ranking: pd.DataFrame, accuracy: pd.Series) -> dict[str, float]:
    """Within-group Spearman of the ranking with accuracy, regret and top-1 of its first pick.

    ``ranking`` is :func:`manifold.select`'s table (best first; collapsed candidates last).
    """
    from scipy.stats import spearmanr

    acc = accuracy.loc[ranking.index]
    order = -ranking["rank"].to_numpy(dtype=float)  # higher = ranked better
    pick = ranking.index[0]
    best = float(accuracy.max())
    return {
        "spearman": float(spearmanr(order, acc.to_numpy()).statistic),
        "regret": best - float(accuracy[pick]),
        "top1": float(accuracy[pick] == best),
        "collapsed_pick": float(bool(ranking.loc[pick, "collapsed"])),
        "degraded_pick": float(best - accuracy[pick] >= DEGRADED_POINTS),
    }


def evaluate_groups(prof: Profile, manifest: pd.DataFrame, transfer: pd.DataFrame,
                    factor: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:  # fmt: skip
    """One row per (group, task, criterion) with :func:`pick_stats`."""
    matrix = prof.to_matrix("mean")
    rows = []
    groups = list(dict.fromkeys(manifest["group"]))
    factor_est = TransferPredictor().fit(*factor)
    for group in groups:
        members = list(manifest.index[manifest["group"] == group])
        others = [m for m in manifest.index if m not in members]
        sub = _subset(prof, members)
        method = manifest.loc[members[0], "method"]
        naive = manifest.loc[members]
        naive = naive[(naive["value"] == DEFAULT_SETTING[method])
                      & (naive["epoch"] == LAST_EPOCH)].index[0]  # fmt: skip
        for task in transfer.columns:
            acc = transfer.loc[members, task]
            for criterion in CRITERIA:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    ranking = select(sub, by=criterion)
                rows.append({"group": group, "task": task, "criterion": criterion,
                             **pick_stats(ranking, acc)})  # fmt: skip
            usable = [c for c in matrix.columns if np.isfinite(matrix.loc[others, c]).all()]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                est = TransferPredictor(features=None).fit(
                    matrix.loc[others, usable], transfer.loc[others, task])  # fmt: skip
                ranking = select(sub, by=est, task=task)
            rows.append({"group": group, "task": task, "criterion": "profile (other groups)",
                         **pick_stats(ranking, acc)})  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ranking = select(sub, by=factor_est, task=task)
            rows.append({"group": group, "task": task, "criterion": "profile (factor zoo)",
                         **pick_stats(ranking, acc)})  # fmt: skip
            best = float(acc.max())
            naive_row = "last epoch, default setting"
            rows.append({"group": group, "task": task, "criterion": naive_row,
                         "spearman": np.nan, "regret": best - float(acc[naive]),
                         "top1": float(acc[naive] == best), "collapsed_pick": np.nan,
                         "degraded_pick": float(best - acc[naive] >= DEGRADED_POINTS)})  # fmt: skip
            degraded = float((acc <= best - DEGRADED_POINTS).mean())
            rows.append({"group": group, "task": task, "criterion": "random (expected)",
                         "spearman": 0.0, "regret": float((best - acc).mean()),
                         "top1": float((acc == best).mean()), "collapsed_pick": np.nan,
                         "degraded_pick": degraded})  # fmt: skip
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame, n_bootstrap: int, seed: int = SEED) -> pd.DataFrame:
    """Per task and criterion: means over groups with 95 % intervals from resampling groups."""
    rng = np.random.default_rng(seed)
    groups = sorted(rows["group"].unique())
    draws = rng.integers(0, len(groups), size=(n_bootstrap, len(groups)))
    out = []
    for (task, criterion), part in rows.groupby(["task", "criterion"], sort=False):
        part = part.set_index("group").loc[groups]
        entry = {"task": task, "criterion": criterion}
        for col in ("spearman", "regret", "top1"):
            values = part[col].to_numpy(dtype=float)
            entry[col] = float(np.mean(values))
            if np.isfinite(values).all() and np.ptp(values) > 0:
                boot = values[draws].mean(axis=1)
                entry[f"{col}_low"], entry[f"{col}_high"] = np.percentile(boot, [2.5, 97.5])
            else:
                entry[f"{col}_low"] = entry[f"{col}_high"] = entry[col]
        entry["worst_regret"] = float(part["regret"].max())
        entry["collapsed_picks"] = part["collapsed_pick"].sum(min_count=1)
        entry["degraded_picks"] = float(part["degraded_pick"].sum())
        out.append(entry)
    return pd.DataFrame(out)


def selection_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The page's table: one row per task and criterion, intervals inline."""
    def fmt(row: pd.Series, col: str, digits: int) -> str:
        lo, hi = row[f"{col}_low"], row[f"{col}_high"]
        if not np.isfinite(row[col]):
            return "–"
        if lo == hi:
            return f"{row[col]:.{digits}f}"
        return f"{row[col]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"

    table = pd.DataFrame({
        "task": summary["task"], "criterion": summary["criterion"],
        "within-group ρ": [fmt(r, "spearman", 2) for _, r in summary.iterrows()],
        "mean regret": [fmt(r, "regret", 1) for _, r in summary.iterrows()],
        "worst regret": summary["worst_regret"].round(1),
        "top-1": [fmt(r, "top1", 2) for _, r in summary.iterrows()],
        "degraded picks": summary["degraded_picks"],
    })  # fmt: skip
    return table.set_index(["task", "criterion"])


def headline(summary: pd.DataFrame) -> str:
    """The sentence the README states, from the numbers."""
    t = summary.set_index(["task", "criterion"])
    tasks = list(dict.fromkeys(summary["task"]))
    ours, rankme = "profile (other groups)", "rankme"
    better = [task for task in tasks
              if t.loc[(task, ours), "regret"] < t.loc[(task, rankme), "regret"]]  # fmt: skip
    digit = {c: t.loc[("digit", c), "regret"] for c in
             (ours, rankme, "last epoch, default setting", "random (expected)")}  # fmt: skip
    degraded = int(sum(t.loc[(task, ours), "degraded_picks"] for task in tasks))
    return (
        "Choosing among the checkpoints and settings of one recipe (the sweep zoo: 8 groups of "
        "20), the profile's predictor fitted on the other groups picks a checkpoint "
        f"{digit[ours]:.1f} points below the group's best on digit on average, against "
        f"{digit[rankme]:.1f} for RankMe, {digit['last epoch, default setting']:.1f} for the last "
        f"checkpoint at the default setting and {digit['random (expected)']:.1f} for a random "
        f"one; its regret is lower than RankMe's on {len(better)} of {len(tasks)} tasks, and it "
        f"picks a degraded candidate (10 points or more below the best) in {degraded} of "
        f"{8 * len(tasks)} group-tasks."
    )


def curves_figure(manifest: pd.DataFrame, transfer: pd.DataFrame, history: pd.DataFrame,
                  groups: list[str], path) -> None:  # noqa: ANN001  # fmt: skip
    """Per group: probe accuracy (digit) and the monitor's RankMe against epoch, per setting."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(groups), figsize=(4.2 * len(groups), 6.4), squeeze=False)
    for j, group in enumerate(groups):
        members = manifest[manifest["group"] == group]
        for i, (run, part) in enumerate(members.groupby("run", sort=False)):
            part = part.sort_values("epoch")
            label = f"{part['setting'].iloc[0]} = {part['value'].iloc[0]:g}"
            axes[0, j].plot(part["epoch"], transfer.loc[part.index, "digit"], "o-", color=f"C{i}",
                            label=label)  # fmt: skip
            h = history[(history["run"] == run) & (history["manifold"] == "semantic")
                        & (history["metric"] == "rankme")]  # fmt: skip
            axes[1, j].plot(h["step"], h["value"], "-", color=f"C{i}", label=label)
        axes[0, j].set_title(group)
        axes[0, j].set_ylabel("digit probe accuracy (%)")
        axes[1, j].set_ylabel("RankMe (monitor, 500 training images)")
        axes[1, j].set_xlabel("epoch")
        axes[0, j].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    args = script_arguments(__doc__)
    prof = sweep_profile(workers=args.threads)
    if args.profile_only:
        return
    import matplotlib

    matplotlib.use("Agg")
    from manifold.datasets import load_sweep_history

    _, manifest = load_zoo(zoo="sweep")
    transfer = load_transfer(zoo="sweep").loc[manifest.index]
    _, factor_manifest = load_zoo()
    factor_prof = Profile.load(FACTOR_CACHE)
    ssl = [m for m in factor_prof.models if factor_manifest.loc[m, "method"] not in CONTROLS]
    factor = (factor_prof.to_matrix("mean").loc[ssl], load_transfer().loc[ssl])
    rows = evaluate_groups(prof, manifest, transfer, factor)
    summary = summarise(rows, args.bootstrap)
    FIGURES.mkdir(parents=True, exist_ok=True)
    history = load_sweep_history()
    curves_figure(manifest, transfer, history,
                  ["simclr_color+crop", "vicreg_color+crop", "vicreg_crop"],
                  FIGURES / "sweep_curves.png")  # fmt: skip
    rows.to_csv(DOCS / "sweep_selection_rows.csv", index=False)
    blocks = {"selection": md_table(selection_table(summary), 2)}
    sentence = {"selection headline": headline(summary)}
    flagged = {m: r for m, r in zip(manifest.index, (manifest["first_collapse"]), strict=True)
               if pd.notna(r)}  # fmt: skip
    numbers = {"monitor_collapse_runs": sorted({manifest.loc[m, "run"] for m in flagged})}
    (DOCS / "sweep_results.json").write_text(json.dumps(numbers, indent=1) + "\n")
    title = "Selecting a checkpoint without labels"
    update_page(DOCS / "selection.md", {**sentence, **blocks}, title)
    update_page(DOCS.parent / "README.md", sentence, "manifold")


if __name__ == "__main__":
    main()
