"""Per-point metric values and their summary statistics.

Metrics defined per point (local dimension, NNK degree, spread of one image's views, ...) return
a :class:`PointMetric`: the values and a :class:`Summary` with a fixed set of statistics, so that
every row of a profile table is well defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["STATISTICS", "PointMetric", "Summary", "summarize"]

#: The statistics reported for every per-point metric, in table order.
STATISTICS = ("mean", "median", "std", "q05", "q25", "q75", "q95")


@dataclass(frozen=True)
class Summary:
    """Summary statistics of per-point values.

    ``std`` is the sample standard deviation (ddof=1; 0 for a single value). Quantiles use
    numpy's default linear interpolation. ``count`` is the number of values summarised.
    """

    mean: float
    median: float
    std: float
    q05: float
    q25: float
    q75: float
    q95: float
    count: int

    def to_dict(self) -> dict[str, float]:
        """The statistics as a dict in :data:`STATISTICS` order (``count`` excluded)."""
        return {name: getattr(self, name) for name in STATISTICS}


def summarize(values: Any) -> Summary:
    """Summarise a 1-D array of finite per-point values.

    All-NaN values (a metric undefined on collapsed embeddings, which warned) give NaN
    statistics.

    Raises:
        ValueError: if ``values`` is empty or holds some NaN/Inf (a per-point metric must not).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("cannot summarise an empty set of values")
    if np.isnan(v).all():
        nan = float("nan")
        return Summary(nan, nan, nan, nan, nan, nan, nan, count=int(v.size))
    if not np.all(np.isfinite(v)):
        bad = int(np.sum(~np.isfinite(v)))
        raise ValueError(f"per-point values contain {bad} non-finite entries")
    q05, q25, med, q75, q95 = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return Summary(
        mean=float(v.mean()),
        median=float(med),
        std=std,
        q05=float(q05),
        q25=float(q25),
        q75=float(q75),
        q95=float(q95),
        count=int(v.size),
    )


@dataclass(frozen=True)
class PointMetric:
    """A metric with one value per point (or per image) and its summary.

    Attributes:
        name: The metric's name, as used in profile tables.
        values: Array of shape (N,) (or (N, m) for multi-valued metrics such as principal
            angles, in which case the summary is over all entries).
        summary: Statistics of ``values``.
    """

    name: str
    values: np.ndarray
    summary: Summary = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values))
        object.__setattr__(self, "summary", summarize(self.values))

    def __float__(self) -> float:
        return self.summary.mean

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"PointMetric({self.name!r}, n={s.count}, mean={s.mean:.4g}, "
            f"median={s.median:.4g}, std={s.std:.4g})"
        )
