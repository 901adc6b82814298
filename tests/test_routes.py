"""Non-default options and alternative routes, checked against references like the defaults.

Each test names the option or route it covers; the reference is numpy, scipy or scikit-learn on
the same input, a closed form, or the documented definition written out independently.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.cluster.hierarchy
import scipy.linalg
import scipy.optimize
import scipy.spatial.distance
import torch

import manifold
from manifold.graphs import nnk_graph
from manifold.large import profile_large
from manifold.zoo import TransferPredictor, cluster_models

# --- spectral ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(12, 30), (40, 7)], ids=["n<d", "n>d"])
@pytest.mark.parametrize("route", ["array", "tensor", "batches", "memmap"])
def test_spectrum_routes_match_numpy(shape, route, tmp_path):
    rng = np.random.default_rng(sum(shape))
    z = rng.normal(size=shape) * np.linspace(3.0, 0.2, shape[1]) + 5.0
    if route == "tensor":
        arg = torch.from_numpy(z)
    elif route == "batches":
        arg = [z[:5], z[5:]]
    elif route == "memmap":
        mm = np.lib.format.open_memmap(tmp_path / "z.npy", mode="w+", dtype=z.dtype, shape=z.shape)
        mm[:] = z
        mm.flush()
        arg = np.load(tmp_path / "z.npy", mmap_mode="r")
    else:
        arg = z
    spec = manifold.spectrum(arg)
    r = min(shape)
    np.testing.assert_allclose(
        spec.singular_values, np.linalg.svd(z, compute_uv=False)[:r], rtol=1e-9
    )
    cov = np.linalg.eigvalsh(np.cov(z, rowvar=False))[::-1][: min(shape[0] - 1, shape[1])]
    np.testing.assert_allclose(spec.eigenvalues, cov, rtol=1e-8, atol=1e-12 * cov[0])


def test_rankme_subsample_is_the_seeded_uniform_subset(tmp_path):
    """``max_samples``: the sorted ``default_rng(seed).choice(N, m, replace=False)`` rows."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 10)) * np.linspace(1.0, 0.1, 10)
    for seed in (0, 7):
        rows = np.sort(np.random.default_rng(seed).choice(300, size=50, replace=False))
        want = manifold.rankme(z[rows], max_samples=None)
        assert manifold.rankme(z, max_samples=50, seed=seed) == pytest.approx(want, rel=1e-12)
        np.save(tmp_path / "z.npy", z)
        memmap = np.load(tmp_path / "z.npy", mmap_mode="r")
        assert manifold.rankme(memmap, max_samples=50, seed=seed) == pytest.approx(want, rel=1e-12)
        # profile_large draws the same subset
        large = profile_large(z, n_anchors=20, k=5, seed=seed, max_samples=50)
        assert large.value("rankme") == pytest.approx(want, rel=1e-12)


def test_reservoir_sample_of_batches_is_uniform():
    """Batches + ``max_samples``: every row is kept with probability m / N (Algorithm R)."""
    n, m, draws = 12, 10, 1000
    # rows 10 and 11 (the two after the reservoir fills) are e_0 and 2 e_1, the others zero:
    # the singular values of a sample say which of the two it kept
    z = np.zeros((n, 2))
    z[10, 0], z[11, 1] = 1.0, 2.0
    kept = np.zeros(2)
    for seed in range(draws):
        s = manifold.spectrum([z[:6], z[6:]], max_samples=m, seed=seed).singular_values
        kept += [np.isclose(s, 1.0).any(), np.isclose(s, 2.0).any()]
    p = m / n
    sd = np.sqrt(p * (1 - p) / draws)
    np.testing.assert_array_less(np.abs(kept / draws - p), 4 * sd)


# --- graphs --------------------------------------------------------------------------------


def _nnls_reference(z, graph, kernel, sigma):
    """Per-node NNK weights with scipy.optimize.nnls (ridge as documented)."""
    from manifold.graphs.nnk import RIDGE

    x_all = np.asarray(z, dtype=np.float64)
    if kernel == "cosine" or graph.knn.metric == "cosine":
        x_all = x_all / np.linalg.norm(x_all, axis=1, keepdims=True)
    out = np.zeros(graph.knn.indices.shape)
    for i, cand in enumerate(graph.knn.indices):
        x = x_all[cand]
        if kernel == "gaussian":
            d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
            k_ss = np.exp(-d2 / (2 * sigma**2))
            k_si = np.exp(-((x - x_all[i]) ** 2).sum(-1) / (2 * sigma**2))
        else:
            k_ss = 0.5 + 0.5 * x @ x.T
            k_si = 0.5 + 0.5 * x @ x_all[i]
        upper = np.linalg.cholesky(k_ss + RIDGE * np.eye(len(cand))).T
        target = scipy.linalg.solve_triangular(upper.T, k_si, lower=True)
        theta, _ = scipy.optimize.nnls(upper, target)
        out[i] = np.where(theta > graph.tol, theta, 0.0)
    return out


@pytest.mark.parametrize(
    ("kernel", "metric"),
    [("cosine", "euclidean"), ("cosine", "cosine"), ("gaussian", "cosine")],
)
def test_nnk_kernels_and_metrics_match_scipy_nnls(kernel, metric):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 5)) + np.array([2.0, 0, 0, 0, 0])
    graph = nnk_graph(z, k=8, kernel=kernel, metric=metric)
    sigma = None
    if kernel == "gaussian":
        # documented default: mean k-th distance / 3, on unit vectors for the cosine metric
        unit = z / np.linalg.norm(z, axis=1, keepdims=True)
        d = np.sort(scipy.spatial.distance.cdist(unit, unit), axis=1)[:, 8]
        sigma = d.mean() / 3.0
        assert graph.sigma == pytest.approx(sigma, rel=1e-9)
    want = _nnls_reference(z, graph, kernel, sigma)
    np.testing.assert_allclose(graph.weights, want, atol=1e-7)


def test_nnk_default_sigma_is_the_mean_kth_distance_over_three():
    rng = np.random.default_rng(2)
    z = np.vstack([rng.normal(size=(40, 3)), 5 + 4 * rng.normal(size=(20, 3))])
    kth = np.sort(scipy.spatial.distance.cdist(z, z), axis=1)[:, 6]
    assert nnk_graph(z, k=6).sigma == pytest.approx(kth.mean() / 3.0, rel=1e-12)


@pytest.mark.parametrize("symmetrize", [True, "max", "mean", False])
def test_nnk_adjacency_follows_the_symmetrize_option(symmetrize):
    z = np.random.default_rng(3).normal(size=(50, 4))
    graph = nnk_graph(z, k=7, symmetrize=symmetrize)
    w = np.zeros((50, 50))
    for i in range(50):
        w[i, graph.knn.indices[i]] = graph.weights[i]
    want = {True: np.maximum(w, w.T), "max": np.maximum(w, w.T), "mean": (w + w.T) / 2}
    np.testing.assert_allclose(graph.adjacency.toarray(), want.get(symmetrize, w), atol=0)
    assert isinstance(graph.to_networkx(), nx.DiGraph) == (symmetrize is False)


# --- local geometry and invariance ---------------------------------------------------------


def _local_basis(z, graph, i):
    nb = graph.neighbors(i)
    offsets = z[nb] - z[i]
    _, s, vt = np.linalg.svd(offsets, full_matrices=False)
    return s, vt


@pytest.mark.parametrize("n_components", [None, 1, 2])
def test_subspace_angles_against_scipy_with_the_strongest_neighbour(n_components):
    rng = np.random.default_rng(4)
    t = rng.uniform(0, 3, size=(120, 2))
    z = np.column_stack([t[:, 0], t[:, 1], np.sin(t[:, 0]) * np.cos(t[:, 1]), 0.01 * t[:, 0]])
    graph = nnk_graph(z, k=8)
    got = manifold.subspace_angles(graph, n_components=n_components).values
    for i in range(0, 120, 7):
        w = np.where(graph.mask[i], graph.weights[i], -1.0)
        j = graph.knn.indices[i, np.argmax(w)]  # the strongest NNK neighbour
        s_i, v_i = _local_basis(z, graph, i)
        s_j, v_j = _local_basis(z, graph, j)
        if n_components is None:
            d_i = int((s_i**2 >= 0.1 * s_i[0] ** 2).sum())
            d_j = int((s_j**2 >= 0.1 * s_j[0] ** 2).sum())
            c = min(d_i, d_j)
        else:
            rank = min(int((s_i > 1e-10 * s_i[0]).sum()), int((s_j > 1e-10 * s_j[0]).sum()))
            c = min(n_components, rank)
        angles = scipy.linalg.subspace_angles(v_i[:c].T, v_j[:c].T)
        assert got[i] == pytest.approx(np.degrees(angles.max()), abs=1e-6), i


def test_diameter_ratio_of_images_without_semantic_diameter_uses_the_median():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(40, 3))
    z[1] = z[0]  # a duplicate: its NNK neighbourhood is its twin alone, diameter 0
    v = z[:, None, :] + 0.2 * rng.normal(size=(40, 3, 3))
    graph = nnk_graph(z, k=6)
    diam = manifold.nnk_diameter(graph).values
    assert diam[0] == 0.0 and diam[1] == 0.0
    view_diam = np.array([scipy.spatial.distance.pdist(v[i]).max() for i in range(40)])
    want = view_diam / np.where(diam > 0, diam, np.median(diam[diam > 0]))
    got = manifold.augmentation_diameter_ratio(z, v, graph=graph).values
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_tangent_alignment_uses_the_nnk_neighbours_only():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(60, 5)) * np.array([3.0, 2.0, 0.3, 0.2, 0.1])
    v = z[:, None, :] + rng.normal(size=(60, 4, 5)) * np.array([0.0, 0.0, 0.0, 0.5, 0.0])
    graph = nnk_graph(z, k=10)
    assert (graph.mask.sum(axis=1) < 10).all()  # pruning happened: the test can tell
    got = manifold.tangent_alignment(z, v, graph=graph).values
    for i in range(0, 60, 6):
        s, vt = _local_basis(z, graph, i)
        d_sem = int((s**2 >= 0.1 * s[0] ** 2).sum())
        centred = v[i] - v[i].mean(axis=0)
        _, s_a, vt_a = np.linalg.svd(centred, full_matrices=False)
        d_aug = int((s_a**2 >= 0.1 * s_a[0] ** 2).sum())
        angles = np.degrees(scipy.linalg.subspace_angles(vt_a[:d_aug].T, vt[:d_sem].T))
        assert got[i] == pytest.approx(angles[: min(d_aug, d_sem)].mean(), abs=1e-6), i


def test_summary_statistics_match_numpy():
    values = np.random.default_rng(7).gamma(2.0, size=101)
    s = manifold.PointMetric("x", values).summary
    assert s.std == pytest.approx(np.std(values, ddof=1), rel=1e-14)
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    np.testing.assert_allclose([s.q05, s.q25, s.median, s.q75, s.q95], q, rtol=1e-14)
    assert s.mean == pytest.approx(values.mean(), rel=1e-14)


def _ollivier_reference(g, alpha, exp_power, base):
    """κ = 1 − W₁(m_x, m_y)/d(x, y) with the documented lazy walk, POT's exact transport."""
    import ot
    from scipy.sparse.csgraph import dijkstra

    nodes = list(g)
    index = {node: i for i, node in enumerate(nodes)}
    dist = dijkstra(nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight"), directed=False)

    def measure(x):
        nb = list(g[x])
        w = np.array([base ** (-(g[x][v]["weight"] ** exp_power)) for v in nb])
        support = [index[x]] + [index[v] for v in nb]
        return support, np.concatenate([[alpha], (1 - alpha) * w / w.sum()])

    out = {}
    for x, y in g.edges():
        sx, mx = measure(x)
        sy, my = measure(y)
        w1 = ot.emd2(mx, my, dist[np.ix_(sx, sy)])
        out[frozenset((x, y))] = 1.0 - w1 / dist[index[x], index[y]]
    return out


@pytest.mark.parametrize(
    ("alpha", "exp_power", "base"), [(0.5, 2.0, np.e), (0.3, 1.0, 2.0), (0.0, 0.0, np.e)]
)
def test_ollivier_ricci_options_on_a_weighted_graph_match_the_definition(alpha, exp_power, base):
    z = np.random.default_rng(9).uniform(size=(25, 2)) * 2.0
    g = manifold.knn_graph(z, k=3).to_networkx()
    got = manifold.ollivier_ricci(g, alpha=alpha, exp_power=exp_power, base=base)
    want = _ollivier_reference(g, alpha, exp_power, base)
    for x, y, d in got.edges(data=True):
        assert d["ricci_curvature"] == pytest.approx(want[frozenset((x, y))], abs=1e-9)


# --- zoo analysis --------------------------------------------------------------------------


def _zoo_matrix(seed=0, n=14, p=5):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        rng.normal(size=(n, p)) * np.arange(1, p + 1) + 10,
        index=[f"m{i}" for i in range(n)],
        columns=[f"semantic/metric{j}" for j in range(p)],
    )
    return x


@pytest.mark.parametrize(
    ("method", "distance"),
    [
        ("average", "euclidean"),
        ("complete", "cityblock"),
        ("single", "cosine"),
        ("ward", "euclidean"),
        ("weighted", "chebyshev"),
    ],
)
def test_cluster_models_options_match_scipy(method, distance):
    x = _zoo_matrix()
    res = cluster_models(x, method=method, distance=distance, n_clusters=3)
    z = (x - x.mean()) / x.std(ddof=0)  # documented: population standard deviation
    np.testing.assert_allclose(res.matrix.to_numpy(), z.to_numpy(), rtol=1e-12)
    dist = scipy.spatial.distance.pdist(z.to_numpy(), metric=distance)
    tree = scipy.cluster.hierarchy.linkage(dist, method=method)
    np.testing.assert_allclose(res.linkage, tree, rtol=1e-12)
    labels = scipy.cluster.hierarchy.fcluster(tree, 3, criterion="maxclust")
    np.testing.assert_array_equal(res.labels.to_numpy(), labels)


def test_cluster_models_cuts_at_the_number_of_groups():
    # two well-separated blobs (the largest gap gives 2 clusters), labelled with 3 groups
    rng = np.random.default_rng(10)
    x = pd.DataFrame(
        np.vstack([rng.normal(size=(5, 3)), 20 + rng.normal(size=(5, 3))]),
        index=[f"m{i}" for i in range(10)],
        columns=["a", "b", "c"],
    )
    assert cluster_models(x).n_clusters == 2
    groups = {m: i % 3 for i, m in enumerate(x.index)}
    res = cluster_models(x, groups=groups)
    assert res.n_clusters_rule == "groups"
    want = scipy.cluster.hierarchy.fcluster(res.linkage, 3, criterion="maxclust")
    np.testing.assert_array_equal(res.labels.to_numpy(), want)
    assert res.n_clusters == 3


@pytest.mark.filterwarnings("ignore:baseline")
def test_transfer_p_value_and_intercept_follow_their_definitions():
    x = _zoo_matrix(seed=1, n=12, p=4)
    rng = np.random.default_rng(1)
    y = pd.Series(x.iloc[:, 0] * 0.3 + rng.normal(size=12), name="task")
    est = TransferPredictor()
    ev = est.evaluate(x, y, n_permutations=30, seed=0)
    null = ev.null_spearman["task"]
    rho = ev.table.loc["task", "spearman"]
    assert ev.table.loc["task", "p_value"] == (1 + int((null >= rho).sum())) / 31
    est.fit(x, y)
    # coef_ is in score SDs per metric SD; intercept_ on the original score scale
    slope = est.coef_.loc["task"].to_numpy() * y.std(ddof=0) / x.std(ddof=0).to_numpy()
    new = x.iloc[:3] * 1.1
    want = est.intercept_["task"] + new.to_numpy() @ slope
    np.testing.assert_allclose(est.predict(new)["task"].to_numpy(), want, rtol=1e-10)


# --- seeds ---------------------------------------------------------------------------------


def test_torch_generator_seeds_are_used():
    x = torch.rand((3, 3, 8, 8), generator=torch.Generator().manual_seed(0))

    def draw(state):
        return manifold.draw_views(
            x, "rotation", n_views=2, seed=torch.Generator().manual_seed(state)
        )

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))
    z = np.random.default_rng(0).normal(size=(200, 4))
    a = manifold.rankme(z, max_samples=50, seed=torch.Generator().manual_seed(1))
    b = manifold.rankme(z, max_samples=50, seed=torch.Generator().manual_seed(2))
    assert a != b
