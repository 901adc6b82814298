"""Ollivier–Ricci and Forman–Ricci curvature of the edges of weighted graphs.

Each curvature has two functions, one per result type, which take a networkx graph (edge
attribute ``weight`` = edge length, default 1) or a kNN / NNK graph of :mod:`manifold.graphs`
(turned into networkx with ``weight`` = distance). :func:`ollivier_ricci` and
:func:`forman_ricci` return a copy of the graph with the curvature on every edge and, on every
node, the mean over its incident edges; :func:`ollivier_ricci_edges` and
:func:`forman_ricci_edges` return the same numbers as arrays, an :class:`EdgeCurvature`, and
build or copy no result graph (what :func:`manifold.profile` reads). The input is still read
through ``to_networkx()``, except by the Ollivier functions on a kNN graph, which read its
arrays directly.
Definitions and defaults follow GraphRicciCurvature (Ni et al. 2019) so that the values agree
with it on the same graph.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import dijkstra, reverse_cuthill_mckee

from manifold._backend import warn_once
from manifold._deprecation import warn_deprecated
from manifold._validation import Integral, NoneOK, Options, Real, validate_params
from manifold.metrics._scale import resolve_scale
from manifold.typing import Graph as GraphProtocol
from manifold.typing import Scale

if TYPE_CHECKING:
    from manifold.graphs import KNNGraph, NNKGraph

__all__ = [
    "EdgeCurvature",
    "forman_ricci",
    "forman_ricci_edges",
    "ollivier_ricci",
    "ollivier_ricci_edges",
]

_OUTPUTS = ("graph", "edges")

#: Graph distances below this count as zero: the edge then gets curvature 0 (as
#: GraphRicciCurvature does), since 1 - W1 / d is undefined.
_EPSILON = 1e-7


@dataclass(frozen=True, eq=False)
class EdgeCurvature:
    """The curvature of a graph's edges, as arrays: what the ``*_edges`` functions return.

    :func:`ollivier_ricci_edges` and :func:`forman_ricci_edges` return one. Edges are listed
    once, self-loops left out, in the order the networkx output iterates them
    (``graph.edges()``), so ``values`` equals ``[d[name] for *_, d in g.edges(data=True)]`` of
    the graph :func:`ollivier_ricci` or :func:`forman_ricci` returns; with ``edges=`` (a
    subset), in the order given. Instances compare by identity (they hold arrays).

    Attributes:
        name: ``"ricci_curvature"`` or ``"forman_curvature"``.
        nodes: The graph's nodes; ``u`` and ``v`` index into this list.
        u: ``(E,)`` position in ``nodes`` of each edge's first end.
        v: ``(E,)`` position in ``nodes`` of each edge's second end.
        length: ``(E,)`` raw edge lengths (as given; before any ``scale``).
        values: ``(E,)`` curvature of each edge.

    Examples:
        >>> import networkx as nx
        >>> e = forman_ricci_edges(nx.path_graph(3))
        >>> e.values.tolist(), e.node_means().tolist()
        ([1.0, 1.0], [1.0, 1.0, 1.0])
    """

    name: str
    nodes: list
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    values: np.ndarray

    @property
    def n_edges(self) -> int:
        """Number of edges ``E``."""
        return int(self.values.size)

    def node_means(self) -> np.ndarray:
        """``(len(nodes),)`` mean curvature of each node's edges (NaN where a node has none)."""
        n = len(self.nodes)
        total = np.bincount(self.u, weights=self.values, minlength=n) + np.bincount(
            self.v, weights=self.values, minlength=n
        )
        degree = np.bincount(self.u, minlength=n) + np.bincount(self.v, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(degree > 0, total / np.maximum(degree, 1), np.nan)

    def to_networkx(self, weight: str = "weight") -> nx.Graph:
        """An undirected graph of these edges, labelled as :func:`forman_ricci` labels them.

        Edges carry ``weight`` = length and :attr:`name` = curvature; every node with an edge
        carries the mean curvature of its edges.
        """
        g = nx.Graph()
        g.add_nodes_from(self.nodes)
        _label_edges(g, self, weight)
        return g


def _label_edges(g: nx.Graph, result: EdgeCurvature, weight: str | None) -> None:
    """Write the curvature (and, with ``weight``, the length) on ``g``'s edges and nodes."""
    nodes, name = result.nodes, result.name
    for a, b, length, value in zip(
        result.u.tolist(), result.v.tolist(), result.length.tolist(), result.values.tolist(),
        strict=True,
    ):  # fmt: skip
        data = {name: value} if weight is None else {weight: length, name: value}
        g.add_edge(nodes[a], nodes[b], **data)
    n = len(nodes)
    has_edge = (np.bincount(result.u, minlength=n) + np.bincount(result.v, minlength=n)) > 0
    means = result.node_means()
    for i in np.flatnonzero(has_edge).tolist():
        g.nodes[nodes[i]][name] = float(means[i])


def _to_networkx(graph: Any, name: str = "graph") -> nx.Graph:
    """The networkx graph the curvature is computed on (called from a public function's helper).

    A networkx graph is used as it is; a :class:`~manifold.graphs.Graph` through its
    ``to_networkx()``; another object with the five graph calls too, for one more release.
    """
    from manifold.graphs import AnchorNNK, Graph

    if isinstance(graph, nx.Graph):
        if graph.is_directed() or graph.is_multigraph():
            raise TypeError(
                f"{name} must be an undirected simple networkx Graph, got {type(graph).__name__}; "
                "convert it with nx.Graph(G.to_undirected())"
            )
        return graph
    if not isinstance(graph, Graph) and isinstance(graph, GraphProtocol):
        # user: public function -> its helper -> here -> warn_deprecated
        warn_deprecated(
            f"a graph of type {type(graph).__name__} that does not derive from "
            "manifold.graphs.Graph",
            "a subclass of manifold.graphs.Graph, or pass graph.to_networkx()",
            stacklevel=5,
        )
    if isinstance(graph, (Graph, GraphProtocol)):
        if isinstance(graph, AnchorNNK):  # anchor rows: never a whole graph
            raise TypeError(
                f"{name} must be a whole undirected graph, got the anchor rows of an "
                f"{type(graph).__name__} (each anchor's edges only); curvature needs every "
                "node's neighbourhood: build nnk_graph(z) on the points"
            )
        g = graph.to_networkx()
        if g.is_directed():
            raise TypeError(
                f"{name} must be undirected, but this {type(graph).__name__} is directed (an "
                "NNKGraph built with symmetrize=False, or anchor rows); build the NNK graph with "
                "symmetrize='max' (the default)"
            )
        return g
    raise TypeError(
        f"{name} must be a networkx.Graph, a KNNGraph or an NNKGraph, got {type(graph).__name__}"
    )


def _edge_arrays(graph: nx.Graph, weight: str) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Nodes, and the (u, v, length) arrays of the non-loop edges; lengths default to 1."""
    nodes = list(graph.nodes())
    index = {node: i for i, node in enumerate(nodes)}
    edges = [(u, v, d) for u, v, d in graph.edges(data=True) if u != v]
    has_weight = any(weight in d for _, _, d in edges)
    u = np.fromiter((index[e[0]] for e in edges), dtype=np.int64, count=len(edges))
    v = np.fromiter((index[e[1]] for e in edges), dtype=np.int64, count=len(edges))
    try:
        length = np.fromiter(
            (_real(e[2].get(weight, 1.0)) if has_weight else 1.0 for e in edges),
            dtype=np.float64,
            count=len(edges),
        )
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"edge attribute {weight!r} of graph must hold real lengths: {err}"
        ) from None
    if not np.all(np.isfinite(length)) or np.any(length < 0):
        bad = int(np.sum(~np.isfinite(length) | (length < 0)))
        raise ValueError(
            f"edge attribute {weight!r} must be a finite length >= 0, got {bad} bad value(s)"
        )
    return nodes, u, v, length


def _real(value: Any) -> float:
    # float() would accept strings such as "1.5" and reject complex numbers with an unrelated
    # message; only real numbers are lengths
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.floating, np.integer)
    ):
        raise TypeError(f"got {value!r} of type {type(value).__name__}")
    return float(value)


def _adjacency(n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray) -> scipy.sparse.csr_matrix:
    """Symmetric CSR matrix of lengths; zero lengths are kept as explicit (traversable) edges."""
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    data = np.concatenate([length, length])
    coo = scipy.sparse.coo_matrix((data, (rows, cols)), shape=(n, n))
    csr = coo.tocsr()  # simple graph: no duplicate (row, col) pairs to sum
    csr.sort_indices()
    return csr


def _padded_measures(
    adj: scipy.sparse.csr_matrix, nodes: np.ndarray, alpha: float, base: float, exp_power: float
) -> tuple[np.ndarray, np.ndarray]:
    """Supports (node first, then its neighbours; -1 pads) and masses (0 pads) of lazy walks.

    Nodes must have at least one neighbour. Row ``r`` holds the measure of ``nodes[r]``.
    """
    indptr, indices, data = adj.indptr, adj.indices, adj.data
    first, degree = indptr[nodes], indptr[nodes + 1] - indptr[nodes]
    valid = np.arange(int(degree.max()))[None, :] < degree[:, None]
    at = np.where(valid, first[:, None] + np.arange(valid.shape[1])[None, :], 0)
    with np.errstate(over="ignore"):
        w = np.where(valid, base ** (-(data[at] ** exp_power)), 0.0)
    total = w.sum(axis=1, keepdims=True)
    spread = total > _EPSILON
    share = np.where(spread, w / np.where(spread, total, 1.0), valid / degree[:, None])
    support = np.concatenate([nodes[:, None], np.where(valid, indices[at], -1)], axis=1)
    mass = np.concatenate([np.full((len(nodes), 1), alpha), (1.0 - alpha) * share], axis=1)
    return support, mass


def _transport_solver() -> Any:
    try:
        from ot.lp.emd_wrap import emd_c
    except ImportError:
        warn_once(
            "ricci-no-pot",
            "POT is not installed: ollivier_ricci solves each transport problem with "
            "scipy's HiGHS, which is exact but much slower; `pip install pot` for the fast path.",
        )
        return _emd_highs

    def solve(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
        return float(emd_c(a, b, cost, 100000, 1)[1])

    return solve


def _emd_highs(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    from scipy.optimize import linprog

    m, n = cost.shape
    rows = np.concatenate([np.repeat(np.arange(m), n), m + np.tile(np.arange(n), m)])
    cols = np.concatenate([np.arange(m * n), np.arange(m * n)])
    a_eq = scipy.sparse.csr_matrix((np.ones(2 * m * n), (rows, cols)), shape=(m + n, m * n))
    # the two marginals have the same total up to rounding: rescale, drop one redundant row
    b = b * (a.sum() / b.sum())
    # presolve misjudges feasibility when masses as small as exp(-16) sit beside 0.5
    result = linprog(
        cost.ravel(),
        A_eq=a_eq[:-1],
        b_eq=np.concatenate([a, b])[:-1],
        method="highs-ds",
        options={
            "presolve": False,
            "primal_feasibility_tolerance": 1e-10,
            "dual_feasibility_tolerance": 1e-10,
        },
    )
    if result.status != 0:
        raise RuntimeError(f"transport problem failed: {result.message}")
    return float(result.fun)


#: The parameter constraints of both Ollivier–Ricci functions.
OLLIVIER_PARAMETERS = {
    "alpha": [Real(0, 1)],
    "exp_power": [Real(0, None)],
    "base": [Real(0, None, closed="neither")],
    "chunk_size": [Integral(1, None)],
}


@validate_params({**OLLIVIER_PARAMETERS, "output": [Options(_OUTPUTS), NoneOK]})
def ollivier_ricci(
    graph: nx.Graph | KNNGraph | NNKGraph,
    alpha: float = 0.5,
    *,
    weight: str = "weight",
    exp_power: float = 2.0,
    base: float = math.e,
    chunk_size: int = 1024,
    edges: Iterable[tuple[Hashable, Hashable]] | None = None,
    scale: Scale = None,
    output: str | None = None,
) -> nx.Graph:
    r"""Ollivier–Ricci curvature of every edge, with exact Wasserstein-1 transport.

    .. math:: \kappa(x, y) = 1 - \frac{W_1(m_x, m_y)}{d(x, y)}

    where :math:`d` is the weighted shortest-path distance of the graph (edge lengths from the
    ``weight`` attribute, 1 when no edge has one), :math:`W_1` is the exact optimal-transport
    cost with ground cost :math:`d`, and :math:`m_x` is the lazy random-walk measure of
    GraphRicciCurvature's default: mass :math:`\alpha` stays at :math:`x` and :math:`1-\alpha` is
    spread over the neighbours :math:`v` of :math:`x` in proportion to
    :math:`\text{base}^{-\ell(x, v)^{\text{exp\_power}}}` (:math:`e^{-\ell^2}` by default, with
    :math:`\ell(x, v)` the edge length; uniform when all edges have length 1). On a graph with
    unit lengths this is the classical uniform lazy walk; ``exp_power=0`` gives uniform
    weights for any lengths (with ``alpha=0``: the uniform measure on the neighbourhood, the
    setting of Ollivier's comparison with Ricci curvature on manifolds, see
    ``docs/geometry.md``).

    The transport problems are solved exactly with POT's network simplex when POT is installed
    (else with scipy's HiGHS, slower), after removing the mass the two measures share node by
    node (for a metric cost it stays in place: Kantorovich–Rubinstein), which leaves two
    disjoint supports of about half the size. The distances come from Dijkstra searches run in
    blocks of ``chunk_size`` nodes ordered by reverse Cuthill–McKee (so that a block needs few
    sources); a source :math:`a \in S_x` searches only as far as
    :math:`\ell(a, x) + \max_y (\ell(x, y) + M_y)` (:math:`M_v` the longest edge at *v*: every
    cost needed is at most the length of the path a-x-y-b), on the subgraph reachable within
    that distance, and keeps only the columns of the targets :math:`S_y`. Memory is bounded:
    a block's distance table is capped at :math:`2^{23}` entries (64 MB; larger blocks are
    halved), the transport problems are assembled in batches of at most :math:`2^{21}` entries.

    Edge cases: self-loops are ignored; an edge whose endpoints are at graph distance below
    ``1e-7`` (duplicates: zero-length edges) gets curvature 0, as in GraphRicciCurvature;
    zero-length edges stay traversable with length 0. Node attribute: the mean curvature of the
    incident edges (isolated nodes get none), as GraphRicciCurvature. With ``edges``, only
    those edges are computed (the measures and distances still use the whole graph, so each
    value is the one a full run gives), and node means are over the computed edges.

    Scale: :math:`\kappa` is a ratio of lengths, but the neighbour weights
    :math:`e^{-\ell^2}` are not, so with raw lengths (``scale=None``, GraphRicciCurvature's
    convention) rescaling the points changes the curvature. ``scale="knn"`` (for a kNN or NNK
    graph) divides every edge length by the median distance from a node to its k-th candidate
    before the computation, which makes the curvature invariant to rescaling;
    :func:`manifold.profile` uses it. A positive number divides by that number. The returned
    graph keeps the raw lengths.

    References: Y. Ollivier, "Ricci curvature of Markov chains on metric spaces", J. Funct.
    Anal. 256 (2009); C.-C. Ni, Y.-Y. Lin, F. Luo, J. Gao, "Community detection on networks with
    Ricci flow", Scientific Reports 9 (2019) (GraphRicciCurvature).

    Args:
        graph: An undirected ``networkx.Graph``, or a ``KNNGraph`` / ``NNKGraph``.
        alpha: Idleness, the mass kept at the node, in ``[0, 1]``.
        weight: Edge attribute holding the length.
        exp_power: Exponent of the neighbour weighting.
        base: Base of the neighbour weighting.
        chunk_size: Nodes per block of shortest-path searches (fewer repeated searches when
            larger; blocks whose distance table would exceed 64 MB are halved).
        edges: Node pairs, each an edge of the graph, whose curvature to compute; all edges
            when ``None``.
        scale: ``None`` (raw lengths), ``"knn"`` or a positive number: the unit the edge
            lengths are divided by (see above).
        output: Deprecated: ``output="edges"`` is :func:`ollivier_ricci_edges` (the same
            numbers as an :class:`EdgeCurvature`), ``output="graph"`` this function without
            it. Either warns and gives that result, for one more release.

    Returns:
        A copy of the graph with ``"ricci_curvature"`` on each (computed) edge and on each node
        with a computed incident edge (a ``networkx.Graph`` with ``weight`` = distance for a
        kNN / NNK graph).

    Examples:
        >>> import networkx as nx
        >>> g = ollivier_ricci(nx.complete_graph(5), alpha=0.0)
        >>> round(g[0][1]["ricci_curvature"], 6)  # K_n, uniform walk: (n - 2) / (n - 1)
        0.75
    """
    options = (alpha, weight, exp_power, base, chunk_size, edges, scale)
    if output is not None and _deprecated_output(output, "ollivier_ricci"):
        return _ollivier(graph, *options)[0]  # type: ignore[return-value]
    result, g, (u, v, length) = _ollivier(graph, *options)
    if g is None:
        g = nx.Graph()
        g.add_nodes_from(result.nodes)
        g.add_weighted_edges_from(
            zip(u.tolist(), v.tolist(), length.tolist(), strict=True), weight=weight
        )
    else:
        g = g.copy()
        g.remove_edges_from(nx.selfloop_edges(g))
    _label_edges(g, result, None)
    return g


@validate_params(OLLIVIER_PARAMETERS)
def ollivier_ricci_edges(
    graph: nx.Graph | KNNGraph | NNKGraph,
    alpha: float = 0.5,
    *,
    weight: str = "weight",
    exp_power: float = 2.0,
    base: float = math.e,
    chunk_size: int = 1024,
    edges: Iterable[tuple[Hashable, Hashable]] | None = None,
    scale: Scale = None,
) -> EdgeCurvature:
    r"""Ollivier–Ricci curvature of every edge, as arrays: no result graph is built.

    The numbers of :func:`ollivier_ricci` (the definition, the solver, the edge cases and
    ``scale`` are described there), with the same arguments, as an :class:`EdgeCurvature`: the
    edges in the order ``ollivier_ricci(graph).edges()`` lists them (with ``edges``, in the order
    given).

    Args:
        graph: An undirected ``networkx.Graph``, or a ``KNNGraph`` / ``NNKGraph``.
        alpha: Idleness, the mass kept at the node, in ``[0, 1]``.
        weight: Edge attribute holding the length.
        exp_power: Exponent of the neighbour weighting.
        base: Base of the neighbour weighting.
        chunk_size: Nodes per block of shortest-path searches.
        edges: Node pairs, each an edge of the graph, whose curvature to compute; all edges
            when ``None``.
        scale: ``None`` (raw lengths), ``"knn"`` or a positive number: the unit the edge
            lengths are divided by.

    Returns:
        An :class:`EdgeCurvature` named ``"ricci_curvature"`` of the computed edges.

    Examples:
        >>> import networkx as nx
        >>> e = ollivier_ricci_edges(nx.complete_graph(4), alpha=0.0)
        >>> e.n_edges, [round(x, 6) for x in e.values[:2].tolist()]  # K_n: (n - 2) / (n - 1)
        (6, [0.666667, 0.666667])
    """
    return _ollivier(graph, alpha, weight, exp_power, base, chunk_size, edges, scale)[0]


def _deprecated_output(output: Any, name: str) -> bool:
    """Whether the deprecated ``output=`` asks for the edges; warns at the user's call."""
    new = f"{name}_edges(...)" if output == "edges" else f"{name}(...) without output="
    # user -> public function -> here -> warn_deprecated
    warn_deprecated(f'{name}(..., output="{output}")', new, stacklevel=4)
    return output == "edges"


def _ollivier(
    graph: Any,
    alpha: Any,
    weight: str,
    exp_power: Any,
    base: Any,
    chunk_size: Any,
    edges: Any,
    scale: Any,
) -> tuple[EdgeCurvature, nx.Graph | None, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The selected edges' curvature, the networkx graph read, every edge's (u, v, length).

    The graph is ``None`` for a kNN graph, whose arrays are read directly.
    """
    unit = resolve_scale(scale, graph)
    if _is_whole_knn(graph):
        # straight from the kNN arrays: no networkx round trip before the computation
        nodes, (u, v, length), g = list(range(graph.n_nodes)), _knn_edges(graph), None
    else:
        g = _to_networkx(graph)
        nodes, u, v, length = _edge_arrays(g, weight)
    n = len(nodes)
    selected = np.arange(len(u)) if edges is None else _select_edges(nodes, u, v, edges)
    curvature = np.zeros(len(selected)) if np.isfinite(unit) else np.full(len(selected), np.nan)
    if len(selected) and np.isfinite(unit):
        adj = _adjacency(n, u, v, length / unit)
        curvature = _ollivier_edges(adj, u, v, selected, float(alpha), base, exp_power, chunk_size)
    result = EdgeCurvature(
        "ricci_curvature", nodes, u[selected], v[selected], length[selected], curvature
    )
    return result, g, (u, v, length)


def _select_edges(nodes: list, u: np.ndarray, v: np.ndarray, edges: Iterable) -> np.ndarray:
    """Positions in (u, v) of the requested node pairs, in the order given."""
    index = {node: i for i, node in enumerate(nodes)}
    n = len(nodes)
    keys = np.minimum(u, v) * n + np.maximum(u, v)
    order = np.argsort(keys)
    wanted = []
    for pair in edges:
        try:
            a, b = pair
            i, j = index[a], index[b]
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"edges must hold node pairs of the graph, got {pair!r}") from None
        key = min(i, j) * n + max(i, j)
        pos = int(np.searchsorted(keys, key, sorter=order))
        if i == j or pos == len(keys) or keys[order[pos]] != key:
            raise ValueError(f"{pair!r} is not an edge of the graph (self-loops are ignored)")
        wanted.append(int(order[pos]))
    return np.asarray(wanted, dtype=np.int64)


def _is_whole_knn(graph: Any) -> bool:
    """Whether ``graph`` is a kNN graph over one point set (its arrays are read directly)."""
    from manifold.graphs import KNNGraph

    return isinstance(graph, KNNGraph) and graph.n_base == graph.n_nodes


def _knn_edges(graph: KNNGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (either endpoint lists the other) of a kNN graph, as to_networkx gives."""
    idx = np.asarray(graph.indices, dtype=np.int64)
    dist = np.asarray(graph.distances, dtype=np.float64)
    # checked before pairs listed from both ends are merged, which could hide a bad value
    if not np.all(np.isfinite(dist)) or np.any(dist < 0):
        raise ValueError("kNN graph distances must be finite and >= 0")
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    cols, dist = idx.ravel(), dist.ravel()
    keep = rows != cols
    rows, cols, dist = rows[keep], cols[keep], dist[keep]
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    # a pair listed from both ends keeps the length of the later row, as networkx does
    order = np.lexsort((rows, hi, lo))
    lo, hi, dist = lo[order], hi[order], dist[order]
    last = np.ones(len(lo), dtype=bool)
    last[:-1] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    length = dist[last]
    if not np.all(np.isfinite(length)) or np.any(length < 0):
        raise ValueError("kNN graph distances must be finite and >= 0")
    return lo[last], hi[last], length


def _ollivier_edges(
    adj: scipy.sparse.csr_matrix,
    u: np.ndarray,
    v: np.ndarray,
    selected: np.ndarray,
    alpha: float,
    base: float,
    exp_power: float,
    chunk_size: int,
) -> np.ndarray:
    """Curvature of the edges ``selected`` (positions in ``u``, ``v``), in that order."""
    n = adj.shape[0]
    solve = _transport_solver()
    # A needed cost d(a, b), a in S_x, b in S_y, is at most l(a,x) + l(x,y) + l(y,b)
    # <= l(a,x) + l(x,y) + M_y with M_v the longest edge at v: a search radius per source.
    longest = np.zeros(n)
    np.maximum.at(longest, np.repeat(np.arange(n), np.diff(adj.indptr)), adj.data)
    # every edge is handled from the endpoint that comes first in the locality order
    order = np.asarray(reverse_cuthill_mckee(adj, symmetric_mode=True), dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    u, v = u[selected], v[selected]
    swap = rank[u] > rank[v]
    src = np.where(swap, v, u)
    dst = np.where(swap, u, v)
    by_src = np.argsort(rank[src], kind="stable")
    src_rank_sorted = rank[src][by_src]
    curvature = np.zeros(len(u))
    position = np.full(n, -1, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    column = np.full(n, -1, dtype=np.int64)
    # blocks of chunk_size nodes in locality order, halved while their distance table
    # (sources x targets) would exceed _TABLE_ENTRIES
    stack = [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)][::-1]
    while stack:
        start, stop = stack.pop()
        lo, hi = np.searchsorted(src_rank_sorted, [start, stop])
        edge_ids = by_src[lo:hi]
        if edge_ids.size == 0:
            continue
        xs, sources, reach = _search_radii(adj, src[edge_ids], dst[edge_ids], longest)
        # only the columns a cost or d(x, y) reads: the supports of the far endpoints
        ys = np.unique(dst[edge_ids])
        target_nodes = np.union1d(ys, adj[ys].indices)
        if len(sources) * len(target_nodes) > _TABLE_ENTRIES and stop - start > 1:
            middle = (start + stop) // 2
            stack += [(middle, stop), (start, middle)]
            continue
        limit = float(reach.max())
        # adj is symmetric: a directed search gives the same distances without a CSC copy
        # One multi-source search finds the ball of nodes within `limit` of a source; every
        # path of length <= limit from a source stays inside it, so the per-source searches run
        # on that small subgraph (scipy's Dijkstra costs O(n) per source on the full graph).
        near = dijkstra(adj, directed=True, indices=sources, limit=limit, min_only=True)
        ball = np.flatnonzero(np.isfinite(near))
        local[ball] = np.arange(len(ball))
        sub_adj = adj[ball][:, ball]
        targets = local[target_nodes]
        # a search costs about the number of nodes it settles: sources in groups of similar
        # radius, each group searched only as far as it needs (and its dense output bounded)
        by_reach = np.argsort(reach, kind="stable")
        sources, reach = sources[by_reach], reach[by_reach]
        n_groups = max(_RADIUS_GROUPS, -(-len(sources) * len(ball) // _TABLE_ENTRIES))
        groups = np.array_split(np.arange(len(sources)), min(n_groups, len(sources)))
        rows = np.empty((len(sources), len(targets)))
        for g in groups:
            found = dijkstra(
                sub_adj, directed=True, indices=local[sources[g]], limit=float(reach[g[-1]])
            )
            np.take(found, targets, axis=1, out=rows[g[0] : g[-1] + 1])
        column[target_nodes] = np.arange(len(target_nodes))
        position[sources] = np.arange(len(sources))
        # small problems first, in batches of bounded padded size
        size = np.diff(adj.indptr)[src[edge_ids]] * np.diff(adj.indptr)[dst[edge_ids]]
        edge_ids = edge_ids[np.argsort(size, kind="stable")]
        size = np.sort(size)
        i = 0
        while i < len(edge_ids):
            j = min(len(edge_ids), i + 512)
            while j - i > 1 and (j - i) * (size[j - 1] + 64) > _BATCH_ENTRIES:
                j = i + (j - i) // 2
            batch = edge_ids[i:j]
            curvature[batch] = _batch_curvature(
                adj, rows, position, column, src[batch], dst[batch], alpha, base, exp_power, solve
            )
            i = j
        position[sources] = -1
        column[target_nodes] = -1
        local[ball] = -1
    return curvature


#: Shortest-path searches of a block are split into this many groups by search radius.
_RADIUS_GROUPS = 4
#: Bound on the entries of a block's distance table and of one search's dense output (64 MB).
_TABLE_ENTRIES = 1 << 23


def _search_radii(
    adj: scipy.sparse.csr_matrix, xs: np.ndarray, ys: np.ndarray, longest: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search sources for the edges (xs[i], ys[i]) handled from xs, and how far each must see.

    Source a in S_x needs d(a, b) for b in S_y, y ~ x, bounded by l(a, x) + l(x, y) + M_y.
    Returns the distinct xs, the sources (sorted) and their radii (with a relative margin).
    """
    n = adj.shape[0]
    need = np.zeros(n)
    np.maximum.at(need, xs, np.asarray(adj[xs, ys]).ravel() + longest[ys])
    centres = np.unique(xs)
    block = adj[centres]
    owner = np.repeat(centres, np.diff(block.indptr))
    reach = np.full(n, -1.0)
    reach[centres] = need[centres]
    np.maximum.at(reach, block.indices, block.data + need[owner])
    sources = np.flatnonzero(reach >= 0)
    return centres, sources, reach[sources] * (1 + 1e-9) + 1e-12


#: Bound on the padded cost entries (edges x |S_x| x |S_y|) assembled at once.
_BATCH_ENTRIES = 1 << 21


def _batch_curvature(
    adj: scipy.sparse.csr_matrix,
    rows: np.ndarray,
    position: np.ndarray,
    column: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    alpha: float,
    base: float,
    exp_power: float,
    solve: Any,
) -> np.ndarray:
    """Curvature of the edges (xs[i], ys[i]); ``rows[position[a], column[b]]`` is d(a, b)."""
    sx, mx = _padded_measures(adj, xs, alpha, base, exp_power)
    sy, my = _padded_measures(adj, ys, alpha, base, exp_power)
    d_xy = rows[position[xs], column[ys]]
    # Kantorovich-Rubinstein: for a metric cost, mass common to m_x and m_y stays where it is,
    # so W1(m_x, m_y) = W1 of what is left after removing min(m_x, m_y) node by node.
    same = (sx[:, :, None] == sy[:, None, :]) & (sx[:, :, None] >= 0)
    common = np.where(same, np.minimum(mx[:, :, None], my[:, None, :]), 0.0)
    mx = mx - common.sum(axis=2)
    my = my - common.sum(axis=1)
    # the nodes left with mass first, then a compact copy of each reduced problem
    keep_x, keep_y = mx > 0, my > 0
    ox = np.argsort(~keep_x, axis=1, kind="stable")
    oy = np.argsort(~keep_y, axis=1, kind="stable")
    sx, mx = np.take_along_axis(sx, ox, 1), np.take_along_axis(mx, ox, 1)
    sy, my = np.take_along_axis(sy, oy, 1), np.take_along_axis(my, oy, 1)
    ns, nd = keep_x.sum(axis=1), keep_y.sum(axis=1)
    in_x = np.arange(sx.shape[1])[None, :] < ns[:, None]
    in_y = np.arange(sy.shape[1])[None, :] < nd[:, None]
    cost = rows[
        np.where(in_x, position[sx], 0)[:, :, None], np.where(in_y, column[sy], 0)[:, None, :]
    ]
    cost = cost[in_x[:, :, None] & in_y[:, None, :]]
    # equal totals, as the network simplex needs them (they differ by rounding only)
    a_total = np.where(in_x, mx, 0.0).sum(axis=1)
    b_total = np.where(in_y, my, 0.0).sum(axis=1)
    scale = np.where(b_total > 0, a_total / np.where(b_total > 0, b_total, 1.0), 1.0)
    supply, demand = mx[in_x], (my * scale[:, None])[in_y]
    a_end, b_end = np.cumsum(ns), np.cumsum(nd)
    c_end = np.cumsum(ns * nd)
    curvature = np.zeros(len(xs))
    for e, (p, q, a1, b1, c1, d) in enumerate(
        zip(
            ns.tolist(),
            nd.tolist(),
            a_end.tolist(),
            b_end.tolist(),
            c_end.tolist(),
            d_xy.tolist(),
            strict=True,
        )
    ):
        if d < _EPSILON:
            continue  # zero distance: curvature 0
        if p == 0 or q == 0:
            curvature[e] = 1.0  # identical measures
            continue
        w1 = solve(supply[a1 - p : a1], demand[b1 - q : b1], cost[c1 - p * q : c1].reshape(p, q))
        curvature[e] = 1.0 - w1 / d
    return curvature


@validate_params({"output": [Options(_OUTPUTS), NoneOK]})
def forman_ricci(
    graph: nx.Graph | KNNGraph | NNKGraph,
    *,
    weight: str = "weight",
    scale: Scale = None,
    output: str | None = None,
) -> nx.Graph:
    r"""Augmented Forman–Ricci curvature of every edge (weighted, triangles as faces).

    For an edge :math:`e = (v_1, v_2)` with length :math:`w_e`, node weights :math:`w_{v}`
    (node attribute ``weight``, default 1), face weights 1, and :math:`T_e` the set of common
    neighbours (triangles through *e*):

    .. math::
        F(e) = w_e \Big( |T_e|\, w_e + \frac{w_{v_1} + w_{v_2}}{w_e}
        - \sum_{v \in N(v_1) \setminus (T_e \cup \{v_2\})} \frac{w_{v_1}}{\sqrt{w_e\, w_{v_1 v}}}
        - \sum_{v \in N(v_2) \setminus (T_e \cup \{v_1\})} \frac{w_{v_2}}{\sqrt{w_e\, w_{v_2 v}}}
        \Big)

    exactly GraphRicciCurvature's ``FormanRicci(G, method="augmented")`` (Samal et al. 2018).
    With unit weights this is :math:`4 - \deg v_1 - \deg v_2 + 3 |T_e|`. Computed with sparse
    matrix products (no loop over edges). Zero-length edges (duplicates), where the formula
    divides by 0, are given length ``1e-7`` (GraphRicciCurvature fails on them). Node
    attribute: the mean over incident edges.

    Scale: with raw lengths (``scale=None``, GraphRicciCurvature's convention) the value depends
    on the units: the same points scaled by 0.1, 1 and 10 can give curvatures of opposite signs.
    ``scale="knn"`` (for a kNN or NNK graph) divides every edge length by the median distance
    from a node to its k-th candidate first, which makes the curvature invariant to rescaling;
    :func:`manifold.profile` uses it. A positive number divides by that number.

    References: R. Forman, "Bochner's method for cell complexes and combinatorial Ricci
    curvature", Discrete Comput. Geom. 29 (2003); A. Samal et al., "Comparative analysis of two
    discretizations of Ricci curvature for complex networks", Scientific Reports 8 (2018).

    Args:
        graph: An undirected ``networkx.Graph``, or a ``KNNGraph`` / ``NNKGraph``.
        weight: Edge (length) and node attribute name.
        scale: ``None`` (raw lengths), ``"knn"`` or a positive number (see above).
        output: Deprecated: ``output="edges"`` is :func:`forman_ricci_edges` (the same numbers
            as an :class:`EdgeCurvature`), ``output="graph"`` this function without it. Either
            warns and gives that result, for one more release.

    Returns:
        A copy of the graph with ``"forman_curvature"`` on each edge and node.

    Examples:
        >>> import networkx as nx
        >>> g = forman_ricci(nx.cycle_graph(6))
        >>> g[0][1]["forman_curvature"]  # 4 - 2 - 2
        0.0
    """
    if output is not None and _deprecated_output(output, "forman_ricci"):
        return _forman(graph, weight, scale)[0]  # type: ignore[return-value]
    result, g = _forman(graph, weight, scale)
    g = g.copy()
    g.remove_edges_from(nx.selfloop_edges(g))
    _label_edges(g, result, None)
    return g


def forman_ricci_edges(
    graph: nx.Graph | KNNGraph | NNKGraph, *, weight: str = "weight", scale: Scale = None
) -> EdgeCurvature:
    r"""Augmented Forman–Ricci curvature of every edge, as arrays: no result graph is built.

    The numbers of :func:`forman_ricci` (the definition, the edge cases and ``scale`` are
    described there) as an :class:`EdgeCurvature`, the edges in the order
    ``forman_ricci(graph).edges()`` lists them.

    Args:
        graph: An undirected ``networkx.Graph``, or a ``KNNGraph`` / ``NNKGraph``.
        weight: Edge (length) and node attribute name.
        scale: ``None`` (raw lengths), ``"knn"`` or a positive number.

    Returns:
        An :class:`EdgeCurvature` named ``"forman_curvature"``.

    Examples:
        >>> import networkx as nx
        >>> forman_ricci_edges(nx.cycle_graph(6)).values.tolist()  # 4 - 2 - 2 on every edge
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    return _forman(graph, weight, scale)[0]


def _forman(graph: Any, weight: str, scale: Any) -> tuple[EdgeCurvature, nx.Graph]:
    """The curvature of every edge, and the networkx graph it was read from."""
    unit = resolve_scale(scale, graph)
    g = _to_networkx(graph)
    nodes, u, v, length = _edge_arrays(g, weight)
    n = len(nodes)
    try:
        node_w = np.array([_real(g.nodes[x].get(weight, 1.0)) for x in nodes], dtype=np.float64)
    except TypeError as err:
        raise TypeError(
            f"node attribute {weight!r} of graph must hold real weights: {err}"
        ) from None
    if not np.all(np.isfinite(node_w)):
        raise ValueError(f"node attribute {weight!r} must be finite")
    if len(u) == 0 or not np.isfinite(unit):  # no edge, or collapsed points (warned): NaN
        value = np.full(len(u), np.nan)
    else:
        value = _forman_values(n, u, v, np.maximum(length / unit, _EPSILON), node_w)
    return EdgeCurvature("forman_curvature", nodes, u, v, length, value), g


def _forman_values(
    n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray, node_w: np.ndarray
) -> np.ndarray:
    """Augmented Forman curvature of the edges ``(u, v)`` with lengths ``length`` (all > 0)."""
    adj = _adjacency(n, u, v, length)
    pattern = adj.copy()
    pattern.data = np.ones_like(pattern.data)
    inv_sqrt = adj.copy()
    inv_sqrt.data = 1.0 / np.sqrt(inv_sqrt.data)
    # Σ over all neighbours, and over common neighbours only (triangles), of 1/sqrt(w_{v1 v})
    all_sum = np.asarray(inv_sqrt.sum(axis=1)).ravel()
    common = _pairs(inv_sqrt @ pattern, u, v)  # Σ_{t in T_e} 1/sqrt(w_{u t})
    common_rev = _pairs(inv_sqrt @ pattern, v, u)  # Σ_{t in T_e} 1/sqrt(w_{v t})
    triangles = _pairs(pattern @ pattern, u, v)
    self_term = 1.0 / np.sqrt(length)
    rest_u = all_sum[u] - self_term - common
    rest_v = all_sum[v] - self_term - common_rev
    return length * (
        triangles * length
        + (node_w[u] + node_w[v]) / length
        - (node_w[u] * rest_u + node_w[v] * rest_v) / np.sqrt(length)
    )


def _pairs(matrix: scipy.sparse.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Entries ``matrix[rows[i], cols[i]]`` of a sparse matrix, as a dense vector."""
    return np.asarray(matrix.tocsr()[rows, cols]).ravel()
