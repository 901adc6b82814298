"""Compare models by the geometry of their representations, and predict their transfer.

* :func:`cluster_models` — hierarchical clustering of models on z-scored metric vectors, a 2-D
  map, and the adjusted Rand index against a known grouping (e.g. training method).
* :func:`similarity_matrix` — every pairwise similarity (CKA, mutual kNN, Procrustes) of a zoo
  of models or embeddings on the same images, a tidy table, the matrix and its heat map;
  ``cluster_models(similarity=...)`` clusters it.
* :class:`TransferPredictor` — per-task ridge regression from metric vectors to downstream
  scores, evaluated leave-one-model-out with nested cross-validation, permutation p-values and
  label-free and directed one-metric baselines, a reference of known metadata, and
  within-group statistics.
* :func:`select` — rank a user's candidates (checkpoints, settings) by a label-free criterion or
  a predictor fitted on other models; collapsed candidates last, ties within noise marked.
"""

from manifold.zoo.clustering import ClusterResult, cluster_models
from manifold.zoo.compare import SimilarityMatrix, similarity_matrix
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
    "SimilarityMatrix",
    "TransferEvaluation",
    "TransferPredictor",
    "cluster_models",
    "metric_correlations",
    "select",
    "similarity_matrix",
]
