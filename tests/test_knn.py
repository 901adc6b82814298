import networkx as nx
import numpy as np
import pytest
import torch

from manifold.graphs import KNNGraph, knn_graph

BACKENDS = ["faiss", "torch"]


def brute_force(z, k, metric="euclidean", base=None):
    """Exact kNN in float64 numpy: full distance matrix, self removed by index."""
    z = np.asarray(z, dtype=np.float64)
    b = z if base is None else np.asarray(base, dtype=np.float64)
    if metric == "euclidean":
        d = np.sqrt(((z[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    else:
        zu = z / np.linalg.norm(z, axis=1, keepdims=True)
        bu = b / np.linalg.norm(b, axis=1, keepdims=True)
        d = 1.0 - zu @ bu.T
    if base is None:
        d[np.arange(len(z)), np.arange(len(z))] = np.inf
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1), d


def assert_matches(graph, z, k, metric, base=None):
    idx, dist, full = brute_force(z, k, metric, base)
    assert graph.indices.dtype == np.int64 and graph.distances.dtype == np.float64
    assert graph.indices.shape == (len(z), k) == graph.distances.shape
    # the distances are exact and sorted; with ties the order between equal distances is free
    np.testing.assert_allclose(graph.distances, dist, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(graph.distances, axis=1) >= 0)
    # each reported distance is the true distance of the reported pair
    np.testing.assert_allclose(
        graph.distances,
        np.take_along_axis(full, graph.indices, axis=1),
        rtol=1e-10,
        atol=1e-12,
    )
    # each row holds distinct indices and never the query itself
    for i, row in enumerate(graph.indices):
        assert len(set(row.tolist())) == k
        if base is None:
            assert i not in row


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_matches_brute_force(backend, metric):
    z = np.random.default_rng(0).normal(size=(300, 16))
    g = knn_graph(z, 7, metric=metric, backend=backend)
    assert_matches(g, z, 7, metric)
    idx, _, _ = brute_force(z, 7, metric)
    # random data has no ties: the indices agree exactly
    np.testing.assert_array_equal(g.indices, idx)
    assert g.metric == metric and g.k == 7 and g.n_nodes == 300


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_duplicates(backend, metric):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 5))
    z = np.concatenate([z, z[:20], z[:3], z[:3]])  # twins and quadruplets
    g = knn_graph(z, 4, metric=metric, backend=backend)
    assert np.isfinite(g.distances).all() and (g.distances >= 0).all()
    assert_matches(g, z, 4, metric)
    # point 0 has three exact copies: its three nearest are exactly those copies
    assert set(g.indices[0, :3].tolist()) == {60, 80, 83}
    np.testing.assert_array_equal(g.distances[0, :3], 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_duplicates_than_k(backend):
    # every point equal: the query is usually not among the k + 1 returned
    z = np.ones((12, 3))
    g = knn_graph(z, 3, backend=backend)
    np.testing.assert_array_equal(g.distances, 0.0)
    for i, row in enumerate(g.indices):
        assert i not in row and len(set(row.tolist())) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_k_equals_n_minus_one(backend):
    z = np.random.default_rng(2).normal(size=(9, 4))
    g = knn_graph(z, 8, backend=backend)
    assert_matches(g, z, 8, "euclidean")
    for i, row in enumerate(g.indices):
        assert sorted(row.tolist()) == [j for j in range(9) if j != i]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_query_against_base(backend, metric):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(200, 8))
    z = np.concatenate([rng.normal(size=(50, 8)), base[:5]])  # some queries are base points
    g = knn_graph(z, 5, base=base, metric=metric, backend=backend)
    assert_matches(g, z, 5, metric, base=base)
    # no self exclusion against a base: a query equal to base point j finds j at distance 0
    np.testing.assert_array_equal(g.indices[50:, 0], np.arange(5))
    np.testing.assert_allclose(g.distances[50:, 0], 0.0, atol=1e-12)
    assert g.points is None and g.n_base == 200
    assert g.to_scipy().shape == (55, 200)
    with pytest.raises(ValueError, match="one point set"):
        g.to_networkx()
    # k may equal N_base when the query set is separate
    assert knn_graph(z, 200, base=base, backend=backend).k == 200


def test_chunked_search_is_the_same():
    z = np.random.default_rng(4).normal(size=(157, 6))
    whole = knn_graph(z, 5, backend="torch")
    chunked = knn_graph(z, 5, backend="torch", batch_size=10)
    chunked_faiss = knn_graph(z, 5, backend="faiss", batch_size=10)
    np.testing.assert_array_equal(whole.indices, chunked.indices)
    np.testing.assert_array_equal(whole.indices, chunked_faiss.indices)


def test_refinement_in_small_chunks_is_the_same(monkeypatch):
    import manifold.graphs.knn as knn_module

    z = np.random.default_rng(5).normal(size=(157, 6))
    whole = knn_graph(z, 5)
    monkeypatch.setattr(knn_module, "_REFINE_BUDGET", 6 * 6 * 3)  # 3 rows per chunk
    chunked = knn_graph(z, 5)
    np.testing.assert_array_equal(whole.indices, chunked.indices)
    np.testing.assert_array_equal(whole.distances, chunked.distances)


def test_ivf_recall_and_exact_distances():
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(20, 16)) * 4
    z = centers[rng.integers(0, 20, 3000)] + rng.normal(size=(3000, 16))
    exact = knn_graph(z, 10)
    approx = knn_graph(z, 10, index="ivf")
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(exact.indices, approx.indices, strict=True)]
    )
    assert recall >= 0.95
    _, _, full = brute_force(z, 10)
    np.testing.assert_allclose(
        approx.distances, np.take_along_axis(full, approx.indices, axis=1), rtol=1e-10
    )
    # visiting every cell is exact search
    everything = knn_graph(z, 10, index="ivf", nlist=8, nprobe=8)
    np.testing.assert_array_equal(everything.indices, exact.indices)


def test_torch_input_and_points_reference():
    z = torch.randn(50, 3, dtype=torch.float64)
    g = knn_graph(z, 3)
    assert g.points.data_ptr() == z.data_ptr()  # a reference, not a copy
    np.testing.assert_array_equal(g.indices, knn_graph(z.numpy(), 3).indices)


def test_float16_is_upcast():
    z = np.random.default_rng(6).normal(size=(80, 4)).astype(np.float16)
    g = knn_graph(z, 5)
    assert g.points.dtype == torch.float32
    assert_matches(g, z.astype(np.float64), 5, "euclidean")


def test_scipy_and_networkx_round_trip():
    z = np.random.default_rng(7).normal(size=(40, 3))
    z[1] = z[0]  # a zero-distance edge must survive both exports
    g = knn_graph(z, 4)
    mat = g.to_scipy()
    assert mat.shape == (40, 40) and mat.nnz == 40 * 4
    for i in range(40):
        row = mat.getrow(i)
        assert dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) == dict(
            zip(g.indices[i].tolist(), g.distances[i].tolist(), strict=True)
        )
    graph = g.to_networkx()
    assert isinstance(graph, nx.Graph) and graph.number_of_nodes() == 40
    edges = {(min(i, j), max(i, j)) for i in range(40) for j in g.indices[i].tolist()}
    assert {(min(e), max(e)) for e in graph.edges} == edges
    for i in range(40):
        for j, d in zip(g.indices[i], g.distances[i], strict=True):
            assert graph[i][int(j)]["weight"] == d
    coo = mat.tocoo()
    assert {(min(i, j), max(i, j)) for i, j in zip(coo.row, coo.col, strict=True)} == edges


def test_dataclass_defaults():
    g = KNNGraph(indices=np.zeros((3, 1), np.int64), distances=np.ones((3, 1)), metric="euclidean")
    assert g.n_base == 3 and g.points is None and g.k == 1 and g.n_nodes == 3


@pytest.mark.parametrize(
    ("z", "kwargs", "match"),
    [
        (np.zeros((5, 2)), {"k": 5}, "k must be <= N - 1 = 4"),
        (np.zeros((5, 2)), {"k": 0}, "k must be >= 1"),
        (np.zeros((5, 2)), {"k": 2.0}, "k must be an integer"),
        (np.zeros((1, 2)), {"k": 1}, "at least 2 points"),
        (np.zeros((5, 2, 2)), {"k": 1}, r"expected z of shape \(N, D\), got \(5, 2, 2\)"),
        (np.zeros(5), {"k": 1}, r"expected z of shape \(N, D\)"),
        (np.zeros((5, 2)), {"k": 1, "metric": "l1"}, "metric must be one of"),
        (np.zeros((5, 2)), {"k": 1, "backend": "annoy"}, "backend must be one of"),
        (np.zeros((5, 2)), {"k": 1, "metric": "cosine"}, "zero vectors"),
        (np.ones((5, 2)), {"k": 1, "base": np.ones((4, 3))}, "same dimension D"),
        (np.ones((5, 2)), {"k": 5, "base": np.ones((4, 2))}, "k must be <= N_base = 4"),
        (np.ones((5, 2)), {"k": 1, "nprobe": 3}, "index='ivf' only"),
        (np.ones((5, 2)), {"k": 1, "index": "ivf", "backend": "torch"}, "needs faiss"),
    ],
)
def test_bad_input(z, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        knn_graph(z, **kwargs)


def test_nan_rows_are_rejected():
    z = np.random.default_rng(8).normal(size=(10, 3))
    z[7, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN value .first at row 7"):
        knn_graph(z, 2)
    with pytest.raises(ValueError, match="base contains"):
        knn_graph(np.ones((3, 3)), 2, base=z)


def test_auto_falls_back_to_torch_without_faiss(monkeypatch):
    import manifold.graphs.knn as knn_module

    monkeypatch.setattr(knn_module, "get_faiss", lambda force_fallback=False: None)
    z = np.random.default_rng(9).normal(size=(100, 5))
    g = knn_graph(z, 4)
    assert_matches(g, z, 4, "euclidean")
    with pytest.raises(ValueError, match="needs faiss"):
        knn_graph(z, 4, index="ivf")
