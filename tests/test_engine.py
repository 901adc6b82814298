"""One engine: shared parameters follow one rule, graphs are built once.

That the drivers and the public functions agree is tests/test_harness.py.
"""

import numpy as np
import pandas as pd
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
    record_family,
    record_semantic,
    search_neighbours,
)
from manifold.profiling import profile
from manifold.runner import profile_zoo


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


@pytest.fixture()
def knn_calls(monkeypatch):
    """The ``k`` of every ``manifold.graphs.knn_graph`` call made during the test."""
    calls = []
    real = manifold.graphs.knn_graph

    def counting(*args, **kwargs):
        calls.append(kwargs.get("k"))
        return real(*args, **kwargs)

    monkeypatch.setattr(manifold.graphs, "knn_graph", counting)
    return calls


def test_context_builds_each_graph_once_and_reports_a_failed_build_once(knn_calls):
    calls = knn_calls
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


def test_names_select_registry_entries_and_build_only_what_they_need(knn_calls):
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(60, 12, generator=gen, dtype=torch.float64)  # alpha fits ranks 6..12
    views = z[:, None, :] + 0.1 * torch.randn(60, 3, 12, generator=gen, dtype=torch.float64)
    rec = Recorder("m")
    ctx = ModelContext(z, 5, rec)
    record_semantic(ctx, names={"rankme", "alpha", "spread_ratio"})
    assert knn_calls == []  # spectral metrics only: no graph
    record_family(ctx, "f", views, names={"rankme", "alpha", "spread_ratio"})
    assert knn_calls == [20]  # the spread ratio's kNN graph; no NNK graph
    assert "nnk" not in ctx._built
    table = rec.table()
    got = list(zip(table["manifold"], table["metric"], strict=True))
    assert list(dict.fromkeys(got)) == [
        ("semantic", "rankme"), ("semantic", "alpha"), ("semantic", "alpha_r2"),
        ("f", "spread_ratio"), ("f", "rankme"),
    ]  # fmt: skip
    # the same numbers as the full record
    full = Recorder("m")
    everything = ModelContext(z, 5, full)
    record_semantic(everything)
    record_family(everything, "f", views)
    ref = full.table().set_index(["manifold", "metric", "statistic"])["value"]
    mine = table.set_index(["manifold", "metric", "statistic"])["value"]
    pd.testing.assert_series_equal(mine, ref.loc[mine.index])
    assert metrics_for("semantic", names=["spread_ratio"]) == []


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))


def test_profile_zoo_builds_the_semantic_graphs_once_per_model(knn_calls):
    calls = knn_calls
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


# --- one failure policy: a family whose views have the wrong shape --------------------------


def short(images, generator):
    """A family that loses images: it returns one view where K were asked for."""
    return images[:1]


def small(images, generator):
    """A family that crops without resizing: the views embed to another dimension."""
    return images[:, :, :6, :6]


class _Flat(nn.Module):
    """A conv net without pooling: its dimension depends on the image size."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(3)
            self.conv = nn.Conv2d(3, 2, 3)
            self.out = nn.Flatten()

    def forward(self, x):
        return self.out(torch.tanh(self.conv(x - 0.5)))


def _without_step(failures):
    return [{k: v for k, v in f.items() if k not in ("step", "model")} for f in failures]


# the layers whose views fail: the pooled conv layer keeps its dimension on smaller images
@pytest.mark.parametrize(("bad", "failing"), [(short, ("conv", "out")), (small, ("out",))])
def test_a_family_of_the_wrong_shape_gives_one_outcome_from_every_driver(bad, failing):
    import warnings

    from manifold import Monitor

    images = torch.rand(24, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    options = dict(n_views=3, k=5, seed=1)
    families = ["flip", bad]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = profile(_Flat(), images, families, name="m", progress=False, **options)
        zoo = profile_zoo({"m": _Flat()}, images, families, progress=False, **options)
        sweep = profile(_Flat(), images, families, name="m", layers=["conv", "out"],
                        progress=False, **options)  # fmt: skip
        monitor = Monitor(images, metrics=("rankme", "spread_ratio"), families=families,
                          n_images=None, **options)  # fmt: skip
        history = monitor(_Flat(), 0)
    # profile: one failure, the family's views, and every other row kept
    (failure,) = one.failures
    assert failure["manifold"] == bad.__name__ and failure["metric"] == "views"
    assert set(one.table["manifold"]) == {"semantic", "flip"}
    # profile_zoo: the same table and the same failure (the model is not dropped)
    pd.testing.assert_frame_equal(zoo.table, one.table)
    assert zoo.failures == one.failures
    # a layer sweep: the same failure for each layer whose views fail, the out layer's rows
    # those of profile
    views_failures = [f for f in sweep.failures if f["metric"] == "views"]
    assert _without_step(views_failures) == [
        {**_without_step([failure])[0], "layer": layer} for layer in failing
    ]
    rows = sweep.table[sweep.table["layer"] == "out"].drop(columns="layer")
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), one.table)
    # Monitor: the same failure at the step, the other manifolds recorded
    assert _without_step(monitor.failures) == _without_step([failure])
    assert set(history["manifold"]) == {"semantic", "flip"}
