"""Geometry metrics of point clouds on neighbourhood graphs.

Intrinsic dimension (TwoNN, MLE), NNK-based local metrics (degree, diameter, local dimension,
subspace angles) and Ricci curvature (Ollivier, Forman) of graphs; invariance metrics of
augmentation embeddings (spread ratio, same-source rate, augmentation dimension, ...).
"""

from manifold.metrics.dimension import mle_dimension, twonn_dimension
from manifold.metrics.invariance import (
    alignment,
    augmentation_diameter_ratio,
    augmentation_dimension,
    same_source_rate,
    spread_ratio,
    tangent_alignment,
)
from manifold.metrics.local import local_dimension, nnk_degree, nnk_diameter, subspace_angles
from manifold.metrics.ricci import EdgeCurvature, forman_ricci, ollivier_ricci

__all__ = [
    "EdgeCurvature",
    "alignment",
    "augmentation_diameter_ratio",
    "augmentation_dimension",
    "forman_ricci",
    "local_dimension",
    "mle_dimension",
    "nnk_degree",
    "nnk_diameter",
    "ollivier_ricci",
    "same_source_rate",
    "spread_ratio",
    "subspace_angles",
    "tangent_alignment",
    "twonn_dimension",
]
