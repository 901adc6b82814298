"""One harness: every metric of a profile gives one number, whichever route computes it.

Driven by :data:`manifold.engine.REGISTRY`. Each registered metric declares its routes below
(:data:`SEMANTIC_ROUTES`, :data:`FAMILY_ROUTES`): a call of the public API, or the reason the
route does not apply. A metric added to the registry without its routes fails
``test_every_registered_metric_declares_its_routes``, so none is silently left out.

The reference is :func:`manifold.profile` on embeddings and views: every route must give the
rows it records (the value, or every summary statistic of a per-point metric) to ``1e-9``
relative, at ``k = 10`` (fewer candidates than MLE neighbours; RankMe on a seeded subsample of
the rows) and at ``k = 30`` (more; RankMe on all rows). The routes of a semantic metric are the
public function on the points, on a prebuilt :func:`~manifold.knn_graph`, on a prebuilt
:func:`~manifold.nnk_graph`, and :func:`~manifold.profile_large` with every row an anchor
(streamed in chunks from a ``.npy`` memmap). The routes of a family metric are the public
function on the views (with the points where it needs them) and on a prebuilt graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pytest

import manifold
from manifold import PointMetric, knn_graph, nnk_graph
from manifold.engine import FAMILY, REGISTRY, mle_neighbours, search_neighbours
from manifold.large import profile_large
from manifold.results import SEMANTIC

N, D, K = 240, 12, 4
KS = (10, 30)
SEED = 3
# RankMe's row cap per k: a seeded subsample of 200 of the N rows at k = 10, all rows at k = 30
MAX_SAMPLES = {10: 200, 30: None}
# rows per streamed chunk of profile_large: several chunks
CHUNK_ROWS = 100
RTOL, ATOL = 1e-9, 1e-12

Route = Callable[..., Any] | str  # a call, or why the route does not apply


@dataclass(frozen=True)
class Inputs:
    """What a route reads at one ``k``: the points, the views and the prebuilt graphs."""

    z: np.ndarray
    views: dict[str, np.ndarray]
    k: int
    knn: Any  # knn_graph(z, k)
    wide: Any  # knn_graph(z, search_neighbours(k, N)): also serves the MLE neighbours
    nnk: Any  # nnk_graph(knn)

    @property
    def k_mle(self) -> int:
        return mle_neighbours(len(self.z))


@dataclass(frozen=True)
class SemanticRoutes:
    """Routes of a semantic metric; ``large``: True when profile_large computes it, else why not."""

    points: Route
    knn: Route
    nnk: Route
    large: Literal[True] | str = True
    rows: tuple[str, ...] = ()  # the table's metric names, when not the metric's own


@dataclass(frozen=True)
class FamilyRoutes:
    """Routes of a family metric: ``views(inputs, v)`` and ``graph(inputs, v)``."""

    views: Route
    graph: Route


SPECTRAL = "a spectral metric reads the points' covariance spectrum, not a graph"
GRAPH_ONLY = "takes a graph (networkx, kNN or NNK), not points"
NNK_CURVATURE = "the profile's curvature is the NNK graph's; on a kNN graph it is another graph's"
NOT_AT_ANCHORS = (
    "profile_large computes only what an anchor's own neighbourhood determines; this metric "
    "needs the NNK neighbourhoods of other points (docstring of profile_large)"
)
VIEWS_ONLY = "reads the views alone: no semantic graph"
LARGE_FAMILIES = "profile_large profiles the semantic manifold only"


def _spectral(name: str) -> Callable[[Inputs], Any]:
    return lambda r: getattr(manifold, name)(r.z)


def _edge_values(name: str, graph: Any, attribute: str) -> PointMetric:
    """The per-edge curvatures of a curvature function's result, as the profile summarises."""
    return PointMetric(name, np.array([d[attribute] for _, _, d in graph.edges(data=True)]))


def _curvature(name: str, attribute: str) -> Callable[[Inputs], PointMetric]:
    return lambda r: _edge_values(name, getattr(manifold, name)(r.nnk, scale="knn"), attribute)


def _alpha(r: Inputs) -> dict[str, float]:
    fit = manifold.alpha(r.z)
    return {"alpha": fit.alpha, "alpha_r2": fit.r2}


SEMANTIC_ROUTES: dict[str, SemanticRoutes] = {
    "rankme": SemanticRoutes(
        lambda r: manifold.rankme(r.z, max_samples=MAX_SAMPLES[r.k], seed=SEED), SPECTRAL, SPECTRAL
    ),
    "effective_rank": SemanticRoutes(_spectral("effective_rank"), SPECTRAL, SPECTRAL),
    "stable_rank": SemanticRoutes(_spectral("stable_rank"), SPECTRAL, SPECTRAL),
    "participation_ratio": SemanticRoutes(_spectral("participation_ratio"), SPECTRAL, SPECTRAL),
    "nesum": SemanticRoutes(_spectral("nesum"), SPECTRAL, SPECTRAL),
    "alpha": SemanticRoutes(_alpha, SPECTRAL, SPECTRAL, rows=("alpha", "alpha_r2")),
    "twonn_dimension": SemanticRoutes(
        lambda r: manifold.twonn_dimension(r.z),
        lambda r: manifold.twonn_dimension(r.knn),
        lambda r: manifold.twonn_dimension(r.nnk),
    ),
    # MLE reads min(20, N - 1) neighbours whatever k is: the graphs are built wide enough
    "mle_dimension": SemanticRoutes(
        lambda r: manifold.mle_dimension(r.z, k=r.k_mle),
        lambda r: manifold.mle_dimension(r.wide, k=r.k_mle),
        lambda r: manifold.mle_dimension(nnk_graph(r.wide), k=r.k_mle),
    ),
    "nnk_degree": SemanticRoutes(
        lambda r: manifold.nnk_degree(r.z, k=r.k),
        lambda r: manifold.nnk_degree(r.knn),
        lambda r: manifold.nnk_degree(r.nnk),
    ),
    "nnk_diameter": SemanticRoutes(
        lambda r: manifold.nnk_diameter(r.z, k=r.k, scale="knn"),
        lambda r: manifold.nnk_diameter(r.knn, scale="knn"),
        lambda r: manifold.nnk_diameter(r.nnk, scale="knn"),
    ),
    "local_dimension": SemanticRoutes(
        lambda r: manifold.local_dimension(r.z, k=r.k),
        lambda r: manifold.local_dimension(r.knn),
        lambda r: manifold.local_dimension(r.nnk),
    ),
    "subspace_angles": SemanticRoutes(
        lambda r: manifold.subspace_angles(r.z, k=r.k),
        lambda r: manifold.subspace_angles(r.knn),
        lambda r: manifold.subspace_angles(r.nnk),
        large=NOT_AT_ANCHORS,
    ),
    "ollivier_ricci": SemanticRoutes(
        GRAPH_ONLY,
        NNK_CURVATURE,
        _curvature("ollivier_ricci", "ricci_curvature"),
        large=NOT_AT_ANCHORS,
    ),
    "forman_ricci": SemanticRoutes(
        GRAPH_ONLY,
        NNK_CURVATURE,
        _curvature("forman_ricci", "forman_curvature"),
        large=NOT_AT_ANCHORS,
    ),
}


def _views_graph(v: np.ndarray) -> Any:
    """The NNK graph over all N·K views, with same_source_rate's documented default k."""
    n, n_views, d = v.shape
    k = min(max(2 * (n_views - 1), 10), n * n_views - 1)
    return nnk_graph(v.reshape(n * n_views, d), k=k)


FAMILY_ROUTES: dict[str, FamilyRoutes] = {
    "spread_ratio": FamilyRoutes(
        lambda r, v: manifold.spread_ratio(r.z, v, k=r.k),
        lambda r, v: manifold.spread_ratio(r.z, v, graph=r.knn),
    ),
    "augmentation_diameter_ratio": FamilyRoutes(
        lambda r, v: manifold.augmentation_diameter_ratio(r.z, v, k=r.k),
        lambda r, v: manifold.augmentation_diameter_ratio(r.z, v, graph=r.nnk),
    ),
    "same_source_rate": FamilyRoutes(
        lambda r, v: manifold.same_source_rate(v),
        lambda r, v: manifold.same_source_rate(v, graph=_views_graph(v)),
    ),
    "augmentation_dimension": FamilyRoutes(
        lambda r, v: manifold.augmentation_dimension(v), VIEWS_ONLY
    ),
    "tangent_alignment": FamilyRoutes(
        lambda r, v: manifold.tangent_alignment(r.z, v, k=r.k),
        lambda r, v: manifold.tangent_alignment(r.z, v, graph=r.nnk),
    ),
    # the profile's LiDAR ridge is relative to the within-image variance (documented)
    "lidar": FamilyRoutes(lambda r, v: manifold.lidar(v, scale="within"), VIEWS_ONLY),
    "alignment": FamilyRoutes(lambda r, v: manifold.alignment(v), VIEWS_ONLY),
    # the profile's row cap and seed, as for the semantic RankMe (one rule for both)
    "rankme": FamilyRoutes(
        lambda r, v: manifold.rankme(
            v.reshape(-1, v.shape[-1]), max_samples=MAX_SAMPLES[r.k], seed=SEED
        ),
        VIEWS_ONLY,
    ),
}

SEMANTIC_METRICS = [m.name for m in REGISTRY if m.manifold == SEMANTIC]
FAMILY_METRICS = [m.name for m in REGISTRY if m.manifold == FAMILY]
# every option of the registry is on, so that every registered metric is profiled
OPTIONS = {m.option: True for m in REGISTRY if m.option is not None}


def _cases(table: dict[str, Any], names: list[str], kinds: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(name, kind, k, id=f"{name}-{kind}-k{k}")
        for name in names
        for kind in kinds
        if callable(getattr(table.get(name), kind, None))
        for k in KS
    ]


# --- the fixture: a noisy swiss roll in 12-D and two augmentation families ------------------


def _swiss_roll(t: np.ndarray, h: np.ndarray, basis: np.ndarray) -> np.ndarray:
    return np.column_stack([t * np.cos(t), h, t * np.sin(t)]) @ basis


class Harness:
    """The data, and per ``k`` the inputs of the routes and the two profiles, built once."""

    def __init__(self, folder: Any) -> None:
        rng = np.random.default_rng(0)
        t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, N)
        h = rng.uniform(0.0, 10.0, N)
        basis = np.linalg.qr(rng.normal(size=(D, 3)))[0].T  # orthonormal rows (3, D)
        self.z = _swiss_roll(t, h, basis) + 0.05 * rng.normal(size=(N, D))
        # "along": views move along the roll; "noise": isotropic noise around each embedding
        tv = (t[:, None] + 0.3 * rng.normal(size=(N, K))).ravel()
        hv = (h[:, None] + 0.3 * rng.normal(size=(N, K))).ravel()
        along = _swiss_roll(tv, hv, basis).reshape(N, K, D) + 0.05 * rng.normal(size=(N, K, D))
        noise = self.z[:, None, :] + 0.3 * rng.normal(size=(N, K, D))
        self.views = {"along": along, "noise": noise}
        self.path = folder / "z.npy"
        np.save(self.path, self.z)
        self._cache: dict[tuple[str, int], Any] = {}

    def _once(self, key: tuple[str, int], build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def inputs(self, k: int) -> Inputs:
        def build() -> Inputs:
            knn = knn_graph(self.z, k=k)
            wide = knn_graph(self.z, k=search_neighbours(k, N))
            return Inputs(self.z, self.views, k, knn, wide, nnk_graph(knn))

        return self._once(("inputs", k), build)

    def profile(self, k: int) -> Any:
        return self._once(
            ("profile", k),
            lambda: manifold.profile(
                self.z, view_embeddings=self.views, k=k, seed=SEED, max_samples=MAX_SAMPLES[k],
                progress=False, **OPTIONS,
            ),
        )  # fmt: skip

    def large(self, k: int) -> Any:
        return self._once(
            ("large", k),
            lambda: profile_large(
                np.load(self.path, mmap_mode="r"), n_anchors=N, k=k, seed=SEED,
                max_samples=MAX_SAMPLES[k], chunk_rows=CHUNK_ROWS,
            ),
        )  # fmt: skip


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    return Harness(tmp_path_factory.mktemp("harness"))


def _rows(name: str, result: Any) -> dict[tuple[str, str], float]:
    """The table rows of a result: its value, a summary per statistic, or one per dict key."""
    if isinstance(result, dict):
        out: dict[tuple[str, str], float] = {}
        for key, value in result.items():
            out.update(_rows(key, value))
        return out
    if isinstance(result, PointMetric):
        return {(name, stat): float(v) for stat, v in result.summary.to_dict().items()}
    return {(name, "value"): float(result)}


def _table(profile: Any, manifold_name: str, metrics: tuple[str, ...]) -> dict:
    t = profile.table
    t = t[(t["manifold"] == manifold_name) & t["metric"].isin(metrics) & (t["statistic"] != "se")]
    return {(r.metric, r.statistic): float(r.value) for r in t.itertuples()}


def _assert_same(got: dict, want: dict, what: Any) -> None:
    assert want, what  # the profile recorded the metric
    assert set(got) == set(want), what
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=RTOL, abs=ATOL), (what, key)


def _row_names(name: str) -> tuple[str, ...]:
    return SEMANTIC_ROUTES[name].rows or (name,)


# --- the declarations -----------------------------------------------------------------------


def test_every_registered_metric_declares_its_routes():
    assert sorted(SEMANTIC_ROUTES) == sorted(SEMANTIC_METRICS)
    assert sorted(FAMILY_ROUTES) == sorted(FAMILY_METRICS)
    for routes in (*SEMANTIC_ROUTES.values(), *FAMILY_ROUTES.values()):
        for field, route in vars(routes).items():
            if field == "rows":
                assert isinstance(route, tuple), routes
            elif field == "large":  # computed, or the reason it is not (never a bare False)
                assert route is True or (isinstance(route, str) and route.strip()), routes
            else:  # a call, or the reason it does not apply (never an empty placeholder)
                assert callable(route) or (isinstance(route, str) and route.strip()), routes


@pytest.mark.parametrize("k", KS)
def test_profile_records_every_registered_metric(harness, k):
    p = harness.profile(k)
    assert p.failures == []
    semantic = set(p.table.loc[p.table["manifold"] == SEMANTIC, "metric"])
    assert semantic == {row for name in SEMANTIC_METRICS for row in _row_names(name)}
    for family in harness.views:
        assert set(p.table.loc[p.table["manifold"] == family, "metric"]) == set(FAMILY_METRICS)
    assert p.settings["model"]["k_mle"] == mle_neighbours(N)


# --- semantic metrics: points, kNN graph, NNK graph, profile_large --------------------------


@pytest.mark.parametrize(("name", "kind", "k"), _cases(SEMANTIC_ROUTES, SEMANTIC_METRICS,
                                                        ("points", "knn", "nnk")))  # fmt: skip
def test_semantic_route_gives_the_profiled_value(harness, name, kind, k):
    route = getattr(SEMANTIC_ROUTES[name], kind)
    got = _rows(name, route(harness.inputs(k)))
    want = _table(harness.profile(k), SEMANTIC, _row_names(name))
    _assert_same(got, want, (name, kind, k))


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("name", SEMANTIC_METRICS)
def test_profile_large_with_every_row_an_anchor_gives_the_profiled_value(harness, name, k):
    large, rows = harness.large(k), _row_names(name)
    got = _table(large, SEMANTIC, rows)
    if SEMANTIC_ROUTES[name].large is not True:
        assert got == {}, f"profile_large computes {name}: declare it"
        return
    _assert_same(got, _table(harness.profile(k), SEMANTIC, rows), (name, "large", k))
    # every point is an anchor: nothing is left to estimate
    t = large.table
    se = t[t["metric"].isin(rows) & (t["statistic"] == "se")]["value"]
    assert (se == 0.0).all(), name


@pytest.mark.parametrize("k", KS)
def test_profile_large_records_the_semantic_manifold_and_its_mle_neighbours(harness, k):
    large = harness.large(k)
    assert large.failures == []
    assert set(large.table["manifold"]) == {SEMANTIC}, LARGE_FAMILIES
    computed = {n for n in SEMANTIC_METRICS if SEMANTIC_ROUTES[n].large is True}
    assert set(large.table["metric"]) == {row for n in computed for row in _row_names(n)}
    assert large.settings["model"]["k_mle"] == mle_neighbours(N) == 20


def test_the_fixture_tells_the_options_apart(harness):
    # otherwise the routes would agree with a 30-neighbour MLE, or with RankMe on all rows
    z = harness.z
    p = harness.profile(30)
    assert p.value("mle_dimension") != pytest.approx(manifold.mle_dimension(z, k=30), rel=1e-6)
    subsample = manifold.rankme(z, max_samples=MAX_SAMPLES[10], seed=SEED)
    assert subsample != pytest.approx(manifold.rankme(z, max_samples=None), rel=1e-6)


# --- family metrics: views (and points), prebuilt graph --------------------------------------


@pytest.mark.parametrize(("name", "kind", "k"), _cases(FAMILY_ROUTES, FAMILY_METRICS,
                                                        ("views", "graph")))  # fmt: skip
@pytest.mark.parametrize("family", ["along", "noise"])
def test_family_route_gives_the_profiled_value(harness, name, kind, k, family):
    inputs = harness.inputs(k)
    route = getattr(FAMILY_ROUTES[name], kind)
    got = _rows(name, route(inputs, inputs.views[family]))
    want = _table(harness.profile(k), family, (name,))
    _assert_same(got, want, (name, kind, family, k))
