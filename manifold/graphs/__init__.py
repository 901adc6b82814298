"""Neighbourhood graphs built once and shared by every geometry and invariance metric.

:func:`knn_graph` builds exact (or IVF-approximate) k-nearest-neighbour graphs with faiss, or a
chunked torch search when faiss is missing; :func:`nnk_graph` prunes them into non-negative
kernel regression (NNK) graphs. Every graph type derives from one base class, :class:`Graph`
(``n_nodes``, ``k``, ``neighbors(i)``, ``to_scipy(weight=...)``, ``to_networkx()``), and
:func:`as_graph` turns "points or a graph" into the graph a metric reads.
:mod:`manifold.graphs.neighbourhood` holds the kernels shared by every neighbourhood metric.
For sets too large for one graph, :func:`anchor_knn` and :func:`anchor_nnk`
(:mod:`manifold.graphs.anchor`) build the graph's rows at anchor points, searched against
every row in a stream.
"""

from manifold.graphs.anchor import AnchorNNK, AnchorSearch, anchor_knn, anchor_nnk
from manifold.graphs.base import Graph
from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.graphs.nnk import NNKGraph, nnk_graph
from manifold.graphs.resolve import as_graph, is_graph

__all__ = [
    "AnchorNNK",
    "AnchorSearch",
    "Graph",
    "KNNGraph",
    "NNKGraph",
    "anchor_knn",
    "anchor_nnk",
    "as_graph",
    "is_graph",
    "knn_graph",
    "nnk_graph",
]
