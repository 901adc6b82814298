"""One resolver for "points or a graph": every metric that reads a graph accepts either.

Every graph type (:class:`~manifold.graphs.KNNGraph`, :class:`~manifold.graphs.NNKGraph`,
:class:`~manifold.graphs.AnchorNNK`) derives from :class:`~manifold.graphs.Graph` and answers
its five calls: ``n_nodes``, ``k``, ``neighbors(i)``, ``to_scipy(weight=...)`` and
``to_networkx()``. :func:`as_graph` turns points or a graph into the graph a metric needs.
"""

from __future__ import annotations

from typing import Any

from manifold._deprecation import warn_deprecated
from manifold._validation import Options, validate_params
from manifold.graphs.base import GRAPH_PROTOCOL, Graph
from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.graphs.nnk import NNKGraph, nnk_graph
from manifold.typing import Graph as GraphProtocol
from manifold.typing import PointsOrGraph

__all__ = ["GRAPH_PROTOCOL", "as_graph", "is_graph"]


def is_graph(obj: object) -> bool:
    """Deprecated: use ``isinstance(obj, manifold.graphs.Graph)``.

    Every graph of the package derives from :class:`~manifold.graphs.Graph`, and a graph of
    one's own should too. Until its removal in the next release this still answers whether
    ``obj`` has the five graph calls (``isinstance(obj, manifold.typing.Graph)``), with a
    :class:`DeprecationWarning`.

    Examples:
        >>> import warnings
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(20, 3))
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     is_graph(knn_graph(z, k=3)), is_graph(z)
        (True, False)
    """
    warn_deprecated("is_graph(obj)", "isinstance(obj, manifold.graphs.Graph)")
    return isinstance(obj, GraphProtocol)


@validate_params({"kind": [Options(("knn", "nnk"))]})
def as_graph(
    z_or_graph: PointsOrGraph, kind: str = "knn", k: int = 10, **options: Any
) -> KNNGraph | NNKGraph:
    """Points or a graph, as the ``kind`` of graph a metric reads.

    * an :class:`NNKGraph`: itself for ``kind="nnk"``, its candidate kNN graph for ``"knn"``;
    * a :class:`KNNGraph`: itself for ``"knn"``, the NNK graph on its candidates for ``"nnk"``;
    * ``(N, D)`` points: the graph built here with ``k`` neighbours and ``options``.

    Args:
        z_or_graph: ``(N, D)`` points, a KNNGraph or an NNKGraph.
        kind: ``"knn"`` or ``"nnk"``.
        k: Neighbours when a graph is built from points.
        **options: Passed to :func:`~manifold.graphs.knn_graph` or
            :func:`~manifold.graphs.nnk_graph` when a graph is built.

    Raises:
        TypeError: another graph type (an anchor graph covers some nodes only).

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(30, 3))
        >>> g = as_graph(z, "nnk", k=5)
        >>> as_graph(g, "knn") is g.knn, as_graph(g, "nnk") is g
        (True, True)
    """
    if isinstance(z_or_graph, NNKGraph):
        return z_or_graph.knn if kind == "knn" else z_or_graph
    if isinstance(z_or_graph, KNNGraph):
        return z_or_graph if kind == "knn" else nnk_graph(z_or_graph, **options)
    if isinstance(z_or_graph, Graph):
        raise TypeError(
            f"expected points, a KNNGraph or an NNKGraph, got a {type(z_or_graph).__name__} "
            "(its nodes are not every point)"
        )
    if kind == "knn":
        return knn_graph(z_or_graph, k=k, **options)
    return nnk_graph(z_or_graph, k=k, **options)
