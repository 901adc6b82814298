"""manifold: label-free geometry of learned representations.

Profile how invariant a model is to each augmentation, cluster self-supervised models by the
geometry of their embeddings, and predict which model transfers best to a task.

Submodules are imported on first use, so ``import manifold`` stays light (faiss, kornia and
matplotlib are only imported by the functions that need them).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "ClusterResult": "manifold.zoo",
    "DegenerateWarning": "manifold._checks",
    "Embedder": "manifold.embed",
    "KNNGraph": "manifold.graphs",
    "Monitor": "manifold.monitor",
    "NNKGraph": "manifold.graphs",
    "PointMetric": "manifold._summary",
    "PowerLawFit": "manifold.spectral",
    "Profile": "manifold.results",
    "Spectrum": "manifold.spectral",
    "Summary": "manifold._summary",
    "TransferEvaluation": "manifold.zoo",
    "TransferPredictor": "manifold.zoo",
    "alignment": "manifold.metrics",
    "alpha": "manifold.spectral",
    "augmentation_diameter_ratio": "manifold.metrics",
    "augmentation_dimension": "manifold.metrics",
    "cluster_models": "manifold.zoo",
    "draw_views": "manifold.augment",
    "effective_rank": "manifold.spectral",
    "forman_ricci": "manifold.metrics",
    "forman_ricci_edges": "manifold.metrics",
    "knn_graph": "manifold.graphs",
    "lidar": "manifold.spectral",
    "local_dimension": "manifold.metrics",
    "metric_correlations": "manifold.zoo",
    "mle_dimension": "manifold.metrics",
    "mle_dimension_pointwise": "manifold.metrics",
    "nesum": "manifold.spectral",
    "nnk_degree": "manifold.metrics",
    "nnk_diameter": "manifold.metrics",
    "nnk_graph": "manifold.graphs",
    "ollivier_ricci": "manifold.metrics",
    "ollivier_ricci_edges": "manifold.metrics",
    "participation_ratio": "manifold.spectral",
    "profile": "manifold.profiling",
    "profile_large": "manifold.large",
    "profile_zoo": "manifold.runner",
    "rankme": "manifold.spectral",
    "same_source_rate": "manifold.metrics",
    "select": "manifold.zoo",
    "similarity": "manifold.metrics",
    "similarity_matrix": "manifold.zoo",
    "spectrum": "manifold.spectral",
    "spread_ratio": "manifold.metrics",
    "stable_rank": "manifold.spectral",
    "subspace_angles": "manifold.metrics",
    "tangent_alignment": "manifold.metrics",
    "twonn_dimension": "manifold.metrics",
    "views": "manifold.augment",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'manifold' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
