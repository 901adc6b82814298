"""Ollivier–Ricci and Forman–Ricci: closed forms, GraphRicciCurvature references, edge cases."""

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from manifold.graphs import knn_graph
from manifold.metrics import (
    forman_ricci,
    forman_ricci_edges,
    ollivier_ricci,
    ollivier_ricci_edges,
)

EDGES = {ollivier_ricci: ollivier_ricci_edges, forman_ricci: forman_ricci_edges}

REFERENCE = Path(__file__).parent / "data" / "ricci_reference.npz"
ALPHAS = [0.0, 0.25, 0.5, 0.9]


def _edge_values(g, attr, edges=None):
    edges = list(g.edges()) if edges is None else edges
    return np.array([g[int(a)][int(b)][attr] for a, b in edges])


# --- closed forms on unit-length graphs (all neighbour weights exp(-1): uniform measures)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("n", [3, 5, 8])
def test_complete_graph(n, alpha):
    # m_x: alpha at x, (1 - alpha)/(n - 1) on each other node; m_y alike. The n - 2 common
    # nodes carry equal mass under both and stay; the only imbalance is alpha vs
    # (1 - alpha)/(n - 1) at x and at y, moved over distance 1:
    # W1 = |alpha - (1 - alpha)/(n - 1)|, kappa = 1 - |alpha - (1 - alpha)/(n - 1)|.
    g = ollivier_ricci(nx.complete_graph(n), alpha=alpha)
    expected = 1 - abs(alpha - (1 - alpha) / (n - 1))
    np.testing.assert_allclose(_edge_values(g, "ricci_curvature"), expected, atol=1e-12)
    np.testing.assert_allclose([g.nodes[i]["ricci_curvature"] for i in g], expected, atol=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("n", [6, 7, 12])
def test_cycle(n, alpha):
    # Edge x-y of C_n, n >= 6: the supports x-1, x, y, y+1 lie on a geodesic segment at
    # positions 0..3 (going round is n - 3 >= 3), so W1 is the 1-D formula sum |F_x - F_y|
    # over the three unit gaps. Cumulative differences: (1-alpha)/2, alpha, (1-alpha)/2,
    # so W1 = 1 and kappa = 0 for every alpha.
    g = ollivier_ricci(nx.cycle_graph(n), alpha=alpha)
    np.testing.assert_allclose(_edge_values(g, "ricci_curvature"), 0.0, atol=1e-12)


def _tree_formula(dx, dy, alpha):
    # On a tree W1 = sum over edges of |mass difference on one side| (times length 1).
    # Each of x's other d_x - 1 neighbours: (1-alpha)/d_x crosses its edge; likewise for y;
    # across x-y: |alpha + (1-alpha)(d_x-1)/d_x - (1-alpha)/d_y|.
    # (alpha = 0, d_x = d_y = 3 gives -2/3 = -2(1 - 1/d_x - 1/d_y), Jost & Liu 2014.)
    w1 = (
        (1 - alpha) * (dx - 1) / dx
        + (1 - alpha) * (dy - 1) / dy
        + abs(alpha + (1 - alpha) * (dx - 1) / dx - (1 - alpha) / dy)
    )
    return 1 - w1


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("tree", ["balanced", "random"])
def test_tree(tree, alpha):
    g0 = nx.balanced_tree(3, 3) if tree == "balanced" else nx.random_labeled_tree(60, seed=3)
    g = ollivier_ricci(g0, alpha=alpha)
    for a, b in g.edges():
        expected = _tree_formula(g0.degree(a), g0.degree(b), alpha)
        assert g[a][b]["ricci_curvature"] == pytest.approx(expected, abs=1e-12)


def test_forman_closed_forms():
    # unit weights: F(e) = 4 - deg(u) - deg(v) + 3 |triangles through e|
    for g0 in [
        nx.complete_graph(6),
        nx.cycle_graph(7),
        nx.balanced_tree(2, 3),
        nx.karate_club_graph(),
    ]:
        for _, _, d in g0.edges(data=True):
            d.clear()
        g = forman_ricci(g0)
        for a, b in g0.edges():
            tri = len(set(g0[a]) & set(g0[b]))
            assert g[a][b]["forman_curvature"] == 4 - g0.degree(a) - g0.degree(b) + 3 * tri


# --- GraphRicciCurvature on the same graphs (tests/data/make_ricci_reference.py)


def _reference_graph(ref, name):
    edges, length = ref[f"{name}_edges"], ref[f"{name}_length"]
    g = nx.Graph()
    g.add_nodes_from(range(int(edges.max()) + 1))
    if name == "karate":
        g.add_edges_from(edges.tolist())
    else:
        g.add_weighted_edges_from(
            (int(a), int(b), float(w)) for (a, b), w in zip(edges, length, strict=True)
        )
    return g, edges


@pytest.mark.parametrize("name", ["karate", "karate_weighted", "knn"])
def test_matches_graph_ricci_curvature(name):
    ref = np.load(REFERENCE)
    g, edges = _reference_graph(ref, name)
    for key, alpha in [("ollivier", 0.5), ("ollivier_a0", 0.0), ("ollivier_a09", 0.9)]:
        out = ollivier_ricci(g, alpha=alpha)
        np.testing.assert_allclose(
            _edge_values(out, "ricci_curvature", edges), ref[f"{name}_{key}"], atol=1e-6
        )
        if key == "ollivier":
            nodes = [out.nodes[i]["ricci_curvature"] for i in range(g.number_of_nodes())]
            np.testing.assert_allclose(nodes, ref[f"{name}_ollivier_nodes"], atol=1e-6)
    forman = forman_ricci(g)
    np.testing.assert_allclose(
        _edge_values(forman, "forman_curvature", edges), ref[f"{name}_forman"], atol=1e-6
    )


def test_knn_graph_input_matches_networkx_input():
    ref = np.load(REFERENCE)
    graph = knn_graph(ref["knn_points"], k=8)
    from_graph = ollivier_ricci(graph)
    # same symmetrised kNN graph as the stored reference (built there with a k-d tree)
    expected_graph, edges = _reference_graph(ref, "knn")
    assert {frozenset(e) for e in from_graph.edges()} == {
        frozenset(e) for e in expected_graph.edges()
    }
    np.testing.assert_allclose(
        _edge_values(from_graph, "ricci_curvature", edges), ref["knn_ollivier"], atol=1e-6
    )


def test_highs_fallback_agrees(monkeypatch):
    from manifold.metrics import ricci

    g = nx.karate_club_graph()
    fast = _edge_values(ollivier_ricci(g), "ricci_curvature")
    monkeypatch.setattr(ricci, "_transport_solver", lambda: ricci._emd_highs)
    slow = _edge_values(ollivier_ricci(g), "ricci_curvature")
    np.testing.assert_allclose(slow, fast, atol=1e-9)


# --- edge cases


def test_duplicates_give_zero_not_nan():
    rng = np.random.default_rng(0)
    x = rng.random((80, 3))
    x = np.vstack([x, x[:5]])
    graph = knn_graph(x, k=6)
    g = ollivier_ricci(graph)
    values = _edge_values(g, "ricci_curvature")
    assert np.all(np.isfinite(values))
    for i in range(5):
        assert g[i][80 + i]["ricci_curvature"] == 0.0
    f = _edge_values(forman_ricci(graph), "forman_curvature")
    assert np.all(np.isfinite(f))


def test_isolated_nodes_and_self_loops():
    g = nx.path_graph(4)
    g.add_node(10)
    g.add_edge(2, 2)
    out = ollivier_ricci(g, alpha=0.0)
    assert "ricci_curvature" not in out.nodes[10]
    assert not out.has_edge(2, 2)
    # path end edge (0,1): degrees 1 and 2 on a tree
    assert out[0][1]["ricci_curvature"] == pytest.approx(_tree_formula(1, 2, 0.0))
    assert g.has_edge(2, 2)  # the input is not modified


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"alpha": 1.5}, ValueError),
        ({"alpha": -0.1}, ValueError),
        ({"exp_power": -1.0}, ValueError),
        ({"chunk_size": 0}, ValueError),
    ],
)
def test_bad_options(kwargs, error):
    with pytest.raises(error):
        ollivier_ricci(nx.cycle_graph(6), **kwargs)


def test_bad_graphs():
    with pytest.raises(TypeError, match="networkx"):
        ollivier_ricci(np.eye(3))
    with pytest.raises(TypeError, match="undirected"):
        ollivier_ricci(nx.DiGraph([(0, 1)]))
    g = nx.Graph()
    g.add_edge(0, 1, weight=float("nan"))
    with pytest.raises(ValueError, match="finite length"):
        ollivier_ricci(g)
    with pytest.raises(ValueError, match="finite length"):
        forman_ricci(g)


def test_edge_subset_matches_full_run():
    ref = np.load(REFERENCE)
    g, edges = _reference_graph(ref, "knn")
    full = ollivier_ricci(g)
    rng = np.random.default_rng(0)
    pick = [tuple(int(i) for i in edges[j][::-1]) for j in rng.choice(len(edges), 40, False)]
    part = ollivier_ricci(g, edges=pick)
    np.testing.assert_allclose(
        _edge_values(part, "ricci_curvature", pick),
        _edge_values(full, "ricci_curvature", pick),
        atol=1e-12,
    )
    scored = {frozenset(e) for e in pick}
    assert all(
        ("ricci_curvature" in d) == (frozenset((a, b)) in scored)
        for a, b, d in part.edges(data=True)
    )
    a, b = pick[0]
    incident = [part[a][c]["ricci_curvature"] for c in part[a] if frozenset((a, c)) in scored]
    assert part.nodes[a]["ricci_curvature"] == pytest.approx(np.mean(incident))
    from_knn = ollivier_ricci(knn_graph(ref["knn_points"], k=8), edges=pick)
    np.testing.assert_allclose(
        _edge_values(from_knn, "ricci_curvature", pick),
        _edge_values(full, "ricci_curvature", pick),
        atol=1e-6,
    )


def test_edge_subset_errors():
    g = nx.path_graph(4)
    with pytest.raises(ValueError, match="not an edge"):
        ollivier_ricci(g, edges=[(0, 2)])
    with pytest.raises(ValueError, match="node pairs"):
        ollivier_ricci(g, edges=[(0, 9)])
    with pytest.raises(ValueError, match="node pairs"):
        ollivier_ricci(g, edges=[0])


@pytest.mark.parametrize(("table", "batch", "groups"), [(50, 200, 1), (10**9, 10**9, 7)])
def test_block_splitting_does_not_change_values(monkeypatch, table, batch, groups):
    # tiny bounds force halved blocks, one-edge transport batches and many search groups
    from manifold.metrics import ricci

    monkeypatch.setattr(ricci, "_TABLE_ENTRIES", table)
    monkeypatch.setattr(ricci, "_BATCH_ENTRIES", batch)
    monkeypatch.setattr(ricci, "_RADIUS_GROUPS", groups)
    ref = np.load(REFERENCE)
    g, edges = _reference_graph(ref, "knn")
    out = ollivier_ricci(g, chunk_size=37)
    np.testing.assert_allclose(
        _edge_values(out, "ricci_curvature", edges), ref["knn_ollivier"], atol=1e-6
    )


@pytest.mark.parametrize("function", [ollivier_ricci, forman_ricci], ids=lambda f: f.__name__)
@pytest.mark.parametrize("source", ["knn", "nnk", "networkx"])
def test_edges_output_holds_the_graph_outputs_numbers_in_its_edge_order(function, source):
    from manifold.graphs import knn_graph, nnk_graph

    z = np.random.default_rng(3).normal(size=(60, 4))
    graph = {
        "knn": lambda: knn_graph(z, k=5),
        "nnk": lambda: nnk_graph(z, k=8),
        "networkx": lambda: nx.relabel_nodes(knn_graph(z, k=5).to_networkx(), str),
    }[source]()
    g = function(graph, scale=None if source == "networkx" else "knn")
    e = EDGES[function](graph, scale=None if source == "networkx" else "knn")
    name = e.name
    assert (
        name
        == {"ollivier_ricci": "ricci_curvature", "forman_ricci": "forman_curvature"}[
            function.__name__
        ]
    )
    assert e.n_edges == g.number_of_edges() > 0
    np.testing.assert_array_equal(e.values, [d[name] for *_, d in g.edges(data=True)])
    assert [(e.nodes[a], e.nodes[b]) for a, b in zip(e.u, e.v, strict=True)] == list(g.edges())
    np.testing.assert_array_equal(e.length, [d["weight"] for *_, d in g.edges(data=True)])
    means = e.node_means()
    for i, node in enumerate(e.nodes):
        if g.degree(node):
            assert means[i] == pytest.approx(g.nodes[node][name], rel=1e-12)
        else:
            assert np.isnan(means[i]) and name not in g.nodes[node]
    back = e.to_networkx()  # the same graph, labelled alike (other input attributes aside)
    assert list(back.nodes) == list(g.nodes) and list(back.edges) == list(g.edges)
    for a, b, d in back.edges(data=True):
        assert d == {"weight": g[a][b]["weight"], name: g[a][b][name]}
    assert dict(back.nodes(data=name)) == dict(g.nodes(data=name))


def test_edges_output_of_a_subset_of_edges_and_a_bad_output_name():
    g = nx.cycle_graph(6)
    e = ollivier_ricci_edges(g, alpha=0.0, edges=[(2, 3), (0, 1)])
    assert [(e.nodes[a], e.nodes[b]) for a, b in zip(e.u, e.v, strict=True)] == [(2, 3), (0, 1)]
    full = ollivier_ricci(g, alpha=0.0)
    assert e.values.tolist() == [full[2][3]["ricci_curvature"], full[0][1]["ricci_curvature"]]
    with pytest.raises(ValueError, match="output"):
        forman_ricci(g, output="array")


@pytest.mark.parametrize("function", [ollivier_ricci, forman_ricci], ids=lambda f: f.__name__)
def test_a_directed_graph_object_is_refused_as_a_directed_networkx_graph_is(function):
    from manifold.graphs import anchor_knn, anchor_nnk, nnk_graph

    z = np.random.default_rng(8).normal(size=(40, 3))
    rows = np.arange(0, 40, 4)
    directed = nnk_graph(z, k=6, symmetrize=False)
    assert directed.to_networkx().is_directed()
    with pytest.raises(TypeError, match="must be undirected"):
        function(directed)
    anchors = anchor_nnk(z, anchor_knn(z, rows, k=6), rows)
    with pytest.raises(TypeError, match="anchor rows of an AnchorNNK"):
        function(anchors)
    assert function(nnk_graph(z, k=6)).number_of_edges() > 0  # symmetrised: accepted
