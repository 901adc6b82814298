"""Profiles compare models: no number in a profile may depend on the embeddings' scale."""

import warnings

import numpy as np
import pytest

import manifold
from manifold import metrics
from manifold.graphs import knn_graph, nnk_graph
from manifold.profiling import profile


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # a curved 2-D sheet in 6-D, so that the curvatures are not all zero
    t = rng.uniform(-1, 1, size=(150, 2))
    z = np.zeros((150, 6))
    z[:, :2] = t
    z[:, 2] = t[:, 0] ** 2 - t[:, 1] ** 2
    z += 0.01 * rng.normal(size=z.shape)
    views = {
        "noisy": z[:, None] + 0.05 * rng.normal(size=(150, 4, 6)),
        "shift": z[:, None] + 0.2 * rng.normal(size=(150, 1, 6)) * rng.uniform(size=(150, 4, 1)),
    }
    return z, views


def _profile(z, views):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = profile(z, view_embeddings=views, k=8, curvature=True, name="m", progress=False)
    return p.table.set_index(["manifold", "metric", "statistic"])["value"], p.failures


@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_rescaling_changes_no_number_in_the_profile(data, factor):
    z, views = data
    base, base_failures = _profile(z, views)
    scaled, scaled_failures = _profile(factor * z, {f: factor * v for f, v in views.items()})
    assert base_failures == scaled_failures
    assert list(scaled.index) == list(base.index)
    metrics_seen = set(base.index.get_level_values("metric"))
    for name in ("nnk_diameter", "ollivier_ricci", "forman_ricci", "lidar"):
        assert name in metrics_seen
    np.testing.assert_allclose(scaled.to_numpy(), base.to_numpy(), rtol=1e-6, atol=1e-9)


def test_the_raw_forms_still_scale(data):
    """The standalone functions keep the raw (scale-dependent) form by default."""
    z, views = data
    raw = [metrics.nnk_diameter(nnk_graph(knn_graph(c * z, k=8))).summary.mean for c in (1.0, 10.0)]
    assert raw[1] == pytest.approx(10 * raw[0], rel=1e-9)
    forman = [
        np.mean(
            [
                d["forman_curvature"]
                for *_, d in metrics.forman_ricci(knn_graph(c * z, k=8)).edges(data=True)
            ]
        )
        for c in (1.0, 10.0)
    ]
    assert abs(forman[1] - forman[0]) > 1.0
    v = views["noisy"]
    assert manifold.lidar(100 * v) != pytest.approx(manifold.lidar(v), rel=1e-6)


def test_knn_unit_is_the_median_kth_neighbour_distance(data):
    z, _ = data
    knn = knn_graph(z, k=8)
    graph = nnk_graph(knn)
    kth = np.sort(np.linalg.norm(z[:, None] - z[None], axis=2), axis=1)[:, 8]
    raw = metrics.nnk_diameter(graph).values
    np.testing.assert_allclose(
        metrics.nnk_diameter(graph, scale="knn").values, raw / np.median(kth), rtol=1e-12
    )
    np.testing.assert_allclose(metrics.nnk_diameter(graph, scale=2.0).values, raw / 2.0)
    with pytest.raises(ValueError, match="scale must be"):
        metrics.nnk_diameter(graph, scale="median")
    with pytest.raises(ValueError, match="scale must be"):
        metrics.forman_ricci(graph, scale=-1.0)
    import networkx as nx

    with pytest.raises(ValueError, match="needs a KNNGraph"):
        metrics.ollivier_ricci(nx.cycle_graph(5), scale="knn")


def test_curvature_with_a_unit_equals_curvature_of_rescaled_lengths(data):
    """scale=s is the raw curvature of the graph whose lengths are divided by s."""
    z, _ = data
    knn = knn_graph(z, k=6)
    unit = float(np.median(knn.distances[:, -1]))
    shrunk = knn_graph(z / unit, k=6)
    for fn, attr in (
        (metrics.ollivier_ricci, "ricci_curvature"),
        (metrics.forman_ricci, "forman_curvature"),
    ):
        a = fn(knn, scale="knn")
        b = fn(shrunk)
        for u, v, d in a.edges(data=True):
            assert d[attr] == pytest.approx(b[u][v][attr], rel=1e-9, abs=1e-12)


def test_relative_lidar_ridge(data):
    _, views = data
    v = views["noisy"]
    n, k, dim = v.shape
    mu = v.mean(axis=1)
    within = (v - mu[:, None]).reshape(-1, dim)
    trace_w = float((within**2).sum()) / (n * (k - 1))
    # the relative ridge is delta * tr(Σ_w) / D in the paper's formula
    assert manifold.lidar(v, scale="within") == pytest.approx(
        manifold.lidar(v, delta=1e-4 * trace_w / dim), rel=1e-12
    )
    # low-rank route (N·K < D) gives the same number as the D × D route
    wide = np.random.default_rng(1).normal(size=(4, 3, 20))
    via_batches = manifold.lidar(iter([wide[:2], wide[2:]]), scale="within")
    assert manifold.lidar(wide, scale="within") == pytest.approx(via_batches, rel=1e-9)
    # identical views: the ridge falls back to tr(Σ_b)/D and stays finite and scale-free
    still = np.repeat(wide[:, :1], 3, axis=1)
    for route in (lambda x: x, lambda x: iter([x[:2], x[2:]])):
        a = manifold.lidar(route(still), scale="within")
        b = manifold.lidar(route(7 * still), scale="within")
        assert np.isfinite(a) and a == pytest.approx(b, rel=1e-9)


@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_profile_large_is_scale_free_in_the_engines_unit(data, factor):
    """profile_large divides its anchors' NNK diameter by the engine's unit, as profile does."""
    from manifold.large import profile_large

    z, _ = data

    def table(x):
        p = profile_large(x, n_anchors=60, k=8, seed=1)
        return p.table.set_index(["manifold", "metric", "statistic"])["value"]

    base, scaled = table(z), table(factor * z)
    assert list(scaled.index) == list(base.index)
    assert ("semantic", "nnk_diameter", "mean") in base.index
    np.testing.assert_allclose(scaled.to_numpy(), base.to_numpy(), rtol=1e-6, atol=1e-9)


def test_engine_context_holds_the_profile_options(data):
    """The scale-free options are the context's defaults; scale=None gives the raw lengths."""
    import torch

    from manifold.engine import (
        LENGTH_SCALE,
        LIDAR_DELTA_RELATIVE,
        ModelContext,
        Recorder,
        record_family,
        record_semantic,
    )

    z, views = data
    zt = torch.as_tensor(z)
    assert (LENGTH_SCALE, LIDAR_DELTA_RELATIVE) == ("knn", True)
    tables = {}
    for scale, relative in ((LENGTH_SCALE, LIDAR_DELTA_RELATIVE), (None, False)):
        rec = Recorder("m")
        ctx = ModelContext(zt, 8, rec, scale=scale, delta_relative=relative)
        record_semantic(ctx)
        record_family(ctx, "noisy", torch.as_tensor(views["noisy"]))
        tables[scale] = rec.table().set_index(["manifold", "metric", "statistic"])["value"]
        if scale is not None:
            assert ctx.length_unit() == pytest.approx(np.median(ctx.knn.distances[:, -1]))
    raw, unit = tables[None], tables["knn"]
    ratio = raw[("semantic", "nnk_diameter", "mean")] / unit[("semantic", "nnk_diameter", "mean")]
    assert ratio == pytest.approx(np.median(knn_graph(z, k=8).distances[:, -1]), rel=1e-9)
    assert unit[("noisy", "lidar", "value")] == pytest.approx(
        manifold.lidar(views["noisy"], scale="within")
    )
    assert raw[("noisy", "lidar", "value")] == pytest.approx(manifold.lidar(views["noisy"]))
