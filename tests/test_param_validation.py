"""Declarative parameter validation (:mod:`manifold._validation`).

Three parts:

* the constraint objects on their own: boundary values accepted, values just outside refused,
  closed and open intervals, bool is not an integer, numpy scalars are numbers;
* generated bad input: for every function registered with constraints, every invalid value
  each declared constraint produces is passed to the real public function (the other arguments
  small and valid), and the call must raise a TypeError (no accepted type) or ValueError (an
  accepted type, a refused value) whose message starts with the function's and the parameter's
  names;
* coverage: every public function of the package namespaces that takes scalar parameters is
  registered, or listed in :data:`EXEMPT` with the reason.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import warnings
from collections.abc import Callable as CallableT
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch

import manifold
import manifold.augment
import manifold.embed
import manifold.large
import manifold.monitor
import manifold.profiling
import manifold.runner
from manifold import graphs, metrics, spectral, zoo
from manifold._validation import (
    REGISTRY,
    Boolean,
    Callable,
    Device,
    HasMethod,
    InstanceOf,
    Integral,
    Names,
    NoneOK,
    Options,
    Real,
    Resamples,
    Seed,
    constraints_of,
    validate_params,
)

# -- the constraint objects ------------------------------------------------------------------


def _accepts(constraint, value) -> bool:
    return constraint.type_ok(value) and constraint.value_error(value) is None


@pytest.mark.parametrize("value", [1, 5, np.int64(1), np.int32(7), np.uint8(3)])
def test_integral_accepts_python_and_numpy_integers_in_range(value):
    assert _accepts(Integral(1, 7), value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, 2.5, "3", None])
def test_integral_refuses_other_types(value):
    assert not Integral(0, None).type_ok(value)


def test_integral_bounds_are_inclusive_and_open_sides_are_unbounded():
    c = Integral(2, 4)
    assert [_accepts(c, v) for v in (1, 2, 4, 5)] == [False, True, True, False]
    assert c.value_error(1) == "must be >= 2, got 1"
    assert c.value_error(5) == "must be <= 4, got 5"
    assert _accepts(Integral(None, None), -(10**30)) and _accepts(Integral(0, None), 10**30)


@pytest.mark.parametrize(
    ("closed", "low_in", "high_in"),
    [
        ("both", True, True),
        ("left", True, False),
        ("right", False, True),
        ("neither", False, False),
    ],
)
def test_real_interval_ends_follow_closed(closed, low_in, high_in):
    c = Real(0.0, 1.0, closed=closed)
    assert _accepts(c, 0.0) == low_in and _accepts(c, 1.0) == high_in
    assert _accepts(c, 0.5)
    assert not _accepts(c, math.nextafter(0.0, -1.0))
    assert not _accepts(c, math.nextafter(1.0, 2.0))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_real_refuses_non_finite_values_as_values(value):
    c = Real(None, None)
    assert c.type_ok(value) and "finite" in c.value_error(value)


def test_real_types():
    c = Real(None, None)
    assert all(c.type_ok(v) for v in (1, 1.5, np.float32(2), np.int64(3)))
    assert not any(c.type_ok(v) for v in (True, np.bool_(False), "1.0", None, 1j))
    assert c.convert(np.float32(0.5)) == 0.5 and type(c.convert(3)) is float


def test_real_rejects_an_unknown_closed():
    with pytest.raises(ValueError, match="closed"):
        Real(0, 1, closed="open")


def test_options_refuse_other_strings_by_value_and_other_types_by_type():
    c = Options(("a", "b"))
    assert _accepts(c, "a") and _accepts(c, "b")
    assert c.type_ok("c") and c.value_error("c") == "must be one of 'a', 'b'; got 'c'"
    assert not c.type_ok(1) and not c.type_ok(None)


def test_boolean_seed_device_callable_names_hasmethod_instanceof():
    assert _accepts(Boolean(), True) and _accepts(Boolean(), np.bool_(False))
    assert not Boolean().type_ok(1) and not Boolean().type_ok("True")

    seed = Seed()
    assert all(
        _accepts(seed, v)
        for v in (0, np.int64(3), np.random.default_rng(0), torch.Generator().manual_seed(0))
    )
    assert seed.value_error(-1) == "must be non-negative, got -1"
    assert not seed.type_ok(1.0) and not seed.type_ok(True) and not seed.type_ok(None)

    dev = Device()
    assert all(_accepts(dev, v) for v in ("cpu", "CPU", "auto", "cuda:1", torch.device("cpu")))
    assert "unknown device 'gpu'" in dev.value_error("gpu")
    assert not dev.type_ok(0)

    assert _accepts(Callable(), len) and not Callable().type_ok(3)

    names = Names()
    assert all(_accepts(names, v) for v in ("a", ["a", "b"], ("a",), iter(["a"])))
    assert not names.type_ok(["a", 1]) and not names.type_ok(3) and not names.type_ok(b"a")

    split = HasMethod("split")
    assert not _accepts(split, "a b")  # a str has .split, but is not a splitter
    assert not _accepts(split, 3) and split.type_ok(3)  # a wrong value, not a wrong type
    assert _accepts(split, type("S", (), {"split": lambda self: None})())
    assert _accepts(InstanceOf(str), "x") and not InstanceOf(str).type_ok(1)
    assert _accepts(NoneOK, None) and not NoneOK.type_ok(0)


def test_resamples_are_zero_or_at_least_two():
    c = Resamples()
    assert [_accepts(c, v) for v in (0, 1, 2, 200)] == [True, False, True, True]
    assert not _accepts(c, -1) and not c.type_ok(True)


def test_the_decorator_checks_binds_converts_and_keeps_the_signature():
    @validate_params({"k": [Integral(1, None)], "eps": [Real(0, None), NoneOK]})
    def f(x: int, k: int = 2, *, eps: float | None = None) -> tuple:
        """Doc."""
        return k, eps

    assert f(0) == (2, None)  # defaults are not checked (they are the function's own)
    k, eps = f(0, np.int64(3), eps=1)
    assert (k, eps) == (3, 1.0) and type(k) is int and type(eps) is float
    assert inspect.signature(f) == inspect.signature(f.__wrapped__)
    assert list(inspect.signature(f).parameters) == ["x", "k", "eps"]
    assert f.__doc__ == "Doc." and f.__name__ == "f"
    assert set(f.__wrapped_constraints__) == {"k", "eps"}
    with pytest.raises(ValueError, match=r"^f: k must be >= 1, got 0$"):
        f(0, k=0)
    with pytest.raises(TypeError, match=r"^f: eps must be a real number or None, got 'x'$"):
        f(0, eps="x")
    with pytest.raises(TypeError):  # a missing argument is Python's own error, unchanged
        f()


def test_the_decorator_refuses_a_declaration_for_a_missing_parameter():
    with pytest.raises(TypeError, match="no parameter"):
        validate_params({"kk": [Integral()]})(lambda k=1: k)
    with pytest.raises(TypeError, match="no constraint"):
        validate_params({"k": []})(lambda k=1: k)


def test_extra_positional_arguments_are_bound_to_their_names():
    @validate_params({"k": [Integral(1, None)]})
    def f(x, k=1, *rest):
        return k, rest

    k, rest = f(0, np.int64(2), 5, 6)
    assert (k, rest) == (2, (5, 6)) and type(k) is int
    with pytest.raises(ValueError, match="^f: k must be >= 1, got 0$"):
        f(0, 0, 5)


def test_a_warning_inside_a_validated_function_points_at_the_caller():
    @validate_params({"k": [Integral(1, None)]})
    def warns(k=1):
        warnings.warn("w", UserWarning, stacklevel=2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warns(2)
    assert caught[0].filename == __file__


# -- valid minimal arguments of every registered function ------------------------------------

N, D = 24, 4


@functools.cache
def _data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((N, D))
    models = [f"m{i}" for i in range(6)]
    table = pd.DataFrame(
        rng.standard_normal((6, 3)), index=models, columns=["semantic/rankme", "b", "c"]
    )
    scores = pd.Series(
        table["semantic/rankme"] + 0.1 * rng.standard_normal(6), index=models, name="task"
    )
    knn = manifold.graphs.knn_graph(z, k=4)
    return {
        "z": z,
        "views": rng.standard_normal((8, 3, D)),
        "images": torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)),
        "model": torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)),
        "table": table,
        "scores": scores,
        "knn": knn,
        "nnk": manifold.graphs.nnk_graph(knn),
        "anchor_knn": manifold.graphs.anchor_knn(z, np.array([0, 5]), k=4),
    }


def _anchor_nnk(**kw):
    d = _data()
    return manifold.graphs.anchor_nnk(d["z"], d["anchor_knn"], np.array([0, 5]), **kw)


def _clusters():
    return manifold.zoo.cluster_models(_data()["table"], n_permutations=0)


def _embedder(**kw):
    return manifold.Embedder(_data()["model"], **kw)


#: For each registered function (``module.qualname``), a call with small valid arguments that
#: takes the parameter under test as a keyword.
CALLS: dict[str, CallableT[..., Any]] = {
    "manifold.zoo.clustering.ClusterResult.agreement": lambda **kw: _clusters().agreement(
        {m: m[-1] in "012" for m in _data()["table"].index}, **kw
    ),
    "manifold.zoo.clustering.cluster_models": lambda **kw: zoo.cluster_models(
        _data()["table"], **kw
    ),
    "manifold.metrics.dimension.twonn_dimension": lambda **kw: metrics.twonn_dimension(
        _data()["z"], **kw
    ),
    "manifold.metrics.dimension.mle_dimension": lambda **kw: metrics.mle_dimension(
        _data()["z"], **kw
    ),
    "manifold.metrics.dimension.mle_dimension_pointwise": (
        lambda **kw: metrics.mle_dimension_pointwise(_data()["z"], **kw)
    ),
    "manifold.graphs.knn.KNNGraph.to_scipy": lambda **kw: _data()["knn"].to_scipy(**kw),
    "manifold.graphs.knn.knn_graph": lambda **kw: graphs.knn_graph(_data()["z"], **kw),
    "manifold.graphs.nnk.NNKGraph.to_scipy": lambda **kw: _data()["nnk"].to_scipy(**kw),
    "manifold.graphs.nnk.nnk_graph": lambda **kw: graphs.nnk_graph(_data()["z"], **kw),
    "manifold.graphs.anchor.anchor_knn": lambda **kw: graphs.anchor_knn(
        _data()["z"], np.array([0, 5]), **kw
    ),
    "manifold.graphs.anchor.AnchorNNK.to_scipy": lambda **kw: _anchor_nnk().to_scipy(**kw),
    "manifold.graphs.anchor.anchor_nnk": _anchor_nnk,
    "manifold.graphs.resolve.as_graph": lambda **kw: graphs.as_graph(_data()["z"], **kw),
    "manifold.metrics.invariance.spread_ratio": lambda **kw: metrics.spread_ratio(
        _data()["views"].mean(1), _data()["views"], **kw
    ),
    "manifold.metrics.invariance.augmentation_diameter_ratio": (
        lambda **kw: metrics.augmentation_diameter_ratio(
            _data()["views"].mean(1), _data()["views"], **kw
        )
    ),
    "manifold.metrics.invariance.same_source_rate": lambda **kw: metrics.same_source_rate(
        _data()["views"], **kw
    ),
    "manifold.metrics.invariance.augmentation_dimension": (
        lambda **kw: metrics.augmentation_dimension(_data()["views"], **kw)
    ),
    "manifold.metrics.invariance.tangent_alignment": lambda **kw: metrics.tangent_alignment(
        _data()["views"].mean(1), _data()["views"], **kw
    ),
    "manifold.metrics.local.nnk_degree": lambda **kw: metrics.nnk_degree(_data()["z"], **kw),
    "manifold.metrics.local.nnk_diameter": lambda **kw: metrics.nnk_diameter(_data()["z"], **kw),
    "manifold.metrics.local.local_dimension": lambda **kw: metrics.local_dimension(
        _data()["z"], **kw
    ),
    "manifold.metrics.local.subspace_angles": lambda **kw: metrics.subspace_angles(
        _data()["z"], **kw
    ),
    "manifold.metrics.representation_similarity.similarity": lambda **kw: metrics.similarity(
        _data()["z"], _data()["z"], **kw
    ),
    "manifold.metrics.representation_similarity.linear_cka": lambda **kw: metrics.linear_cka(
        _data()["z"], _data()["z"], **kw
    ),
    "manifold.metrics.representation_similarity.mutual_knn": lambda **kw: metrics.mutual_knn(
        _data()["z"], _data()["z"], **kw
    ),
    "manifold.metrics.representation_similarity.procrustes_distance": (
        lambda **kw: metrics.procrustes_distance(_data()["z"], _data()["z"], **kw)
    ),
    "manifold.metrics.ricci.ollivier_ricci": lambda **kw: metrics.ollivier_ricci(
        nx.cycle_graph(5), **kw
    ),
    "manifold.metrics.ricci.ollivier_ricci_edges": lambda **kw: metrics.ollivier_ricci_edges(
        nx.cycle_graph(5), **kw
    ),
    "manifold.metrics.ricci.forman_ricci": lambda **kw: metrics.forman_ricci(
        nx.cycle_graph(5), **kw
    ),
    "manifold.zoo.compare.similarity_matrix": lambda **kw: zoo.similarity_matrix(
        {"a": _data()["z"], "b": 2 * _data()["z"]}, **kw
    ),
    "manifold.zoo.select.select": lambda **kw: zoo.select(_data()["table"], **kw),
    "manifold.zoo.transfer.TransferPredictor.__init__": lambda **kw: zoo.TransferPredictor(**kw),
    "manifold.zoo.transfer.TransferPredictor.evaluate": (
        lambda **kw: zoo.TransferPredictor().evaluate(_data()["table"], _data()["scores"], **kw)
    ),
    "manifold.zoo.transfer.metric_correlations": lambda **kw: zoo.metric_correlations(
        _data()["table"], _data()["scores"], **kw
    ),
    "manifold.spectral._decomposition.spectrum": lambda **kw: spectral.spectrum(_data()["z"], **kw),
    "manifold.spectral.lidar.lidar": lambda **kw: spectral.lidar(_data()["views"], **kw),
    "manifold.spectral.rank.rankme": lambda **kw: spectral.rankme(_data()["z"], **kw),
    "manifold.augment.draw_view_chunks": lambda **kw: list(
        manifold.augment.draw_view_chunks(_data()["images"], "flip", **kw)
    ),
    "manifold.augment.draw_views": lambda **kw: manifold.augment.draw_views(
        _data()["images"], "flip", **kw
    ),
    "manifold.augment.draw_views_with_params": (
        lambda **kw: manifold.augment.draw_views_with_params(_data()["images"], "flip", **kw)
    ),
    "manifold.augment.iter_views": lambda **kw: list(
        manifold.augment.iter_views(_data()["images"], "flip", **kw)
    ),
    "manifold.augment.views": lambda **kw: manifold.augment.views(_data()["images"], "flip", **kw),
    "manifold.embed.Embedder.__init__": _embedder,
    "manifold.embed.Embedder.embed_views": lambda **kw: _embedder().embed_views(
        _data()["images"], "flip", **kw
    ),
    "manifold.embed.Embedder.cache_key": lambda **kw: _embedder().cache_key(
        _data()["images"], "flip", **kw
    ),
    "manifold.runner.profile_zoo": lambda **kw: manifold.profile_zoo(
        {"m": _data()["model"]}, _data()["images"], families="flip", **kw
    ),
    "manifold.monitor.Monitor.__init__": lambda **kw: manifold.Monitor(_data()["images"], **kw),
    "manifold.large.profile_large": lambda **kw: manifold.profile_large(_data()["z"], **kw),
    "manifold.profiling.profile": lambda **kw: manifold.profile(_data()["z"], **kw),
}


def _public_name(key: str) -> str:
    qual = REGISTRY[key].__qualname__  # e.g. "knn_graph", "Embedder.__init__"
    return qual[: -len(".__init__")] if qual.endswith(".__init__") else qual


#: The package's registered functions (a test may register its own under another module).
PACKAGE = {key: func for key, func in REGISTRY.items() if key.startswith("manifold.")}


def _cases() -> list[tuple[str, str, Any, type[Exception]]]:
    cases = []
    for key, func in PACKAGE.items():
        for param, constraints in func.__wrapped_constraints__.items():
            for constraint in constraints:
                for value, _ in constraint.invalid_values():
                    if any(c.type_ok(v) and c.value_error(v) is None
                           for c in constraints for v in [value]):  # fmt: skip
                        continue  # another constraint of this parameter accepts it
                    # a value some constraint takes by type is a wrong value; else a wrong type
                    error = ValueError if any(c.type_ok(value) for c in constraints) else TypeError
                    cases.append((key, param, value, error))
    return cases


CASES = _cases()


def test_every_registered_function_has_a_valid_call():
    assert set(CALLS) == set(PACKAGE)


def test_the_valid_calls_are_valid():
    # the calls the bad values are substituted into work as they are (cheap ones run here)
    for key in ("manifold.graphs.knn.knn_graph", "manifold.spectral.rank.rankme",
                "manifold.metrics.ricci.forman_ricci", "manifold.zoo.select.select"):  # fmt: skip
        CALLS[key]()


@pytest.mark.parametrize(
    ("key", "param", "value", "error"),
    CASES,
    ids=[f"{k.rsplit('.', 1)[-1]}-{p}-{type(v).__name__}:{v!r}"[:80] for k, p, v, _ in CASES],
)
def test_bad_values_raise_errors_naming_the_function_and_parameter(key, param, value, error):
    with pytest.raises((TypeError, ValueError)) as caught:
        CALLS[key](**{param: value})
    assert caught.type is error, str(caught.value)
    message = str(caught.value)
    name = _public_name(key)
    assert message.startswith(f"{name}: {param} "), message
    assert re.search(r"must|names an unknown", message), message


def test_generated_cases_cover_every_declared_parameter():
    covered = {(k, p) for k, p, _, _ in CASES}
    declared = {(k, p) for k, f in PACKAGE.items() for p in f.__wrapped_constraints__}
    assert covered == declared
    assert len(CASES) > 300


# -- every public function declares its constraints ------------------------------------------

#: Annotations that make a parameter scalar, an option or a type to validate.
SCALAR = re.compile(r"\b(int|float|bool|str|SeedLike|DeviceLike|Scale)\b")

#: Public names with scalar parameters that are not registered, and why.
EXEMPT = {
    # result records: built by the package from validated input, not called by a user to compute
    "ClusterResult",
    "EdgeCurvature",
    "KNNGraph",
    "NNKGraph",
    "AnchorNNK",
    "PointMetric",
    "PowerLawFit",
    "Profile",
    "SimilarityMatrix",
    "SimilarityResult",
    "Spectrum",
    "Summary",
    "TransferEvaluation",
    # the state of an anchor search, made by anchor_knn and profile_large (both registered)
    "AnchorSearch",
    # name is only the label its error messages use
    "GramAccumulator",
    # fit_range is a pair of ranks, checked as a pair by the spectrum's fit
    "alpha",
    # weight is an attribute key of the caller's graph; scale is resolved (and checked) by the
    # scale rule every curvature and diameter shares
    "forman_ricci_edges",
}


def _public_objects():
    for module in (manifold, spectral, graphs, metrics, zoo):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield module.__name__, name, obj


def _scalar_parameters(obj) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [n for n, p in sig.parameters.items() if SCALAR.search(str(p.annotation))]


def test_every_public_function_with_scalar_parameters_declares_them():
    missing = sorted(
        f"{module}.{name}"
        for module, name, obj in _public_objects()
        if _scalar_parameters(obj) and constraints_of(obj) is None and name not in EXEMPT
    )
    assert not missing, f"register constraints (validate_params) or exempt: {missing}"


def test_exemptions_are_current():
    public = {name: obj for _, name, obj in _public_objects()}
    stale = sorted(n for n in EXEMPT if n not in public or constraints_of(public[n]) is not None)
    assert not stale


def test_the_docs_list_every_declaration():
    from pathlib import Path

    from manifold._validation import constraints_table

    page = Path(__file__).resolve().parents[1] / "docs" / "api" / "validation.md"
    text = page.read_text()
    assert constraints_table() in text
    assert f"{len(PACKAGE)} functions and methods declare their parameters" in text
