"""Every graph type derives from one base class, and one resolver takes points or a graph."""

import networkx as nx
import numpy as np
import pytest

from manifold.graphs import (
    AnchorNNK,
    Graph,
    KNNGraph,
    NNKGraph,
    anchor_knn,
    anchor_nnk,
    as_graph,
    knn_graph,
    nnk_graph,
)
from manifold.graphs.base import GRAPH_PROTOCOL
from manifold.metrics import local_dimension, mle_dimension, nnk_degree, twonn_dimension


@pytest.fixture(scope="module")
def z():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(80, 4))
    pts[5] = pts[6]  # an exact duplicate: zero distances must survive every export
    return pts


@pytest.fixture(scope="module")
def graphs(z):
    knn = knn_graph(z, k=6)
    nnk = nnk_graph(knn)
    rows = np.arange(len(z))
    anchors = anchor_nnk(z, anchor_knn(z, rows, k=6), rows)
    return {"knn": knn, "nnk": nnk, "anchor": anchors}


@pytest.mark.parametrize("kind", ["knn", "nnk", "anchor"])
def test_every_graph_type_answers_the_protocol(graphs, kind, z):
    g = graphs[kind]
    assert isinstance(g, Graph) and all(hasattr(g, name) for name in GRAPH_PROTOCOL)
    assert g.n_nodes == len(z) and g.k == 6
    for i in (0, 5, -1):
        nb = g.neighbors(i)
        assert nb.ndim == 1 and 1 <= nb.size <= 6
        assert (len(z) + i if i < 0 else i) not in nb.tolist()
    with pytest.raises(ValueError, match="i must be"):
        g.neighbors(len(z))
    for weight in ("distance", "connectivity"):
        m = g.to_scipy(weight=weight)
        assert m.shape == (len(z), len(z))
        # the stored entries are the edges, whatever their value (zero distances included)
        if kind != "nnk" or not g.symmetrize:
            assert m.nnz == sum(g.neighbors(i).size for i in range(g.n_nodes))
        if weight == "connectivity":
            assert set(np.unique(m.data)) == {1.0}
    with pytest.raises(ValueError, match="weight"):
        g.to_scipy(weight="bogus")
    graph = g.to_networkx()
    assert isinstance(graph, nx.Graph)
    assert set(graph.neighbors(0)) >= set(g.neighbors(0).tolist())


def test_the_anchor_graph_with_every_point_is_the_nnk_graph(graphs):
    nnk, anchors = graphs["nnk"], graphs["anchor"]
    assert isinstance(anchors, AnchorNNK)
    for i in range(nnk.n_nodes):
        assert anchors.neighbors(i).tolist() == nnk.neighbors(i).tolist()
    directed = nnk_graph(nnk.knn, symmetrize=False)
    a, b = anchors.to_scipy("theta"), directed.to_scipy("theta")
    assert abs(a - b).max() < 1e-9
    assert (anchors.to_scipy("distance") != directed.to_scipy("distance")).nnz == 0


def test_nnk_distance_export_is_symmetric_and_keeps_zero_distances(graphs, z):
    nnk = graphs["nnk"]
    d = nnk.to_scipy("distance")
    assert (d != d.T).nnz == 0
    assert d.nnz == nnk.adjacency.nnz  # same edges as the NNK weights
    coo = d.tocoo()
    stored = set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    assert (5, 6) in stored and d[5, 6] == 0.0  # the duplicate's edge, at distance 0


def test_as_graph_takes_points_or_a_graph(graphs, z):
    knn, nnk = graphs["knn"], graphs["nnk"]
    assert as_graph(nnk, "knn") is knn and as_graph(nnk, "nnk") is nnk
    assert as_graph(knn, "knn") is knn
    assert isinstance(as_graph(knn, "nnk"), NNKGraph)
    assert isinstance(as_graph(z, "knn", k=4), KNNGraph) and as_graph(z, "knn", k=4).k == 4
    with pytest.raises(TypeError, match="AnchorNNK"):
        as_graph(graphs["anchor"], "knn")
    with pytest.raises(ValueError, match="kind"):
        as_graph(z, "mst")


def test_metrics_give_the_same_value_from_points_a_knn_graph_or_an_nnk_graph(graphs, z):
    knn, nnk = graphs["knn"], graphs["nnk"]
    assert twonn_dimension(z) == twonn_dimension(knn) == twonn_dimension(nnk)
    assert mle_dimension(z, k=6) == mle_dimension(knn, k=6) == mle_dimension(nnk, k=6)
    for metric in (nnk_degree, local_dimension):
        a, b, c = (metric(x, k=6).values for x in (z, knn, nnk))
        assert np.array_equal(a, b) and np.array_equal(b, c)


def test_anchor_graphs_live_in_the_graph_layer_and_large_re_exports_them():
    import manifold.graphs as graphs
    import manifold.graphs.anchor as anchor
    import manifold.large as large

    for name in ("AnchorNNK", "anchor_knn", "anchor_nnk"):
        assert getattr(large, name) is getattr(graphs, name) is getattr(anchor, name)
    assert anchor.anchor_knn.__module__ == "manifold.graphs.anchor"


def test_the_base_class_declares_the_five_calls_and_refuses_an_incomplete_graph():
    assert Graph.__abstractmethods__ == frozenset(GRAPH_PROTOCOL)
    assert all(issubclass(cls, Graph) for cls in (KNNGraph, NNKGraph, AnchorNNK))

    class NoExport(Graph):
        n_nodes, k = 3, 2

        def neighbors(self, i):
            return np.array([(i + 1) % 3])

        def to_scipy(self, weight="distance"):
            raise NotImplementedError

    with pytest.raises(TypeError, match="to_networkx"):
        NoExport()


def test_a_graph_of_ones_own_is_read_by_the_metrics_through_the_base_class(graphs):
    import networkx as nx

    from manifold.metrics import forman_ricci_edges

    class Ring(Graph):
        """Five nodes in a cycle: every node's neighbours are the next and the previous one."""

        n_nodes, k = 5, 2

        def neighbors(self, i):
            return np.array([(i + 1) % 5, (i - 1) % 5])

        def to_scipy(self, weight="distance"):
            return nx.to_scipy_sparse_array(self.to_networkx(), format="csr")

        def to_networkx(self):
            return nx.cycle_graph(5)

    # Forman on a cycle, unit lengths: 4 - deg(u) - deg(v) = 0 on every edge
    assert forman_ricci_edges(Ring()).values.tolist() == [0.0] * 5
    # a graph that does not cover every point is refused by the resolver, with its type named
    with pytest.raises(TypeError, match="Ring"):
        as_graph(Ring(), "knn")
