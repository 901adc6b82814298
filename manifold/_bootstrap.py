"""Bootstrap standard errors over images for the numbers of a profile.

A resample draws N images with replacement; it is represented by the count of each image
(``counts``, one row per resample) rather than by copied data, and everything that can be reused
across resamples is:

- spectral metrics (RankMe, effective and stable rank, participation ratio, NESum, alpha and its
  R², the RankMe of a family's views) come from the row-weighted Gram of the same embeddings
  (:func:`~manifold.spectral.spectrum` with ``weights=counts``), never from copied rows;
- TwoNN and MLE reuse the neighbour distances of the profile's kNN graph: a resample's estimate
  is computed from the resampled points' ratios (TwoNN) or per-point inverse estimates (MLE);
- a per-point metric's mean is resampled from its per-point values (per image with the image
  counts; per edge, for the curvatures, and over the images where it is defined, for the tangent
  alignment, with counts of their own); the values measured in the median k-th neighbour
  distance (NNK diameter, spread ratio) are also rescaled by the resample's own median;
- LiDAR is recomputed on the resampled images' views (its within-image scatter has no cheaper
  reuse).

The graphs are not rebuilt, so the neighbourhoods are those of the full sample: the standard
errors measure how the numbers vary with the images drawn, given the graph. Each standard error
is the standard deviation (ddof = 1) over the resamples where the metric is defined.

The engine drives it: a :class:`~manifold.engine.ModelContext` made with ``n_bootstrap`` holds one
:class:`Bootstrap`, and :func:`~manifold.engine.record_semantic` and
:func:`~manifold.engine.record_family` hand it the results they recorded, so it reads the
context's spectrum inputs and graphs and adds the ``"se"`` rows next to the values.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from manifold._backend import numpy_generator

__all__ = ["Bootstrap", "check_n_bootstrap", "record_se"]


def check_n_bootstrap(n_bootstrap: int) -> int:
    """Validate ``n_bootstrap``: 0 (no standard errors) or at least 2 resamples.

    Examples:
        >>> check_n_bootstrap(0), check_n_bootstrap(200)
        (0, 200)
    """
    from manifold._checks import check_int

    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    if n_bootstrap == 1:
        raise ValueError("n_bootstrap must be 0 (no standard errors) or at least 2, got 1")
    return n_bootstrap


class Bootstrap:
    """Standard errors of a profile's metrics from ``n_bootstrap`` resamples of the images.

    Args:
        n_bootstrap: Resamples (at least 2).
        seed: Seed of the resamples (and of RankMe's subsample, as the profile draws it).
        n_images: Images N.
    """

    def __init__(self, n_bootstrap: int, seed: int, n_images: int) -> None:
        n_bootstrap = check_n_bootstrap(n_bootstrap)
        if n_bootstrap == 0:
            raise ValueError("a Bootstrap needs n_bootstrap >= 2 resamples, got 0")
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.rng = np.random.default_rng([seed, 0xB007])
        self.n_images = n_images
        self.counts = self.rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), n_bootstrap)
        # how much each resample's unit (median k-th neighbour distance) differs from the full one
        self._unit_ratio: np.ndarray | None = None

    def _counts(self, n: int) -> np.ndarray:
        if n == self.n_images:
            return self.counts
        return self.rng.multinomial(n, np.full(n, 1.0 / n), self.n_bootstrap)

    def semantic(self, ctx: Any, rec: Any, results: dict[str, Any], rules: dict[str, str]) -> None:
        """Rows ``se`` for the semantic manifold's recorded metrics.

        Args:
            ctx: The engine's context (its embeddings, graphs and settings).
            rec: Where the rows go.
            results: Row name -> recorded value (or per-point values).
            rules: Row name -> how it is resampled (the registry entry's ``resample``, one of
                :data:`manifold.engine.RESAMPLING`).
        """
        from manifold.results import SEMANTIC
        from manifold.spectral import spectrum

        z = ctx.z
        names = [m for m, rule in rules.items() if rule == "spectrum" and _is_value(results.get(m))]
        values: dict[str, list[float]] = {m: [] for m in names}
        rankme_row = next((m for m, rule in rules.items() if rule == "rankme"), None)
        with_rankme = _is_value(results.get(rankme_row))
        capped = ctx.max_samples is not None and ctx.max_samples < ctx.n_points
        rankme: list[float] = []
        if names or (with_rankme and not capped):
            for c in self.counts:
                spec = _attempt(lambda c=c: spectrum(z, weights=c))
                fit = None if spec is None else _attempt(spec.alpha)
                for m in names:
                    if m in ("alpha", "alpha_r2"):
                        v = np.nan if fit is None else (fit.alpha if m == "alpha" else fit.r2)
                    else:
                        v = np.nan if spec is None else _attempt(getattr(spec, m), np.nan)
                    values[m].append(v)
                if not capped:
                    rankme.append(np.nan if spec is None else _attempt(spec.rankme, np.nan))
        if with_rankme:
            if capped:
                # the reported RankMe is that of a seeded subsample (as rankme() draws it)
                rows = np.sort(
                    numpy_generator(ctx.seed).choice(ctx.n_points, ctx.max_samples, False)
                )
                sub = z[torch.from_numpy(rows).to(z.device)]
                rankme = [
                    _attempt(lambda c=c: spectrum(sub, weights=c).rankme(), np.nan)
                    for c in self._counts(len(rows))
                ]
            values[rankme_row] = rankme
        for metric, rule in rules.items():
            if rule == "twonn" and _is_value(results.get(metric)):
                values[metric] = self._twonn(ctx.knn)
        for metric, rule in rules.items():
            if rule == "mle" and _is_value(results.get(metric)):
                values[metric] = self._mle(ctx.mle_knn, ctx.k_mle)
        for metric, reps in values.items():
            record_se(rec, SEMANTIC, metric, reps)
        self._per_point(ctx, rec, SEMANTIC, results, rules)

    def _twonn(self, knn: Any) -> list[float]:
        from manifold.graphs import KNNGraph
        from manifold.metrics import twonn_dimension

        dist = np.asarray(knn.distances, dtype=np.float64)[:, :2]
        out = []
        for c in self.counts:
            rows = np.repeat(np.arange(len(c)), c)
            graph = KNNGraph(np.zeros((rows.size, 2), dtype=np.int64), dist[rows], knn.metric)
            out.append(_attempt(lambda graph=graph: twonn_dimension(graph), np.nan))
        return out

    def _mle(self, wide: Any, k: int) -> list[float]:
        from manifold.metrics import mle_dimension_pointwise

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_point = _attempt(lambda: mle_dimension_pointwise(wide, k=k).values)
        if per_point is None:
            return []
        inverse = 1.0 / per_point
        counts = self._counts(len(inverse))  # the distinct rows' values, one per input row
        return list(counts.sum(axis=1) / (counts @ inverse))

    def family(
        self,
        ctx: Any,
        rec: Any,
        family: str,
        views: torch.Tensor,
        results: dict[str, Any],
        rules: dict[str, str],
    ) -> None:
        """Rows ``se`` for a family's recorded metrics (LiDAR, RankMe of the views, means)."""
        from manifold.spectral import lidar, spectrum

        n, k, dim = views.shape
        lidar_row = next((m for m, rule in rules.items() if rule == "views"), None)
        rankme_row = next((m for m, rule in rules.items() if rule == "views_rankme"), None)
        if _is_value(results.get(lidar_row)):
            lidar_scale = "within" if ctx.delta_relative else None
            reps = []
            for c in self.counts:
                rows = torch.from_numpy(np.repeat(np.arange(n), c)).to(views.device)
                reps.append(_attempt(lambda r=rows: lidar(views[r], scale=lidar_scale), np.nan))
            record_se(rec, family, lidar_row, reps)
        if _is_value(results.get(rankme_row)):
            flat = views.reshape(n * k, dim)
            rows = None
            cap = ctx.max_samples
            if cap is not None and n * k > cap:
                # the subsample the recorded RankMe was computed on (as rankme() draws it)
                rows = np.sort(numpy_generator(ctx.seed).choice(n * k, cap, replace=False))
                flat = flat[torch.from_numpy(rows).to(flat.device)]
            image = np.arange(n * k) // k if rows is None else rows // k
            reps = [
                _attempt(lambda c=c: spectrum(flat, weights=c[image]).rankme(), np.nan)
                for c in self.counts
            ]
            record_se(rec, family, rankme_row, reps)
        self._per_point(ctx, rec, family, results, rules)

    def _per_point(
        self, ctx: Any, rec: Any, manifold: str, results: dict[str, Any], rules: dict[str, str]
    ) -> None:
        """Rows ``se`` for the mean of every per-point metric in ``results``."""
        from manifold._summary import PointMetric

        for metric, result in results.items():
            if not isinstance(result, PointMetric):
                continue
            values = np.asarray(result.values, dtype=np.float64)
            if values.size < 2:
                continue
            rule = rules.get(metric, "points")
            image_level = values.size == self.n_images and rule != "edges"
            counts = self.counts if image_level else self._counts(values.size)
            means = counts @ values / counts.sum(axis=1)
            in_unit = rule == "points_in_knn_unit" or (rule == "lengths" and ctx.scale == "knn")
            if image_level and in_unit:
                means = means * self._knn_unit_ratio(ctx)
            record_se(rec, manifold, metric, list(means))

    def _knn_unit_ratio(self, ctx: Any) -> np.ndarray:
        """Full sample's median k-th neighbour distance over each resample's (1 where undefined)."""
        if self._unit_ratio is None:
            self._unit_ratio = np.ones(self.n_bootstrap)
            knn = ctx.knn
            if knn is not None:
                kth = np.asarray(knn.distances, dtype=np.float64)[:, -1]
                unit = float(np.median(kth))
                if unit > 0:
                    medians = np.array([np.median(np.repeat(kth, c)) for c in self.counts])
                    self._unit_ratio = unit / medians
        return self._unit_ratio


def record_se(rec: Any, manifold: str, metric: str, replicates: list[float]) -> None:
    """A ``se`` row: the standard deviation (ddof = 1) of the finite bootstrap replicates."""
    finite = np.asarray(replicates, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size >= 2:
        rec.add(manifold, metric, float(finite.std(ddof=1)), statistic="se")


def _is_value(result: Any) -> bool:
    """Whether a recorded result is one number (a ``value`` row)."""
    from manifold._summary import PointMetric

    return result is not None and np.ndim(result) == 0 and not isinstance(result, PointMetric)


def _attempt(compute: Any, default: Any = None) -> Any:
    """The value, or ``default`` where a resample leaves the metric undefined."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compute()
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return default
