"""Neighbourhood graphs built once and shared by every geometry and invariance metric.

:func:`knn_graph` builds exact (or IVF-approximate) k-nearest-neighbour graphs with faiss, or a
chunked torch search when faiss is missing; :func:`nnk_graph` prunes them into non-negative
kernel regression (NNK) graphs. Both export to scipy sparse matrices and networkx graphs.
"""

from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.graphs.nnk import NNKGraph, nnk_graph

__all__ = ["KNNGraph", "NNKGraph", "knn_graph", "nnk_graph"]
