"""Intrinsic dimension: scikit-dimension on the same data, known manifolds, edge cases."""

from pathlib import Path

import numpy as np
import pytest
import torch

import manifold
from manifold.graphs import knn_graph
from manifold.metrics import mle_dimension, mle_dimension_pointwise, twonn_dimension

REFERENCE = Path(__file__).parent / "data" / "dimension_reference.npz"


def _rotate(x, dim, rng):
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    padded = np.zeros((len(x), dim))
    padded[:, : x.shape[1]] = x
    return padded @ q.T


def _sphere(n, d, rng):
    g = rng.standard_normal((n, d + 1))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _ball(n, d, rng):
    g = rng.standard_normal((n, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return g * rng.random((n, 1)) ** (1.0 / d)


# --- scikit-dimension on the same data (values stored by tests/data/make_dimension_reference.py)


@pytest.mark.parametrize("i", [0, 1])
def test_matches_scikit_dimension(i):
    ref = np.load(REFERENCE)
    x = ref[f"X{i}"]
    graph = knn_graph(x, k=20)
    assert twonn_dimension(x) == pytest.approx(float(ref[f"twonn{i}"]), rel=1e-9)
    assert twonn_dimension(graph) == pytest.approx(float(ref[f"twonn{i}"]), rel=1e-9)
    assert twonn_dimension(graph, method="mle") == pytest.approx(
        float(ref[f"twonn_mle{i}"]), rel=1e-9
    )
    assert mle_dimension(graph) == pytest.approx(float(ref[f"mle{i}"]), rel=1e-9)
    assert mle_dimension(x) == pytest.approx(float(ref[f"mle{i}"]), rel=1e-9)
    # scikit-dimension's unbiased=True is the k - 2 numerator
    assert mle_dimension(graph, numerator="k-2") == pytest.approx(
        float(ref[f"mle_unbiased{i}"]), rel=1e-9
    )
    with pytest.warns(FutureWarning, match="numerator='k-2'"):
        assert mle_dimension(graph, unbiased=True) == mle_dimension(graph, numerator="k-2")
    assert mle_dimension(graph, k=10) == pytest.approx(float(ref[f"mle_k10_{i}"]), rel=1e-9)
    per_point = mle_dimension_pointwise(graph)
    np.testing.assert_allclose(per_point.values, ref[f"mle_pw{i}"], rtol=1e-9)
    # the global value is the harmonic mean of the per-point values
    assert 1 / np.mean(1 / per_point.values) == pytest.approx(mle_dimension(graph), rel=1e-12)


# --- manifolds of known dimension
# N = 2000 points. Statistical error: the TwoNN/MLE estimates are Pareto/exponential-shape
# MLEs with relative standard deviation ~ 1/sqrt(N) (TwoNN) to ~ 1/sqrt(N k) plus neighbour
# correlation (MLE), i.e. ~2-3% of d. Bias: both underestimate at higher d with finite N
# (boundary effects for balls, density variation inside the k-ball; Levina & Bickel 2005 and
# Facco et al. 2017 report 10-15% low at d = 10 for a few thousand points). So for d <= 5 we
# require |d_hat - d| <= 0.1 d + 0.1 (3 sigma plus small bias); for d > 5 we allow the known
# one-sided underestimate: 0.8 d <= d_hat <= 1.05 d.


def _within(estimate, d):
    if d <= 5:
        return abs(estimate - d) <= 0.1 * d + 0.1
    return 0.8 * d <= estimate <= 1.05 * d


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 10])
@pytest.mark.parametrize("shape", ["sphere", "ball"])
def test_recovers_dimension(shape, d):
    rng = np.random.default_rng(100 + d)
    points = _sphere(2000, d, rng) if shape == "sphere" else _ball(2000, d, rng)
    ambient = 50 if d % 2 else 100
    x = _rotate(points, ambient, rng)
    graph = knn_graph(x, k=20)
    twonn = twonn_dimension(graph)
    mle = mle_dimension(graph)
    assert _within(twonn, d), (shape, d, twonn)
    assert _within(mle, d), (shape, d, mle)
    local = mle_dimension_pointwise(graph)
    assert abs(local.summary.median - d) <= 0.15 * d + 0.2


def test_scale_and_rotation_invariant():
    rng = np.random.default_rng(0)
    x = _rotate(rng.random((500, 3)), 20, rng)
    base_twonn, base_mle = twonn_dimension(x), mle_dimension(x)
    y = 7.5 * _rotate(x, 20, rng) + 3.0
    assert twonn_dimension(y) == pytest.approx(base_twonn, rel=1e-6)
    assert mle_dimension(y) == pytest.approx(base_mle, rel=1e-6)


def test_torch_and_float32_input():
    rng = np.random.default_rng(1)
    x = _rotate(rng.random((400, 2)), 8, rng)
    expected = mle_dimension(x)
    assert mle_dimension(torch.from_numpy(x)) == pytest.approx(expected, rel=1e-12)
    assert mle_dimension(x.astype(np.float32)) == pytest.approx(expected, rel=1e-3)


# --- duplicates and bad input


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_duplicates_give_the_distinct_rows_answer(fraction):
    rng = np.random.default_rng(2)
    cube = rng.random((500, 3))
    dup = np.vstack([cube, cube[rng.choice(500, int(fraction * 500), replace=False)]])
    dup = dup[rng.permutation(len(dup))]
    merged = len(dup) - 500
    with pytest.warns(UserWarning, match=f"{merged} of {len(dup)} rows") as record:
        value = twonn_dimension(dup)
    assert len(record) == 1
    assert value == pytest.approx(twonn_dimension(cube), rel=1e-12)
    with pytest.warns(UserWarning, match=f"{merged} of {len(dup)} rows"):
        assert mle_dimension(knn_graph(dup, k=20)) == pytest.approx(mle_dimension(cube), rel=1e-12)


def test_every_row_duplicated_gives_the_distinct_rows_answer():
    rng = np.random.default_rng(3)
    cube = rng.random((400, 3))
    dup = np.vstack([cube, cube, cube])
    with pytest.warns(UserWarning, match="800 of 1200 rows"):
        assert twonn_dimension(dup) == pytest.approx(twonn_dimension(cube), rel=1e-12)
    with pytest.warns(UserWarning, match="800 of 1200 rows"):
        per_point = mle_dimension_pointwise(dup, k=10)
    # every copy carries the value of its distinct row
    expected = mle_dimension_pointwise(cube, k=10).values
    np.testing.assert_allclose(per_point.values, np.tile(expected, 3), rtol=1e-12)


def test_too_few_distinct_rows_say_so():
    x = np.repeat(np.eye(3), 4, axis=0)
    with pytest.warns(manifold.DegenerateWarning, match="k \\+ 1 = 6 distinct rows"):
        assert np.isnan(mle_dimension(x, k=5))
    with pytest.warns(manifold.DegenerateWarning, match="k \\+ 1 = 6 distinct rows"):
        assert np.isnan(mle_dimension_pointwise(x, k=5).values).all()
    # three distinct points at equal distances: TwoNN is undefined on them, and says so
    with (
        pytest.warns(UserWarning, match="9 of 12 rows"),
        pytest.warns(manifold.DegenerateWarning, match="r2 == r1"),
    ):
        assert np.isnan(twonn_dimension(x, discard_fraction=0.0))


def test_graph_without_points_drops_zero_distances():
    rng = np.random.default_rng(3)
    x = rng.random((200, 3))
    dup = np.vstack([x, x[:50]])
    graph = knn_graph(dup, k=10)
    graph.points = None
    with pytest.warns(UserWarning, match="dropping 100 of 250 points"):
        assert np.isfinite(twonn_dimension(graph))
    assert np.all(np.isfinite(mle_dimension_pointwise(graph, k=10).values))


def test_twonn_per_point_is_refused():
    with pytest.raises(ValueError, match="global estimator"):
        twonn_dimension(np.random.default_rng(0).random((50, 3)), per_point=True)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: twonn_dimension(x, discard_fraction=1.0), "discard_fraction"),
        (lambda x: twonn_dimension(x, method="ols"), "method"),
        (lambda x: mle_dimension(x, k=1), "k must be"),
        (lambda x: mle_dimension(x, k=2, numerator="k-2"), "k must be"),
        (lambda x: mle_dimension(x, numerator="k"), "numerator"),
        (lambda x: mle_dimension(x[:10], k=20), "N >= 21"),
        (lambda x: mle_dimension(knn_graph(x, k=5), k=10), "needs k = 10"),
    ],
)
def test_bad_options(call, match):
    x = np.random.default_rng(0).random((60, 4))
    with pytest.raises(ValueError, match=match):
        call(x)


def test_nan_input_rejected():
    x = np.random.default_rng(0).random((60, 4))
    x[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mle_dimension(x)
    with pytest.raises(ValueError, match="NaN"):
        twonn_dimension(x)


def _poisson_knn(n, d, k, rng):
    """kNN distances of a locally uniform d-dimensional sample: (T_j / T_k)^d are uniform order
    statistics, so the estimators can be checked against their exact sampling law."""
    from manifold.graphs import KNNGraph

    u = np.sort(rng.random((n, k - 1)), axis=1)
    dist = np.hstack([u ** (1.0 / d), np.ones((n, 1))])
    return KNNGraph(np.zeros((n, k), dtype=np.int64), dist, "euclidean", None, n)


def test_k_minus_1_is_the_unbiased_harmonic_combination():
    rng = np.random.default_rng(0)
    d, k = 5, 20
    graph = _poisson_knn(40000, d, k, rng)
    one = mle_dimension(graph, k=k)
    two = mle_dimension(graph, k=k, numerator="k-2")
    # the k - 2 global estimate is the k - 1 one times (k - 2)/(k - 1), exactly
    assert two == pytest.approx(one * (k - 2) / (k - 1), rel=1e-12)
    # relative sd of the k - 1 estimate: 1/sqrt(N (k - 1)) = 0.11 %; 5 sd of slack
    assert one == pytest.approx(d, rel=0.006)
    assert abs(two - d) > 0.04 * d
