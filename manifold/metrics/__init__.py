"""Geometry metrics of point clouds on neighbourhood graphs.

Intrinsic dimension (TwoNN, MLE), NNK-based local metrics (degree, diameter, local dimension,
subspace angles) and Ricci curvature (Ollivier, Forman) of graphs; invariance metrics of
augmentation embeddings (spread ratio, same-source rate, augmentation dimension, ...).
"""

from manifold.metrics.dimension import mle_dimension, mle_dimension_pointwise, twonn_dimension
from manifold.metrics.invariance import (
    alignment,
    augmentation_diameter_ratio,
    augmentation_dimension,
    same_source_rate,
    spread_ratio,
    tangent_alignment,
)
from manifold.metrics.local import local_dimension, nnk_degree, nnk_diameter, subspace_angles
from manifold.metrics.ricci import (
    EdgeCurvature,
    forman_ricci,
    forman_ricci_edges,
    ollivier_ricci,
    ollivier_ricci_edges,
)

__all__ = [
    "EdgeCurvature",
    "alignment",
    "augmentation_diameter_ratio",
    "augmentation_dimension",
    "forman_ricci",
    "forman_ricci_edges",
    "local_dimension",
    "mle_dimension",
    "mle_dimension_pointwise",
    "nnk_degree",
    "nnk_diameter",
    "ollivier_ricci",
    "ollivier_ricci_edges",
    "same_source_rate",
    "spread_ratio",
    "subspace_angles",
    "tangent_alignment",
    "twonn_dimension",
]
