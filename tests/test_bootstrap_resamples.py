"""Every bootstrap standard error of a profile against a direct resampling loop.

The loop draws the same resamples as ``manifold._bootstrap`` (the counts of each image come from
``numpy.random.default_rng([seed, 0xB007])``: first one row of N counts per resample, then, in
the order the metrics are recorded, fresh rows for every other number of values: the capped
RankMe's subsample, then each curvature's edges), repeats the resampled rows explicitly, and
recomputes each metric with the public functions on the repeated data (or, for per-point
metrics, averages the repeated per-point values of the full sample's graphs). Standard errors
must agree to 1e-9 relative.
"""

import warnings

import numpy as np
import pytest

from manifold import metrics
from manifold.engine import mle_neighbours, search_neighbours
from manifold.graphs import KNNGraph, knn_graph, nnk_graph
from manifold.profiling import profile
from manifold.spectral import lidar, spectrum

N, DIM, K_VIEWS, K, SEED, B, CAP = 60, 12, 4, 5, 3, 6, 40


def sample():
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, size=(N, 3))
    z = np.zeros((N, DIM))
    z[:, :3] = t
    z[:, 3] = np.sin(2 * t[:, 0])
    z += 0.05 * rng.normal(size=z.shape) * np.linspace(1, 0.2, DIM)
    views = z[:, None] + 0.1 * rng.normal(size=(N, K_VIEWS, DIM))
    return z, views


@pytest.fixture(scope="module")
def computed():
    z, views = sample()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof = profile(z, views={"noisy": views}, k=K, seed=SEED, n_bootstrap=B, curvature=True,
                       max_samples=CAP, progress=False)  # fmt: skip
    return z, views, prof


def sd(replicates):
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    return values.std(ddof=1)


def repeated_mean(values, counts):
    return np.array([np.repeat(values, c).mean() for c in counts])


def test_every_standard_error_against_a_direct_resampling_loop(computed):
    z, views, prof = computed
    rng = np.random.default_rng([SEED, 0xB007])
    counts = rng.multinomial(N, np.full(N, 1 / N), B)
    # RankMe is capped (N > max_samples): its value is that of the seeded subsample, and its
    # replicates resample the subsample's rows with counts of their own, drawn next
    rows = np.sort(np.random.default_rng(SEED).choice(N, CAP, replace=False))
    sub_counts = rng.multinomial(CAP, np.full(CAP, 1 / CAP), B)
    wide = knn_graph(z, k=search_neighbours(K, N))
    knn = knn_graph(z, k=K)
    np.testing.assert_array_equal(wide.indices[:, :K], knn.indices)
    nnk = nnk_graph(knn)
    unit = np.median(knn.distances[:, -1])
    ratio = np.array([unit / np.median(np.repeat(knn.distances[:, -1], c)) for c in counts])
    expected = {}

    spectra = [spectrum(np.repeat(z, c, axis=0)) for c in counts]
    for name in ("effective_rank", "stable_rank", "participation_ratio", "nesum"):
        expected[("semantic", name)] = sd([getattr(s, name)() for s in spectra])
    expected[("semantic", "alpha")] = sd([s.alpha().alpha for s in spectra])
    expected[("semantic", "alpha_r2")] = sd([s.alpha().r2 for s in spectra])
    expected[("semantic", "rankme")] = sd(
        [spectrum(np.repeat(z[rows], c, axis=0)).rankme() for c in sub_counts])  # fmt: skip
    # TwoNN: the ratio of each resampled point's two nearest distances in the full sample
    expected[("semantic", "twonn_dimension")] = sd([
        metrics.twonn_dimension(KNNGraph(np.zeros((c.sum(), 2), dtype=np.int64),
                                         np.repeat(knn.distances[:, :2], c, axis=0),
                                         knn.metric))
        for c in counts])  # fmt: skip
    # MLE: MacKay-Ghahramani's mean of the resampled points' inverse estimates
    per_point = metrics.mle_dimension(wide, k=mle_neighbours(N), per_point=True).values
    expected[("semantic", "mle_dimension")] = sd(1 / repeated_mean(1 / per_point, counts))
    image_level = {
        "nnk_degree": metrics.nnk_degree(nnk).values,
        "local_dimension": metrics.local_dimension(nnk).values,
        "subspace_angles": metrics.subspace_angles(nnk).values,
    }
    for name, values in image_level.items():
        expected[("semantic", name)] = sd(repeated_mean(values, counts))
    # lengths in the unit of the median k-th neighbour distance, which each resample redraws
    diameter = metrics.nnk_diameter(nnk, scale="knn").values
    expected[("semantic", "nnk_diameter")] = sd(repeated_mean(diameter, counts) * ratio)
    # curvatures: means over the edges, each with fresh counts drawn in this order
    for name in ("ollivier_ricci", "forman_ricci"):
        edges = getattr(metrics, name)(nnk, scale="knn", output="edges").values
        edge_counts = rng.multinomial(edges.size, np.full(edges.size, 1 / edges.size), B)
        expected[("semantic", name)] = sd(repeated_mean(edges, edge_counts))
    # the family: LiDAR on the resampled images' views, the others from per-image values
    # (the profile's LiDAR: ridge relative to the within-image variance)
    expected[("noisy", "lidar")] = sd([lidar(np.repeat(views, c, axis=0), delta_relative=True)
                                       for c in counts])  # fmt: skip
    spread = metrics.spread_ratio(z, views, k=K, graph=knn).values
    expected[("noisy", "spread_ratio")] = sd(repeated_mean(spread, counts) * ratio)
    family = {
        "augmentation_diameter_ratio": metrics.augmentation_diameter_ratio(z, views, k=K,
                                                                           graph=nnk),
        "same_source_rate": metrics.same_source_rate(views),
        "augmentation_dimension": metrics.augmentation_dimension(views),
        "tangent_alignment": metrics.tangent_alignment(z, views, k=K, graph=nnk),
        "alignment": metrics.alignment(views),
    }  # fmt: skip
    for name, result in family.items():
        expected[("noisy", name)] = sd(repeated_mean(result.values, counts))
    flat = views.reshape(N * K_VIEWS, DIM)
    view_rows = np.sort(np.random.default_rng(SEED).choice(N * K_VIEWS, CAP, replace=False))
    expected[("noisy", "rankme")] = sd([
        spectrum(np.repeat(flat[view_rows], c[view_rows // K_VIEWS], axis=0)).rankme()
        for c in counts])  # fmt: skip

    t = prof.table[prof.table["statistic"] == "se"]
    got = {(m, name): v for m, name, v in zip(t["manifold"], t["metric"], t["value"],
                                               strict=True)}  # fmt: skip
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    # the per-point values behind the means are the profile's own
    assert prof.value("nnk_degree", statistic="mean") == pytest.approx(
        image_level["nnk_degree"].mean())  # fmt: skip
    assert prof.value("spread_ratio", "noisy", statistic="mean") == pytest.approx(spread.mean())


def test_uncapped_rankme_resamples_every_row(computed):
    z, _, _ = computed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof = profile(z, families=None, k=K, seed=1, n_bootstrap=B, progress=False)
    counts = np.random.default_rng([1, 0xB007]).multinomial(N, np.full(N, 1 / N), B)
    expected = sd([spectrum(np.repeat(z, c, axis=0)).rankme() for c in counts])
    assert prof.value("rankme", statistic="se") == pytest.approx(expected, rel=1e-9)
    # another seed, other resamples
    other = np.random.default_rng([2, 0xB007]).multinomial(N, np.full(N, 1 / N), B)
    assert sd([spectrum(np.repeat(z, c, axis=0)).rankme() for c in other]) != pytest.approx(
        expected, rel=1e-6)  # fmt: skip
