"""Geometry metrics of point clouds on neighbourhood graphs.

Intrinsic dimension (TwoNN, MLE), NNK-based local metrics (degree, diameter, local dimension,
subspace angles) and Ricci curvature (Ollivier, Forman) of graphs.
"""

from manifold.metrics.dimension import mle_dimension, twonn_dimension
from manifold.metrics.local import local_dimension, nnk_degree, nnk_diameter, subspace_angles
from manifold.metrics.ricci import forman_ricci, ollivier_ricci

__all__ = [
    "forman_ricci",
    "local_dimension",
    "mle_dimension",
    "nnk_degree",
    "nnk_diameter",
    "ollivier_ricci",
    "subspace_angles",
    "twonn_dimension",
]
