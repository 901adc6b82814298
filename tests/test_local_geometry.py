"""NNK local metrics: degree, diameter, local dimension and subspace angles on known shapes."""

import numpy as np
import pytest
import scipy.linalg

from manifold.graphs import nnk_graph
from manifold.metrics import local_dimension, nnk_degree, nnk_diameter, subspace_angles


def _rotate(x, dim, rng):
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    padded = np.zeros((len(x), dim))
    padded[:, : x.shape[1]] = x
    return padded @ q.T


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_local_dimension_recovers_d(d):
    # Uniform d-cube in 50-D: the NNK offsets span the d tangent directions; with k = 20
    # candidates and threshold 0.1 a direction is lost only when the few NNK neighbours happen
    # to be nearly collinear (more frequent as d grows), so the median is d exactly and the
    # mean within 10 %.
    rng = np.random.default_rng(d)
    graph = nnk_graph(_rotate(rng.random((1200, d)), 50, rng), k=20)
    result = local_dimension(graph)
    assert result.summary.median == d
    assert abs(result.summary.mean - d) <= 0.1 * d
    assert result.values.max() <= d  # never more directions than the manifold has


def test_degree_and_diameter_match_definitions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 4))
    graph = nnk_graph(x, k=8)
    degree = nnk_degree(graph).values
    diameter = nnk_diameter(graph).values
    for i in range(150):
        nbrs = graph.knn.indices[i][graph.mask[i]]
        assert degree[i] == len(nbrs)
        pts = x[nbrs]
        expected = (
            max((np.linalg.norm(a - b) for a in pts for b in pts), default=0.0)
            if len(nbrs) >= 2
            else 0.0
        )
        assert diameter[i] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # built here from raw points: same values
    np.testing.assert_array_equal(nnk_degree(x, k=8).values, degree)


def test_subspace_angles_match_scipy():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((300, 3))
    x = _rotate(s / np.linalg.norm(s, axis=1, keepdims=True), 10, rng)
    graph = nnk_graph(x, k=12)
    result = subspace_angles(graph, n_components=2).values

    def leading_directions(p):
        # numpy SVD of the offsets of p's NNK neighbours: the top-2 right singular vectors
        offsets = x[graph.knn.indices[p][graph.mask[p]]] - x[p]
        return np.linalg.svd(offsets, full_matrices=False)[2][:2].T

    checked = 0
    for i in range(0, 300, 7):
        if graph.mask[i].sum() < 2:
            continue
        w = np.where(graph.mask[i], graph.weights[i], -1)
        j = graph.knn.indices[i][np.argmax(w)]
        if graph.mask[j].sum() < 2:
            continue
        a, b = leading_directions(i), leading_directions(j)
        expected = np.degrees(scipy.linalg.subspace_angles(a, b).max())
        assert result[i] == pytest.approx(expected, abs=1e-6)
        checked += 1
    assert checked >= 30


def test_subspace_angles_in_small_blocks_are_the_same(monkeypatch):
    import manifold.metrics.local as local_module

    rng = np.random.default_rng(4)
    x = _rotate(rng.standard_normal((200, 3)), 8, rng)
    graph = nnk_graph(x, k=10)
    whole = subspace_angles(graph).values
    dims = local_dimension(graph).values
    monkeypatch.setattr(local_module, "_BLOCK_BUDGET", 2 * 10 * 8 * 3)  # 3 rows per block
    np.testing.assert_allclose(subspace_angles(graph).values, whole, atol=1e-9)
    np.testing.assert_array_equal(local_dimension(graph).values, dims)


def _sphere_patch(radius, n, rng):
    # a cap of geodesic radius 0.5 (fixed area ~ pi/4) on a sphere of the given radius: the
    # same number of points gives the same sampling density, so only curvature changes
    out = []
    while sum(len(o) for o in out) < n:
        g = rng.standard_normal((4 * n, 3))
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        out.append(radius * g[g[:, 2] >= np.cos(0.5 / radius)])
    return np.concatenate(out)[:n]


def test_subspace_angles_flat_vs_curved():
    rng = np.random.default_rng(2)
    plane = _rotate(rng.random((800, 2)), 20, rng)
    flat = subspace_angles(plane, k=15)
    assert flat.summary.median < 1e-3  # tangent planes coincide up to rounding
    small = subspace_angles(_sphere_patch(0.6, 800, rng), k=15, n_components=2)
    large = subspace_angles(_sphere_patch(6.0, 800, rng), k=15, n_components=2)
    # the angle between tangent planes at distance h on a sphere of radius R is h / R
    assert small.summary.median > 3 * large.summary.median


def test_duplicates_and_bad_input():
    rng = np.random.default_rng(3)
    x = rng.random((100, 3))
    x = np.vstack([x, x[:10]])
    for fn in (nnk_degree, nnk_diameter, local_dimension, subspace_angles):
        assert np.all(np.isfinite(fn(x, k=8).values))
    with pytest.raises(ValueError, match="threshold"):
        local_dimension(x, threshold=2.0)
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        local_dimension(bad)
