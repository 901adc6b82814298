"""One engine: the drivers agree, shared parameters follow one rule, graphs are built once."""

import numpy as np
import pytest
import torch
from torch import nn

import manifold.graphs
from manifold.engine import (
    REGISTRY,
    Metric,
    ModelContext,
    Recorder,
    metrics_for,
    mle_neighbours,
    record_semantic,
    search_neighbours,
)
from manifold.large import profile_large
from manifold.profiling import profile
from manifold.runner import profile_zoo

# metrics both drivers report, and the statistics profile_large reports for each
SHARED = [
    "rankme",
    "effective_rank",
    "stable_rank",
    "participation_ratio",
    "nesum",
    "alpha",
    "alpha_r2",
    "twonn_dimension",
    "mle_dimension",
    "nnk_degree",
    "nnk_diameter",
    "local_dimension",
]


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    # a 6-dimensional manifold with noise in 24-D: MLE with 20 vs 30 neighbours differ
    latent = rng.normal(size=(1500, 6))
    mix = rng.normal(size=(6, 24))
    return np.tanh(latent @ mix) + 0.01 * rng.normal(size=(1500, 24))


def _rows(p):
    t = p.table[p.table["statistic"] != "se"]
    t = t[t["metric"].isin(SHARED)]
    return {(r.metric, r.statistic): r.value for r in t.itertuples()}


@pytest.mark.parametrize("k", [10, 30])
def test_profile_equals_profile_large_with_every_point_an_anchor(points, k):
    small = profile(points, k=k, progress=False)
    large = profile_large(points, n_anchors=len(points), k=k)
    a, b = _rows(small), _rows(large)
    assert {m for m, _ in a} == set(SHARED)
    assert set(b) == set(a)
    for key, value in a.items():
        assert b[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    assert large.settings["model"]["k_mle"] == mle_neighbours(len(points)) == 20


def test_mle_dimension_does_not_depend_on_k(points):
    values = {k: profile(points, k=k, progress=False).value("mle_dimension") for k in (10, 30)}
    assert values[10] == values[30]
    # and it is the 20-neighbour estimate, not the 30-neighbour one
    from manifold.metrics import mle_dimension

    assert values[30] == pytest.approx(mle_dimension(points, k=20))
    assert values[30] != pytest.approx(mle_dimension(points, k=30), rel=1e-6)


def test_shared_rules():
    assert mle_neighbours(1500) == 20 and mle_neighbours(8) == 7
    assert search_neighbours(5, 1500) == 20 and search_neighbours(30, 1500) == 30
    assert search_neighbours(5, 8) == 7


def test_registry_names_are_unique_per_manifold_and_needs_are_checked():
    for part in ("semantic", "family"):
        names = [m.name for m in metrics_for(part, options={"curvature"})]
        assert len(names) == len(set(names))
    assert {m.manifold for m in REGISTRY} == {"semantic", "family"}
    with pytest.raises(ValueError, match="unknown needs"):
        Metric("x", "semantic", ("points",), lambda ctx, views: 0.0)


def test_context_builds_each_graph_once_and_reports_a_failed_build_once(monkeypatch):
    calls = []
    real = manifold.graphs.knn_graph

    def counting(*args, **kwargs):
        calls.append(kwargs.get("k"))
        return real(*args, **kwargs)

    monkeypatch.setattr(manifold.graphs, "knn_graph", counting)
    z = torch.randn(60, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rec = Recorder("m")
    ctx = ModelContext(z, 5, rec)
    record_semantic(ctx)
    assert ctx.knn.k == 5 and ctx.mle_knn.k == 20 and ctx.nnk is not None
    assert calls == [20]

    # a constant representation: the spectrum works, alpha fails, the graphs work
    bad = Recorder("c")
    record_semantic(ModelContext(torch.zeros(30, 4, dtype=torch.float64), 5, bad))
    assert [f["metric"] for f in bad.failures].count("alpha") == 1


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))


def test_profile_zoo_builds_the_semantic_graphs_once_per_model(monkeypatch):
    calls = []
    real = manifold.graphs.knn_graph

    def counting(*args, **kwargs):
        calls.append(kwargs.get("k"))
        return real(*args, **kwargs)

    monkeypatch.setattr(manifold.graphs, "knn_graph", counting)
    torch.manual_seed(0)
    images = torch.rand(30, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    models = {"a": _Net(), "b": _Net()}
    p = profile_zoo(models, images, families=("flip", "crop"), n_views=3, k=5, progress=False)
    assert len(calls) == 2  # one neighbour search per model, not one per (model, family)
    assert set(p.table["manifold"]) == {"semantic", "flip", "crop"}
    direct = profile(models["a"], images, families=("flip", "crop"), n_views=3, k=5,
                     name="a", progress=False)  # fmt: skip
    mine = p.table[p.table["model"] == "a"].reset_index(drop=True)
    assert np.allclose(mine["value"], direct.table["value"], equal_nan=True)
