"""Rank a user's candidates (checkpoints, settings of one recipe) without labels.

The everyday question is not "which recipe?" but "which of *my* checkpoints should I use?".
:func:`select` answers it with a label-free criterion in the direction its paper gives (RankMe,
effective rank and LiDAR: higher is better; alpha: closest to 1; TwoNN: lower) or with a
:class:`~manifold.zoo.TransferPredictor` fitted on *other* models, for a named task.
Collapsed candidates go last, with the reason, and candidates whose score is within bootstrap
noise of the best one are marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from manifold._validation import Real, validate_params
from manifold.settings import COLLAPSE_RANK
from manifold.zoo._matrix import as_matrix
from manifold.zoo.evaluation import BASELINES, LABEL_FREE, label_free_score

if TYPE_CHECKING:
    from manifold.results import Profile
    from manifold.zoo.transfer import TransferPredictor

__all__ = ["COLLAPSE_RANK", "SELECT_COLUMNS", "select"]

#: Columns of the table :func:`select` returns.
SELECT_COLUMNS = ["rank", "score", "se", "within_noise", "collapsed", "reason", "criterion"]
# failures of these semantic metrics mean the embeddings themselves are degenerate
_SPECTRAL = ("spectrum", "rankme", "effective_rank", "alpha")


def _se_matrix(profiles: Profile | pd.DataFrame) -> pd.DataFrame | None:
    """The bootstrap standard errors (statistic ``"se"``) as a model × metric matrix."""
    from manifold.results import Profile

    if not isinstance(profiles, Profile):
        return None
    t = profiles.table
    t = t[t["statistic"] == "se"]
    if t.empty:
        return None
    t = t.assign(column=t["manifold"] + "/" + t["metric"])
    se = t.pivot_table(index="model", columns="column", values="value", sort=False)
    se.index = se.index.map(str)
    return se


def _criterion(
    matrix: pd.DataFrame, se: pd.DataFrame | None, by: str
) -> tuple[pd.Series, pd.Series]:
    """A label-free criterion's score (higher = better) and its standard error, per model."""
    column = BASELINES[by]
    nan = pd.Series(np.nan, index=matrix.index)
    if column.startswith("*/"):
        metric = column[2:]
        cols = [c for c in matrix.columns
                if c.endswith("/" + metric) and not c.startswith("semantic/")]  # fmt: skip
        if not cols:
            raise ValueError(f"the profiles have no {metric!r} column (profile with families to "
                             "get LiDAR)")  # fmt: skip
        values = matrix[cols].mean(axis=1, skipna=False)
        if se is not None and set(cols) <= set(se.columns):
            # the mean of F independent estimates: sqrt(sum se^2) / F
            errors = np.sqrt((se.loc[matrix.index, cols] ** 2).sum(axis=1, min_count=len(cols)))
            errors = errors / len(cols)
        else:
            errors = nan
    else:
        if column not in matrix.columns:
            raise ValueError(f"the profiles have no column {column!r} for by={by!r}")
        values = matrix[column]
        has_se = se is not None and column in se.columns
        errors = se.loc[matrix.index, column] if has_se else nan
    score = pd.Series(label_free_score(values.to_numpy(), LABEL_FREE[by]), index=matrix.index)
    return score, errors.reindex(matrix.index)


def _predicted(
    matrix: pd.DataFrame, se: pd.DataFrame | None, by: TransferPredictor, task: str | None
) -> tuple[pd.Series, pd.Series, str]:
    """A fitted predictor's prediction for ``task`` and its delta-method standard error."""
    if not hasattr(by, "estimators_"):
        raise ValueError("by is a TransferPredictor that is not fitted; fit it on other models "
                         "(with their scores) first")  # fmt: skip
    if task is None:
        if len(by.tasks_) != 1:
            raise ValueError(f"the predictor was fitted on tasks {by.tasks_}; pick one with task=")
        task = by.tasks_[0]
    if task not in by.tasks_:
        raise ValueError(f"unknown task {task!r}; the predictor knows {by.tasks_}")
    names = list(by.feature_names_in_)
    missing = [c for c in names if c not in matrix.columns]
    if missing:
        raise ValueError(f"the profiles lack metrics the predictor was fitted on: {missing}")
    usable = matrix[names].notna().all(axis=1)
    score = pd.Series(np.nan, index=matrix.index)
    if usable.any():
        score[usable] = by.predict(matrix.loc[usable, names])[task]
    errors = pd.Series(np.nan, index=matrix.index)
    if se is not None and set(names) <= set(se.columns):
        est = by.estimators_[task]
        # y = y_mean + y_scale (b + sum_j coef_j (x_j - m_j) / s_j): linear in the metrics;
        # their errors are treated as independent (they share images, so this is approximate)
        slope = est.y_scale * est.coef / est.x_scale
        used = [names[c] for c in est.columns]
        errors = np.sqrt(((se.loc[matrix.index, used] * slope) ** 2).sum(axis=1, min_count=1))
    return score, errors, task


def _collapse_reasons(
    profiles: Profile | pd.DataFrame, matrix: pd.DataFrame, collapse_rank: float
) -> dict[str, str]:
    """Candidate -> why its embeddings count as collapsed."""
    from manifold.results import Profile

    reasons: dict[str, str] = {}
    if isinstance(profiles, Profile):
        for f in profiles.failures:
            if f.get("manifold") == "semantic" and f.get("metric") in _SPECTRAL:
                reasons.setdefault(str(f["model"]), f"semantic {f['metric']}: {f['error']}")
    if "semantic/rankme" in matrix.columns:
        for model, rank in matrix["semantic/rankme"].items():
            if np.isfinite(rank) and rank <= collapse_rank and model not in reasons:
                reasons[model] = f"RankMe {rank:.2f} <= {collapse_rank:g} (collapsed)"
    return reasons


@validate_params({"confidence": [Real(0, 1, closed="neither")]})
def select(
    profiles: Profile | pd.DataFrame,
    by: str | TransferPredictor = "rankme",
    task: str | None = None,
    *,
    statistic: str = "mean",
    collapse_rank: float = COLLAPSE_RANK,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Rank candidate models, best first, by a label-free criterion or a fitted predictor.

    The **score** of each candidate (higher = better) is either

    * a one-metric criterion in its paper's direction (``by`` in :data:`~manifold.zoo.LABEL_FREE`:
      ``"rankme"``, ``"effective_rank"``, ``"lidar"`` higher; ``"alpha"`` closest to 1, scored
      −|α − 1|; ``"twonn"`` lower, scored −TwoNN), or
    * the prediction for ``task`` of a :class:`~manifold.zoo.TransferPredictor` fitted on other
      models (never on these candidates' labels).

    Its standard error ``se`` comes from the profile's bootstrap rows (``profile(...,
    n_bootstrap=B)``): the criterion's own error, or for a predictor the delta-method error of
    its linear prediction with the metrics' errors treated as independent. Without bootstrap
    rows ``se`` and ``within_noise`` are missing.

    **Collapsed** candidates (semantic RankMe at most ``collapse_rank``, or a semantic spectral
    metric that could not be computed, e.g. constant embeddings) and candidates whose score is
    undefined are ranked last, with the ``reason``. ``within_noise`` marks the candidates whose
    score is within noise of the best one: best − score ≤ z √(se_best² + se²), z the normal
    quantile of ``confidence`` (two-sided); the best is within noise of itself.

    Args:
        profiles: A :class:`~manifold.Profile` (with ``"se"`` rows for the noise marks) or a
            model × metric DataFrame.
        by: A criterion name, or a fitted :class:`~manifold.zoo.TransferPredictor`.
        task: With a predictor fitted on several tasks, which task to rank for.
        statistic: Statistic of per-point metrics when ``profiles`` is a Profile.
        collapse_rank: RankMe at or below which a candidate counts as collapsed.
        confidence: Two-sided coverage of the within-noise comparison.

    Returns:
        A DataFrame indexed by model, best first, with columns :data:`SELECT_COLUMNS`:
        ``rank`` (1 = best), ``score``, ``se``, ``within_noise`` (boolean, missing without
        standard errors), ``collapsed``, ``reason`` (empty when not collapsed) and
        ``criterion``.

    Raises:
        ValueError: an unknown criterion, a criterion the profiles lack, a predictor that is
            not fitted or lacks metrics, or ``confidence`` outside (0, 1).

    Examples:
        >>> import pandas as pd
        >>> m = pd.DataFrame({"semantic/rankme": [12.0, 30.0, 1.2, 25.0]},
        ...                  index=["ep1", "ep3", "ep7", "ep15"])
        >>> table = select(m, by="rankme")
        >>> table.index.tolist(), table["collapsed"].tolist()
        (['ep3', 'ep15', 'ep1', 'ep7'], [False, False, False, True])
    """
    from scipy.stats import norm

    if isinstance(by, str):
        if by not in LABEL_FREE:
            raise ValueError(f"unknown criterion {by!r}; choose one of {sorted(LABEL_FREE)} or "
                             "pass a fitted TransferPredictor")  # fmt: skip
    elif not hasattr(by, "predict"):
        raise TypeError(f"by must be a criterion name or a fitted TransferPredictor, got "
                        f"{type(by).__name__}")  # fmt: skip
    matrix = as_matrix(profiles, statistic=statistic)
    se = _se_matrix(profiles)
    if isinstance(by, str):
        score, errors = _criterion(matrix, se, by)
        criterion = by
    else:
        score, errors, task = _predicted(matrix, se, by, task)
        criterion = f"TransferPredictor ({task})"
    reasons = _collapse_reasons(profiles, matrix, collapse_rank)
    for model in matrix.index[~np.isfinite(score.to_numpy())]:
        reasons.setdefault(model, f"{criterion} is undefined for this candidate")
    collapsed = pd.Series([m in reasons for m in matrix.index], index=matrix.index)
    # healthy first, then by score (undefined last), ties in name order
    key = pd.DataFrame({"collapsed": collapsed, "neg": -score.fillna(-np.inf),
                        "name": matrix.index}, index=matrix.index)  # fmt: skip
    order = key.sort_values(["collapsed", "neg", "name"], kind="stable").index
    reason = [reasons.get(m, "") for m in matrix.index]
    out = pd.DataFrame({"score": score, "se": errors.astype(float), "collapsed": collapsed,
                        "reason": reason}, index=matrix.index).loc[order]  # fmt: skip
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    within = pd.Series(pd.NA, index=out.index, dtype="boolean")
    healthy = out[~out["collapsed"]]
    if len(healthy) and np.isfinite(healthy["se"]).all():
        best = healthy.iloc[0]
        z = float(norm.ppf(0.5 + confidence / 2))
        gap = best["score"] - healthy["score"]
        within[healthy.index] = gap <= z * np.sqrt(best["se"] ** 2 + healthy["se"] ** 2)
        within[out.index[out["collapsed"]]] = False
    out.insert(3, "within_noise", within)
    out["criterion"] = criterion
    out.index.name = "model"
    return out[SELECT_COLUMNS]
