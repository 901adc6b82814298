"""The length unit that makes distance-based metrics comparable across models.

A model's embeddings can be rescaled by any factor without changing its geometry, so an absolute
length (an NNK diameter, a Ricci edge length) says more about the scale than about the shape.
The unit used throughout is the **median distance from a point to its k-th nearest neighbour**,
``k`` being the number of candidates of the graph the metric reads (10 in
:func:`manifold.profile`). :func:`~manifold.metrics.spread_ratio` measures augmentations in the
same unit.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from manifold._checks import degenerate

SCALE_CHOICES = "None, 'knn' or a positive number"


def knn_unit(graph: Any) -> float:
    """Median over nodes of the distance to the last (k-th) candidate of a kNN or NNK graph."""
    from manifold.graphs import AnchorNNK, KNNGraph, NNKGraph

    knn = graph.knn if isinstance(graph, (NNKGraph, AnchorNNK)) else graph
    if not isinstance(knn, KNNGraph):
        raise ValueError(
            "scale='knn' needs a KNNGraph or NNKGraph (the unit is the median distance to the "
            f"k-th neighbour), got {type(graph).__name__}; pass scale=<a positive number>"
        )
    return median_unit(np.asarray(knn.distances, dtype=np.float64)[:, -1])


def median_unit(kth_distances: np.ndarray) -> float:
    """The median of the k-th neighbour distances, checked to be positive."""
    unit = float(np.median(kth_distances))
    if not unit > 0:
        # collapse: every length in this unit is undefined, so the metric is NaN, not an error
        return degenerate(
            "scale='knn' is undefined: the median distance to the k-th neighbour is 0 (most "
            "points coincide with their neighbours, e.g. collapsed embeddings); use a larger k "
            "or remove duplicates; returning NaN",
            stacklevel=4,
        )
    return unit


def resolve_scale(scale: Any, graph: Any) -> float:
    """The divisor of every length: 1 for ``None``, :func:`knn_unit` for ``"knn"``, or ``scale``."""
    if scale is None:
        return 1.0
    if isinstance(scale, str):
        if scale != "knn":
            raise ValueError(f"scale must be {SCALE_CHOICES}; got {scale!r}")
        return knn_unit(graph)
    if (
        isinstance(scale, bool)
        or not isinstance(scale, Real)
        or not np.isfinite(scale)
        or scale <= 0
    ):
        raise ValueError(f"scale must be {SCALE_CHOICES}; got {scale!r}")
    return float(scale)
