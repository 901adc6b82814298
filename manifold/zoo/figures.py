"""Figures of a model clustering: the dendrogram and the 2-D model map.

They live with the clustering they draw (a :class:`~manifold.zoo.ClusterResult` draws itself
with them); :mod:`manifold.plot` offers them next to the other figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from manifold.typing import Grouping

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from manifold.zoo.clustering import ClusterResult
    from manifold.zoo.compare import SimilarityMatrix

#: A matplotlib colour: a name, or RGBA values in [0, 1].
Colour = str | tuple[float, float, float, float]

__all__ = [
    "group_colours",
    "place_labels",
    "plot_dendrogram",
    "plot_model_map",
    "plot_similarity_matrix",
]


def group_colours(
    groups: Grouping | None, models: list[str]
) -> tuple[dict[str, Colour], dict[str, Colour]]:
    """Model -> colour and label -> colour for a grouping (tab10/tab20 cycle)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    if groups is None:
        return {m: "black" for m in models}, {}
    series = groups if isinstance(groups, pd.Series) else pd.Series(dict(groups))
    series.index = series.index.map(str)
    missing = [m for m in models if m not in series.index]
    if missing:
        raise ValueError(f"groups has no label for models {missing}")
    labels = list(dict.fromkeys(str(series[m]) for m in models))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    palette = {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}
    return {m: palette[str(series[m])] for m in models}, palette


def plot_dendrogram(
    result: ClusterResult, groups: Grouping | None = None, ax: Axes | None = None
) -> Figure:
    """Dendrogram of a model clustering, leaf labels coloured by a grouping.

    Args:
        result: A :class:`~manifold.zoo.ClusterResult`.
        groups: Mapping model -> label for the colours (default: the result's ``groups``).
        ax: Optional matplotlib Axes.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    models = list(result.matrix.index)
    groups = result.groups if groups is None else groups
    colours, palette = group_colours(groups, models)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.4 * len(models) + 2), 4.5))
    else:
        fig = ax.figure
    # the cut height: between the merges that leave n_clusters and n_clusters - 1 clusters
    heights = np.sort(result.linkage[:, 2])
    k = result.n_clusters
    cut = None
    if 1 < k <= len(models) - 1:
        cut = (heights[-k] + heights[-k + 1]) / 2
    dendrogram(
        result.linkage,
        labels=models,
        ax=ax,
        leaf_rotation=90,
        color_threshold=cut if cut is not None else 0,
        above_threshold_color="grey",
    )
    for tick in ax.get_xticklabels():
        tick.set_color(colours.get(tick.get_text(), "black"))
    if cut is not None:
        ax.axhline(cut, ls="--", color="black", lw=0.8, label=f"cut: {k} clusters")
    handles = [
        plt.Line2D([], [], marker="s", ls="", color=c, label=lab) for lab, c in palette.items()
    ]
    if cut is not None:
        handles.append(plt.Line2D([], [], ls="--", color="black", label=f"cut: {k} clusters"))
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    ax.set_ylabel(f"{result.distance} distance ({result.method} linkage)")
    title = "models clustered by geometry"
    if result.adjusted_rand_index is not None:
        title += f" (ARI vs groups = {result.adjusted_rand_index:.2f})"
    ax.set_title(title)
    fig.tight_layout()
    return fig


#: Most models :func:`plot_model_map` writes names beside.
MAP_LABELS = 20


def plot_model_map(
    result: ClusterResult, groups: Grouping | None = None, ax: Axes | None = None
) -> Figure:
    """2-D map (classical MDS) of the models, coloured by a grouping, marked by cluster.

    Args:
        result: A :class:`~manifold.zoo.ClusterResult`.
        groups: Mapping model -> label for the colours (default: the result's ``groups``).
        ax: Optional matplotlib Axes.

    Returns:
        The matplotlib Figure (one scatter collection per group, or one without groups).
    """
    import matplotlib.pyplot as plt

    emb = result.embedding_2d
    models = list(emb.index)
    groups = result.groups if groups is None else groups
    colours, palette = group_colours(groups, models)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5 if palette else 6.5, 5))
    else:
        fig = ax.figure
    buckets = palette if palette else {"models": "black"}
    for lab, colour in buckets.items():
        members = [m for m in models if not palette or colours[m] == colour]
        ax.scatter(emb.loc[members, "mds1"], emb.loc[members, "mds2"], color=colour, label=lab,
                   s=40, edgecolor="white", linewidth=0.5)  # fmt: skip
    # past MAP_LABELS models the names overlap into an unreadable block: the table and the
    # report list each model's cluster and coordinates instead
    labelled = len(models) <= MAP_LABELS
    ex = result.explained
    ax.set_xlabel(f"MDS 1 ({100 * ex[0]:.0f}% of variance)")
    ax.set_ylabel(f"MDS 2 ({100 * ex[1]:.0f}% of variance)")
    ax.set_title("model map ([n] = cluster)" if labelled else
                 f"model map ({len(models)} models; names and clusters in the table)")  # fmt: skip
    if palette:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if labelled:
        ax.margins(x=0.3, y=0.15)  # room for the names beside the outermost points
    fig.tight_layout()  # the layout first: the labels are placed in its screen coordinates
    if labelled:
        points = emb.loc[models, ["mds1", "mds2"]].to_numpy(dtype=float)
        place_labels(ax, points, [f"{m} [{result.labels[m]}]" for m in models])
    return fig


#: Offsets (points) a map label tries around its point, nearest first.
_LABEL_OFFSETS = [(dx, dy) for dy in (3, -11, 13, -21, 23, -31, 33, -41) for dx in (4, -4)]


def place_labels(ax: Axes, points: np.ndarray, texts: list[str], fontsize: float = 7.0) -> None:
    """Write each text beside its point (data coordinates) where it overlaps no other label.

    Each label tries offsets around its point, nearest first, and keeps the first whose box
    (measured on the drawn figure) overlaps no label placed before it, no point and not the
    axes' edge; when none is free it keeps the one that overlaps least. Near-identical models
    then get their names one above the other instead of on top of each other.
    """
    fig = ax.figure
    fig.canvas.draw()  # fixes the data limits and gives the renderer the boxes are measured with
    renderer = fig.canvas.get_renderer()
    screen = ax.transData.transform(points)
    frame = ax.get_window_extent(renderer)
    placed = []
    for (x, y), text in zip(points, texts, strict=True):
        best, best_box, best_cost = None, None, None
        for dx, dy in _LABEL_OFFSETS:
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                                fontsize=fontsize, ha="left" if dx > 0 else "right")  # fmt: skip
            box = label.get_window_extent(renderer)
            cost = sum(box.overlaps(other) for other in placed)
            cost += 0.5 * sum(box.contains(px, py) for px, py in screen)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            cost += 0.0 if inside and box.y1 <= frame.y1 else 0.75  # past the axes' edge
            if best_cost is None or cost < best_cost:
                if best is not None:
                    best.remove()
                best, best_box, best_cost = label, box, cost
            else:
                label.remove()
            if cost == 0:
                break
        placed.append(best_box)


def plot_similarity_matrix(
    result: SimilarityMatrix,
    groups: Grouping | None = None,
    calibrated: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Heat map of a similarity matrix in dendrogram order, with the dendrogram above it.

    The order and the tree are average linkage on ``1 − S`` (:meth:`SimilarityMatrix.order`);
    models with NaN similarities (constant representations) come last. With ``ax`` only the
    heat map is drawn, into it.

    Args:
        result: A :class:`~manifold.zoo.SimilarityMatrix`.
        groups: Optional mapping model -> label; colours the model names.
        calibrated: Draw ``value − null mean`` (needs ``n_permutations``) instead of the values.
        ax: Optional Axes for the heat map.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    if calibrated and result.calibrated is None:
        raise ValueError("calibrated=True needs a matrix computed with n_permutations > 0")
    values = result.calibrated if calibrated else result.matrix
    order = result.order()
    shown = values.loc[order, order].to_numpy(dtype=float)
    n = len(order)
    colours, palette = group_colours(groups, order)
    if ax is None:
        side = min(14.0, max(4.5, 0.16 * n + 3))
        fig = plt.figure(figsize=(side + (2.5 if groups is not None else 1.2), side + 1.0),
                         layout="constrained")  # fmt: skip
        grid = fig.add_gridspec(2, 2, height_ratios=(1, 5), width_ratios=(30, 1))
        ax = fig.add_subplot(grid[1, 0])
        cax = fig.add_subplot(grid[1, 1])
        top = fig.add_subplot(grid[0, 0])
        tree, _ = result.linkage()
        if tree is not None:
            dendrogram(tree, ax=top, no_labels=True, color_threshold=0,
                       above_threshold_color="grey")  # fmt: skip
            top.set_xlim(0, 10 * n)
        top.axis("off")
    else:
        fig, cax = ax.figure, None
    finite_values = shown[np.isfinite(shown)]
    if calibrated:
        span = float(np.abs(finite_values).max()) if finite_values.size else 1.0
        vmin, vmax, cmap = -span, span, "RdBu_r"
    else:
        vmin = min(0.0, float(finite_values.min())) if finite_values.size else 0.0
        vmax, cmap = 1.0, "viridis"
    image = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      aspect="auto")  # fmt: skip
    size = 7 if n <= 40 else 5 if n <= 80 else 0
    if size:
        ax.set_xticks(range(n), order, rotation=90, fontsize=size)
        ax.set_yticks(range(n), order, fontsize=size)
        for tick in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
            tick.set_color(colours.get(tick.get_text(), "black"))
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    label = f"{result.measure}" + (" − null mean" if calibrated else "")
    fig.colorbar(image, cax=cax, ax=None if cax is not None else ax, label=label)
    if palette:
        handles = [plt.Line2D([], [], marker="s", ls="", color=c, label=lab)
                   for lab, c in palette.items()]  # fmt: skip
        fig.legend(handles=handles, fontsize=7, loc="outside right upper", frameon=False)
    title = f"{result.measure} similarity of {n} models on {result.n} images"
    (fig.axes[2] if cax is not None else ax).set_title(title, fontsize=10)
    return fig
