"""The profiling engine: a registry of metrics and a per-model context that builds things once.

Every driver (:func:`manifold.profile`, each job of :func:`manifold.profile_zoo`,
:func:`manifold.profile_large`, each call of a :class:`manifold.Monitor`) asks the same questions
through this module, so two drivers given the same embeddings give the same numbers:

* :data:`REGISTRY` lists each metric of a profile: its name, the manifold it describes (the
  semantic manifold or an augmentation family), what it needs (the spectrum, the kNN graph, the
  wider kNN graph of the MLE dimension, the NNK graph, the views) and the function that computes
  it from a :class:`ModelContext`.
* A :class:`ModelContext` holds one model's semantic embeddings and builds the spectrum and the
  graphs the first time a metric needs them; each family's metrics reuse them.
* Shared parameters follow one rule each: the MLE dimension uses :func:`mle_neighbours`
  neighbours whatever ``k`` is, and the neighbour search serves both it and the ``k``-NN graph
  (:func:`search_neighbours`).
* Every number is scale-free: lengths (the NNK diameter, the curvatures' edge lengths) are
  measured in :data:`LENGTH_SCALE` (the median distance from a point to its ``k``-th
  neighbour, :meth:`ModelContext.length_unit`), and LiDAR's ridge is relative to the
  within-image variance (:data:`LIDAR_DELTA_RELATIVE`), so rescaling a model's embeddings and
  views changes no number of its profile.
* With ``n_bootstrap`` resamples, the context's bootstrap (``manifold._bootstrap``) adds a
  standard error (statistic ``"se"``) to every value and mean recorded, reusing the spectrum
  and the graphs rather than rebuilding them.

A metric that raises ``ValueError``, ``RuntimeError`` or ``LinAlgError`` is recorded as a failure
by the :class:`Recorder`; the others are still computed. Every driver then warns once per
failure through :func:`warn_failures`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import numpy as np
import pandas as pd
import torch

from manifold._backend import numpy_generator
from manifold._checks import DegenerateWarning, as_tensor, check_names
from manifold._summary import PointMetric
from manifold.results import COLUMNS, LAYER, SEMANTIC
from manifold.settings import RANKME_MAX_SAMPLES
from manifold.typing import Scale, Views

if TYPE_CHECKING:
    from manifold.graphs import AnchorNNK, KNNGraph, NNKGraph
    from manifold.graphs.anchor import AnchorSearch
    from manifold.io import RowReader
    from manifold.spectral import Spectrum

__all__ = [
    "ANCHOR_BOOTSTRAP",
    "FAMILY",
    "LENGTH_SCALE",
    "LIDAR_DELTA_RELATIVE",
    "METRICS_VERSION",
    "MLE_NEIGHBOURS",
    "REGISTRY",
    "RESAMPLING",
    "AnchorEstimate",
    "Metric",
    "MetricResult",
    "ModelContext",
    "Recorder",
    "StreamingContext",
    "anchor_mean_se",
    "check_views",
    "finite_population_correction",
    "metrics_for",
    "mle_neighbours",
    "record_family",
    "record_semantic",
    "search_neighbours",
    "warn_failures",
]

#: Version of the recorded numbers, in every profile's settings (``"metrics_version"``) and in
#: the fingerprint of :func:`~manifold.profile_zoo`'s checkpoints. Bumped whenever a metric's
#: value for the same input and settings changes (a definition, a shared rule, a degenerate case)
#: or a checkpoint's content does, so that parts written under an earlier rule are recomputed,
#: never mixed with new ones. 2: a family's RankMe follows the profile's ``max_samples`` and
#: ``seed``; LiDAR of collapsed views and the same-source rate of coinciding views are defined;
#: the semantic checkpoint holds the spectrum.
METRICS_VERSION = 2
#: Neighbours of the MLE intrinsic dimension (Levina & Bickel's and scikit-dimension's default).
MLE_NEIGHBOURS = 20
#: The ``manifold`` of a registry entry computed once per augmentation family.
FAMILY = "family"
#: Unit of every length in a profile (``scale=`` of nnk_diameter and the curvatures): the median
#: distance from a point to its ``k``-th neighbour.
LENGTH_SCALE = "knn"
#: LiDAR's ridge in a profile: relative to the within-image variance (``lidar(scale="within")``).
LIDAR_DELTA_RELATIVE = True
_NEEDS = ("spectrum", "knn", "mle_knn", "nnk", "views")

MetricResult: TypeAlias = float | PointMetric | dict[str, float]
"""What a metric of the registry returns: a number, per-point values with their summary, or
several named numbers (one row each, e.g. alpha and its R²)."""

_T = TypeVar("_T")


def mle_neighbours(n_points: int) -> int:
    """Neighbours of the MLE dimension on ``n_points`` points: ``min(20, N - 1)``.

    The one rule for every driver; ``k`` (the NNK candidates) does not change it.

    Examples:
        >>> mle_neighbours(1500), mle_neighbours(12)
        (20, 11)
    """
    return min(MLE_NEIGHBOURS, n_points - 1)


def search_neighbours(k: int, n_points: int) -> int:
    """Neighbours one search must find to serve the ``k``-NN graph and the MLE dimension.

    Examples:
        >>> search_neighbours(10, 1500), search_neighbours(30, 1500)
        (20, 30)
    """
    return max(k, mle_neighbours(n_points))


class Recorder:
    """Collects one model's metric rows and failures.

    Examples:
        >>> rec = Recorder("m")
        >>> rec.run("semantic", "answer", lambda: 42.0)
        42.0
        >>> rec.run("semantic", "broken", lambda: float("x"))
        >>> rec.table().values.tolist(), rec.failures[0]["metric"]
        ([['m', 'semantic', 'answer', 'value', 42.0]], 'broken')
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.rows: list[tuple[str, str, str, str, float]] = []
        self.failures: list[dict[str, str]] = []

    def add(
        self, manifold: str, metric: str, result: float | PointMetric, statistic: str | None = None
    ) -> None:
        """Add a float (``statistic`` defaults to ``"value"``) or a PointMetric's summary."""
        if isinstance(result, PointMetric):
            for stat, val in result.summary.to_dict().items():
                self.rows.append((self.model, manifold, metric, stat, float(val)))
        else:
            self.rows.append((self.model, manifold, metric, statistic or "value", float(result)))

    def attempt(self, manifold: str, metric: str, compute: Callable[[], _T]) -> _T | None:
        """Run ``compute``; on a failure record it and return None.

        A metric that is undefined on this input (it returns NaN with a
        :class:`~manifold.DegenerateWarning`, e.g. on collapsed embeddings) is recorded as a
        failure with the warning's message, so the table holds no NaN.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateWarning)
            try:
                result = compute()
            except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
                result, error = None, str(err)
            else:
                error = None
        reasons = []
        for w in caught:
            if issubclass(w.category, DegenerateWarning):
                reasons.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if error is None and result is not None and _undefined(result):
            error = "; ".join(dict.fromkeys(reasons)) or "the metric is undefined (NaN)"
        if error is not None:
            self.failures.append(
                {"model": self.model, "manifold": manifold, "metric": metric, "error": error}
            )
            return None
        return result

    def run(
        self, manifold: str, metric: str, compute: Callable[[], MetricResult]
    ) -> MetricResult | None:
        """Run ``compute`` and record its value(s) as rows (a dict gives one row per key)."""
        result = self.attempt(manifold, metric, compute)
        if result is None:
            return None
        if isinstance(result, dict):
            for name, value in result.items():
                self.add(manifold, name, value)
        else:
            self.add(manifold, metric, result)
        return result

    def table(self) -> pd.DataFrame:
        """The rows as a profile table (its ``value`` column float, also without rows)."""
        return pd.DataFrame(self.rows, columns=COLUMNS).astype({"value": "float64"})


def warn_failures(failures: Iterable[Mapping[str, str]], stacklevel: int = 3) -> None:
    """One warning per metric that could not be computed (also kept in ``Profile.failures``).

    In a layer sweep, the same failure of several layers (e.g. views that could not be drawn)
    is one warning that names the layers. Called by a driver (:func:`manifold.profile`,
    :func:`manifold.profile_zoo`, :func:`manifold.profile_large`) with the default
    ``stacklevel``, the warnings point at the driver's caller; a driver's helper one frame
    deeper passes 4.
    """
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for f in failures:
        layers = grouped.setdefault((f["model"], f["manifold"], f["metric"], f["error"]), [])
        if f.get(LAYER) is not None:
            layers.append(str(f[LAYER]))
    for (model, manifold, metric, error), layers in grouped.items():
        where = f" (layer{'s' if len(layers) > 1 else ''} {', '.join(layers)})" if layers else ""
        warnings.warn(
            f"{model}{where}: {manifold}/{metric} not computed: {error}",
            UserWarning,
            stacklevel=stacklevel,
        )


def _undefined(result: Any) -> bool:
    """Whether a metric's result holds NaN (a degenerate input), which a table must not."""
    if isinstance(result, PointMetric):
        return bool(np.isnan(result.summary.mean))
    if isinstance(result, dict):
        return any(_undefined(v) for v in result.values())
    if isinstance(result, tuple):
        return any(_undefined(v) for v in result)
    if isinstance(result, (float, int, np.floating, np.integer)):
        return bool(np.isnan(result))
    return False


_MISSING = object()


class ModelContext:
    """One model's semantic embeddings and what its metrics share, each built once.

    The spectrum, the neighbour search (``search_neighbours(k, N)`` neighbours, of which the
    ``k``-NN graph is the first ``k``) and the NNK graph are built on first use; a build that
    fails is recorded once in ``recorder`` (as ``spectrum``, ``knn_graph`` or ``nnk_graph``) and
    the metrics that need it are skipped.

    Args:
        z: Semantic embeddings ``(N, D)`` (a validated tensor), or a
            :class:`~manifold.io.RowReader` when ``spectrum`` is given (large inputs).
        k: Neighbours per node for the kNN and NNK graphs.
        recorder: Where rows and failures go.
        seed: Seed of the RankMe subsample.
        max_samples: Row cap for RankMe (``None``: all rows).
        spectrum: A spectrum already computed (e.g. streamed by a driver).
        scale: Unit of lengths (``None``: raw, ``"knn"``: the median ``k``-th neighbour
            distance, or a positive number); see :meth:`length_unit`.
        delta_relative: LiDAR's ridge relative to the within-image variance.
        n_bootstrap: Bootstrap resamples of the images for standard errors (0: none, else at
            least 2), seeded by ``seed``.
    """

    def __init__(
        self,
        z: torch.Tensor | RowReader,
        k: int,
        recorder: Recorder,
        *,
        seed: int = 0,
        max_samples: int | None = RANKME_MAX_SAMPLES,
        spectrum: Spectrum | None = None,
        scale: Scale = LENGTH_SCALE,
        delta_relative: bool = LIDAR_DELTA_RELATIVE,
        n_bootstrap: int = 0,
    ) -> None:
        self.z = z
        self.k = k
        self.recorder = recorder
        self.seed = seed
        self.max_samples = max_samples
        self.scale = scale
        self.delta_relative = delta_relative
        self.n_points = int(z.shape[0])
        self._built: dict[str, Any] = {}
        if spectrum is not None:
            self._built["spectrum"] = spectrum
        self.bootstrap = None
        if n_bootstrap:
            from manifold._bootstrap import Bootstrap

            self.bootstrap = Bootstrap(n_bootstrap, seed, self.n_points)

    def _once(self, key: str, metric: str, build: Callable[[], Any]) -> Any:
        value = self._built.get(key, _MISSING)
        if value is _MISSING:
            value = self.recorder.attempt(SEMANTIC, metric, build)
            self._built[key] = value
        return value

    @property
    def spectrum(self) -> Spectrum | None:
        """The :class:`~manifold.spectral.Spectrum` of ``z`` (None if it failed)."""
        from manifold.spectral import spectrum

        return self._once("spectrum", "spectrum", lambda: spectrum(self.z))

    def _graphs(self) -> tuple[Any, Any] | None:
        def build() -> tuple[Any, Any]:
            from manifold.graphs import knn_graph

            wide = knn_graph(self.z, k=search_neighbours(self.k, self.n_points))
            if wide.k == self.k:
                return wide, wide
            return wide, dataclasses.replace(
                wide, indices=wide.indices[:, : self.k], distances=wide.distances[:, : self.k]
            )

        return self._once("graphs", "knn_graph", build)

    @property
    def mle_knn(self) -> KNNGraph | None:
        """The kNN graph of the neighbour search (at least the MLE neighbours), or None."""
        graphs = self._graphs()
        return None if graphs is None else graphs[0]

    @property
    def knn(self) -> KNNGraph | None:
        """The ``k``-NN graph of ``z`` (None if it failed)."""
        graphs = self._graphs()
        return None if graphs is None else graphs[1]

    @property
    def nnk(self) -> NNKGraph | None:
        """The NNK graph on the ``k``-NN candidates (None if it or the kNN graph failed)."""
        if self.knn is None:
            return None
        from manifold.graphs import nnk_graph

        return self._once("nnk", "nnk_graph", lambda: nnk_graph(self.knn))

    @property
    def k_mle(self) -> int:
        """Neighbours of the MLE dimension: :func:`mle_neighbours` of ``N``."""
        return mle_neighbours(self.n_points)

    def length_unit(self, knn: KNNGraph | NNKGraph | AnchorNNK | None = None) -> float:
        """The divisor of every length under ``scale`` (1 for raw lengths).

        For ``"knn"``: the median distance from a point to its last candidate in ``knn``
        (default: the context's ``k``-NN graph); a driver that builds its own graph (e.g. on
        anchors) passes it, so that its lengths are in the same unit.
        """
        from manifold.metrics._scale import resolve_scale

        return resolve_scale(self.scale, self.knn if knn is None else knn)

    def available(self, need: str) -> bool:
        """Whether ``need`` (one of spectrum, knn, mle_knn, nnk; views always) could be built."""
        if need == "views":
            return True
        return getattr(self, need) is not None

    def rankme(self) -> float:
        """RankMe of ``z``, on the seeded ``max_samples`` rows when ``N`` exceeds the cap."""
        if self.max_samples is None or self.max_samples >= self.n_points:
            return self.spectrum.rankme()
        from manifold.io import RowReader
        from manifold.spectral import rankme, spectrum

        if isinstance(self.z, RowReader):
            # the same seeded sorted subset rankme(z, max_samples, seed) draws
            rng = numpy_generator(self.seed)
            rows = np.sort(rng.choice(self.n_points, size=self.max_samples, replace=False))
            return spectrum(self.z.take(rows.astype(np.int64))).rankme()
        return rankme(self.z, max_samples=self.max_samples, seed=self.seed)


class StreamingContext(ModelContext):
    """A model's semantic embeddings streamed in chunks, with its graphs at anchor points.

    The streaming counterpart of :class:`ModelContext` (the update/compute pattern of
    torchmetrics): :meth:`update` feeds each chunk of rows to a
    :class:`~manifold.spectral.GramAccumulator` (the spectrum of all rows) and to the anchors'
    neighbour search (:class:`~manifold.graphs.anchor.AnchorSearch`: each anchor's nearest
    neighbours among all rows), and :meth:`compute` finishes both. Its ``knn`` and ``mle_knn``
    are then the graphs of the anchors (one row per anchor, neighbours among all ``N`` rows)
    and its ``nnk`` the anchors' NNK problems (:func:`~manifold.graphs.anchor.anchor_nnk`),
    so :func:`record_semantic` records, for every registry entry with an
    :class:`AnchorEstimate`, that estimate and its standard error. No ``N x N`` matrix and no
    ``N x D`` copy is made.

    Args:
        reader: The rows (:class:`~manifold.io.RowReader`).
        k: Neighbours per node of the NNK graph.
        recorder: Where rows and failures go.
        rows: The anchors (sorted row indices).
        search: The anchors' neighbour search, made for ``search_neighbours(k, N) + 1``
            neighbours (the anchor itself first).
        rng: The generator of the anchors (and the TwoNN bootstrap over them).
        seed: Seed of the RankMe subsample.
        max_samples: Row cap for RankMe.
        sigma: NNK Gaussian bandwidth (``None``: the anchors' mean k-th neighbour distance / 3).
    """

    def __init__(
        self,
        reader: RowReader,
        k: int,
        recorder: Recorder,
        *,
        rows: np.ndarray,
        search: AnchorSearch,
        rng: np.random.Generator,
        seed: int = 0,
        max_samples: int | None = RANKME_MAX_SAMPLES,
        sigma: float | None = None,
    ) -> None:
        from manifold.spectral import GramAccumulator

        super().__init__(reader, k, recorder, seed=seed, max_samples=max_samples)
        self.rows = rows
        self.search = search
        self.rng = rng
        self.sigma = sigma
        self.gram = GramAccumulator(reader.name)
        #: seconds spent in the neighbour search (the rest of a chunk's time is the Gram's)
        self.search_seconds = 0.0

    @property
    def n_anchors(self) -> int:
        """Anchors n."""
        return int(self.rows.size)

    def update(self, start: int, chunk: np.ndarray) -> None:
        """Feed rows ``start .. start + len(chunk)`` (validated by the accumulator first)."""
        import time

        self.gram.update(chunk)
        began = time.perf_counter()
        self.search.update(start, chunk)
        self.search_seconds += time.perf_counter() - began

    def compute(self) -> None:
        """Finish the stream: the spectrum of all rows and the anchors' kNN graphs."""
        from manifold.graphs import KNNGraph

        self._built["spectrum"] = self.gram.compute()
        wide = self.search.graph(search_neighbours(self.k, self.n_points), self.n_points)
        knn = KNNGraph(
            wide.indices[:, : self.k], wide.distances[:, : self.k], "euclidean", None, self.n_points
        )
        self._built["graphs"] = (wide, knn)

    @property
    def nnk(self) -> AnchorNNK | None:
        """The anchors' NNK problems on their ``k`` candidates among all rows (None if failed)."""
        if self.knn is None:
            return None
        from manifold.graphs.anchor import anchor_nnk

        return self._once(
            "nnk", "nnk_graph", lambda: anchor_nnk(self.z, self.knn, self.rows, sigma=self.sigma)
        )


@dataclass(frozen=True)
class Metric:
    """One metric of a profile.

    Attributes:
        name: The metric's name in the table (a dict result gives one row per key instead).
        manifold: ``"semantic"`` or ``"family"`` (computed once per augmentation family).
        needs: What it reads from the context: ``spectrum``, ``knn``, ``mle_knn``, ``nnk``,
            ``views``. It is skipped when one of them could not be built.
        compute: ``compute(context, views)`` (``views`` is None for the semantic manifold).
        option: A driver option that must be on for the metric to run (e.g. ``curvature``).
        resample: How a bootstrap over images gives its standard error (a key of
            :data:`RESAMPLING`).
        anchors: How :func:`~manifold.profile_large` estimates it on anchors, with its standard
            error (``None``: not at anchors, e.g. a metric that needs the neighbourhoods of
            other points, or a family's).
    """

    name: str
    manifold: str
    needs: tuple[str, ...]
    compute: Callable[[ModelContext, torch.Tensor | None], MetricResult]
    option: str | None = None
    resample: str = "points"
    anchors: AnchorEstimate | None = None

    def __post_init__(self) -> None:
        unknown = [n for n in self.needs if n not in _NEEDS]
        if unknown:
            raise ValueError(f"unknown needs {unknown}; allowed: {', '.join(_NEEDS)}")
        if self.resample not in RESAMPLING:
            raise ValueError(
                f"unknown resample {self.resample!r}; allowed: {', '.join(RESAMPLING)}"
            )


@dataclass(frozen=True)
class AnchorEstimate:
    """How a semantic metric is estimated from ``n`` anchors out of ``N`` rows.

    Attributes:
        estimate: ``estimate(context) -> (result, se)`` on a :class:`StreamingContext`: the
            metric's value (or its per-anchor values) and the standard error of the value (or
            of the mean) as an estimate of the value on all ``N`` rows; ``se`` is ``None`` for
            an exact value (no ``"se"`` row).
        description: The estimator and its standard error, in words (a profile's
            ``settings["estimators"]``).
    """

    estimate: Callable[[StreamingContext], tuple[MetricResult, float | None]]
    description: str


def _rankme(ctx: ModelContext, _: Any) -> float:
    return ctx.rankme()


def _alpha(ctx: ModelContext, _: Any) -> dict[str, float]:
    fit = ctx.spectrum.alpha()
    return {"alpha": fit.alpha, "alpha_r2": fit.r2}


def _spectral(name: str) -> Callable[[ModelContext, Any], float]:
    return lambda ctx, _: getattr(ctx.spectrum, name)()


def _graph_metric(name: str, graph: str) -> Callable[[ModelContext, Any], Any]:
    def compute(ctx: ModelContext, _: Any) -> Any:
        from manifold import metrics

        return getattr(metrics, name)(getattr(ctx, graph))

    return compute


def _mle(ctx: ModelContext, _: Any) -> float:
    from manifold.metrics import mle_dimension

    return mle_dimension(ctx.mle_knn, k=ctx.k_mle)


def _nnk_diameter(ctx: ModelContext, _: Any) -> PointMetric:
    from manifold.metrics import nnk_diameter

    return nnk_diameter(ctx.nnk, scale=ctx.scale)


def _curvature(name: str) -> Callable[[ModelContext, Any], PointMetric]:
    def compute(ctx: ModelContext, _: Any) -> PointMetric:
        from manifold import metrics

        edges = getattr(metrics, f"{name}_edges")(ctx.nnk, scale=ctx.scale)
        return PointMetric(name, edges.values)

    return compute


def _with_semantic(name: str, graph: str) -> Callable[[ModelContext, Any], Any]:
    def compute(ctx: ModelContext, views: torch.Tensor) -> Any:
        from manifold import metrics

        return getattr(metrics, name)(ctx.z, views, k=ctx.k, graph=getattr(ctx, graph))

    return compute


def _views_only(function: Callable[[Any], Any]) -> Callable[[ModelContext, Any], Any]:
    return lambda ctx, views: function(views)


def _family_rankme(ctx: ModelContext, views: torch.Tensor) -> float:
    from manifold.spectral import rankme

    # the semantic RankMe's row cap and seed: one rule for every RankMe of a profile
    return rankme(views.reshape(-1, views.shape[-1]), max_samples=ctx.max_samples, seed=ctx.seed)


def _metrics_module(name: str) -> Callable[[Any], Any]:
    def call(views: Any) -> Any:
        from manifold import metrics

        return getattr(metrics, name)(views)

    return call


def _lidar(ctx: ModelContext, views: Any) -> float:
    from manifold.spectral import lidar

    return lidar(views, scale="within" if ctx.delta_relative else None)


#: How a bootstrap over images (:mod:`manifold._bootstrap`) resamples each kind of metric: the
#: ``resample`` of a registry entry. The graphs are never rebuilt.
RESAMPLING = {
    "spectrum": "the spectrum of the row-weighted Gram of the resampled images",
    "rankme": "RankMe of the row-weighted Gram of the resampled images (of the seeded "
    "max_samples subset when N exceeds it)",
    "twonn": "the TwoNN fit on the resampled images' neighbour-distance ratios",
    "mle": "the harmonic combination of the resampled images' per-point MLE estimates",
    "points": "the mean of the per-point values over the resampled images",
    "points_in_knn_unit": "the mean of the per-point values over the resampled images, divided "
    "by the ratio of the resample's median k-th neighbour distance to the full sample's",
    "lengths": "as points_in_knn_unit when lengths are measured in that unit (scale='knn'), "
    "else as points",
    "edges": "the mean of the per-edge values over resampled edges",
    "views": "the metric recomputed on the resampled images' views",
    "views_rankme": "RankMe of the row-weighted Gram of the resampled images' views",
}
#: Resamples of the anchors for the standard error of the anchors' TwoNN dimension.
ANCHOR_BOOTSTRAP = 200


def finite_population_correction(n: int, population: int) -> float:
    """``sqrt(1 - n/N)``: sampling ``n`` of ``N`` without replacement (0 when ``n = N``).

    Examples:
        >>> finite_population_correction(100, 100), round(finite_population_correction(1, 4), 3)
        (0.0, 0.866)
    """
    return math.sqrt(max(0.0, 1.0 - n / population))


def anchor_mean_se(values: np.ndarray, population: int) -> float:
    """Standard error of the anchors' mean of ``values`` as an estimate of the rows' mean.

    ``s / sqrt(n) * sqrt(1 - n/N)`` with ``s`` the sample standard deviation (ddof = 1); 0 when
    every row is an anchor, NaN with one anchor of several rows.
    """
    n = values.size
    if n < 2:
        return float("nan") if n < population else 0.0
    return float(values.std(ddof=1) / math.sqrt(n) * finite_population_correction(n, population))


def _exact(compute: Callable[[ModelContext, Any], MetricResult]) -> AnchorEstimate:
    return AnchorEstimate(
        lambda ctx: (compute(ctx, None), None),
        "exact: the spectrum of all N rows, streamed in float64 (no se row)",
    )


def _anchor_twonn(ctx: StreamingContext) -> tuple[float, float]:
    from manifold.graphs import KNNGraph
    from manifold.metrics import twonn_dimension

    knn = ctx.knn
    value = twonn_dimension(knn)
    n = knn.n_nodes
    reps = []
    for _ in range(ANCHOR_BOOTSTRAP):
        pick = np.sort(ctx.rng.integers(0, n, n))
        boot = KNNGraph(knn.indices[pick, :2], knn.distances[pick, :2], knn.metric, None, n)
        try:
            reps.append(twonn_dimension(boot))
        except ValueError:
            continue
    fpc = finite_population_correction(n, ctx.n_points)
    se = float(np.std(reps, ddof=1)) * fpc if len(reps) > 1 else float("nan")
    return value, se


def _anchor_mle(ctx: StreamingContext) -> tuple[float, float]:
    from manifold.metrics import mle_dimension_pointwise

    per_point = mle_dimension_pointwise(ctx.mle_knn, k=ctx.k_mle)
    inverse = 1.0 / np.asarray(per_point.values, dtype=np.float64)
    mean_inv = float(inverse.mean())
    return 1.0 / mean_inv, anchor_mean_se(inverse, ctx.n_points) / mean_inv**2


def _anchor_values(name: str) -> AnchorEstimate:
    def estimate(ctx: StreamingContext) -> tuple[PointMetric, float]:
        nnk = ctx.nnk
        if name == "nnk_degree":
            values = nnk.degree.astype(np.float64)
        elif name == "nnk_diameter":
            # in the engine's unit of length, as profile reports it: with the default scale,
            # the median distance from an anchor to its k-th neighbour
            values = nnk.diameter / ctx.length_unit()
        else:
            values = getattr(nnk, name)
        return PointMetric(name, values), anchor_mean_se(values, ctx.n_points)

    return AnchorEstimate(
        estimate,
        "the anchors' values (summary statistics of the anchor sample); se of the mean: "
        "s/sqrt(n)*sqrt(1-n/N)",
    )


#: Every metric of a profile, in the order of the table's rows.
REGISTRY: tuple[Metric, ...] = (
    Metric("rankme", SEMANTIC, ("spectrum",), _rankme, resample="rankme",
           anchors=AnchorEstimate(lambda ctx: (ctx.rankme(), None),
                                  "exact: the spectrum of the seeded max_samples subset of the "
                                  "N rows (all rows when N is smaller), float64 (no se row)")),
    Metric("effective_rank", SEMANTIC, ("spectrum",), _spectral("effective_rank"),
           resample="spectrum", anchors=_exact(_spectral("effective_rank"))),
    Metric("stable_rank", SEMANTIC, ("spectrum",), _spectral("stable_rank"),
           resample="spectrum", anchors=_exact(_spectral("stable_rank"))),
    Metric("participation_ratio", SEMANTIC, ("spectrum",), _spectral("participation_ratio"),
           resample="spectrum", anchors=_exact(_spectral("participation_ratio"))),
    Metric("nesum", SEMANTIC, ("spectrum",), _spectral("nesum"), resample="spectrum",
           anchors=_exact(_spectral("nesum"))),
    Metric("alpha", SEMANTIC, ("spectrum",), _alpha, resample="spectrum",
           anchors=_exact(_alpha)),
    Metric("twonn_dimension", SEMANTIC, ("knn",), _graph_metric("twonn_dimension", "knn"),
           resample="twonn",
           anchors=AnchorEstimate(_anchor_twonn,
                                  "the linear fit of Facco et al. on the anchors' ratios r2/r1; "
                                  f"se: sd over {ANCHOR_BOOTSTRAP} bootstrap resamples of the "
                                  "anchors * sqrt(1-n/N)")),
    Metric("mle_dimension", SEMANTIC, ("mle_knn",), _mle, resample="mle",
           anchors=AnchorEstimate(_anchor_mle,
                                  "1/mean(1/m_a) over the anchors (MacKay-Ghahramani); se: delta "
                                  "method, se(mean(1/m_a))/mean(1/m_a)^2 with "
                                  "se(mean) = s/sqrt(n)*sqrt(1-n/N)")),
    Metric("nnk_degree", SEMANTIC, ("nnk",), _graph_metric("nnk_degree", "nnk"),
           anchors=_anchor_values("nnk_degree")),
    Metric("nnk_diameter", SEMANTIC, ("nnk",), _nnk_diameter, resample="lengths",
           anchors=_anchor_values("nnk_diameter")),
    Metric("local_dimension", SEMANTIC, ("nnk",), _graph_metric("local_dimension", "nnk"),
           anchors=_anchor_values("local_dimension")),
    # the angle at a point needs its strongest neighbour's own NNK neighbourhood, and a
    # curvature the neighbourhoods of both ends of an edge: not determined at one anchor
    Metric("subspace_angles", SEMANTIC, ("nnk",), _graph_metric("subspace_angles", "nnk")),
    Metric("ollivier_ricci", SEMANTIC, ("nnk",), _curvature("ollivier_ricci"), "curvature",
           resample="edges"),
    Metric("forman_ricci", SEMANTIC, ("nnk",), _curvature("forman_ricci"), "curvature",
           resample="edges"),
    Metric("spread_ratio", FAMILY, ("views",), _with_semantic("spread_ratio", "knn"),
           resample="points_in_knn_unit"),
    Metric("augmentation_diameter_ratio", FAMILY, ("views",),
           _with_semantic("augmentation_diameter_ratio", "nnk")),
    Metric("same_source_rate", FAMILY, ("views",),
           _views_only(_metrics_module("same_source_rate"))),
    Metric("augmentation_dimension", FAMILY, ("views",),
           _views_only(_metrics_module("augmentation_dimension"))),
    Metric("tangent_alignment", FAMILY, ("views",), _with_semantic("tangent_alignment", "nnk")),
    Metric("lidar", FAMILY, ("views",), _lidar, resample="views"),
    Metric("alignment", FAMILY, ("views",), _views_only(_metrics_module("alignment"))),
    Metric("rankme", FAMILY, ("views",), _family_rankme, resample="views_rankme"),
)  # fmt: skip


def metrics_for(
    manifold: str,
    options: str | Iterable[str] = (),
    needs: str | Iterable[str] | None = None,
    names: str | Iterable[str] | None = None,
) -> list[Metric]:
    """The registry entries of ``manifold`` whose option is on (and, if given, whose needs fit).

    ``options``, ``needs`` and ``names`` are names or iterables of names (``"curvature"`` is one
    option). ``names`` keeps only the entries of those names (a name of the other manifold, or
    of no entry, selects nothing here), in registry order.

    Examples:
        >>> [m.name for m in metrics_for("semantic", needs={"spectrum"})][:3]
        ['rankme', 'effective_rank', 'stable_rank']
        >>> len(metrics_for("semantic", options={"curvature"})) - len(metrics_for("semantic"))
        2
        >>> [m.name for m in metrics_for("family", names=["rankme", "alpha", "spread_ratio"])]
        ['spread_ratio', 'rankme']
    """
    options = set(check_names(options, "options"))
    allowed = None if needs is None else set(check_names(needs, "needs"))
    wanted = None if names is None else set(check_names(names, "names"))
    return [
        m
        for m in REGISTRY
        if m.manifold == manifold
        and (m.option is None or m.option in options)
        and (allowed is None or set(m.needs) <= allowed)
        and (wanted is None or m.name in wanted)
    ]


def record_semantic(
    ctx: ModelContext,
    options: str | Iterable[str] = (),
    recorder: Recorder | None = None,
    needs: str | Iterable[str] | None = None,
    names: str | Iterable[str] | None = None,
) -> None:
    """Record every semantic-manifold metric of ``ctx`` (graphs built before the metrics).

    Rows go to ``recorder`` (default: the context's); ``needs`` restricts the metrics to those
    that need no more (e.g. ``{"spectrum"}`` for the spectral metrics alone), and ``names`` to
    the registry entries of those names (see :func:`metrics_for`); only what they need is
    built. With a bootstrap in the context, each recorded value and mean gets its ``"se"`` row
    (by the entry's ``resample``). On a :class:`StreamingContext`, each entry with an
    :class:`AnchorEstimate` is recorded by that estimate, its ``"se"`` row right after its
    rows, and the others are skipped.
    """
    rec = ctx.recorder if recorder is None else recorder
    entries = metrics_for(SEMANTIC, options, needs, names)
    anchored = isinstance(ctx, StreamingContext)
    if anchored:
        entries = [m for m in entries if m.anchors is not None]
    # what the entries need is built up front, so a failing graph is reported before them
    wanted = {need for m in entries for need in m.needs}
    for need in _NEEDS:
        if need in wanted:
            ctx.available(need)
    results: dict[str, Any] = {}
    rules: dict[str, str] = {}
    for metric in entries:
        if not all(ctx.available(need) for need in metric.needs):
            continue
        if anchored:
            _record_estimate(rec, metric, ctx)
            continue
        result = rec.run(SEMANTIC, metric.name, lambda m=metric: m.compute(ctx, None))
        _collect(results, metric.name, result)
        rules.update(dict.fromkeys(_row_names(metric.name, result), metric.resample))
    if ctx.bootstrap is not None:
        ctx.bootstrap.semantic(ctx, rec, results, rules)


def _record_estimate(rec: Recorder, metric: Metric, ctx: StreamingContext) -> None:
    """Record a metric's anchor estimate (its rows, then its ``"se"`` row)."""
    outcome = rec.attempt(SEMANTIC, metric.name, lambda: metric.anchors.estimate(ctx))
    if outcome is None:
        return
    result, se = outcome
    if isinstance(result, dict):
        for name, value in result.items():
            rec.add(SEMANTIC, name, value)
    else:
        rec.add(SEMANTIC, metric.name, result)
    if se is not None:
        rec.add(SEMANTIC, metric.name, se, statistic="se")


def record_family(
    ctx: ModelContext,
    family: str,
    views: torch.Tensor,
    recorder: Recorder | None = None,
    names: Iterable[str] | None = None,
) -> None:
    """Record every metric of one augmentation family (``views`` validated, ``(N, K, D)``).

    Rows go to ``recorder`` (default: the context's); the semantic graphs come from ``ctx``.
    ``names`` keeps only the registry entries of those names (see :func:`metrics_for`).
    With a bootstrap in the context, each recorded value and mean gets its ``"se"`` row.
    """
    rec = ctx.recorder if recorder is None else recorder
    results: dict[str, Any] = {}
    rules: dict[str, str] = {}
    for metric in metrics_for(FAMILY, names=names):
        result = rec.run(family, metric.name, lambda m=metric: m.compute(ctx, views))
        _collect(results, metric.name, result)
        rules.update(dict.fromkeys(_row_names(metric.name, result), metric.resample))
    if ctx.bootstrap is not None:
        ctx.bootstrap.family(ctx, rec, family, views, results, rules)


def _row_names(name: str, result: Any) -> list[str]:
    """The ``metric`` of the rows a result gives (a dict gives one per key)."""
    if result is None:
        return []
    return list(result) if isinstance(result, dict) else [name]


def _collect(results: dict[str, Any], name: str, result: Any) -> None:
    """Keep a recorded result by the name of its row(s) (a dict gives one per key)."""
    if isinstance(result, dict):
        results.update(result)
    elif result is not None:
        results[name] = result


def check_views(views: Views, family: str, z: torch.Tensor) -> torch.Tensor:
    """Validate one family's views ``(N, K, D)`` against the semantic embeddings ``z``."""
    vt, _ = as_tensor(views, f"views[{family!r}]", dims=("N", "K", "D"), min_sizes={"K": 2})
    if vt.shape[0] != z.shape[0] or vt.shape[2] != z.shape[1]:
        raise ValueError(
            f"views[{family!r}] has shape {tuple(vt.shape)}, expected "
            f"({z.shape[0]}, K, {z.shape[1]}) to match the embeddings"
        )
    return vt
