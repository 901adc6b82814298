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
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from manifold._backend import numpy_generator

__all__ = ["Bootstrap"]

# per-edge values: resampled over edges, not images
_EDGE_METRICS = ("ollivier_ricci", "forman_ricci")
# per-point values divided by the median k-th neighbour distance, which a resample redraws too
_IN_KNN_UNITS = {("semantic", "nnk_diameter"), ("*", "spread_ratio")}
_SPECTRAL = ("effective_rank", "stable_rank", "participation_ratio", "nesum")


class Bootstrap:
    """Standard errors of a profile's metrics from ``n_bootstrap`` resamples of the images."""

    def __init__(self, n_bootstrap: int, seed: int, n_images: int) -> None:
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.rng = np.random.default_rng([seed, 0xB007])
        self.n_images = n_images
        self.counts = self.rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), n_bootstrap)
        # how much each resample's unit (median k-th neighbour distance) differs from the full one
        self.unit_ratio = np.ones(n_bootstrap)

    def _counts(self, n: int) -> np.ndarray:
        if n == self.n_images:
            return self.counts
        return self.rng.multinomial(n, np.full(n, 1.0 / n), self.n_bootstrap)

    def semantic(
        self, rec: Any, z: torch.Tensor, wide: Any, knn: Any, k_mle: int, max_samples: int | None
    ) -> None:
        """Rows ``se`` for the semantic manifold's global metrics."""
        from manifold.spectral import spectrum

        recorded = rec.recorded("semantic")
        names = [m for m in (*_SPECTRAL, "alpha", "alpha_r2") if m in recorded]
        values: dict[str, list[float]] = {m: [] for m in names}
        capped = max_samples is not None and max_samples < z.shape[0]
        rankme: list[float] = []
        if names or ("rankme" in recorded and not capped):
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
        if "rankme" in recorded:
            if capped:
                # the reported RankMe is that of a seeded subsample (as rankme() draws it)
                rows = np.sort(numpy_generator(self.seed).choice(z.shape[0], max_samples, False))
                sub = z[torch.from_numpy(rows).to(z.device)]
                rankme = [
                    _attempt(lambda c=c: spectrum(sub, weights=c).rankme(), np.nan)
                    for c in self._counts(len(rows))
                ]
            values["rankme"] = rankme
        if knn is not None:
            kth = np.asarray(knn.distances, dtype=np.float64)[:, -1]
            unit = float(np.median(kth))
            if unit > 0:
                medians = [np.median(np.repeat(kth, c)) for c in self.counts]
                self.unit_ratio = unit / np.asarray(medians)
        if wide is not None and "twonn_dimension" in recorded:
            values["twonn_dimension"] = self._twonn(knn)
        if wide is not None and "mle_dimension" in recorded:
            values["mle_dimension"] = self._mle(wide, k_mle)
        for metric, reps in values.items():
            rec.add_se("semantic", metric, reps)

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
        from manifold.metrics import mle_dimension

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_point = _attempt(lambda: mle_dimension(wide, k=k, per_point=True).values)
        if per_point is None:
            return []
        inverse = 1.0 / per_point
        counts = self._counts(len(inverse))  # the distinct rows' values, one per input row
        return list(counts.sum(axis=1) / (counts @ inverse))

    def family(self, rec: Any, family: str, views: torch.Tensor) -> None:
        """Rows ``se`` for a family's global metrics (LiDAR, RankMe of the views)."""
        from manifold.spectral import lidar, spectrum

        recorded = rec.recorded(family)
        n, k, dim = views.shape
        if "lidar" in recorded:
            reps = []
            for c in self.counts:
                rows = torch.from_numpy(np.repeat(np.arange(n), c)).to(views.device)
                reps.append(_attempt(lambda r=rows: lidar(views[r], delta_relative=True), np.nan))
            rec.add_se(family, "lidar", reps)
        if "rankme" in recorded:
            flat = views.reshape(n * k, dim)
            cap = 25600  # rankme's default row cap, as profile calls it
            rows = None
            if n * k > cap:
                rows = np.sort(numpy_generator(0).choice(n * k, cap, replace=False))
                flat = flat[torch.from_numpy(rows).to(flat.device)]
            image = np.arange(n * k) // k if rows is None else rows // k
            reps = [
                _attempt(lambda c=c: spectrum(flat, weights=c[image]).rankme(), np.nan)
                for c in self.counts
            ]
            rec.add_se(family, "rankme", reps)

    def per_point(self, rec: Any) -> None:
        """Rows ``se`` for the mean of every per-point metric recorded."""
        for (manifold, metric), values in rec.values.items():
            values = np.asarray(values, dtype=np.float64)
            if values.size < 2:
                continue
            image_level = values.size == self.n_images and metric not in _EDGE_METRICS
            counts = self.counts if image_level else self._counts(values.size)
            means = counts @ values / counts.sum(axis=1)
            if image_level and (
                (manifold, metric) in _IN_KNN_UNITS or ("*", metric) in _IN_KNN_UNITS
            ):
                means = means * self.unit_ratio
            rec.add_se(manifold, metric, list(means))


def _attempt(compute: Any, default: Any = None) -> Any:
    """The value, or ``default`` where a resample leaves the metric undefined."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compute()
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return default
