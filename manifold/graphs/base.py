"""The base class of every neighbourhood graph: five calls, checked by ``isinstance``.

:class:`~manifold.graphs.KNNGraph`, :class:`~manifold.graphs.NNKGraph` and the anchor graphs
(:class:`~manifold.graphs.AnchorNNK`) derive from :class:`Graph`; a metric that reads "a
graph" checks ``isinstance(obj, Graph)`` (or the concrete class it needs), never which
attributes an object happens to have. A graph of one's own derives from :class:`Graph` too:
Python then refuses to create it until it defines all five calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import networkx as nx
    import scipy.sparse

__all__ = ["GRAPH_PROTOCOL", "Graph"]

#: The calls every graph answers (the abstract members of :class:`Graph`).
GRAPH_PROTOCOL = ("n_nodes", "k", "neighbors", "to_scipy", "to_networkx")


class Graph(ABC):
    """A neighbourhood graph over ``n_nodes`` points, each with at most ``k`` neighbours.

    The base class of :class:`~manifold.graphs.KNNGraph`, :class:`~manifold.graphs.NNKGraph`
    and :class:`~manifold.graphs.AnchorNNK`. Arrays and networkx graphs are not graphs in this
    sense.

    Examples:
        >>> import numpy as np
        >>> from manifold.graphs import knn_graph
        >>> isinstance(knn_graph(np.eye(4), k=2), Graph), isinstance(np.eye(4), Graph)
        (True, False)
    """

    @property
    @abstractmethod
    def n_nodes(self) -> int:
        """Number of nodes (the rows of the graph)."""

    @property
    @abstractmethod
    def k(self) -> int:
        """Candidate neighbours per node (the kept degree is at most this)."""

    @abstractmethod
    def neighbors(self, i: int) -> np.ndarray:
        """Indices of the neighbours of node ``i``, nearest first."""

    @abstractmethod
    def to_scipy(self, weight: str = "distance") -> scipy.sparse.csr_matrix:
        """The edges as a sparse matrix, one row per node, weighted as ``weight`` says."""

    @abstractmethod
    def to_networkx(self) -> nx.Graph:
        """The graph as a networkx graph (a ``DiGraph`` where edges are one-way)."""
