"""Predict downstream (transfer) scores of models from the geometry of their representations.

With 10–30 models and dozens of metrics a regression can fit anything, so every design choice
here is about not fooling ourselves:

* metrics are z-scored on the training models only (inside each fold), so no metric dominates
  by its unit and no test-model information leaks into the scaling;
* the regression is ridge, whose penalty shrinks the many correlated metrics together;
* the penalty is chosen by an inner leave-one-out (efficient closed form) *inside* each outer
  leave-one-model-out fold: nested cross-validation, the held-out model never picks the penalty;
* an optional univariate screening (``max_features``: keep the metrics most correlated with the
  score) is also redone inside each outer fold;
* a permutation test (scores shuffled across models, the whole nested procedure rerun) says
  how often chance alone reaches the observed R²;
* baselines fitted the same way (RankMe alone, alpha alone, the training mean) sit beside
  every number.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from manifold._backend import numpy_generator
from manifold._checks import check_int
from manifold.typing import Grouping, SeedLike, Splitter
from manifold.zoo._matrix import as_matrix, split_usable, warn_dropped

if TYPE_CHECKING:
    from manifold.results import Profile

__all__ = [
    "BASELINES",
    "DEFAULT_ALPHAS",
    "TransferEvaluation",
    "TransferPredictor",
    "metric_correlations",
]

#: Default ridge penalties searched by the inner cross-validation: 10^-3 … 10^3 (13 values).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
#: One-metric baselines of :meth:`TransferPredictor.evaluate`: name -> profile column
#: (``"*/lidar"``: the mean LiDAR over the profiled augmentation families, where views exist).
BASELINES = {
    "rankme": "semantic/rankme",
    "alpha": "semantic/alpha",
    "twonn": "semantic/twonn_dimension",
    "lidar": "*/lidar",
}
#: Agreement columns of :meth:`TransferPredictor.evaluate`, per predictor and baseline.
AGREEMENT = ("spearman", "spearman_low", "spearman_high", "kendall", "weighted_tau", "regret",
             "top1", "top3", "r2")  # fmt: skip
#: Fewest models a fit accepts (leave-one-out needs a few to spare).
MIN_MODELS = 4


class _TaskModel(NamedTuple):
    """Ridge fit of one task on standardised metrics (coefficients in SD units)."""

    columns: np.ndarray  # indices of the metrics used (after screening)
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    coef: np.ndarray  # score SD per metric SD
    intercept: float
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        xs = (x[:, self.columns] - self.x_mean) / self.x_scale
        return self.y_mean + self.y_scale * (self.intercept + xs @ self.coef)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    xs = (x - mean) / scale
    xs[:, std <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 0.0
    return xs, mean, scale


def _ridge_loo_errors(
    u: np.ndarray, s: np.ndarray, y: np.ndarray, alphas: np.ndarray
) -> np.ndarray:
    """Leave-one-out squared errors of ridge with an unpenalised intercept, for every alpha.

    For the hat matrix H_α = 11ᵀ/n + X_c (X_cᵀX_c + αI)⁻¹ X_cᵀ (X_c centred) the leave-one-out
    residual is e_i / (1 − H_ii) exactly (a linear smoother), computed from the SVD
    X_c = U diag(s) Vᵀ.

    Returns:
        (n_alphas, n) squared leave-one-out residuals (inf where a leverage is 1).
    """
    n = u.shape[0]
    yc = y - y.mean()
    s2 = s**2
    shrink = s2[None, :] / (s2[None, :] + alphas[:, None])  # (A, r)
    fitted = (shrink * (u.T @ yc)[None, :]) @ u.T  # (A, n), centred fitted values
    leverage = 1.0 / n + shrink @ (u**2).T
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = (yc[None, :] - fitted) / (1.0 - leverage)
    loo = np.where(1.0 - leverage > 1e-12, loo, np.inf)
    return loo**2


def _kfold_errors(
    x: np.ndarray, y: np.ndarray, alphas: np.ndarray, cv: int | Splitter
) -> np.ndarray:
    """Squared held-out errors of ridge (intercept unpenalised) under a user splitter."""
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=cv) if isinstance(cv, (int, np.integer)) else cv
    errors = np.zeros((alphas.size, x.shape[0]))
    for train, test in splitter.split(x):
        for a, alpha in enumerate(alphas):
            coef, intercept = _ridge(x[train], y[train], float(alpha))
            errors[a, test] = (y[test] - intercept - x[test] @ coef) ** 2
    return errors


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge coefficients and intercept (intercept unpenalised), through the SVD."""
    xm, ym = x.mean(axis=0), y.mean()
    u, s, vt = np.linalg.svd(x - xm, full_matrices=False)
    coef = vt.T @ (s / (s**2 + alpha) * (u.T @ (y - ym)))
    return coef, float(ym - xm @ coef)


def _fit_task(
    x: np.ndarray,
    y: np.ndarray,
    alphas: np.ndarray,
    max_features: int | None,
    cv: int | Splitter | None,
) -> _TaskModel:
    """Standardise, screen (optionally), choose the penalty by inner CV, fit ridge."""
    xs, x_mean, x_scale = _standardise(x)
    y_mean, y_std = float(y.mean()), float(y.std())
    y_scale = y_std if y_std > 1e-12 * max(1.0, abs(y_mean)) else 1.0
    ys = (y - y_mean) / y_scale
    columns = np.arange(x.shape[1])
    if max_features is not None and max_features < x.shape[1]:
        # univariate screening on the training models only: |Pearson r| of each metric with y
        corr = np.abs(xs.T @ ys) / len(ys)
        columns = np.sort(np.argsort(-corr, kind="stable")[:max_features])
        xs = xs[:, columns]
    # xs and ys are centred (standardised on these models): one SVD serves the inner
    # leave-one-out and the final fit
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    if cv is None:
        errors = _ridge_loo_errors(u, s, ys, alphas)
    else:
        errors = _kfold_errors(xs, ys, alphas, cv)
    best = int(np.argmin(errors.mean(axis=1)))
    coef = vt.T @ (s / (s**2 + alphas[best]) * (u.T @ ys))
    intercept = float(ys.mean() - xs.mean(axis=0) @ coef)
    return _TaskModel(
        columns, x_mean[columns], x_scale[columns], y_mean, y_scale, coef, intercept,
        float(alphas[best]),
    )  # fmt: skip


def _folds(n: int, groups: np.ndarray | None) -> list[np.ndarray]:
    """Held-out index sets: one model at a time, or one whole group at a time."""
    if groups is None:
        return [np.array([i]) for i in range(n)]
    return [np.flatnonzero(groups == g) for g in pd.unique(groups)]


def _lomo(
    x: np.ndarray,
    y: np.ndarray,
    alphas: np.ndarray,
    max_features: int | None,
    cv: int | Splitter | None,
    folds: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions (leave one model, or one group, out) and per-fold coefficients.

    Everything (z-scoring, screening, the inner penalty search, the fit) runs on the training
    models of each fold only.

    Returns:
        ``(predictions (n,), coefficients (n_folds, p))`` (coefficients 0 where screened out).
    """
    n, p = x.shape
    folds = _folds(n, None) if folds is None else folds
    pred = np.empty(n)
    coefs = np.zeros((len(folds), p))
    for f, test in enumerate(folds):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        fit = _fit_task(x[mask], y[mask], alphas, max_features, cv)
        pred[test] = fit.predict(x[test])
        coefs[f, fit.columns] = fit.coef
    return pred, coefs


def _mean_lomo(y: np.ndarray, folds: list[np.ndarray] | None = None) -> np.ndarray:
    """The intercept-only model under the same folds: each held-out set gets the training mean."""
    folds = _folds(y.size, None) if folds is None else folds
    pred = np.empty(y.size)
    for test in folds:
        mask = np.ones(y.size, dtype=bool)
        mask[test] = False
        pred[test] = y[mask].mean()
    return pred


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    ss_tot = float(((actual - actual.mean()) ** 2).sum())
    ss_res = float(((actual - predicted) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _is_constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


def _spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if _is_constant(predicted) or _is_constant(actual):
        return float("nan")
    return float(spearmanr(actual, predicted).statistic)


def _bootstrap_spearman(
    actual: np.ndarray,
    predicted: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of Spearman's rho over models resampled with replacement."""
    from scipy.stats import rankdata

    if n_bootstrap == 0 or _is_constant(predicted) or _is_constant(actual):
        return float("nan"), float("nan")
    idx = rng.integers(0, actual.size, size=(n_bootstrap, actual.size))
    ra = rankdata(actual[idx], axis=1)
    rp = rankdata(predicted[idx], axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rp -= rp.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rp**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denom > 0, (ra * rp).sum(axis=1) / denom, np.nan)
    rho = rho[np.isfinite(rho)]
    if rho.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    return float(np.percentile(rho, tail)), float(np.percentile(rho, 100 - tail))


def _agreement(
    actual: np.ndarray,
    predicted: np.ndarray,
    n_bootstrap: int = 0,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """How well ``predicted`` ranks and fits ``actual`` (one value per model).

    ``spearman`` (with a bootstrap percentile CI over models), ``kendall`` (tau-b),
    ``weighted_tau`` (scipy's hyperbolically weighted tau: swaps among the top models count
    more), ``regret`` (best actual score minus the actual score of the top-predicted model),
    ``top1``/``top3`` (is the best model the top prediction / among the top three?) and ``r2``.
    Rank statistics are NaN when the predictions are constant.
    """
    from scipy.stats import kendalltau, weightedtau

    out = {"r2": _r2(actual, predicted), "spearman": _spearman(actual, predicted)}
    low, high = _bootstrap_spearman(actual, predicted, n_bootstrap, rng or np.random.default_rng())
    out["spearman_low"], out["spearman_high"] = low, high
    if np.isnan(out["spearman"]):
        out.update({k: float("nan") for k in ("kendall", "weighted_tau", "regret", "top1", "top3")})
        return out
    out["kendall"] = float(kendalltau(actual, predicted).statistic)
    out["weighted_tau"] = float(weightedtau(actual, predicted).statistic)
    best = int(np.argmax(actual))
    order = np.argsort(-predicted, kind="stable")
    out["regret"] = float(actual[best] - actual[order[0]])
    out["top1"] = float(order[0] == best)
    out["top3"] = float(best in order[:3])
    return out


def _as_scores(scores: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(scores, pd.Series):
        scores = scores.to_frame(name=str(scores.name) if scores.name is not None else "score")
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            "expected scores as a pandas DataFrame (models × tasks) or Series (one task), got "
            f"{type(scores).__name__}"
        )
    scores = scores.copy()
    scores.index = scores.index.map(str)
    scores.columns = scores.columns.map(str)
    if scores.index.has_duplicates:
        raise ValueError(f"score rows must be unique models; repeated: "
                         f"{sorted(set(scores.index[scores.index.duplicated()]))}")  # fmt: skip
    if scores.shape[1] == 0:
        raise ValueError("scores has no task column")
    bad = [c for c in scores.columns if not pd.api.types.is_numeric_dtype(scores[c])]
    if bad:
        raise ValueError(f"score columns must be numeric; these are not: {bad}")
    scores = scores.astype(np.float64)
    values = scores.to_numpy()
    if not np.isfinite(values).all():
        r, c = np.nonzero(~np.isfinite(values))
        pairs = [(scores.index[i], scores.columns[j]) for i, j in zip(r, c, strict=True)]
        raise ValueError(
            f"scores contain {len(pairs)} NaN/inf values (model, task): {pairs[:5]}; drop those "
            "models or tasks first"
        )
    return scores


def _align(x: pd.DataFrame, y: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    no_profile = [m for m in y.index if m not in x.index]
    no_score = [m for m in x.index if m not in y.index]
    if no_profile or no_score:
        parts = []
        if no_profile:
            parts.append(f"models with scores but no profile: {no_profile}")
        if no_score:
            parts.append(f"models with a profile but no scores: {no_score}")
        raise ValueError("profiles and scores must cover the same models; " + "; ".join(parts))
    if len(y) < MIN_MODELS:
        raise ValueError(f"transfer prediction needs at least {MIN_MODELS} models, got {len(y)}")
    return x.loc[y.index], y


def _directed(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray]) -> np.ndarray:
    """A one-metric score ranked in the direction the training models show.

    Held-out model i gets ``sign(corr(x, y) over the other folds) * x_i``. Ranking the raw
    metric this way is how a label-free score is judged (RankMe: higher is better); ranking
    the held-out *ridge* predictions instead would let the leave-one-out training mean,
    ``(sum(y) - y_i) / (n - 1)``, which falls as ``y_i`` rises, dominate whenever the penalty
    shrinks the slope, and push the rank correlation towards -1 for reasons unrelated to the
    metric.
    """
    out = np.empty_like(x, dtype=float)
    for test in folds:
        mask = np.ones(x.size, dtype=bool)
        mask[test] = False
        xc, yc = x[mask] - x[mask].mean(), y[mask] - y[mask].mean()
        direction = 1.0 if float(xc @ yc) >= 0 else -1.0
        out[test] = direction * x[test]
    return out


def _baseline_column(full: pd.DataFrame, column: str) -> tuple[pd.DataFrame | None, str]:
    """The one-column matrix of a baseline (``"*/lidar"``: mean over families), or a reason."""
    if column.startswith("*/"):
        metric = column[2:]
        cols = [c for c in full.columns if c.endswith("/" + metric) and
                not c.startswith("semantic/")]  # fmt: skip
        if not cols:
            return None, f"the profiles have no {metric!r} column (no views)"
        frame = full[cols].mean(axis=1).to_frame(column)
    elif column not in full.columns:
        return None, f"the profiles have no column {column!r}"
    else:
        frame = full[[column]]
    values = frame.to_numpy()[:, 0]
    if not np.isfinite(values).all():
        bad = list(full.index[~np.isfinite(values)])
        return None, f"{column!r} is non-finite for {bad}"
    return frame, ""


def _check_controls(controls: Iterable[str] | None, models: pd.Index) -> set[str]:
    if controls is None:
        return set()
    if isinstance(controls, str):
        controls = [controls]
    names = {str(c) for c in controls}
    unknown = sorted(names - set(models))
    if unknown:
        raise ValueError(f"controls {unknown} have no scores; scored models: {list(models)}")
    return names


@dataclass
class TransferEvaluation:
    """Cross-validated evaluation of transfer prediction (:meth:`TransferPredictor.evaluate`).

    Attributes:
        table: One row per task (index ``task``): ``n_models``, ``n_features``, then the
            agreement of the held-out predictions with the actual scores: ``spearman`` with its
            bootstrap CI ``spearman_low``/``spearman_high``, ``kendall``, ``weighted_tau``,
            ``regret`` (score points), ``top1``, ``top3``, ``r2`` next to ``null_r2`` (the
            intercept-only model under the same folds), and ``p_value`` (permutation test of
            ``spearman``); then the same agreement columns prefixed ``<baseline>_`` for each
            one-metric baseline (``rankme``, ``alpha``, ``twonn``, ``lidar``).
        predictions: Long table with columns ``task``, ``model``, ``control``, ``actual``,
            ``predicted``, one column per baseline and ``mean`` (the intercept-only model): the
            held-out predictions (controls are predicted by models fitted on every non-control
            model).
        null_spearman: Task -> Spearman rho of each permutation (behind ``p_value``).
        notes: Things the reader should know: metrics left out, baselines that could not be
            fitted, the cross-validation used, and the small-n caveat of R².
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    null_spearman: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def baselines(self) -> list[str]:
        """Names of the baselines in :attr:`table`."""
        return [c[: -len("_spearman")] for c in self.table.columns
                if c.endswith("_spearman") and c != "spearman"]  # fmt: skip

    def headline(self, task: str) -> str:
        """One line: the prediction's Spearman [CI] and regret, and RankMe's, for ``task``."""
        row = self.table.loc[task]

        def part(prefix: str) -> str:
            rho, lo, hi = (row.get(f"{prefix}{k}", np.nan) for k in
                           ("spearman", "spearman_low", "spearman_high"))  # fmt: skip
            regret = row.get(f"{prefix}regret", np.nan)
            return f"rho {rho:+.2f} [{lo:+.2f}, {hi:+.2f}], regret {regret:.1f}"

        line = f"{task}: profile {part('')} (p = {row['p_value']:.3f})"
        if "rankme_spearman" in row.index:
            line += f"; RankMe {part('rankme_')}"
        return line

    def __repr__(self) -> str:
        return f"TransferEvaluation(\n{self.table.round(3).to_string()}\n)"


class TransferPredictor(BaseEstimator):
    """Per-task ridge regression from geometry metrics to downstream scores.

    For each task t with scores y (one per model) and the metric matrix X (models × metrics):
    X and y are z-scored on the training models, the metrics optionally screened to the
    ``max_features`` with the largest |Pearson r| with y, and ridge regression
    ŷ = b + Xβ, β = argmin ‖y − b − Xβ‖² + α‖β‖², is fitted with α chosen from ``alpha_grid``
    by leave-one-out cross-validation (closed form: residual_i / (1 − H_ii)) or by ``cv``.
    The coefficients ``coef_`` are standardised: score SDs per metric SD.

    Follows the scikit-learn estimator contract (hyperparameters stored unchanged, learned
    attributes end in ``_``, ``fit`` returns self; ``get_params``/``set_params``/``clone``).

    References: Cosentino, Shekkizhar et al. 2022 (manifold graph metrics predict transfer);
    Garrido et al. 2023 (RankMe) and Agrawal et al. 2022 (alpha-ReQ), the one-metric baselines.

    Args:
        alpha_grid: Ridge penalties searched (on the z-scored scale).
        features: Metric columns to use (``None``: every usable metric).
        max_features: Keep at most this many metrics per task, screened inside each fit.
        cv: Inner cross-validation for the penalty: ``None`` (efficient leave-one-out), an int
            (k-fold) or a scikit-learn splitter.
        statistic: Statistic of per-point metrics when profiles are :class:`~manifold.Profile`.

    Attributes:
        feature_names_in_: Metric columns used (after dropping unusable ones).
        n_features_in_: Their number.
        tasks_: Task names.
        training_models_: Models the predictor was fitted on.
        coef_: Standardised coefficients, DataFrame task × metric (0 where screened out).
        intercept_: Series task -> intercept on the original score scale.
        alpha_: Series task -> chosen penalty.
        dropped_features_: Metric -> reason it was left out (constant or non-finite).
        estimators_: Task -> fitted per-task model (used by :meth:`predict`).

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.normal(size=(12, 3)), columns=["a", "b", "c"])
        >>> y = pd.Series(2 * X["a"] - X["c"], name="task")
        >>> est = TransferPredictor().fit(X, y)
        >>> float(est.alpha_["task"])
        0.001
        >>> new = pd.DataFrame({"a": [1.0], "b": [5.0], "c": [0.0]}, index=["new"])
        >>> est.predict(new)["task"].round(2).tolist()
        [2.0]
    """

    def __init__(
        self,
        alpha_grid: Iterable[float] = DEFAULT_ALPHAS,
        features: Iterable[str] | None = None,
        max_features: int | None = None,
        cv: int | Splitter | None = None,
        statistic: str = "mean",
    ) -> None:
        self.alpha_grid = alpha_grid
        self.features = features
        self.max_features = max_features
        self.cv = cv
        self.statistic = statistic

    # -- validation -------------------------------------------------------------------------
    def _alphas(self) -> np.ndarray:
        alphas = np.asarray(list(np.atleast_1d(self.alpha_grid)), dtype=float)
        if alphas.size == 0 or not np.isfinite(alphas).all() or (alphas <= 0).any():
            raise ValueError(f"alpha_grid must be positive finite numbers, got {self.alpha_grid}")
        return alphas

    def _max_features(self) -> int | None:
        if self.max_features is None:
            return None
        return check_int(self.max_features, "max_features", minimum=1)

    def _cv(self) -> int | Splitter | None:
        if self.cv is None:
            return None
        if isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool):
            return check_int(self.cv, "cv", minimum=2)
        if isinstance(self.cv, (str, bool)) or not hasattr(self.cv, "split"):
            raise ValueError(f"cv must be None, an int >= 2 or a splitter, got {self.cv!r}")
        return self.cv

    def _data(
        self, profiles: Profile | pd.DataFrame, scores: pd.DataFrame | pd.Series
    ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        x = as_matrix(profiles, statistic=self.statistic, metrics=self.features)
        y = _as_scores(scores)
        x, y = _align(x, y)
        # models in name order: folds (cv=int splits by position), resamples and permutations,
        # hence the fit and every interval and p-value, do not depend on the order of the rows
        order = sorted(y.index)
        x, y = x.loc[order], y.loc[order]
        usable, dropped = split_usable(x)
        if self.features is not None and dropped:
            raise ValueError(f"requested features cannot be used: {dropped}")
        if usable.shape[1] == 0:
            raise ValueError(f"no usable metric: all are constant or non-finite ({dropped})")
        if self.cv is not None and isinstance(self.cv, (int, np.integer)) and self.cv > len(y) - 1:
            raise ValueError(
                f"cv={self.cv} folds need at least {self.cv + 1} models (one is held out), "
                f"got {len(y)}"
            )
        return usable, y, dropped

    # -- fitting ----------------------------------------------------------------------------
    def fit(
        self, profiles: Profile | pd.DataFrame, scores: pd.DataFrame | pd.Series
    ) -> TransferPredictor:
        """Fit one ridge model per task.

        Args:
            profiles: A :class:`~manifold.Profile` or a DataFrame (models × metrics).
            scores: DataFrame models × tasks (or a Series: one task), matched by model name.

        Returns:
            self.
        """
        alphas, max_features, cv = self._alphas(), self._max_features(), self._cv()
        x, y, dropped = self._data(profiles, scores)
        xv = x.to_numpy()
        self.estimators_ = {
            t: _fit_task(xv, y[t].to_numpy(), alphas, max_features, cv) for t in y.columns
        }
        self.feature_names_in_ = np.asarray(x.columns, dtype=object)
        self.n_features_in_ = x.shape[1]
        self.tasks_ = list(y.columns)
        self.training_models_ = list(y.index)
        self.dropped_features_ = dropped
        coef = np.zeros((len(self.tasks_), x.shape[1]))
        intercept = {}
        for r, t in enumerate(self.tasks_):
            est = self.estimators_[t]
            coef[r, est.columns] = est.coef
            # back on the original scale: ŷ = y_mean + y_scale (b + Σ β (x − x̄)/s)
            intercept[t] = est.y_mean + est.y_scale * (
                est.intercept - float(est.coef @ (est.x_mean / est.x_scale))
            )
        self.coef_ = pd.DataFrame(coef, index=pd.Index(self.tasks_, name="task"), columns=x.columns)
        self.intercept_ = pd.Series(intercept, name="intercept")
        self.alpha_ = pd.Series({t: e.alpha for t, e in self.estimators_.items()}, name="alpha")
        return self

    def predict(self, profiles: Profile | pd.DataFrame) -> pd.DataFrame:
        """Predicted scores of (unseen) models.

        Args:
            profiles: A Profile or DataFrame holding at least the fitted metric columns.

        Returns:
            DataFrame models × tasks.
        """
        if not hasattr(self, "estimators_"):
            raise RuntimeError("this TransferPredictor is not fitted yet; call fit first")
        x = as_matrix(profiles, statistic=self.statistic)
        missing = [c for c in self.feature_names_in_ if c not in x.columns]
        if missing:
            raise ValueError(f"profiles lack metrics the predictor was fitted on: {missing}")
        x = x[list(self.feature_names_in_)]
        values = x.to_numpy()
        if not np.isfinite(values).all():
            bad = x.columns[~np.isfinite(values).all(axis=0)].tolist()
            raise ValueError(f"profiles have non-finite values in fitted metrics {bad}")
        out = {t: est.predict(values) for t, est in self.estimators_.items()}
        return pd.DataFrame(out, index=x.index)[self.tasks_]

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self,
        profiles: Profile | pd.DataFrame,
        scores: pd.DataFrame | pd.Series,
        groups: Grouping | None = None,
        n_bootstrap: int = 1000,
        n_permutations: int = 200,
        seed: SeedLike = 0,
        controls: Iterable[str] | None = None,
    ) -> TransferEvaluation:
        """Cross-validated evaluation as the field judges label-free scores.

        For every held-out fold (one model, or with ``groups`` one whole group) the whole
        procedure (z-scoring, screening, inner CV for the penalty, ridge fit) runs on the other
        models and predicts the held-out ones. The held-out predictions are then compared with
        the actual scores across models:

        * rank agreement: Spearman rho with a 95 % percentile bootstrap CI over models
          (``n_bootstrap`` resamples), Kendall tau-b, and ``scipy.stats.weightedtau``;
        * selection: ``regret`` = best actual score minus the actual score of the model
          predicted best (score points), ``top1``/``top3``;
        * fit: ``r2`` = 1 - sum (y - yhat)^2 / sum (y - ybar)^2, next to ``null_r2``, the R² of
          the intercept-only model (training mean) under the same folds. With leave-one-out
          the null is 1 - (n/(n-1))^2 < 0 by construction, so read R² against it, not against 0;
        * ``p_value``: scores shuffled across models ``n_permutations`` times, the whole
          evaluation rerun, p = (1 + #{rho_perm >= rho}) / (1 + n_permutations) (NaN if 0).

        The models are taken in name order (as by :meth:`fit` and :meth:`drivers`), so for a
        given ``seed`` the folds, intervals and p-values do not depend on the order of the rows
        (the predictions table keeps the order given).

        One-metric baselines (:data:`BASELINES`: RankMe, alpha, TwoNN, and LiDAR where the
        profiles have views) get the same agreement columns. Their rank statistics, regret and
        top-k rank the metric itself in the direction of its correlation with the score on the
        training folds (``sign * metric``, as a label-free score is judged); their ``r2`` and
        their column in :attr:`TransferEvaluation.predictions` come from a one-metric ridge
        fitted like the profile's.

        Args:
            profiles: A Profile or DataFrame (models × metrics).
            scores: DataFrame models × tasks, or a Series.
            groups: Mapping model -> group (or a Series). ``None``: leave one model out;
                otherwise hold out one whole group at a time (e.g. a recipe or a method).
            n_bootstrap: Bootstrap resamples for the Spearman CIs (0: no CI).
            n_permutations: Permutations for the p-value.
            seed: Seed of the bootstrap and the permutations (int or numpy Generator).
            controls: Models (e.g. untrained and supervised encoders) kept out of the fit and
                of every agreement statistic; they are predicted by a model fitted on all
                other models and listed in :attr:`TransferEvaluation.predictions` with
                ``control=True``.

        Returns:
            A :class:`TransferEvaluation`.
        """
        alphas, max_features, cv = self._alphas(), self._max_features(), self._cv()
        n_permutations = check_int(n_permutations, "n_permutations", minimum=0)
        n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
        x_all = as_matrix(profiles, statistic=self.statistic, metrics=self.features)
        y_all = _as_scores(scores)
        control_names = _check_controls(controls, y_all.index)
        keep = [m for m in y_all.index if m not in control_names]
        x, y, dropped = self._data(x_all.loc[[m for m in x_all.index if m not in control_names]],
                                   y_all.loc[keep])  # fmt: skip
        given = keep  # _data takes the models in name order; the predictions table keeps this one
        full = as_matrix(profiles, statistic=self.statistic)
        rng = numpy_generator(seed)
        group_values = None
        if groups is not None:
            from manifold.zoo.clustering import align_groups

            group_values = align_groups(groups, list(y.index)).to_numpy()
            if len(pd.unique(group_values)) < 3:
                raise ValueError(
                    "grouped cross-validation needs at least 3 groups among the evaluated "
                    f"models, got {len(pd.unique(group_values))}"
                )
        folds = _folds(len(y), group_values)
        xv = x.to_numpy()
        notes: list[str] = [f"metric {m!r} left out: {why}" for m, why in dropped.items()]
        warn_dropped("TransferPredictor", dropped, len(dropped) + x.shape[1])
        baseline_x: dict[str, np.ndarray | None] = {}
        for name, column in BASELINES.items():
            col, why = _baseline_column(full, column)
            if col is None:
                note = f"baseline {name!r}: {why}; its columns are NaN"
                notes.append(note)
                if "non-finite" in why:  # a missing column is normal (no views); NaN is not
                    warnings.warn(note, UserWarning, stacklevel=2)
            baseline_x[name] = col
        cv_text = (
            "leave one model out"
            if groups is None
            else f"leave one group out ({len(folds)} groups)"
        )
        notes.append(f"{cv_text}; {len(y)} models" + (f", controls apart: {sorted(control_names)}"
                                                      if control_names else ""))  # fmt: skip
        if len(y) < 20:
            notes.append(f"R² over {len(y)} models is noisy; read it next to null_r2 and the "
                         "rank statistics' CIs")  # fmt: skip

        rows, preds, null = [], [], {}
        for task in y.columns:
            yt = y[task].to_numpy()
            pred, _ = _lomo(xv, yt, alphas, max_features, cv, folds)
            row: dict[str, float] = {"n_models": len(yt), "n_features": xv.shape[1]}
            row.update(_agreement(yt, pred, n_bootstrap, rng))
            null_pred = _mean_lomo(yt, folds)
            row["null_r2"] = _r2(yt, null_pred)
            if n_permutations and np.isfinite(row["spearman"]):
                perm = np.array([
                    _spearman(yp, _lomo(xv, yp, alphas, max_features, cv, folds)[0])
                    for yp in (yt[rng.permutation(yt.size)] for _ in range(n_permutations))
                ])  # fmt: skip
                null[task] = perm
                row["p_value"] = (1 + int((perm >= row["spearman"]).sum())) / (1 + n_permutations)
            else:
                row["p_value"] = float("nan")
            pred_table = {"task": task, "model": list(y.index), "control": False, "actual": yt,
                          "predicted": pred}  # fmt: skip
            for name, col in baseline_x.items():
                if col is None:
                    bp = np.full(yt.size, np.nan)
                    stats = {k: np.nan for k in AGREEMENT}
                else:
                    xb = col.loc[y.index].to_numpy()
                    bp = _lomo(xb, yt, alphas, None, cv, folds)[0]
                    stats = _agreement(yt, _directed(xb[:, 0], yt, folds), n_bootstrap, rng)
                    stats["r2"] = _r2(yt, bp)
                pred_table[name] = bp
                row.update({f"{name}_{k}": stats[k] for k in AGREEMENT})
            pred_table["mean"] = null_pred
            rows.append(pd.Series(row, name=task))
            frame = pd.DataFrame(pred_table)
            frame = frame.iloc[pd.Index(frame["model"]).get_indexer(given)].reset_index(drop=True)
            if control_names:
                frame = pd.concat([frame, self._control_predictions(
                    x, y, task, x_all, y_all, control_names, baseline_x, alphas, max_features, cv
                )], ignore_index=True)  # fmt: skip
            preds.append(frame)
        table = pd.DataFrame(rows)
        table.index.name = "task"
        table[["n_models", "n_features"]] = table[["n_models", "n_features"]].astype(int)
        return TransferEvaluation(table, pd.concat(preds, ignore_index=True), null, notes)

    @staticmethod
    def _control_predictions(x, y, task, x_all, y_all, controls, baseline_x, alphas,
                             max_features, cv) -> pd.DataFrame:  # fmt: skip
        """Controls predicted by fits on every non-control model (never part of the stats)."""
        names = sorted(controls)
        missing = [m for m in names if m not in x_all.index]
        if missing:
            raise ValueError(f"controls without a profile: {missing}")
        fit = _fit_task(x.to_numpy(), y[task].to_numpy(), alphas, max_features, cv)
        xc = x_all.loc[names, list(x.columns)].to_numpy()
        out = {"task": task, "model": names, "control": True,
               "actual": y_all.loc[names, task].to_numpy(),
               "predicted": fit.predict(xc)}  # fmt: skip
        for name, col in baseline_x.items():
            if col is None or not set(names) <= set(col.index):
                out[name] = np.full(len(names), np.nan)
                continue
            bfit = _fit_task(col.loc[y.index].to_numpy(), y[task].to_numpy(), alphas, None, cv)
            out[name] = bfit.predict(col.loc[names].to_numpy())
        out["mean"] = np.full(len(names), float(y[task].mean()))
        return pd.DataFrame(out)

    def drivers(
        self, profiles: Profile | pd.DataFrame, scores: pd.DataFrame | pd.Series
    ) -> pd.DataFrame:
        """Standardised coefficients per task and their stability across leave-one-model-out folds.

        Fits on all models (``coef``) and once per held-out model; per task and metric reports
        the fold mean and standard deviation of the coefficient, the share of folds whose
        coefficient has the sign of the full fit (0 counts as disagreement) and, with
        ``max_features``, the share of folds that selected the metric. Also fits ``self``.

        Returns:
            DataFrame with columns task, metric, coef, fold_mean, fold_std, sign_agreement,
            selected_fraction; sorted by task, then by |coef| (largest first).
        """
        self.fit(profiles, scores)
        alphas, max_features, cv = self._alphas(), self._max_features(), self._cv()
        x, y, _ = self._data(profiles, scores)
        xv = x.to_numpy()
        frames = []
        for task in self.tasks_:
            _, folds = _lomo(xv, y[task].to_numpy(), alphas, max_features, cv)
            coef = self.coef_.loc[task].to_numpy()
            frame = pd.DataFrame({
                "task": task,
                "metric": x.columns,
                "coef": coef,
                "fold_mean": folds.mean(axis=0),
                "fold_std": folds.std(axis=0),
                "sign_agreement": (np.sign(folds) == np.sign(coef)[None, :]).mean(axis=0)
                * (coef != 0),
                "selected_fraction": (folds != 0).mean(axis=0),
            })  # fmt: skip
            order = np.argsort(-np.abs(coef), kind="stable")
            frames.append(frame.iloc[order])
        return pd.concat(frames, ignore_index=True)


def metric_correlations(
    profiles: Profile | pd.DataFrame,
    scores: pd.DataFrame | pd.Series,
    method: str = "spearman",
    statistic: str = "mean",
    n_bootstrap: int = 0,
    seed: SeedLike = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Rank correlation of every metric with every task's score, across models.

    Metrics that are constant or non-finite for some model are left out (their correlation is
    undefined).

    With ``n_bootstrap > 0`` (Spearman only) the models are resampled with replacement, the
    same resample for every metric and task, and a percentile interval is reported: the result
    is then a long table with columns ``metric``, ``task``, ``rho``, ``low``, ``high`` and
    ``significant`` (the interval excludes 0). Resamples in which a metric or a score is
    constant are skipped for that cell.

    Args:
        profiles: A Profile or DataFrame (models × metrics).
        scores: DataFrame (models × tasks) or Series, matched by model name.
        method: ``"spearman"`` (ρ) or ``"kendall"`` (τ-b).
        statistic: Statistic of per-point metrics when ``profiles`` is a Profile.
        n_bootstrap: Bootstrap resamples over models (0: no interval, a wide table).
        seed: Seed of the resampling (int or numpy Generator).
        confidence: Coverage of the percentile interval.

    Returns:
        DataFrame metric × task (``n_bootstrap=0``), or the long table described above.

    Examples:
        >>> import pandas as pd
        >>> m = pd.DataFrame({"a": [1, 2, 3, 4], "b": [4, 3, 2, 1.5]}, index=list("wxyz"))
        >>> s = pd.Series([10, 20, 30, 40], index=list("wxyz"), name="task")
        >>> metric_correlations(m, s)["task"].tolist()
        [1.0, -1.0]
    """
    from scipy.stats import kendalltau, rankdata, spearmanr

    from manifold._checks import check_choice

    check_choice(method, "method", ("spearman", "kendall"))
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    if n_bootstrap and method != "spearman":
        raise ValueError("bootstrap intervals are implemented for method='spearman' only")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = as_matrix(profiles, statistic=statistic)
    y = _as_scores(scores)
    x, y = _align(x, y)
    order = sorted(y.index)  # the bootstrap does not depend on the order of the rows
    x, y = x.loc[order], y.loc[order]
    x, _ = split_usable(x)
    corr = spearmanr if method == "spearman" else kendalltau
    out = {}
    for task in y.columns:
        yt = y[task].to_numpy()
        if np.ptp(yt) == 0:
            raise ValueError(f"scores of task {task!r} are constant; correlations are undefined")
        out[task] = [float(corr(x[c].to_numpy(), yt).statistic) for c in x.columns]
    wide = pd.DataFrame(out, index=pd.Index(x.columns, name="metric"))
    if not n_bootstrap:
        return wide
    rng = numpy_generator(seed)
    n = len(y)
    idx = rng.integers(0, n, size=(n_bootstrap, n))

    def centred_ranks(values: np.ndarray) -> np.ndarray:  # (n, C) -> (B, n, C)
        r = rankdata(values[idx], axis=1)
        return r - r.mean(axis=1, keepdims=True)

    rx, ry = centred_ranks(x.to_numpy()), centred_ranks(y.to_numpy())
    num = np.einsum("bnm,bnt->bmt", rx, ry)
    den = np.sqrt((rx**2).sum(axis=1)[:, :, None] * (ry**2).sum(axis=1)[:, None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, num / den, np.nan)  # (B, metrics, tasks)
    tail = 100 * (1 - confidence) / 2
    low = np.nanpercentile(rho, tail, axis=0)
    high = np.nanpercentile(rho, 100 - tail, axis=0)
    long = wide.stack().rename("rho").reset_index()
    long.columns = ["metric", "task", "rho"]
    long["low"] = low.ravel()
    long["high"] = high.ravel()
    long["significant"] = (long["low"] > 0) | (long["high"] < 0)
    return long
