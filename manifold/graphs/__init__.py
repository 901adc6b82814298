"""Neighbourhood graphs built once and shared by every geometry and invariance metric.

:func:`knn_graph` builds exact (or IVF-approximate) k-nearest-neighbour graphs with faiss, or a
chunked torch search when faiss is missing; :func:`nnk_graph` prunes them into non-negative
kernel regression (NNK) graphs. Every graph type answers one protocol (``n_nodes``, ``k``,
``neighbors(i)``, ``to_scipy(weight=...)``, ``to_networkx()``), and :func:`as_graph` turns
"points or a graph" into the graph a metric reads. :mod:`manifold.graphs.neighbourhood` holds
the kernels shared by every neighbourhood metric.
"""

from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.graphs.nnk import NNKGraph, nnk_graph
from manifold.graphs.resolve import as_graph, is_graph

__all__ = ["KNNGraph", "NNKGraph", "as_graph", "is_graph", "knn_graph", "nnk_graph"]
