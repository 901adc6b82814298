"""Geometry metrics of point clouds on neighbourhood graphs.

Intrinsic dimension (TwoNN, MLE), NNK-based local metrics (degree, diameter, local dimension,
subspace angles) and Ricci curvature (Ollivier, Forman) of graphs.
"""

from manifold.metrics.dimension import mle_dimension, twonn_dimension
from manifold.metrics.ricci import forman_ricci, ollivier_ricci

__all__ = [
    "forman_ricci",
    "mle_dimension",
    "ollivier_ricci",
    "twonn_dimension",
]
