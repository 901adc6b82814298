"""Predict downstream (transfer) scores of models from the geometry of their representations.

With 10–70 models and dozens of metrics a regression can fit anything, and models come in
groups (the seeds of one recipe, the checkpoints of one run), so every design choice here is
about not fooling ourselves:

* metrics are z-scored on the training models only (inside each fold), so no metric dominates
  by its unit and no test-model information leaks into the scaling;
* the regression is ridge, whose penalty shrinks the many correlated metrics together;
* the penalty is chosen by an inner cross-validation *inside* each outer fold (nested
  cross-validation): leave one model out in closed form, or, when whole groups are held out,
  inner folds that keep groups whole too, so near-duplicate group-mates never pick the penalty;
* an optional univariate screening (``max_features``: keep the metrics most correlated with the
  score) is also redone inside each outer fold;
* the bootstrap resamples whole groups, permutations shuffle across models and, for the
  within-group statistics, only inside groups (the whole nested procedure rerun each time);
* baselines scored the same way sit beside every number: one-metric label-free scores in their
  papers' direction, the same with a learned sign, a ridge on the spectral metrics together,
  and a ``reference`` of what the user knows without geometry (recipe, method,
  hyperparameters), alone and combined with the profile: the gain answers "does the geometry
  add to what I already know?".
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from manifold._backend import numpy_generator
from manifold._validation import HasMethod, Integral, NoneOK, Options, Real, Seed, validate_params
from manifold.typing import Grouping, SeedLike, Splitter
from manifold.zoo._evaluation import encode_reference, resample_indices
from manifold.zoo._matrix import as_matrix, split_usable, warn_dropped
from manifold.zoo._ridge import fit_task, held_out_sets, lomo, mean_lomo
from manifold.zoo.evaluation import (
    AGREEMENT,
    BASELINES,
    LABEL_FREE,
    EvaluationPlan,
    TransferEvaluation,
    control_predictions,
    evaluate_task,
)

if TYPE_CHECKING:
    from manifold.results import Profile

__all__ = [
    "AGREEMENT",
    "BASELINES",
    "DEFAULT_ALPHAS",
    "LABEL_FREE",
    "TransferEvaluation",
    "TransferPredictor",
    "metric_correlations",
]

#: Default ridge penalties searched by the inner cross-validation: 10^-3 … 10^3 (13 values).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
#: Fewest models a fit accepts (leave-one-out needs a few to spare).
MIN_MODELS = 4


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


def _group_values(groups: Grouping | None, models: list[str], name: str) -> np.ndarray | None:
    """One group label per model (``models`` order), or ``None``."""
    if groups is None:
        return None
    if isinstance(groups, (str, bytes)) or not isinstance(groups, (Mapping, pd.Series)):
        raise TypeError(f"{name} must be a mapping model -> group or a pandas Series, got "
                        f"{type(groups).__name__}")  # fmt: skip
    from manifold.zoo.clustering import align_groups

    return align_groups(groups, models).to_numpy()


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

    @validate_params(
        {
            "max_features": [Integral(1, None), NoneOK],
            "cv": [Integral(2, None), HasMethod("split", "a splitter (with .split)"), NoneOK],
        }
    )
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
        return self.max_features  # checked by __init__

    def _cv(self) -> int | Splitter | None:
        return self.cv  # checked by __init__

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
            t: fit_task(xv, y[t].to_numpy(), alphas, max_features, cv) for t in y.columns
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
    @validate_params(
        {
            "n_bootstrap": [Integral(0, None)],
            "n_permutations": [Integral(0, None)],
            "seed": [Seed(), NoneOK],
            "hold_out": [Options(("model", "group")), NoneOK],
        }
    )
    def evaluate(
        self,
        profiles: Profile | pd.DataFrame,
        scores: pd.DataFrame | pd.Series,
        groups: Grouping | None = None,
        n_bootstrap: int = 1000,
        n_permutations: int = 200,
        seed: SeedLike = 0,
        controls: Iterable[str] | None = None,
        *,
        hold_out: str | None = None,
        bootstrap_groups: bool | Grouping = True,
        reference: pd.DataFrame | pd.Series | None = None,
    ) -> TransferEvaluation:
        """Cross-validated evaluation as the field judges label-free scores.

        For every held-out fold (one model, or one whole group) the whole procedure (z-scoring,
        screening, inner CV for the penalty, ridge fit) runs on the other models and predicts
        the held-out ones. The held-out predictions are then compared with the actual scores:

        * rank agreement: Spearman rho with a 95 % percentile bootstrap interval
          (``n_bootstrap`` resamples of whole groups, or of models), Kendall tau-b, and
          ``scipy.stats.weightedtau``;
        * selection: ``regret`` = best actual score minus the actual score of the model
          predicted best (in the scores' units), ``top1``/``top3``;
        * fit: ``r2`` = 1 - sum (y - yhat)^2 / sum (y - ybar)^2, next to ``null_r2``, the R² of
          the intercept-only model (training mean) under the same folds. With leave-one-out
          the null is 1 - (n/(n-1))^2 < 0 by construction, so read R² against it, not against 0;
        * ``p_value``: scores shuffled across all models ``n_permutations`` times, the whole
          evaluation rerun, p = (1 + #{rho_perm >= rho}) / (1 + n_permutations) (NaN if 0).
          It asks "does the profile rank the models at all?"; when groups drive both the
          metrics and the scores, read ``within_p_value`` instead;
        * with ``groups``: ``within_spearman``, Spearman's rho of the held-out residuals after
          subtracting each group's mean from the actual and from the predicted scores (models in
          groups of one left out), its bootstrap interval, and ``within_p_value`` from
          ``n_permutations`` shuffles of the scores inside each group (group effects kept),
          the whole evaluation rerun each time. Leaving one model out, a held-out model's
          group-mates stay in the training set and pull its prediction towards their own
          scores, which biases the within-group rho down (a predictor that cannot tell
          group-mates apart scores -1, as the training mean does); ``hold_out="group"``, where
          a whole group is predicted by a fit that never saw it, has no such bias.

        The same columns, prefixed, are reported for every other predictor
        (:attr:`TransferEvaluation.baselines`), all under the same folds and on the same
        bootstrap resamples:

        * ``<baseline>_``: each one-metric baseline of :data:`BASELINES` used without labels,
          in the direction of :data:`LABEL_FREE` (RankMe, effective rank, LiDAR higher is
          better; alpha closest to 1; TwoNN lower); its ``r2`` is NaN (no score scale);
        * ``directed_<baseline>_``: the same metric ranked in the direction its correlation
          with the score shows on the training folds (labels used), R² from a one-metric ridge;
        * ``spectral_``: a ridge on the baseline metrics together;
        * with ``reference``: ``reference_`` (a ridge on the reference alone), ``combined_``
          (the profile's metrics and the reference together) and ``gain_spearman`` =
          combined - reference with a paired bootstrap interval (``gain_spearman_low``,
          ``gain_spearman_high``): what the geometry adds to what is already known.

        The models are taken in name order (as by :meth:`fit` and :meth:`drivers`), so for a
        given ``seed`` the folds, intervals and p-values do not depend on the order of the rows
        (the predictions table keeps the order given). The bootstrap, the permutations across
        models and those inside groups draw from three independent streams of ``seed``, so the
        intervals do not change with ``n_permutations``.

        Args:
            profiles: A Profile or DataFrame (models × metrics).
            scores: DataFrame models × tasks, or a Series.
            groups: Mapping model -> group (or a Series): a recipe, a training run, a method.
                Used for the held-out folds (see ``hold_out``), the inner folds of a grouped
                evaluation, the cluster bootstrap and the within-group statistics.
            n_bootstrap: Bootstrap resamples for the intervals (0: no interval).
            n_permutations: Permutations for each p-value (0: none).
            seed: Seed of the bootstrap and the permutations (int or numpy Generator).
            controls: Models (e.g. untrained and supervised encoders) kept out of the fit and
                of every statistic; they are predicted by a model fitted on all other models
                and listed in :attr:`TransferEvaluation.predictions` with ``control=True``.
            hold_out: ``"group"`` (the default with ``groups``): hold out one whole group at a
                time, and choose the penalty by inner folds that keep groups whole;
                ``"model"`` (the default without): leave one model out, inner leave-one-out.
            bootstrap_groups: ``True``: resample whole ``groups`` (models when there are none);
                ``False``: resample models; a mapping model -> group: resample those groups.
            reference: What is known without geometry, a DataFrame indexed by model (e.g. 0/1
                columns for the augmentation families of the recipe, the method, a
                hyperparameter); text columns become one indicator per level. Controls need a
                row only to be predicted by it.

        Returns:
            A :class:`TransferEvaluation`.

        Examples:
            >>> import numpy as np, pandas as pd
            >>> rng = np.random.default_rng(0)
            >>> models = [f"m{i}" for i in range(24)]
            >>> group = pd.Series([f"g{i // 4}" for i in range(24)], index=models)
            >>> x = pd.DataFrame(rng.normal(size=(24, 3)), index=models, columns=["a", "b", "c"])
            >>> y = pd.Series(x["a"] + 0.1 * rng.normal(size=24), index=models, name="task")
            >>> ev = TransferPredictor().evaluate(x, y, groups=group, n_permutations=0,
            ...                                   n_bootstrap=100)
            >>> bool(ev.table.loc["task", "within_spearman"] > 0.8)
            True
        """
        alphas, max_features, cv = self._alphas(), self._max_features(), self._cv()
        x_all = as_matrix(profiles, statistic=self.statistic, metrics=self.features)
        y_all = _as_scores(scores)
        control_names = _check_controls(controls, y_all.index)
        keep = [m for m in y_all.index if m not in control_names]
        x, y, dropped = self._data(x_all.loc[[m for m in x_all.index if m not in control_names]],
                                   y_all.loc[keep])  # fmt: skip
        given = keep  # _data takes the models in name order; the predictions table keeps this one
        models = list(y.index)
        full = as_matrix(profiles, statistic=self.statistic)
        boot_rng, perm_rng, within_rng = numpy_generator(seed).spawn(3)
        group_values = _group_values(groups, models, "groups")
        hold_out = hold_out or ("group" if group_values is not None else "model")
        if hold_out == "group":
            if group_values is None:
                raise ValueError("hold_out='group' needs groups (a mapping model -> group)")
            if len(pd.unique(group_values)) < 3:
                raise ValueError(
                    "grouped cross-validation needs at least 3 groups among the evaluated "
                    f"models, got {len(pd.unique(group_values))}"
                )
        folds = held_out_sets(len(y), group_values if hold_out == "group" else None)
        if isinstance(bootstrap_groups, bool):
            boot_groups = group_values if bootstrap_groups else None
        else:
            boot_groups = _group_values(bootstrap_groups, models, "bootstrap_groups")
        notes: list[str] = [f"metric {m!r} left out: {why}" for m, why in dropped.items()]
        warn_dropped("TransferPredictor", dropped, len(dropped) + x.shape[1])
        baseline_frames: dict[str, pd.DataFrame | None] = {}
        for name, column in BASELINES.items():
            col, why = _baseline_column(full, column)
            if col is None:
                note = f"baseline {name!r}: {why}; its columns are NaN"
                notes.append(note)
                if "non-finite" in why:  # a missing column is normal (no views); NaN is not
                    warnings.warn(note, UserWarning, stacklevel=2)
            baseline_frames[name] = col
        baselines = {name: None if col is None else col.loc[models].to_numpy()[:, 0]
                     for name, col in baseline_frames.items()}  # fmt: skip
        available = [v for v in baselines.values() if v is not None]
        ref = ref_all = None
        if reference is not None:
            known = set(map(str, reference.index)) if hasattr(reference, "index") else set()
            ref_all = encode_reference(
                reference, models + [m for m in sorted(control_names) if m in known]
            )
            ref = ref_all.loc[models]
        plan = EvaluationPlan(
            x=x.to_numpy(), folds=folds,
            inner_groups=group_values if hold_out == "group" else None,
            groups=group_values,
            resamples=resample_indices(len(y), boot_groups, n_bootstrap, boot_rng)
            if n_bootstrap else [],
            alphas=alphas, max_features=max_features, cv=cv, baselines=baselines,
            spectral=np.column_stack(available) if len(available) >= 2 else None,
            reference=None if ref is None else ref.to_numpy(),
        )  # fmt: skip
        if len(available) < 2:
            notes.append("fewer than two baseline metrics: no spectral ridge")
        n_groups = 0 if group_values is None else len(pd.unique(group_values))
        cv_text = ("leave one model out" if hold_out == "model"
                   else f"leave one group out ({len(folds)} groups; inner folds keep groups "
                   "whole)")  # fmt: skip
        notes.append(f"{cv_text}; {len(y)} models" + (f", controls apart: {sorted(control_names)}"
                                                      if control_names else ""))  # fmt: skip
        if n_bootstrap:
            n_boot_groups = 0 if boot_groups is None else len(pd.unique(boot_groups))
            notes.append(f"bootstrap: {n_bootstrap} resamples of "
                         + (f"{n_boot_groups} groups (whole groups)" if n_boot_groups
                            else f"{len(y)} models"))  # fmt: skip
        if ref is not None:
            notes.append(f"reference: {ref.shape[1]} column(s) {list(ref.columns)}")
        if group_values is not None and plan.within_mask() is None:
            notes.append("no group has two or more models: no within-group statistics")
        if len(y) < 20:
            notes.append(f"R² over {len(y)} models is noisy; read it next to null_r2 and the "
                         "rank statistics' CIs")  # fmt: skip

        rows, preds, null, null_within = [], [], {}, {}
        for task in y.columns:
            yt = y[task].to_numpy()
            # thousands of SVDs of (models × metrics) matrices: threads only add overhead
            with threadpool_limits(limits=1):
                stats, task_scores, nulls = evaluate_task(plan, yt, n_permutations, perm_rng,
                                                          within_rng)  # fmt: skip
            row: dict[str, float] = {"n_models": len(yt), "n_features": x.shape[1],
                                     "n_groups": n_groups, **stats}  # fmt: skip
            if "spearman" in nulls:
                null[task] = nulls["spearman"]
            if "within" in nulls:
                null_within[task] = nulls["within"]
            rows.append(pd.Series(row, name=task))
            table = {"task": task, "model": models, "control": False}
            if group_values is not None:
                table["group"] = group_values
            table.update({"actual": yt, "predicted": task_scores[""]})
            table.update({k: v for k, v in task_scores.items() if k})
            table["mean"] = mean_lomo(yt, folds)
            frame = pd.DataFrame(table)
            frame = frame.iloc[pd.Index(frame["model"]).get_indexer(given)].reset_index(drop=True)
            if control_names:
                frame = pd.concat([frame, self._control_predictions(
                    plan, task, yt, x, x_all, y_all, control_names, baseline_frames, ref_all
                )], ignore_index=True)  # fmt: skip
            preds.append(frame)
        table = pd.DataFrame(rows)
        table.index.name = "task"
        counts = ["n_models", "n_features", "n_groups"]
        table[counts] = table[counts].astype(int)
        return TransferEvaluation(table, pd.concat(preds, ignore_index=True), null, notes,
                                  null_within)  # fmt: skip

    @staticmethod
    def _control_predictions(plan, task, yt, x, x_all, y_all, controls, baseline_frames,
                             reference) -> pd.DataFrame:  # fmt: skip
        """Controls predicted by fits on every non-control model (never part of the stats)."""
        names = sorted(controls)
        missing = [m for m in names if m not in x_all.index]
        if missing:
            raise ValueError(f"controls without a profile: {missing}")
        xc = x_all.loc[names, list(x.columns)].to_numpy()
        new = {name: None if col is None or not set(names) <= set(col.index)
               else col.loc[names].to_numpy()[:, 0]
               for name, col in baseline_frames.items()}  # fmt: skip
        ref = None
        if reference is not None and set(names) <= set(reference.index):
            ref = reference.loc[names].to_numpy()
        out = {"task": task, "model": names, "control": True,
               "actual": y_all.loc[names, task].to_numpy()}  # fmt: skip
        out.update(control_predictions(plan, yt, xc, new, ref))
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
            _, folds = lomo(xv, y[task].to_numpy(), alphas, max_features, cv)
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


@validate_params(
    {
        "method": [Options(("spearman", "kendall"))],
        "n_bootstrap": [Integral(0, None)],
        "seed": [Seed(), NoneOK],
        "confidence": [Real(0, 1, closed="neither")],
    }
)
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

    if n_bootstrap and method != "spearman":
        raise ValueError("bootstrap intervals are implemented for method='spearman' only")
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
