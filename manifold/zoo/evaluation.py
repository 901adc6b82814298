"""Cross-validated evaluation of transfer prediction: what does the geometry add?

:meth:`TransferPredictor.evaluate <manifold.zoo.TransferPredictor.evaluate>` validates its input
and hands it here. Per task, every predictor is scored by the same held-out folds, the same
bootstrap resamples and the same statistics:

* the **profile**: a ridge on every usable metric (nested cross-validation);
* one-metric baselines **label-free**, in the direction their papers give (RankMe, effective
  rank and LiDAR: higher is better; alpha: closer to 1 is better; TwoNN: lower is better), and
  **directed** (``directed_*``: the sign the training folds show, a one-metric ridge for R²);
* ``spectral``: a ridge on the baseline metrics together;
* with a ``reference`` (what the user knows without geometry: recipe, method, hyperparameters),
  ``reference`` alone and ``combined`` (profile and reference together), and the **gain**
  ``combined - reference`` with a paired bootstrap interval;
* with ``groups``, **within-group** statistics: the Spearman correlation of the held-out
  residuals after subtracting each group's mean from the actual and the predicted scores, with a
  permutation p-value that shuffles the scores only inside groups and reruns the whole pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from manifold.typing import Splitter
from manifold.zoo._evaluation import (
    percentile_interval,
    permute_within,
    spearman_over,
    within_residuals,
)
from manifold.zoo._ridge import fit_task, lomo, mean_lomo

__all__ = [
    "AGREEMENT",
    "BASELINES",
    "LABEL_FREE",
    "WITHIN",
    "EvaluationPlan",
    "TransferEvaluation",
    "evaluate_task",
    "label_free_score",
]

#: One-metric baselines: name -> profile column (``"*/lidar"``: the mean LiDAR over the
#: profiled augmentation families, where views exist).
BASELINES = {
    "rankme": "semantic/rankme",
    "effective_rank": "semantic/effective_rank",
    "alpha": "semantic/alpha",
    "twonn": "semantic/twonn_dimension",
    "lidar": "*/lidar",
}
#: The direction in which each baseline is used without labels, as its paper uses it:
#: RankMe (Garrido et al. 2023), effective rank (Roy & Vetterli 2007, RankMe without ε) and
#: LiDAR (Thilak et al. 2023) higher is better; alpha (Agrawal et al. 2022) closer to 1 is
#: better; TwoNN (Ansuini et al. 2019: a lower intrinsic dimension of the last layer goes with
#: higher accuracy) lower is better.
LABEL_FREE = {
    "rankme": "higher",
    "effective_rank": "higher",
    "alpha": "closest to 1",
    "twonn": "lower",
    "lidar": "higher",
}
#: Agreement columns, per predictor (the profile's unprefixed, the others ``<predictor>_``).
AGREEMENT = ("spearman", "spearman_low", "spearman_high", "kendall", "weighted_tau", "regret",
             "top1", "top3", "r2")  # fmt: skip
#: Within-group columns, per predictor (NaN without groups).
WITHIN = ("within_spearman", "within_spearman_low", "within_spearman_high")


def label_free_score(values: np.ndarray, direction: str) -> np.ndarray:
    """A metric turned into a score where higher means "predicted better", without labels."""
    if direction == "higher":
        return values.astype(float)
    if direction == "lower":
        return -values.astype(float)
    if direction == "closest to 1":
        return -np.abs(values.astype(float) - 1.0)
    raise ValueError(f"unknown direction {direction!r}")


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    ss_tot = float(((actual - actual.mean()) ** 2).sum())
    ss_res = float(((actual - predicted) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _is_constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


def _spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if actual.size < 3 or _is_constant(predicted) or _is_constant(actual):
        return float("nan")
    return float(spearmanr(actual, predicted).statistic)


def _ranking(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Rank agreement and selection: Spearman, Kendall tau-b, weighted tau, regret, top-1/3.

    ``regret`` is the best actual score minus the actual score of the model ranked first (in the
    scores' units); ``top1``/``top3``: is the best model ranked first / among the first three.
    All NaN when the predictions are constant (no ranking).
    """
    from scipy.stats import kendalltau, weightedtau

    out = {"spearman": _spearman(actual, predicted)}
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


def directed(x: np.ndarray, y: np.ndarray, folds: list[np.ndarray]) -> np.ndarray:
    """A one-metric score ranked in the direction the training models show.

    Held-out model i gets ``sign(corr(x, y) over the other folds) * x_i``. Ranking the raw
    metric this way is how a label-free score is judged once its sign is learned; ranking the
    held-out *ridge* predictions instead would let the leave-one-out training mean,
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


@dataclass
class EvaluationPlan:
    """Everything that stays fixed across the tasks of one evaluation.

    Attributes:
        x: (n, p) profile metrics of the evaluated models (name order).
        folds: Held-out index sets of the outer cross-validation.
        inner_groups: Group per model for the inner folds (``None``: leave one model out).
        groups: Group per model for the within-group statistics (``None``: none).
        resamples: Bootstrap index arrays (shared by every predictor and task).
        alphas, max_features, cv: The ridge settings.
        baselines: Name -> (n,) metric values (``None``: not available).
        spectral: (n, q) baseline metrics together, or ``None``.
        reference: (n, r) encoded reference, or ``None``.
    """

    x: np.ndarray
    folds: list[np.ndarray]
    inner_groups: np.ndarray | None
    groups: np.ndarray | None
    resamples: list[np.ndarray]
    alphas: np.ndarray
    max_features: int | None
    cv: int | Splitter | None
    baselines: dict[str, np.ndarray | None]
    spectral: np.ndarray | None
    reference: np.ndarray | None

    def ridge(self, x: np.ndarray, y: np.ndarray, screen: bool = False) -> np.ndarray:
        """Held-out ridge predictions of ``y`` from ``x`` under the plan's folds."""
        return lomo(x, y, self.alphas, self.max_features if screen else None, self.cv,
                    self.folds, self.inner_groups)[0]  # fmt: skip

    def profile(self, y: np.ndarray) -> np.ndarray:
        """The profile's held-out predictions (the pipeline the permutations rerun)."""
        return self.ridge(self.x, y, screen=True)

    def within_mask(self) -> np.ndarray | None:
        """Models in groups of two or more (a singleton has no within-group variation)."""
        if self.groups is None:
            return None
        sizes = pd.Series(self.groups).map(pd.Series(self.groups).value_counts()).to_numpy()
        mask = sizes >= 2
        return mask if mask.sum() >= 3 else None

    def within_spearman(self, y: np.ndarray, predicted: np.ndarray) -> float:
        """Spearman rho of the residuals after subtracting each group's mean from both."""
        mask = self.within_mask()
        if mask is None:
            return float("nan")
        both = within_residuals(np.column_stack([y, predicted]), self.groups)
        return _spearman(both[mask, 0], both[mask, 1])


def predictors(plan: EvaluationPlan, y: np.ndarray) -> tuple[dict, dict]:
    """Held-out predictions (or label-free scores) of every predictor, and what gives their R².

    Returns:
        ``(scores, fitted)``: prefix -> (n,) values ranked against ``y`` (``""`` is the profile);
        prefix -> (n,) ridge predictions on the score scale behind its R² (label-free
        baselines have none).
    """
    scores: dict[str, np.ndarray] = {"": plan.profile(y)}
    fitted: dict[str, np.ndarray] = {"": scores[""]}
    nan = np.full(y.size, np.nan)
    for name, values in plan.baselines.items():
        if values is None:
            scores[name] = scores[f"directed_{name}"] = fitted[f"directed_{name}"] = nan
            continue
        scores[name] = label_free_score(values, LABEL_FREE[name])
        scores[f"directed_{name}"] = directed(values, y, plan.folds)
        fitted[f"directed_{name}"] = plan.ridge(values[:, None], y)
    if plan.spectral is not None:
        scores["spectral"] = fitted["spectral"] = plan.ridge(plan.spectral, y)
    if plan.reference is not None:
        scores["reference"] = fitted["reference"] = plan.ridge(plan.reference, y)
        combined = np.column_stack([plan.x, plan.reference])
        scores["combined"] = fitted["combined"] = plan.ridge(combined, y, screen=True)
    return scores, fitted


def evaluate_task(
    plan: EvaluationPlan,
    y: np.ndarray,
    n_permutations: int,
    perm_rng: np.random.Generator,
    within_rng: np.random.Generator,
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One task's row of the evaluation table.

    Returns:
        ``(row, scores, nulls)``: the table row, every predictor's held-out values, and the
        permutation distributions (``"spearman"``: scores shuffled across all models;
        ``"within"``: shuffled inside groups, of the within-group rho).
    """
    scores, fitted = predictors(plan, y)
    names = list(scores)
    values = np.column_stack([scores[k] for k in names])
    row: dict[str, float] = {}
    empty = np.full((0, len(names)), np.nan)
    boot = spearman_over(y, values, plan.resamples) if plan.resamples else empty
    mask = plan.within_mask()
    within_boot = empty
    if mask is not None and plan.resamples:
        res_y = within_residuals(y, plan.groups)
        res = within_residuals(values, plan.groups)
        within_boot = spearman_over(res_y, res, [idx[mask[idx]] for idx in plan.resamples])
    for j, name in enumerate(names):
        prefix = f"{name}_" if name else ""
        stats = _ranking(y, scores[name])
        stats["r2"] = _r2(y, fitted[name]) if name in fitted else float("nan")
        finite = np.isfinite(stats["spearman"])
        stats["spearman_low"], stats["spearman_high"] = (
            percentile_interval(boot[:, j]) if finite else (np.nan, np.nan))  # fmt: skip
        row.update({f"{prefix}{k}": stats[k] for k in AGREEMENT})
        within = plan.within_spearman(y, scores[name])
        w_low, w_high = (percentile_interval(within_boot[:, j]) if np.isfinite(within)
                         else (np.nan, np.nan))  # fmt: skip
        row.update(dict(zip([f"{prefix}{k}" for k in WITHIN], (within, w_low, w_high),
                            strict=True)))  # fmt: skip
        if name == "":
            row["null_r2"] = _r2(y, mean_lomo(y, plan.folds))
    if "combined" in scores:
        j, r = names.index("combined"), names.index("reference")
        row["gain_spearman"] = row["combined_spearman"] - row["reference_spearman"]
        row["gain_spearman_low"], row["gain_spearman_high"] = percentile_interval(
            boot[:, j] - boot[:, r])  # fmt: skip
    nulls: dict[str, np.ndarray] = {}
    row["p_value"] = row["within_p_value"] = float("nan")
    if n_permutations and np.isfinite(row["spearman"]):
        shuffled = (y[perm_rng.permutation(y.size)] for _ in range(n_permutations))
        perm = np.array([_spearman(yp, plan.profile(yp)) for yp in shuffled])
        nulls["spearman"] = perm
        row["p_value"] = (1 + int((perm >= row["spearman"]).sum())) / (1 + n_permutations)
    if n_permutations and np.isfinite(row["within_spearman"]):
        shuffled = (permute_within(y, plan.groups, within_rng) for _ in range(n_permutations))
        perm = np.array([plan.within_spearman(yp, plan.profile(yp)) for yp in shuffled])
        nulls["within"] = perm
        hits = int((perm[np.isfinite(perm)] >= row["within_spearman"]).sum())
        row["within_p_value"] = (1 + hits) / (1 + n_permutations)
    return row, scores, nulls


def control_predictions(
    plan: EvaluationPlan,
    y: np.ndarray,
    x_controls: np.ndarray,
    baselines: dict[str, np.ndarray | None],
    reference: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Controls predicted by fits on every evaluated model (never part of a statistic)."""
    m = x_controls.shape[0]

    def fit(x_train: np.ndarray, x_new: np.ndarray, screen: bool = False) -> np.ndarray:
        model = fit_task(x_train, y, plan.alphas, plan.max_features if screen else None,
                         plan.cv, plan.inner_groups)  # fmt: skip
        return model.predict(x_new)

    out = {"predicted": fit(plan.x, x_controls, screen=True)}
    for name, values in plan.baselines.items():
        new = baselines.get(name)
        if values is None or new is None:
            out[name] = out[f"directed_{name}"] = np.full(m, np.nan)
            continue
        out[name] = label_free_score(new, LABEL_FREE[name])
        out[f"directed_{name}"] = fit(values[:, None], new[:, None])
    if plan.spectral is not None:
        new = np.column_stack([baselines[k] for k in plan.baselines
                               if plan.baselines[k] is not None])  # fmt: skip
        out["spectral"] = fit(plan.spectral, new)
    if plan.reference is not None:
        if reference is None:
            out["reference"] = out["combined"] = np.full(m, np.nan)
        else:
            out["reference"] = fit(plan.reference, reference)
            both = np.column_stack([plan.x, plan.reference])
            out["combined"] = fit(both, np.column_stack([x_controls, reference]), screen=True)
    out["mean"] = np.full(m, float(y.mean()))
    return out


@dataclass
class TransferEvaluation:
    """Cross-validated evaluation of transfer prediction (:meth:`TransferPredictor.evaluate`).

    Attributes:
        table: One row per task (index ``task``): ``n_models``, ``n_features``, ``n_groups``;
            the profile's agreement of held-out predictions with actual scores (``spearman``
            with its bootstrap interval ``spearman_low``/``spearman_high``, ``kendall``,
            ``weighted_tau``, ``regret`` in the scores' units, ``top1``, ``top3``, ``r2`` next to
            ``null_r2``, the intercept-only model under the same folds), ``p_value`` (scores
            shuffled across all models), ``within_spearman`` with its interval and
            ``within_p_value`` (scores shuffled inside groups); then the same agreement and
            within columns prefixed ``<predictor>_`` for every other predictor
            (:attr:`baselines`), and with a reference ``gain_spearman`` (``combined`` minus
            ``reference``) with its paired interval.
        predictions: Long table with columns ``task``, ``model``, ``control``, ``group`` (with
            groups), ``actual``, ``predicted``, one column per other predictor (label-free
            baselines hold their label-free score, higher = predicted better; every other
            column is on the scores' scale) and ``mean`` (the intercept-only model).
        null_spearman: Task -> Spearman rho of each permutation across models (behind
            ``p_value``).
        null_within: Task -> within-group rho of each permutation inside groups (behind
            ``within_p_value``).
        notes: Things the reader should know: metrics left out, baselines that could not be
            fitted, the cross-validation and bootstrap used, and the small-n caveat of R².
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    null_spearman: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    null_within: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def baselines(self) -> list[str]:
        """Prefixes of every predictor beside the profile, in table order.

        Label-free baselines (``rankme``, ...), their ``directed_*`` forms, ``spectral``, and
        with a reference ``reference`` and ``combined``.
        """
        return [c[: -len("_spearman")] for c in self.table.columns
                if c.endswith("_spearman") and c not in ("spearman", "gain_spearman")
                and not c.endswith("within_spearman")]  # fmt: skip

    @property
    def label_free(self) -> list[str]:
        """The baselines ranked without labels (not on the scores' scale)."""
        return [b for b in self.baselines if b in LABEL_FREE]

    def headline(self, task: str) -> str:
        """One line for ``task``: the profile, RankMe label-free, the reference and the gain."""
        row = self.table.loc[task]

        def part(prefix: str) -> str:
            rho, lo, hi = (row.get(f"{prefix}{k}", np.nan) for k in
                           ("spearman", "spearman_low", "spearman_high"))  # fmt: skip
            regret = row.get(f"{prefix}regret", np.nan)
            return f"rho {rho:+.2f} [{lo:+.2f}, {hi:+.2f}], regret {regret:.3g}"

        line = f"{task}: profile {part('')} (p = {row['p_value']:.3f})"
        if "rankme_spearman" in row.index:
            line += f"; RankMe (higher is better) {part('rankme_')}"
        if "gain_spearman" in row.index:
            gain = (row["gain_spearman"], row["gain_spearman_low"], row["gain_spearman_high"])
            line += (f"; reference {part('reference_')}; gain {gain[0]:+.2f} "
                     f"[{gain[1]:+.2f}, {gain[2]:+.2f}]")  # fmt: skip
        if np.isfinite(row.get("within_spearman", np.nan)):
            line += (f"; within groups rho {row['within_spearman']:+.2f} "
                     f"(p = {row['within_p_value']:.3f})")  # fmt: skip
        return line

    def __repr__(self) -> str:
        return f"TransferEvaluation(\n{self.table.round(3).to_string()}\n)"
