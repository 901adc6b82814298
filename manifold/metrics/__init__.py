"""Geometry metrics of point clouds on neighbourhood graphs.

Intrinsic dimension (TwoNN, MLE), NNK-based local metrics (degree, diameter, local dimension,
subspace angles) and Ricci curvature (Ollivier, Forman) of graphs; invariance metrics of
augmentation embeddings (spread ratio, same-source rate, augmentation dimension, ...); direct
similarity of two representations of the same images (debiased linear CKA, mutual kNN,
Procrustes), calibrated by permutation.
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
from manifold.metrics.representation_similarity import (
    SimilarityResult,
    linear_cka,
    mutual_knn,
    procrustes_distance,
    similarity,
)
from manifold.metrics.ricci import (
    EdgeCurvature,
    forman_ricci,
    forman_ricci_edges,
    ollivier_ricci,
    ollivier_ricci_edges,
)

__all__ = [
    "EdgeCurvature",
    "SimilarityResult",
    "alignment",
    "augmentation_diameter_ratio",
    "augmentation_dimension",
    "forman_ricci",
    "forman_ricci_edges",
    "linear_cka",
    "local_dimension",
    "mle_dimension",
    "mle_dimension_pointwise",
    "mutual_knn",
    "nnk_degree",
    "nnk_diameter",
    "ollivier_ricci",
    "ollivier_ricci_edges",
    "procrustes_distance",
    "same_source_rate",
    "similarity",
    "spread_ratio",
    "subspace_angles",
    "tangent_alignment",
    "twonn_dimension",
]
