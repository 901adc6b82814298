"""Turn a Profile or a model × metric DataFrame into a numeric matrix, with clear errors."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from manifold.results import Profile

__all__ = ["NOISE_LEVEL", "as_matrix", "noise_table", "split_usable", "warn_mismatched", "zscore"]


def warn_mismatched(profile: Profile) -> None:
    """Warn when the models of a Profile were profiled with different settings."""
    from manifold.results import describe_mismatch

    mismatch = profile.mismatched_settings()
    if mismatch:
        warnings.warn(
            "the profiles were computed with different settings, so their metrics are not "
            f"directly comparable: {describe_mismatch(mismatch)}; profile every model with the "
            "same N, K, k, families and layer (or layers)",
            UserWarning,
            stacklevel=4,
        )


def as_matrix(
    profiles: Profile | pd.DataFrame, statistic: str = "mean", metrics: Iterable[str] | None = None
) -> pd.DataFrame:
    """A float model × metric DataFrame from a :class:`~manifold.Profile` or a DataFrame.

    Args:
        profiles: A Profile (pivoted with ``to_matrix(statistic)``) or a DataFrame indexed by
            model with one column per metric.
        statistic: Statistic of per-point metrics used when pivoting a Profile.
        metrics: Optional subset (and order) of columns to keep.

    Returns:
        A copy with string index and columns and float64 values (non-finite values kept).

    Raises:
        TypeError: ``profiles`` is neither a Profile nor a DataFrame.
        ValueError: duplicate model names, non-numeric columns or unknown ``metrics``.
    """
    from manifold.results import Profile

    if isinstance(profiles, Profile):
        warn_mismatched(profiles)
        frame = profiles.to_matrix(statistic=statistic)
    elif isinstance(profiles, pd.DataFrame):
        frame = profiles
    else:
        raise TypeError(
            "expected a manifold.Profile or a pandas DataFrame (models × metrics), got "
            f"{type(profiles).__name__}"
        )
    frame = frame.copy()
    frame.index = frame.index.map(str)
    frame.columns = frame.columns.map(str)
    frame.columns.name = None
    frame.index.name = "model"
    if frame.index.has_duplicates:
        dup = sorted(set(frame.index[frame.index.duplicated()]))
        raise ValueError(f"model names must be unique; repeated: {dup}")
    if metrics is not None:
        metrics = [str(m) for m in ([metrics] if isinstance(metrics, str) else metrics)]
        if not metrics:
            raise ValueError("metrics is empty; pass None to use every metric")
        unknown = [m for m in metrics if m not in frame.columns]
        if unknown:
            raise ValueError(
                f"unknown metrics {unknown}; available: {sorted(frame.columns)[:20]}"
                + (" ..." if frame.shape[1] > 20 else "")
            )
        frame = frame[metrics]
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"metric columns must be numeric; these are not: {bad}")
    return frame.astype(np.float64)


#: Level of the test behind :func:`noise_table`'s ``within_noise``.
NOISE_LEVEL = 0.05


def noise_table(
    profiles: Profile | pd.DataFrame, frame: pd.DataFrame, statistic: str
) -> pd.DataFrame | None:
    """Per metric of ``frame``: do the models differ by more than their standard errors?

    For the models with a finite positive standard error ``s_m`` (statistic ``"se"`` of the
    profile: bootstrap, or anchor sampling) and value ``x_m``, Cochran's
    ``Q = Σ_m (x_m − x̄)² / s_m²`` with the inverse-variance mean ``x̄``; if every model had the
    same true value (and the errors were normal and exact), ``Q`` would follow a χ² law with
    ``n − 1`` degrees of freedom. ``p_value`` is its upper tail, and ``within_noise`` is
    ``p_value > NOISE_LEVEL`` (0.05): the models' differences in that metric cannot be told
    from their sampling error. For reading, ``spread`` is the population standard deviation
    across the models (the z-score's divisor), ``se`` the median standard error and
    ``ratio = se / spread`` (the spread itself includes the noise: a metric without real
    differences has a ratio near 1, not above it).

    Bootstrap errors of graph-local means are a lower bound (the graphs are not rebuilt per
    resample, ``docs/analysis.md``), which makes ``Q`` larger: the flag then errs towards
    keeping a metric. ``None`` when ``profiles`` is not a Profile, holds no standard errors, or
    when ``statistic`` is not ``"mean"`` (the errors are those of values and means).

    Examples:
        >>> import pandas as pd
        >>> from manifold.results import COLUMNS, Profile
        >>> rows = [[m, "semantic", "rankme", s, v] for m, val, se in
        ...         [("a", 2.0, 0.5), ("b", 3.0, 0.5)] for s, v in [("value", val), ("se", se)]]
        >>> prof = Profile(pd.DataFrame(rows, columns=COLUMNS))
        >>> row = noise_table(prof, prof.to_matrix(), "mean").iloc[0]
        >>> float(row["q"]), round(float(row["p_value"]), 3), bool(row["within_noise"])
        (2.0, 0.157, True)
    """
    from scipy.stats import chi2

    from manifold.results import Profile

    if not isinstance(profiles, Profile) or statistic != "mean":
        return None
    t = profiles.table
    se = t[t["statistic"] == "se"]
    if se.empty:
        return None
    se = se.assign(column=se["manifold"] + "/" + se["metric"]).pivot_table(
        index="model", columns="column", values="value", sort=False
    )
    se.index = se.index.map(str)
    columns = [c for c in frame.columns if c in se.columns]
    if not columns:
        return None
    errors = se.reindex(index=frame.index)[columns]
    rows = {}
    for col in columns:
        x, s = frame[col].to_numpy(dtype=float), errors[col].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(s) & (s > 0)
        q = p_value = float("nan")
        if ok.sum() >= 2:
            w = 1.0 / s[ok] ** 2
            mean = float((w * x[ok]).sum() / w.sum())
            q = float((w * (x[ok] - mean) ** 2).sum())
            p_value = float(chi2.sf(q, int(ok.sum()) - 1))
        spread = float(np.std(x))
        median_se = float(np.nanmedian(s)) if np.isfinite(s).any() else float("nan")
        rows[col] = {
            "spread": spread,
            "se": median_se,
            "ratio": median_se / spread,
            "q": q,
            "p_value": p_value,
            "within_noise": bool(p_value > NOISE_LEVEL),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "metric"
    return table


def split_usable(frame: pd.DataFrame, rtol: float = 1e-12) -> tuple[pd.DataFrame, dict[str, str]]:
    """Drop columns that are non-finite for some model or constant across models.

    Returns:
        The kept columns and a dict ``metric -> reason`` for the dropped ones.
    """
    dropped: dict[str, str] = {}
    values = frame.to_numpy()
    for j, col in enumerate(frame.columns):
        v = values[:, j]
        finite = np.isfinite(v)
        if not finite.all():
            missing = list(frame.index[~finite])
            dropped[col] = f"non-finite for {len(missing)} model(s): {missing[:5]}"
            continue
        scale = max(1.0, float(np.abs(v).max()))
        if float(v.max() - v.min()) <= rtol * scale:
            dropped[col] = f"constant across models (value {v[0]:.6g})"
    keep = [c for c in frame.columns if c not in dropped]
    return frame[keep], dropped


def zscore(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise z-scores (population standard deviation); constant columns map to 0."""
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    safe = np.where(std > 0, std, 1.0)
    return (values - mean) / safe, mean, safe


def warn_dropped(who: str, dropped: dict[str, str], total: int) -> None:
    """One warning naming the metrics a comparison left out (the first five, with reasons)."""
    if not dropped:
        return
    warnings.warn(
        f"{who}: {len(dropped)} of {total} metrics left out: "
        + "; ".join(f"{m} ({why})" for m, why in list(dropped.items())[:5])
        + (" ..." if len(dropped) > 5 else ""),
        UserWarning,
        stacklevel=3,
    )
