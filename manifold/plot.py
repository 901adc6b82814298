"""Figures a person would rather look at than read (matplotlib; each function returns a Figure).

matplotlib is imported inside each function, so ``import manifold`` does not import it; the
figures render without a display (the Agg backend is used when no other backend is set).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from manifold._checks import check_names
from manifold.typing import SeedLike
from manifold.zoo.figures import plot_dendrogram, plot_model_map

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from manifold.results import Profile
    from manifold.spectral import Spectrum
    from manifold.zoo import TransferEvaluation

__all__ = [
    "plot_correlations",
    "plot_dendrogram",
    "plot_invariance",
    "plot_layers",
    "plot_model_map",
    "plot_predictions",
    "plot_spectrum",
]

_INVARIANCE_LABELS = {
    "spread_ratio": "spread ratio (0 = invariant)",
    "same_source_rate": "same-source rate",
    "augmentation_dimension": "augmentation dimension",
    "tangent_alignment": "tangent alignment (degrees)",
    "lidar": "LiDAR",
    "alignment": "alignment (Wang & Isola)",
    "augmentation_diameter_ratio": "augmentation diameter ratio",
}


def _pyplot():
    # matplotlib picks a headless backend (Agg) by itself when there is no display
    import matplotlib.pyplot as plt

    return plt


def plot_invariance(
    profile: Profile, metric: str = "spread_ratio", statistic: str = "mean", ax: Axes | None = None
) -> Figure:
    """Heat map of one invariance metric: models (rows) × augmentation families (columns).

    Args:
        profile: A :class:`~manifold.Profile` (one or several models; a layer sweep gives one
            row per layer, named ``model@layer`` when there are several models).
        metric: An invariance metric in the profile, e.g. ``"spread_ratio"``.
        statistic: Which statistic of per-image values to show (``"value"`` for scalar
            metrics such as LiDAR is used automatically).
        ax: Optional matplotlib Axes to draw into.

    Returns:
        The matplotlib Figure.
    """
    from manifold.results import SEMANTIC

    t = profile.table
    rows = t[(t["metric"] == metric) & (t["manifold"] != SEMANTIC)]
    if rows.empty:
        raise ValueError(f"the profile has no invariance metric {metric!r}")
    stats = set(rows["statistic"])
    stat = statistic if statistic in stats else "value"
    rows = rows[rows["statistic"] == stat]
    if len(getattr(profile, "layers", [])) > 1:  # a layer sweep: one row per (model, layer)
        several = len(profile.models) > 1
        rows = rows.assign(model=rows["model"] + "@" + rows["layer"] if several else rows["layer"])
    mat = rows.pivot_table(index="model", columns="manifold", values="value", sort=False)
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 * mat.shape[1] + 3, 0.45 * mat.shape[0] + 1.8))
    else:
        fig = ax.figure
    lower_is_invariant = ("spread_ratio", "alignment", "augmentation_diameter_ratio")
    cmap = "viridis_r" if metric in lower_is_invariant else "viridis"
    im = ax.imshow(mat.to_numpy(), aspect="auto", cmap=cmap)
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=30, ha="right")
    ax.set_yticks(range(mat.shape[0]), mat.index)
    values = mat.to_numpy()
    finite = values[np.isfinite(values)]
    mid = (finite.max() + finite.min()) / 2 if finite.size else 0
    for (r, c), val in np.ndenumerate(values):
        if np.isfinite(val):
            colour = "white" if (val > mid) == (cmap == "viridis_r") else "black"
            ax.text(c, r, f"{val:.2g}", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(im, ax=ax, label=_INVARIANCE_LABELS.get(metric, metric))
    ax.set_title(f"{metric} per augmentation family")
    fig.tight_layout()
    return fig


def plot_layers(
    profile: Profile,
    metric: str = "twonn_dimension",
    manifold: str = "semantic",
    statistic: str | None = None,
    models: str | Iterable[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One metric against depth: one line per model over the layers of a layer sweep.

    The x axis lists the layers in the sweep's order (a prefix shared by every name, e.g.
    ``model._blocks.``, is moved to the axis label). Error bars are drawn from the profile's
    ``"se"`` rows (``profile(..., n_bootstrap=B)``) where it has them.

    Args:
        profile: A :class:`~manifold.Profile` of a layer sweep (``profile(..., layers=...)``).
        metric: A metric of the profile, e.g. ``"twonn_dimension"`` or ``"rankme"``.
        manifold: ``"semantic"`` or an augmentation family (for invariance metrics).
        statistic: Which statistic to draw; default ``"value"`` for a scalar metric, ``"mean"``
            for a per-point one.
        models: Models to draw, or one model (default: all).
        ax: Optional matplotlib Axes to draw into.

    Returns:
        The matplotlib Figure (one line, with error bars where there are standard errors, per
        model).
    """
    layers = profile.layers
    if not layers:
        raise ValueError(
            "plot_layers needs a layer sweep: profile(model, images, layers=[...]) gives one"
        )
    t = profile.table
    rows = t[(t["metric"] == metric) & (t["manifold"] == manifold)]
    if rows.empty:
        have = sorted(set(t.loc[t["manifold"] == manifold, "metric"]))
        raise ValueError(f"the profile has no metric {metric!r} on {manifold!r}; it has {have}")
    if statistic is None:
        statistic = "value" if (rows["statistic"] == "value").any() else "mean"
    models = profile.models if models is None else check_names(models, "models")
    unknown = [m for m in models if m not in profile.models]
    if unknown:
        raise ValueError(f"unknown models {unknown}; available: {profile.models}")
    prefix = _common_prefix(layers)
    position = {layer: i for i, layer in enumerate(layers)}
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.42 * len(layers) + 2.5), 4))
    else:
        fig = ax.figure
    for model in models:
        mine = rows[rows["model"] == model]
        values = mine[mine["statistic"] == statistic].set_index("layer")["value"]
        if values.empty:
            continue
        errors = None
        if statistic in ("value", "mean"):
            se = mine[mine["statistic"] == "se"].set_index("layer")["value"]
            if not se.empty:
                errors = se.reindex(values.index).to_numpy()
        x = [position[layer] for layer in values.index]
        ax.errorbar(x, values.to_numpy(), yerr=errors, marker="o", ms=4, lw=1.4, capsize=2,
                    label=model)  # fmt: skip
    ax.set_xticks(range(len(layers)), [layer[len(prefix) :] for layer in layers],
                  rotation=0 if prefix else 45, ha="center" if prefix else "right")  # fmt: skip
    ax.set_xlabel(f"layer ({prefix}*)" if prefix else "layer")
    label = metric if statistic == "value" else f"{metric} ({statistic})"
    ax.set_ylabel(label)
    where = "" if manifold == "semantic" else f", {manifold} views"
    ax.set_title(f"{metric} across layers{where}")
    if len(models) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _common_prefix(names: list[str]) -> str:
    """The dotted prefix every name shares (``"blocks."`` for ``blocks.0``, ``blocks.1``)."""
    if len(names) < 2:
        return ""
    parts = [name.split(".") for name in names]
    shared = []
    for pieces in zip(*parts, strict=False):
        if len(set(pieces)) != 1:
            break
        shared.append(pieces[0])
    if any(len(p) <= len(shared) for p in parts):  # a name would be left empty
        shared = shared[:-1] if shared else shared
        if any(len(p) <= len(shared) for p in parts):
            return ""
    return "".join(piece + "." for piece in shared)


#: Above this many spectra, lines are coloured by alpha (a colour bar) instead of a legend.
SPECTRUM_LEGEND_MAX = 8


def plot_spectrum(
    spectra: Spectrum | dict[str, Spectrum], fit: bool = True, ax: Axes | None = None
) -> Figure:
    """Eigenspectra (log–log) of one or several representations, with the alpha power-law fit.

    Up to :data:`SPECTRUM_LEGEND_MAX` spectra get one legend entry each (name and α) and their
    fits as dashed lines. More would hide the plot under the legend: each line is then coloured
    by its α on a colour bar (grey where α could not be fitted), without fit lines, and the
    steepest and the flattest spectra are named in the title.

    Args:
        spectra: A :class:`~manifold.Spectrum`, or a dict name -> Spectrum.
        fit: Draw each alpha fit over its fit range (legend mode only).
        ax: Optional matplotlib Axes.

    Returns:
        The matplotlib Figure.
    """
    if not isinstance(spectra, dict):
        spectra = {"": spectra}
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.2))
    else:
        fig = ax.figure
    curves = []
    for name, spec in spectra.items():
        lam = np.asarray(spec.eigenvalues, dtype=float)
        lam = lam[lam > 0]
        if lam.size == 0:
            continue
        try:
            res = spec.alpha()
        except ValueError:
            res = None
        curves.append((name, lam, res))
    many = len(curves) > SPECTRUM_LEGEND_MAX
    alphas = [r.alpha for _, _, r in curves if r is not None]
    norm = plt.Normalize(min(alphas), max(alphas)) if many and alphas else None
    cmap = plt.get_cmap("viridis")
    for name, lam, res in curves:
        ranks = np.arange(1, lam.size + 1)
        if many:
            color = "0.6" if res is None or norm is None else cmap(norm(res.alpha))
            ax.loglog(ranks, lam / lam[0], lw=1.0, color=color, alpha=0.85)
            continue
        label = name if res is None or not fit else f"{name} (α={res.alpha:.2f})".strip()
        (h,) = ax.loglog(ranks, lam / lam[0], label=label, lw=1.2)
        if fit and res is not None:
            lo, hi = res.fit_range
            rr = np.arange(lo, hi + 1)
            line = np.exp(res.intercept) * rr ** (-res.alpha)
            ax.loglog(rr, line / lam[0], ls="--", color=h.get_color(), lw=1)
    ax.set_xlabel("rank n")
    ax.set_ylabel("eigenvalue λ_n / λ_1")
    if many:
        fitted = [(r.alpha, n) for n, _, r in curves if r is not None]
        title = f"covariance eigenspectra of {len(curves)} models, coloured by α"
        if fitted:
            (lo_a, lo_n), (hi_a, hi_n) = min(fitted), max(fitted)
            title += f"\nflattest {lo_n} (α={lo_a:.2f}), steepest {hi_n} (α={hi_a:.2f})"
        ax.set_title(title, fontsize=9)
        if norm is not None:
            bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax)
            bar.set_label("α (power-law decay)")
    else:
        ax.set_title("covariance eigenspectrum (dashed: power-law fit)")
        if any(name for name, _, _ in curves):
            ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_predictions(
    evaluation: TransferEvaluation,
    baseline: str = "rankme",
    tasks: str | Iterable[str] | None = None,
) -> Figure:
    """Held-out predicted vs actual score per task: the metric model beside a baseline.

    One panel per task; circles are the leave-one-model-out predictions of the metric model,
    crosses those of ``baseline``; the diagonal is a perfect prediction.

    Controls (untrained, supervised), when the evaluation has them, are drawn as open squares
    with their names: they are predicted by a model fitted on the others and take no part in
    the statistics.

    Args:
        evaluation: A :class:`~manifold.zoo.TransferEvaluation`.
        baseline: Which other predictor to draw beside it (any of
            :attr:`~manifold.zoo.TransferEvaluation.baselines`: ``"reference"``,
            ``"directed_rankme"``, ...). A label-free baseline (``"rankme"``, ...) is not on the
            scores' scale and is drawn against a second axis on the right.
        tasks: Tasks to draw, or one task (default: all).

    Returns:
        The matplotlib Figure (per panel: two scatter collections and the diagonal line).
    """
    import pandas as pd

    if baseline not in evaluation.baselines:
        raise ValueError(f"baseline must be one of {evaluation.baselines}, got {baseline!r}")
    label_free = baseline in evaluation.label_free
    preds = evaluation.predictions
    table = evaluation.table
    tasks = list(table.index) if tasks is None else check_names(tasks, "tasks")
    unknown = [t for t in tasks if t not in table.index]
    if unknown:
        raise ValueError(f"unknown tasks {unknown}; available: {list(table.index)}")
    plt = _pyplot()
    ncol = min(3, len(tasks))
    nrow = -(-len(tasks) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3.8 * nrow), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        rows = preds[preds["task"] == task]
        controls = rows[rows["control"]] if "control" in rows else rows.iloc[:0]
        rows = rows[~rows["control"]] if "control" in rows else rows
        row = table.loc[task]
        ax.scatter(rows["actual"], rows["predicted"], color="C0", s=25,
                   label=f"profile: ρ={row['spearman']:.2f} "
                   f"[{row['spearman_low']:.2f}, {row['spearman_high']:.2f}], "
                   f"regret {row['regret']:.1f}")  # fmt: skip
        base_label = (f"{baseline}: ρ={row[baseline + '_spearman']:.2f}, "
                      f"regret {row[baseline + '_regret']:.3g}")  # fmt: skip
        if label_free:  # its own units: a second axis, on the right
            twin = ax.twinx()
            twin.scatter(rows["actual"], rows[baseline], color="C3", marker="x", s=25,
                         label=base_label + " (label-free, right axis)")  # fmt: skip
            twin.set_ylabel(f"{baseline} score (higher = predicted better)", color="C3")
            handles = twin.get_legend_handles_labels()
        else:
            ax.scatter(rows["actual"], rows[baseline], color="C3", marker="x", s=25,
                       label=base_label)  # fmt: skip
            handles = ([], [])
        if len(controls):
            ax.scatter(controls["actual"], controls["predicted"], facecolors="none",
                       edgecolors="black", marker="s", s=40,
                       label="controls (not in the statistics)")  # fmt: skip
            for _, c in controls.iterrows():
                ax.annotate(c["model"], (c["actual"], c["predicted"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
        both = pd.concat([rows, controls])
        drawn = ["actual", "predicted"] + ([] if label_free else [baseline])
        lo = float(np.nanmin(both[drawn].to_numpy()))
        hi = float(np.nanmax(both[drawn].to_numpy()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
        ax.set_xlabel("actual score")
        ax.set_ylabel("predicted (leave-one-model-out)")
        p = row.get("p_value", np.nan)
        ax.set_title(f"{task}" + (f" (p={p:.3f})" if np.isfinite(p) else ""))
        mine = ax.get_legend_handles_labels()
        ax.legend(mine[0] + handles[0], mine[1] + handles[1], fontsize=7)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_correlations(
    matrix: Profile | pd.DataFrame,
    scores: pd.DataFrame | pd.Series,
    statistic: str = "mean",
    max_metrics: int = 40,
    n_bootstrap: int = 1000,
    seed: SeedLike = 0,
) -> Figure:
    """Heat map of Spearman correlations between each metric and each task's score.

    Cells whose 95 % bootstrap interval over models excludes 0 are marked with a star (see
    :func:`~manifold.zoo.metric_correlations`); ``n_bootstrap=0`` draws no marks.

    Args:
        matrix: A :class:`~manifold.Profile` or a DataFrame (models × metrics).
        scores: DataFrame (models × tasks) or Series, matched by model name.
        statistic: Statistic of per-point metrics when ``matrix`` is a Profile.
        max_metrics: Show the metrics with the largest |ρ| (over tasks) at most.
        n_bootstrap: Resamples behind the significance marks.
        seed: Seed of the resampling.

    Returns:
        The matplotlib Figure (one image, one text mark per significant cell).
    """
    from manifold.zoo.transfer import metric_correlations

    if n_bootstrap:
        long = metric_correlations(matrix, scores, statistic=statistic, n_bootstrap=n_bootstrap,
                                   seed=seed)  # fmt: skip
        corr = long.pivot(index="metric", columns="task", values="rho")
        marks = long.pivot(index="metric", columns="task", values="significant")
        corr = corr.loc[:, list(dict.fromkeys(long["task"]))]
    else:
        corr = metric_correlations(matrix, scores, statistic=statistic)
        marks = None
    order = corr.abs().max(axis=1).sort_values(ascending=False).index[:max_metrics]
    corr = corr.loc[order]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 * corr.shape[1] + 4, 0.28 * corr.shape[0] + 1.8))
    im = ax.imshow(corr.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    if marks is not None:
        marks = marks.loc[order, corr.columns].to_numpy()
        for i, j in zip(*np.nonzero(marks), strict=True):
            ax.text(j, i, "*", ha="center", va="center", fontsize=9, color="black")
    ax.set_xticks(range(corr.shape[1]), corr.columns, rotation=30, ha="right")
    ax.set_yticks(range(corr.shape[0]), corr.index, fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman ρ (metric vs score)")
    ax.set_xlabel("task")
    ax.set_ylabel("metric")
    title = "metric–score rank correlation across models"
    if marks is not None:
        title += "\n* 95 % bootstrap interval excludes 0"
    ax.set_title(title)
    fig.tight_layout()
    return fig
