import itertools

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial
import torch

import manifold
from manifold.metrics import invariance
from manifold.metrics.invariance import (
    alignment,
    augmentation_diameter_ratio,
    augmentation_dimension,
    same_source_rate,
    semantic_scale,
    spread_ratio,
    tangent_alignment,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _views_around(z, rng, n_views, noise):
    return z[:, None, :] + noise * rng.normal(size=(z.shape[0], n_views, z.shape[1]))


def test_spread_ratio_matches_direct_formula(rng):
    z = rng.normal(size=(60, 5))
    v = _views_around(z, rng, 6, 0.3)
    d = np.linalg.norm(z[:, None] - z[None], axis=2)
    np.fill_diagonal(d, np.inf)
    scale = np.median(np.sort(d, axis=1)[:, 9])  # distance to the 10th neighbour
    expected = np.linalg.norm(v - v.mean(1, keepdims=True), axis=2).mean(1) / scale
    res = spread_ratio(z, v, k=10)
    np.testing.assert_allclose(res.values, expected, rtol=1e-10)
    assert semantic_scale(z, k=10) == pytest.approx(scale)


def test_spread_ratio_zero_for_invariant_model_and_grows_with_noise(rng):
    z = rng.normal(size=(40, 4))
    assert spread_ratio(z, np.repeat(z[:, None], 5, axis=1)).summary.mean == 0.0
    small = spread_ratio(z, _views_around(z, rng, 5, 0.01)).summary.mean
    large = spread_ratio(z, _views_around(z, rng, 5, 1.0)).summary.mean
    assert 0 < small < large


def test_spread_ratio_errors(rng):
    z = rng.normal(size=(20, 4))
    with pytest.raises(ValueError, match="same images"):
        spread_ratio(z, rng.normal(size=(19, 3, 4)))
    with pytest.raises(ValueError, match="embedding dimension"):
        spread_ratio(z, rng.normal(size=(20, 3, 5)))
    with pytest.raises(ValueError, match="K >= 2"):
        spread_ratio(z, rng.normal(size=(20, 1, 4)))
    with pytest.raises(ValueError, match=r"shape \(N, K, D\)"):
        spread_ratio(z, rng.normal(size=(20, 4)))
    with pytest.warns(manifold.DegenerateWarning, match="scale"):
        collapsed = spread_ratio(np.zeros((20, 4)), rng.normal(size=(20, 3, 4)))
    assert np.isnan(collapsed.values).all() and np.isnan(collapsed.summary.mean)


def test_alignment_closed_form_equals_pairwise_mean(rng):
    v = rng.normal(size=(7, 5, 3))
    u = v / np.linalg.norm(v, axis=2, keepdims=True)
    brute = [
        np.mean([np.sum((u[i, a] - u[i, b]) ** 2) for a, b in itertools.permutations(range(5), 2)])
        for i in range(7)
    ]
    np.testing.assert_allclose(alignment(v).values, brute, rtol=1e-10)


def test_alignment_rejects_zero_vectors():
    v = np.ones((3, 2, 4))
    v[1, 0] = 0
    with pytest.raises(ValueError, match="zero vectors .*image 1"):
        alignment(v)


def test_augmentation_dimension_counts_planes_and_lines(rng):
    n, k_views, d = 30, 12, 10
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    centres = rng.normal(size=(n, d)) * 10
    plane = rng.normal(size=(n, k_views, 2)) @ basis[:, :2].T
    line = rng.normal(size=(n, k_views, 1)) @ basis[:, 2:3].T
    assert np.all(augmentation_dimension(centres[:, None] + plane).values == 2)
    assert np.all(augmentation_dimension(centres[:, None] + line).values == 1)
    still = np.repeat(centres[:, None], k_views, axis=1)
    assert np.all(augmentation_dimension(still).values == 0)
    with pytest.raises(ValueError):
        augmentation_dimension(still, threshold=1.5)


def test_same_source_rate_separated_clusters_is_one(rng):
    centres = rng.normal(size=(25, 6)) * 100
    v = _views_around(centres, rng, 5, 0.1)
    # the clusters are ~100 apart and 0.1 wide: the weight on other images' views is of the
    # order of the kernel between clusters, far below 1e-3 of the total
    assert same_source_rate(v).values.min() > 0.999


def test_same_source_rate_falls_as_views_spread(rng):
    centres = rng.normal(size=(25, 6)) * 100
    rates = [
        same_source_rate(_views_around(centres, rng, 5, noise), weighting=w).summary.mean
        for w in ("weight", "count")
        for noise in (1.0, 30.0, 100.0)
    ]
    assert rates[0] > rates[1] > rates[2]
    assert rates[3] > rates[4] > rates[5]


def test_same_source_rate_scrambled_views_near_chance(rng):
    # every view is drawn from the same distribution, whatever its image: identity is lost
    n, k_views = 60, 4
    v = rng.normal(size=(n, k_views, 3))
    res = same_source_rate(v, weighting="count")
    assert same_source_rate(v).summary.mean < 0.15
    # chance for one neighbour is (K-1)/(NK-1) ~ 0.013; normalised by min(deg, K-1) <= 3 it is
    # at most ~0.04 per neighbour. Allow wide margin but far below the clustered value of 1.
    assert res.summary.mean < 0.15


def test_same_source_rate_identical_views_is_one(rng):
    z = rng.normal(size=(30, 5))
    for weighting in ("weight", "count"):
        res = same_source_rate(np.repeat(z[:, None], 4, axis=1), weighting=weighting)
        assert not np.isnan(res.values).any()
        np.testing.assert_allclose(res.values, 1.0)


def test_same_source_rate_of_fully_collapsed_views_is_nan_with_a_warning(rng):
    # every view of every image is one point: no neighbourhood can tell the images apart
    v = np.broadcast_to(rng.normal(size=5), (30, 4, 5)).copy()
    for weighting in ("weight", "count"):
        # before: 0.03 (weight) and 0.11 (count), set by the order in which the neighbour
        # search returned the tied points
        with pytest.warns(manifold.DegenerateWarning, match="same point"):
            res = same_source_rate(v, weighting=weighting)
        assert np.isnan(res.values).all() and np.isnan(res.summary.mean)


def test_same_source_rate_shares_coincident_views_evenly(rng):
    # an invariant encoder on a set holding each image three times: every view coincides with
    # 11 others (K - 1 = 3 of its own image), more than the k = 10 candidates of the search
    n_views = 4
    centres = np.repeat(rng.normal(size=(8, 5)), 3, axis=0)
    v = np.repeat(centres[:, None], n_views, axis=1)
    # before: 0.3, 0.3, 0.2 (weight) and 1, 1, 2/3 (count) for the three copies of an image,
    # decided by which 10 of the 11 tied points the search returned
    np.testing.assert_allclose(same_source_rate(v).values, 3 / 11, rtol=1e-9)
    np.testing.assert_allclose(same_source_rate(v, weighting="count").values, 1.0, rtol=1e-12)


@pytest.mark.parametrize("weighting", ["weight", "count"])
def test_same_source_rate_does_not_depend_on_the_order_of_tied_views(rng, weighting):
    # five images collapsed onto one point p, which a view of image 5 shares; another view of
    # image 5 lies next to p and sees p among its candidates (10 of the 16 coincident views)
    v = rng.normal(size=(20, 3, 4))
    p = rng.normal(size=4)
    v[:5] = p
    v[5, 0] = p
    v[5, 1] = p + 1e-3
    rate = same_source_rate(v, weighting=weighting).values
    perm = rng.permutation(20)
    shuffled = same_source_rate(v[perm][:, ::-1], weighting=weighting).values
    np.testing.assert_allclose(shuffled, rate[perm], rtol=1e-9, atol=1e-12)
    # the collapsed images: 2 of the 15 other views at p are their own (K - 1 = 2)
    expected = 2 / 15 if weighting == "weight" else 1.0
    np.testing.assert_allclose(rate[:5], expected, rtol=1e-9)


def _points_brute_force(rows, distances):
    """Rows with a candidate at distance 0 share the lowest index among the equal ones."""
    maybe = [i for i in range(len(rows)) if distances[i, 0] <= invariance._TWIN_DISTANCE]
    label = np.arange(len(rows))
    for i in maybe:
        label[i] = min(j for j in maybe if np.array_equal(rows[i], rows[j]))  # -0.0 == 0.0
    return label


def _rows_with_twins(rng):
    base = rng.normal(size=(6, 3))
    rows = base[rng.integers(0, 6, size=40)]  # repeated points, in no particular order
    rows[:5] = rng.normal(size=(5, 3))  # points seen once
    rows[5] = rows[6] = rows[7] = [0.0, 1.0, -2.0]  # one point, written with both zeros
    rows[6, 0] = -0.0
    rows[7] = [-0.0, 1.0, -2.0]
    rows[8] = [0.0, -0.0, 0.0]
    rows[9] = [-0.0, 0.0, -0.0]
    rows[10] = np.nextafter(rows[11], np.inf)  # a row one ulp from another: distinct
    rows[12] = rows[13] = rows[14] = rng.normal(size=3)  # twins the neighbour search missed
    distances = np.array(
        [[np.linalg.norm(np.delete(rows, i, axis=0) - r, axis=1).min()] for i, r in enumerate(rows)]
    )
    distances[10:12] = 0.0  # the ulp pair looks like twins to the search
    distances[12:15] = 1.0
    return rows, distances


@pytest.mark.parametrize("chunk_rows", [1, 3, None])
def test_points_are_the_lowest_index_of_equal_rows(rng, monkeypatch, chunk_rows):
    rows, distances = _rows_with_twins(rng)
    if chunk_rows is not None:
        monkeypatch.setattr(invariance, "_TWIN_CHUNK_BYTES", chunk_rows * rows[0].nbytes)
    label = invariance._points(torch.from_numpy(rows), distances)
    np.testing.assert_array_equal(label, _points_brute_force(rows, distances))
    assert label[6] == label[7] == 5 and label[9] == 8 and label[10] != label[11]


@pytest.mark.parametrize(
    "digest",
    [
        lambda rows: np.zeros(len(rows), dtype="V16"),  # every row collides
        lambda rows: np.ascontiguousarray(np.abs(rows[:, :1])).view("V8"),  # some rows collide
    ],
)
def test_points_never_merge_distinct_rows_whose_digests_collide(rng, monkeypatch, digest):
    rows, distances = _rows_with_twins(rng)
    rows[15:20, 0] = rows[20, 0]  # one digest for distinct rows (second case)
    distances[15:21] = 0.0
    monkeypatch.setattr(invariance, "_digests", digest)
    monkeypatch.setattr(invariance, "_TWIN_CHUNK_BYTES", 4 * rows[0].nbytes)
    label = invariance._points(torch.from_numpy(rows), distances)
    np.testing.assert_array_equal(label, _points_brute_force(rows, distances))


def test_points_copy_a_bounded_number_of_rows_at_once(rng, monkeypatch):
    # an invariant family: every view has twins, all of them candidates
    rows = np.repeat(rng.normal(size=(10, 4)), 5, axis=0)
    taken = []
    take = invariance._take

    def recording_take(flat, index):
        taken.append(len(index))
        return take(flat, index)

    monkeypatch.setattr(invariance, "_take", recording_take)
    monkeypatch.setattr(invariance, "_TWIN_CHUNK_BYTES", 7 * rows[0].nbytes)
    label = invariance._points(torch.from_numpy(rows), np.zeros((50, 1)))
    np.testing.assert_array_equal(label, np.repeat(np.arange(0, 50, 5), 5))
    assert max(taken) == 7


def test_augmentation_diameter_ratio_matches_direct(rng):
    from manifold.graphs import nnk_graph

    z = rng.normal(size=(50, 4))
    v = _views_around(z, rng, 4, 0.2)
    g = nnk_graph(z, k=8)
    diam = np.zeros(50)
    for i in range(50):
        nb = g.neighbors(i)
        if len(nb) > 1:
            diam[i] = scipy.spatial.distance.pdist(z[nb]).max()
    diam = np.where(diam > 0, diam, np.median(diam[diam > 0]))
    view_diam = np.array([scipy.spatial.distance.pdist(v[i]).max() for i in range(50)])
    res = augmentation_diameter_ratio(z, v, graph=g)
    np.testing.assert_allclose(res.values, view_diam / diam, rtol=1e-10)


def test_tangent_alignment_along_and_across_the_manifold(rng):
    # semantic manifold: a line in 6-D; views move along it (0 deg) or orthogonally (90 deg)
    d = 6
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    t = np.sort(rng.uniform(-10, 10, size=80))
    z = t[:, None] * basis[:, 0]
    along = z[:, None] + rng.normal(size=(80, 6, 1)) * 0.05 * basis[:, 0]
    across = z[:, None] + rng.normal(size=(80, 6, 1)) * 0.05 * basis[:, 1]
    a = tangent_alignment(z, along, k=6).summary.median
    c = tangent_alignment(z, across, k=6).summary.median
    assert a < 1.0
    assert c > 89.0


def test_tangent_alignment_matches_scipy_principal_angles(rng):
    from manifold.graphs import nnk_graph

    z = rng.normal(size=(40, 5))
    v = _views_around(z, rng, 6, 0.3)
    g = nnk_graph(z, k=8)
    res = tangent_alignment(z, v, graph=g, threshold=0.1)
    i = 3
    off = z[g.neighbors(i)] - z[i]

    def basis(x):
        _, s, vh = np.linalg.svd(x, full_matrices=False)
        var = s**2
        return vh[: int((var >= 0.1 * var[0]).sum())].T

    ba = basis(v[i] - v[i].mean(0))
    bs = basis(off)
    m = min(ba.shape[1], bs.shape[1])
    angles = np.rad2deg(scipy.linalg.subspace_angles(ba, bs))
    # scipy returns max(da, ds) - ... angles: the min(da, ds) smallest are the principal ones
    expected = np.sort(angles)[:m].mean()
    assert res.values[i] == pytest.approx(expected, abs=1e-6)


def test_tangent_alignment_undefined_for_invariant_model(rng):
    z = rng.normal(size=(20, 3))
    with pytest.warns(manifold.DegenerateWarning, match="undefined"):
        result = tangent_alignment(z, np.repeat(z[:, None], 3, axis=1))
    assert np.isnan(result.summary.mean)


def test_torch_and_numpy_agree(rng):
    z = rng.normal(size=(30, 4))
    v = _views_around(z, rng, 3, 0.2)
    a = spread_ratio(z, v).values
    b = spread_ratio(torch.tensor(z, dtype=torch.float32), torch.tensor(v, dtype=torch.float32))
    np.testing.assert_allclose(a, b.values, rtol=1e-5)


def test_same_source_rate_names_a_knn_graph_given_for_its_nnk_graph():
    from manifold.graphs import knn_graph
    from manifold.metrics import same_source_rate

    views = np.random.default_rng(4).normal(size=(20, 3, 5))
    with pytest.raises(TypeError, match="graph must be an NNKGraph over the N·K views"):
        same_source_rate(views, graph=knn_graph(views.reshape(60, 5), k=6))
