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
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from manifold._backend import numpy_generator
from manifold._checks import check_int
from manifold.zoo._matrix import as_matrix, split_usable

__all__ = [
    "BASELINES",
    "DEFAULT_ALPHAS",
    "TransferEvaluation",
    "TransferPredictor",
    "metric_correlations",
]

#: Default ridge penalties searched by the inner cross-validation: 10^-3 … 10^3 (13 values).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
#: One-metric baselines of :meth:`TransferPredictor.evaluate`: name -> profile column.
BASELINES = {"rankme": "semantic/rankme", "alpha": "semantic/alpha"}
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


def _kfold_errors(x: np.ndarray, y: np.ndarray, alphas: np.ndarray, cv: Any) -> np.ndarray:
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
    x: np.ndarray, y: np.ndarray, alphas: np.ndarray, max_features: int | None, cv: Any
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


def _lomo(
    x: np.ndarray, y: np.ndarray, alphas: np.ndarray, max_features: int | None, cv: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-model-out predictions and the per-fold coefficients (zeros where screened out).

    Returns:
        ``(predictions (n,), coefficients (n, p))``.
    """
    n, p = x.shape
    pred = np.empty(n)
    coefs = np.zeros((n, p))
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        mask[i] = False
        fit = _fit_task(x[mask], y[mask], alphas, max_features, cv)
        pred[i] = fit.predict(x[i : i + 1])[0]
        coefs[i, fit.columns] = fit.coef
        mask[i] = True
    return pred, coefs


def _mean_lomo(y: np.ndarray) -> np.ndarray:
    n = y.size
    return (y.sum() - y) / (n - 1)


def _agreement(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², Spearman ρ and Kendall τ-b of predictions (ρ, τ NaN when predictions are constant)."""
    from scipy.stats import kendalltau, spearmanr

    ss_tot = float(((actual - actual.mean()) ** 2).sum())
    ss_res = float(((actual - predicted) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    if np.ptp(predicted) <= 1e-12 * max(1.0, float(np.abs(predicted).max())):
        return {"r2": r2, "spearman": float("nan"), "kendall": float("nan")}
    return {
        "r2": r2,
        "spearman": float(spearmanr(actual, predicted).statistic),
        "kendall": float(kendalltau(actual, predicted).statistic),
    }


def _as_scores(scores: Any) -> pd.DataFrame:
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


@dataclass
class TransferEvaluation:
    """Leave-one-model-out evaluation of transfer prediction (:meth:`TransferPredictor.evaluate`).

    Attributes:
        table: One row per task (index ``task``): ``n_models``, ``n_features``, ``r2``,
            ``spearman``, ``kendall``, ``p_value`` of the metric model, then ``<baseline>_r2``,
            ``<baseline>_spearman``, ``<baseline>_kendall`` for each baseline (``rankme``,
            ``alpha``, ``mean``).
        predictions: Long table with columns ``task``, ``model``, ``actual``, ``predicted``
            (metric model) and one column per baseline: the held-out predictions.
        null_r2: Task -> R² of each permutation (the null distribution behind ``p_value``).
        notes: Things the reader should know: metrics left out (constant or non-finite) and
            baselines that could not be fitted.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    null_r2: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def baselines(self) -> list[str]:
        """Names of the baselines in :attr:`table`."""
        return [c[: -len("_r2")] for c in self.table.columns if c.endswith("_r2") and c != "r2"]

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
        cv: Any = None,
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

    def _cv(self) -> Any:
        if self.cv is None:
            return None
        if isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool):
            return check_int(self.cv, "cv", minimum=2)
        if isinstance(self.cv, (str, bool)) or not hasattr(self.cv, "split"):
            raise ValueError(f"cv must be None, an int >= 2 or a splitter, got {self.cv!r}")
        return self.cv

    def _data(self, profiles: Any, scores: Any) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        x = as_matrix(profiles, statistic=self.statistic, metrics=self.features)
        y = _as_scores(scores)
        x, y = _align(x, y)
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
    def fit(self, profiles: Any, scores: Any) -> TransferPredictor:
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

    def predict(self, profiles: Any) -> pd.DataFrame:
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
        self, profiles: Any, scores: Any, n_permutations: int = 200, seed: Any = 0
    ) -> TransferEvaluation:
        """Leave-one-model-out evaluation with nested CV, baselines and a permutation test.

        For every model i the whole procedure (z-scoring, screening, inner CV for the penalty,
        ridge fit) runs on the other models and predicts model i. Agreement of the held-out
        predictions with the scores: R² = 1 − Σ(y − ŷ)²/Σ(y − ȳ)², Spearman ρ, Kendall τ-b.
        Baselines fitted the same way: ``rankme`` and ``alpha`` (one metric each, see
        :data:`BASELINES`) and ``mean`` (the training models' mean; its held-out R² is
        1 − (n/(n−1))² < 0 and its ρ is −1 by construction, the honest floor). The permutation
        p-value shuffles the scores across models ``n_permutations`` times and reruns the
        evaluation: p = (1 + #{R²_perm ≥ R²}) / (1 + n_permutations) (NaN when 0).

        Args:
            profiles: A Profile or DataFrame (models × metrics).
            scores: DataFrame models × tasks, or a Series.
            n_permutations: Permutations for the p-value.
            seed: Seed of the permutations (int or numpy Generator).

        Returns:
            A :class:`TransferEvaluation` (``.table``: one row per task; ``.predictions``).
        """
        alphas, max_features, cv = self._alphas(), self._max_features(), self._cv()
        n_permutations = check_int(n_permutations, "n_permutations", minimum=0)
        x, y, dropped = self._data(profiles, scores)
        full = as_matrix(profiles, statistic=self.statistic).loc[y.index]
        rng = numpy_generator(seed)
        xv = x.to_numpy()
        notes: list[str] = [f"metric {m!r} left out: {why}" for m, why in dropped.items()]
        baseline_x: dict[str, np.ndarray | None] = {}
        for name, column in BASELINES.items():
            if column not in full.columns:
                notes.append(f"baseline {name!r}: the profiles have no column {column!r}")
                baseline_x[name] = None
                continue
            col = full[[column]].to_numpy()
            if not np.isfinite(col).all():
                bad = list(full.index[~np.isfinite(col[:, 0])])
                notes.append(f"baseline {name!r}: {column!r} is non-finite for {bad}")
                baseline_x[name] = None
                continue
            baseline_x[name] = col
        for note in notes[len(dropped) :]:
            warnings.warn(note + "; its columns are NaN", UserWarning, stacklevel=2)

        rows, preds, null = [], [], {}
        for task in y.columns:
            yt = y[task].to_numpy()
            pred, _ = _lomo(xv, yt, alphas, max_features, cv)
            row: dict[str, float] = {"n_models": len(yt), "n_features": xv.shape[1]}
            row.update(_agreement(yt, pred))
            if n_permutations:
                perm_r2 = np.array([
                    _agreement(yp, _lomo(xv, yp, alphas, max_features, cv)[0])["r2"]
                    for yp in (yt[rng.permutation(yt.size)] for _ in range(n_permutations))
                ])  # fmt: skip
                null[task] = perm_r2
                row["p_value"] = (1 + int((perm_r2 >= row["r2"]).sum())) / (1 + n_permutations)
            else:
                row["p_value"] = float("nan")
            pred_table = {"task": task, "model": y.index, "actual": yt, "predicted": pred}
            for name, col in baseline_x.items():
                if col is None:
                    bp = np.full(yt.size, np.nan)
                    stats = {"r2": np.nan, "spearman": np.nan, "kendall": np.nan}
                else:
                    bp = _lomo(col, yt, alphas, None, cv)[0]
                    stats = _agreement(yt, bp)
                pred_table[name] = bp
                row.update({f"{name}_{k}": v for k, v in stats.items()})
            mp = _mean_lomo(yt)
            pred_table["mean"] = mp
            row.update({f"mean_{k}": v for k, v in _agreement(yt, mp).items()})
            rows.append(pd.Series(row, name=task))
            preds.append(pd.DataFrame(pred_table))
        table = pd.DataFrame(rows)
        table.index.name = "task"
        table[["n_models", "n_features"]] = table[["n_models", "n_features"]].astype(int)
        return TransferEvaluation(table, pd.concat(preds, ignore_index=True), null, notes)

    def drivers(self, profiles: Any, scores: Any) -> pd.DataFrame:
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
    profiles: Any, scores: Any, method: str = "spearman", statistic: str = "mean"
) -> pd.DataFrame:
    """Rank correlation of every metric with every task's score, across models.

    Metrics that are constant or non-finite for some model are left out (their correlation is
    undefined).

    Args:
        profiles: A Profile or DataFrame (models × metrics).
        scores: DataFrame (models × tasks) or Series, matched by model name.
        method: ``"spearman"`` (ρ) or ``"kendall"`` (τ-b).
        statistic: Statistic of per-point metrics when ``profiles`` is a Profile.

    Returns:
        DataFrame metric × task.

    Examples:
        >>> import pandas as pd
        >>> m = pd.DataFrame({"a": [1, 2, 3, 4], "b": [4, 3, 2, 1.5]}, index=list("wxyz"))
        >>> s = pd.Series([10, 20, 30, 40], index=list("wxyz"), name="task")
        >>> metric_correlations(m, s)["task"].tolist()
        [1.0, -1.0]
    """
    from scipy.stats import kendalltau, spearmanr

    from manifold._checks import check_choice

    check_choice(method, "method", ("spearman", "kendall"))
    x = as_matrix(profiles, statistic=statistic)
    y = _as_scores(scores)
    x, y = _align(x, y)
    x, _ = split_usable(x)
    corr = spearmanr if method == "spearman" else kendalltau
    out = {}
    for task in y.columns:
        yt = y[task].to_numpy()
        if np.ptp(yt) == 0:
            raise ValueError(f"scores of task {task!r} are constant; correlations are undefined")
        out[task] = [float(corr(x[c].to_numpy(), yt).statistic) for c in x.columns]
    return pd.DataFrame(out, index=pd.Index(x.columns, name="metric"))
