"""Compare models by the geometry of their representations, and predict their transfer.

* :func:`cluster_models` — hierarchical clustering of models on z-scored metric vectors, a 2-D
  map, and the adjusted Rand index against a known grouping (e.g. training method).
* :class:`TransferPredictor` — per-task ridge regression from metric vectors to downstream
  scores, evaluated leave-one-model-out with nested cross-validation, permutation p-values and
  RankMe / alpha / mean baselines.
"""

from manifold.zoo.clustering import ClusterResult, cluster_models
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
]
