"""Compare models by the geometry of their representations, and predict their transfer.

* :func:`cluster_models` — hierarchical clustering of models on z-scored metric vectors, a 2-D
  map, and the adjusted Rand index against a known grouping (e.g. training method).
* :class:`TransferPredictor` — per-task ridge regression from metric vectors to downstream
  scores, evaluated leave-one-model-out with nested cross-validation, permutation p-values and
  label-free and directed one-metric baselines, a reference of known metadata, and
  within-group statistics.
* :func:`select` — rank a user's candidates (checkpoints, settings) by a label-free criterion or
  a predictor fitted on other models; collapsed candidates last, ties within noise marked.
"""

from manifold.zoo.clustering import ClusterResult, cluster_models
from manifold.zoo.select import select
from manifold.zoo.transfer import (
    BASELINES,
    TransferEvaluation,
    TransferPredictor,
    metric_correlations,
)

__all__ = [
    "BASELINES",
    "ClusterResult",
    "TransferEvaluation",
    "TransferPredictor",
    "cluster_models",
    "metric_correlations",
    "select",
]
