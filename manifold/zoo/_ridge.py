"""Ridge regression of one task's scores on z-scored metrics, under nested cross-validation.

Shared by :class:`~manifold.zoo.TransferPredictor` (fit, drivers) and its evaluation: z-scoring,
optional screening, the inner search for the penalty (efficient leave-one-out, or folds that
keep groups whole), the outer held-out predictions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from manifold.typing import Splitter

__all__ = [
    "TaskModel",
    "fit_task",
    "held_out_sets",
    "inner_splits",
    "lomo",
    "mean_lomo",
    "ridge",
    "ridge_group_errors",
    "ridge_loo_errors",
    "split_errors",
    "standardise",
]


class TaskModel(NamedTuple):
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


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    xs = (x - mean) / scale
    xs[:, std <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 0.0
    return xs, mean, scale


def ridge_loo_errors(u: np.ndarray, s: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
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


def ridge_group_errors(
    u: np.ndarray, s: np.ndarray, y: np.ndarray, alphas: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """Leave-one-group-out squared errors of ridge (unpenalised intercept), for every alpha.

    Ridge with a fixed penalty is a linear smoother ŷ = H_α y, so deleting the models of a group
    G and refitting leaves residuals e_G = (I − H_GG)⁻¹ (y_G − ŷ_G) exactly (the block form of
    the leave-one-out identity), with H_α = 11ᵀ/n + U diag(s²/(s² + α)) Uᵀ from the SVD of the
    centred X. One SVD serves every group and penalty instead of one refit per group.

    Returns:
        (n_alphas, n) squared leave-one-group-out residuals (inf where I − H_GG is singular).
    """
    n = u.shape[0]
    yc = y - y.mean()
    s2 = s**2
    shrink = s2[None, :] / (s2[None, :] + alphas[:, None])  # (A, r)
    hat = np.stack([1.0 / n + (u * shrink[a]) @ u.T for a in range(alphas.size)])  # (A, n, n)
    residual = np.stack([yc - hat[a] @ yc for a in range(alphas.size)])  # (A, n)
    errors = np.empty((alphas.size, n))
    # groups of one size are solved together: one batched solve per size, not per group and
    # penalty (the per-matrix LAPACK call is the same)
    members = [np.flatnonzero(groups == g) for g in pd.unique(groups)]
    for size in sorted({idx.size for idx in members}):
        idx = np.stack([m for m in members if m.size == size])  # (G, m)
        blocks = np.eye(size) - hat[:, idx[:, :, None], idx[:, None, :]]  # (A, G, m, m)
        rhs = residual[:, idx]  # (A, G, m)
        try:
            errors[:, idx] = np.linalg.solve(blocks, rhs[..., None])[..., 0] ** 2
        except np.linalg.LinAlgError:  # a singular block: solve one by one, inf where singular
            for a in range(alphas.size):
                for g in range(idx.shape[0]):
                    try:
                        errors[a, idx[g]] = np.linalg.solve(blocks[a, g], rhs[a, g]) ** 2
                    except np.linalg.LinAlgError:
                        errors[a, idx[g]] = np.inf
    return errors


def inner_splits(
    n: int, cv: int | Splitter, groups: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The inner folds of ``cv`` (an int: k folds; or a scikit-learn splitter).

    With ``groups`` the folds never split a group (:class:`~sklearn.model_selection.GroupKFold`
    for an int); a splitter receives the groups.
    """
    from sklearn.model_selection import GroupKFold, KFold

    dummy = np.zeros((n, 1))
    if isinstance(cv, (int, np.integer)):
        if groups is None:
            return list(KFold(n_splits=int(cv)).split(dummy))
        if len(pd.unique(groups)) < cv:
            raise ValueError(
                f"cv={cv} grouped folds need at least {cv} groups among the training models, "
                f"got {len(pd.unique(groups))}"
            )
        return list(GroupKFold(n_splits=int(cv)).split(dummy, groups=groups))
    return list(cv.split(dummy, None, groups))


def split_errors(
    x: np.ndarray, y: np.ndarray, alphas: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Squared held-out errors of ridge (intercept unpenalised) for every penalty and model.

    One SVD per fold serves every penalty. A model that several splits hold out (a repeated
    splitter such as ``RepeatedKFold``) gets the mean of its squared errors over them; models
    no split holds out are NaN.
    """
    total = np.zeros((alphas.size, x.shape[0]))
    count = np.zeros(x.shape[0])
    for train, test in splits:
        xm, ym = x[train].mean(axis=0), y[train].mean()
        u, s, vt = np.linalg.svd(x[train] - xm, full_matrices=False)
        shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (A, r)
        coefs = (shrink * (u.T @ (y[train] - ym))[None, :]) @ vt  # (A, p)
        pred = ym + (x[test] - xm) @ coefs.T  # (m, A)
        np.add.at(total.T, test, (y[test][:, None] - pred) ** 2)
        np.add.at(count, test, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge coefficients and intercept (intercept unpenalised), through the SVD."""
    xm, ym = x.mean(axis=0), y.mean()
    u, s, vt = np.linalg.svd(x - xm, full_matrices=False)
    coef = vt.T @ (s / (s**2 + alpha) * (u.T @ (y - ym)))
    return coef, float(ym - xm @ coef)


def fit_task(
    x: np.ndarray,
    y: np.ndarray,
    alphas: np.ndarray,
    max_features: int | None,
    cv: int | Splitter | None,
    groups: np.ndarray | None = None,
) -> TaskModel:
    """Standardise, screen (optionally), choose the penalty by inner CV, fit ridge.

    With ``groups`` (one label per training model) the inner folds keep groups whole.
    """
    xs, x_mean, x_scale = standardise(x)
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
    if cv is None and groups is not None:
        if len(pd.unique(groups)) < 2:
            raise ValueError("the grouped inner cross-validation needs at least 2 groups among "
                             f"the training models, got {len(pd.unique(groups))}")  # fmt: skip
        errors = ridge_group_errors(u, s, ys, alphas, groups)
    elif cv is None:
        errors = ridge_loo_errors(u, s, ys, alphas)
    else:
        splits = inner_splits(len(ys), cv, groups)
        errors = split_errors(xs, ys, alphas, splits)
    best = int(np.argmin(np.nanmean(errors, axis=1)))
    coef = vt.T @ (s / (s**2 + alphas[best]) * (u.T @ ys))
    intercept = float(ys.mean() - xs.mean(axis=0) @ coef)
    return TaskModel(
        columns, x_mean[columns], x_scale[columns], y_mean, y_scale, coef, intercept,
        float(alphas[best]),
    )  # fmt: skip


def held_out_sets(n: int, groups: np.ndarray | None) -> list[np.ndarray]:
    """Held-out index sets: one model at a time, or one whole group at a time."""
    if groups is None:
        return [np.array([i]) for i in range(n)]
    return [np.flatnonzero(groups == g) for g in pd.unique(groups)]


def lomo(
    x: np.ndarray,
    y: np.ndarray,
    alphas: np.ndarray,
    max_features: int | None,
    cv: int | Splitter | None,
    folds: list[np.ndarray] | None = None,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions (leave one model, or one group, out) and per-fold coefficients.

    Everything (z-scoring, screening, the inner penalty search, the fit) runs on the training
    models of each fold only; with ``groups`` the inner folds keep the training groups whole.

    Returns:
        ``(predictions (n,), coefficients (n_folds, p))`` (coefficients 0 where screened out).
    """
    n, p = x.shape
    folds = held_out_sets(n, None) if folds is None else folds
    pred = np.empty(n)
    coefs = np.zeros((len(folds), p))
    for f, test in enumerate(folds):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        inner = None if groups is None else groups[mask]
        fit = fit_task(x[mask], y[mask], alphas, max_features, cv, inner)
        pred[test] = fit.predict(x[test])
        coefs[f, fit.columns] = fit.coef
    return pred, coefs


def mean_lomo(y: np.ndarray, folds: list[np.ndarray] | None = None) -> np.ndarray:
    """The intercept-only model under the same folds: each held-out set gets the training mean."""
    folds = held_out_sets(y.size, None) if folds is None else folds
    pred = np.empty(y.size)
    for test in folds:
        mask = np.ones(y.size, dtype=bool)
        mask[test] = False
        pred[test] = y[mask].mean()
    return pred
