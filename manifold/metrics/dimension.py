"""Global and per-point intrinsic dimension from nearest-neighbour distances.

Both estimators read the sorted distances of a kNN graph, so a graph built once (with
:func:`manifold.graphs.knn_graph`) can be handed to each of them; raw points are accepted too and
the graph is then built here.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from manifold._checks import as_tensor, degenerate
from manifold._deprecation import warn_deprecated
from manifold._summary import PointMetric
from manifold._validation import Boolean, Integral, NoneOK, Options, Real, validate_params
from manifold.typing import PointsOrGraph

__all__ = ["mle_dimension", "mle_dimension_pointwise", "twonn_dimension"]


def _knn_distances(
    z_or_graph: PointsOrGraph, k: int, who: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``(N, k)`` sorted neighbour distances of the *distinct* rows, and the row map.

    From a kNN/NNK graph or raw points. When some rows are exact duplicates (a nearest
    neighbour at distance 0) and the points are at hand, the graph is rebuilt on the distinct
    rows, with one warning saying how many rows were merged; the second value then maps each
    input row to its distinct row (``None`` when nothing was merged). A graph without its points
    is used as given.
    """
    from manifold.graphs import Graph, as_graph

    if isinstance(z_or_graph, Graph):
        graph = as_graph(z_or_graph, "knn")  # an NNKGraph carries its candidate kNN graph
        dist = np.asarray(graph.distances, dtype=np.float64)
        if dist.ndim != 2:
            raise ValueError(f"expected graph distances of shape (N, k), got {dist.shape}")
        if dist.shape[1] < k:
            raise ValueError(
                f"this estimator needs k = {k} neighbours per point, the graph has "
                f"{dist.shape[1]}; build it with knn_graph(z, k={k}) or more"
            )
        if not np.all(np.isfinite(dist)):
            raise ValueError("graph distances contain non-finite values")
        if np.any(dist < 0):
            raise ValueError("graph distances must be >= 0, got negative values")
        dist = dist[:, :k]
        points, metric = graph.points, graph.metric
        if points is not None and points.shape[0] != dist.shape[0]:
            points = None
    else:
        points, _ = as_tensor(z_or_graph, "z", ("N", "D"), min_sizes={"N": k + 1})
        metric = "euclidean"
        dist = np.asarray(as_graph(points, "knn", k=k).distances, dtype=np.float64)
    if points is None or not np.any(dist[:, 0] <= 0):
        return dist, None
    distinct, rows = _distinct_distances(points, k, metric, who)
    return (dist, None) if distinct is None else (distinct, rows)


def _distinct_distances(
    points: Any, k: int, metric: str, who: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    from manifold.graphs import as_graph

    rows = points.detach().cpu().numpy()
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # distinct rows in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    n, n_distinct = rows.shape[0], order.size
    if n_distinct == n:
        # zero distances without equal rows (cosine: parallel vectors) are handled downstream
        return None, None
    if n_distinct < k + 1:
        # collapse (e.g. a constant representation) is a result, not an error: NaN
        degenerate(
            f"{who} needs at least k + 1 = {k + 1} distinct rows of z, got {n_distinct} "
            f"distinct among {n} (collapsed embeddings); returning NaN",
            stacklevel=4,
        )
        return np.empty((0, k)), np.zeros(n, dtype=np.int64)
    warnings.warn(
        f"{who}: {n - n_distinct} of {n} rows of z duplicate other rows; computed on the "
        f"{n_distinct} distinct rows",
        UserWarning,
        stacklevel=3,
    )
    keep = torch.from_numpy(first[order]).to(points.device)
    distinct = as_graph(points.index_select(0, keep), "knn", k=k, metric=metric).distances
    return np.asarray(distinct, dtype=np.float64), rank[inverse.ravel()]


@validate_params(
    {
        "discard_fraction": [Real(0, 1, closed="left")],
        "per_point": [Boolean()],
        "method": [Options(("linear", "mle"))],
    }
)
def twonn_dimension(
    z_or_graph: PointsOrGraph,
    discard_fraction: float = 0.1,
    per_point: bool = False,
    *,
    method: str = "linear",
) -> float:
    r"""TwoNN intrinsic dimension (Facco et al. 2017).

    With :math:`r_1, r_2` the distances from point *i* to its first and second nearest
    neighbours, :math:`\mu_i = r_2 / r_1` follows a Pareto law :math:`F(\mu) = 1 - \mu^{-d}`
    on a locally uniform *d*-dimensional manifold, so :math:`-\log(1 - F(\mu)) = d \log\mu`.

    ``method="linear"`` (the paper's estimator, and scikit-dimension's ``TwoNN`` default):
    sort the :math:`\mu`, keep the :math:`n = \lfloor N (1 - f) \rfloor` smallest
    (``f = discard_fraction``), set :math:`F_j = j / N` for the *j*-th smallest, and fit
    :math:`y_j = -\log(1 - F_j)` against :math:`x_j = \log \mu_{(j)}` by least squares through
    the origin: :math:`\hat d = \sum_j x_j y_j / \sum_j x_j^2`. The largest ratio has
    :math:`F = 1` (:math:`y = \infty`) and is always left out of the fit, which matters only with
    ``discard_fraction=0`` (where scikit-dimension returns NaN).

    ``method="mle"``: the censored maximum-likelihood estimate (as scikit-dimension's
    ``method="mle"``), :math:`\hat d = (n - 1) / (\sum_{j \le n} \log\mu_{(j)} +
    (N - n)\log\mu_{(n)})`.

    Duplicates: exact duplicate rows are merged and the estimate is computed on the distinct
    rows, with one warning that says how many rows were merged (a duplicate has an undefined
    ratio, and its copies would otherwise keep tied neighbours: dropping only the copies, as
    scikit-dimension does, biases the estimate upwards). An input whose every row is duplicated
    gets the answer of its distinct rows. A graph without its points (``points=None``) cannot
    be rebuilt: its points at distance 0 from their nearest neighbour are dropped, with a
    warning. If fewer than 2 ratios remain, a ``ValueError`` is raised.

    TwoNN is a global estimator: one ratio per point carries too little information for a
    per-point dimension, so ``per_point=True`` raises; use
    :func:`mle_dimension_pointwise` for per-point estimates.

    Reference: E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic
    dimension of datasets by a minimal neighborhood information", Scientific Reports 7 (2017).

    Args:
        z_or_graph: ``(N, D)`` points, or a :class:`~manifold.graphs.KNNGraph` (``k >= 2``; only
            its first two distance columns are used) or an NNK graph (its kNN graph is used).
        discard_fraction: Fraction of the largest ratios left out of the fit, in ``[0, 1)``.
        per_point: Must be False (see above).
        method: ``"linear"`` or ``"mle"``.

    Returns:
        The estimated dimension (a float).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = np.zeros((2000, 10))
        >>> z[:, :2] = rng.random((2000, 2))
        >>> round(twonn_dimension(z), 1)
        2.0
    """
    if per_point:
        raise ValueError(
            "twonn_dimension is a global estimator (one distance ratio per point does not "
            "determine a per-point dimension); use mle_dimension_pointwise(...)"
        )
    dist, rows = _knn_distances(z_or_graph, 2, "twonn_dimension")
    if dist.size == 0 and rows is not None:
        return float("nan")
    r1, r2 = dist[:, 0], dist[:, 1]
    zero = r1 <= 0
    if zero.any():
        warnings.warn(
            f"twonn_dimension: dropping {int(zero.sum())} of {len(r1)} points whose nearest "
            "neighbour is at distance 0 (duplicate points)",
            UserWarning,
            stacklevel=2,
        )
    mu = np.sort(r2[~zero] / r1[~zero])
    n_total = mu.size
    n_keep = int(n_total * (1 - discard_fraction))
    if n_keep < 2:
        raise ValueError(
            f"twonn_dimension needs at least 2 points of z with distinct nearest neighbours "
            f"after discarding; {n_total} points have a nonzero nearest-neighbour distance and "
            f"{n_keep} remain after discard_fraction={discard_fraction}"
        )
    if method == "linear":
        # F = N / N = 1 would give y = inf: the largest ratio never enters the linear fit
        n_keep = min(n_keep, n_total - 1)
    log_mu = np.log(mu[:n_keep])
    if method == "mle":
        denominator = log_mu.sum() + (n_total - n_keep) * log_mu[-1]
    else:
        denominator = float(np.dot(log_mu, log_mu))
    if denominator <= 0:
        return degenerate(
            "twonn_dimension is undefined for this z: every kept point has r2 == r1 (equidistant "
            "first and second neighbours, e.g. a regular lattice); returning NaN"
        )
    if method == "mle":
        return float((n_keep - 1) / denominator)
    y = -np.log1p(-np.arange(1, n_keep + 1) / n_total)
    return float(np.dot(log_mu, y) / denominator)


@validate_params(
    {
        "k": [Integral(2, None)],
        "per_point": [Boolean(), NoneOK],
        "numerator": [Options(("k-1", "k-2"))],
        "unbiased": [Boolean(), NoneOK],
    }
)
def mle_dimension(
    z_or_graph: PointsOrGraph,
    k: int = 20,
    per_point: bool | None = None,
    *,
    numerator: str = "k-1",
    unbiased: bool | None = None,
) -> float:
    r"""Maximum-likelihood intrinsic dimension (Levina & Bickel 2005, MacKay–Ghahramani mean).

    With :math:`T_1 \le \dots \le T_k` the distances from point *i* to its *k* nearest
    neighbours (the point itself excluded), the per-point estimate is

    .. math:: \hat m_i = \Big[\frac{1}{k - 1}\sum_{j=1}^{k-1}\log\frac{T_k}{T_j}\Big]^{-1}

    and the global estimate averages the inverses (MacKay & Ghahramani 2005):
    :math:`\hat m = \big(\frac{1}{N}\sum_i \hat m_i^{-1}\big)^{-1}`. This is scikit-dimension's
    ``MLE()`` with its defaults (``n_neighbors=20``, ``comb="mle"``, ``unbiased=False``, no
    noise model).

    Why ``k - 1``: on a locally uniform *d*-dimensional sample,
    :math:`\sum_{j<k}\log(T_k/T_j)` is a Gamma(k − 1, 1/d) variable, so
    :math:`\hat m_i^{-1}` (with ``k - 1``) is an unbiased estimate of :math:`1/d`, and the
    harmonic combination above averages exactly these unbiased inverses. Levina & Bickel's
    ``k - 2`` makes the per-point :math:`\hat m_i` unbiased instead; combined with the harmonic
    mean it corrects the same bias twice and the global estimate comes out low by the factor
    :math:`(k-2)/(k-1)` (d = 5, k = 20: about 4.74 in expectation instead of 5).
    ``numerator="k-2"`` reproduces scikit-dimension's ``MLE(unbiased=True)``, which makes the
    same double correction; it is kept for comparison, not recommended for the global value.

    Duplicates: exact duplicate rows are merged and the estimate is computed on the distinct
    rows, with one warning that says how many were merged; per-point values are given to every
    input row (a duplicate gets the value of its distinct row). An input whose every row is
    duplicated gets the answer of its distinct rows. What is left (a graph without its points,
    or zero cosine distances between parallel vectors): neighbours at distance 0 are left out
    of the point's sum and its numerator counts only the :math:`k_i` positive distances
    (:math:`k_i - 1`, or :math:`k_i - 2`). A point with too few positive distances, or whose
    positive distances are all equal (zero log-sum), has no estimate: it is dropped from the
    global mean with a warning and its per-point value (:func:`mle_dimension_pointwise`) is set
    to the global estimate. Without duplicates this equals scikit-dimension exactly. If no point
    has an estimate the result is NaN, with a :class:`~manifold.DegenerateWarning`.

    References: E. Levina, P. Bickel, "Maximum likelihood estimation of intrinsic dimension",
    NeurIPS 2005; D. MacKay, Z. Ghahramani, "Comments on 'Maximum likelihood estimation of
    intrinsic dimension'" (2005).

    Args:
        z_or_graph: ``(N, D)`` points, or a :class:`~manifold.graphs.KNNGraph` with at least ``k``
            neighbours (the first ``k`` columns are used), or an NNK graph (its kNN graph).
        k: Neighbours per point, ``k >= 2`` (``>= 3`` with ``numerator="k-2"``).
        per_point: Deprecated: ``per_point=True`` is :func:`mle_dimension_pointwise` (the
            per-point :math:`\hat m_i` as a :class:`~manifold.PointMetric`), ``per_point=False``
            this function without it. Either warns and gives that result, for one more release.
        numerator: ``"k-1"`` (default, see above) or ``"k-2"`` (scikit-dimension's
            ``unbiased=True``).
        unbiased: Deprecated alias: ``unbiased=True`` is ``numerator="k-2"``, which is not an
            unbiased global estimate (see above).

    Returns:
        The global estimate :math:`\hat m` (a float).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = np.zeros((2000, 10))
        >>> z[:, :3] = rng.random((2000, 3))
        >>> round(mle_dimension(z, k=20), 0)
        3.0
    """
    if per_point is not None:
        new = "mle_dimension_pointwise(...)" if per_point else "mle_dimension(...) without it"
        warn_deprecated(f"mle_dimension(..., per_point={per_point!r})", new)
        if per_point:
            return _mle(z_or_graph, k, numerator, unbiased)[1]  # type: ignore[return-value]
    return _mle(z_or_graph, k, numerator, unbiased)[0]


@validate_params({"k": [Integral(2, None)], "numerator": [Options(("k-1", "k-2"))]})
def mle_dimension_pointwise(
    z_or_graph: PointsOrGraph,
    k: int = 20,
    *,
    numerator: str = "k-1",
) -> PointMetric:
    r"""Per-point maximum-likelihood intrinsic dimension (Levina & Bickel 2005).

    The per-point estimates :math:`\hat m_i` of :func:`mle_dimension` (the formula, the choice
    of numerator and the handling of duplicates are described there), one per input row, as
    scikit-dimension's ``MLE().fit_pw`` gives them: the global estimate is the harmonic mean of
    these values over the points that have one. A point without an estimate gets the global
    estimate.

    Args:
        z_or_graph: ``(N, D)`` points, or a :class:`~manifold.graphs.KNNGraph` with at least ``k``
            neighbours (the first ``k`` columns are used), or an NNK graph (its kNN graph).
        k: Neighbours per point, ``k >= 2`` (``>= 3`` with ``numerator="k-2"``).
        numerator: ``"k-1"`` (default) or ``"k-2"`` (scikit-dimension's ``unbiased=True``).

    Returns:
        A :class:`~manifold.PointMetric` named ``"mle_dimension"``, one value per row of ``z``
        (NaN everywhere, with a :class:`~manifold.DegenerateWarning`, when no point has an
        estimate).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = np.zeros((2000, 10))
        >>> z[:, :3] = rng.random((2000, 3))
        >>> local = mle_dimension_pointwise(z, k=20)
        >>> harmonic_mean = float(1 / np.mean(1 / local.values))
        >>> local.values.shape, round(harmonic_mean, 6) == round(mle_dimension(z, k=20), 6)
        ((2000,), True)
    """
    return _mle(z_or_graph, k, numerator, None)[1]


def _mle(
    z_or_graph: PointsOrGraph, k: Any, numerator: Any, unbiased: Any
) -> tuple[float, PointMetric]:
    """The global estimate and the per-point estimates (warnings at the user's call)."""
    if unbiased is not None:
        warnings.warn(
            "mle_dimension(unbiased=...) is deprecated: with the harmonic combination the "
            "k - 2 numerator corrects the bias twice (scikit-dimension does the same); pass "
            "numerator='k-2' to reproduce scikit-dimension's unbiased=True",
            FutureWarning,
            stacklevel=3,
        )
        if unbiased:
            numerator = "k-2"
    offset = 2 if numerator == "k-2" else 1
    if k < offset + 1:  # k >= 2 is checked at the call; the k - 2 numerator needs one more
        raise ValueError(f"k must be >= {offset + 1} with numerator='k-2', got {k}")
    dist, rows = _knn_distances(z_or_graph, k, "mle_dimension")
    if dist.size == 0 and rows is not None:
        nan = float("nan")
        return nan, PointMetric("mle_dimension", np.full(rows.size, nan))
    positive = dist > 0
    k_i = positive.sum(axis=1)
    t_k = dist[:, -1:]
    # log(T_k / T_j) over the positive distances only; 0 elsewhere (no division by 0 anywhere)
    ratio = np.where(t_k > 0, t_k, 1.0) / np.where(positive, dist, 1.0)
    logs = np.where(positive, np.log(ratio), 0.0)
    log_sum = logs.sum(axis=1)
    numerator = (k_i - offset).astype(np.float64)
    valid = (numerator > 0) & (log_sum > 0)
    n_bad = int((~valid).sum())
    if not valid.any():
        nan = degenerate(
            "mle_dimension is undefined: no point of z has enough distinct positive neighbour "
            f"distances among its k = {k} neighbours (duplicate or equidistant points); "
            "returning NaN",
            stacklevel=4,
        )
        n_points = len(dist) if rows is None else rows.size
        return nan, PointMetric("mle_dimension", np.full(n_points, nan))
    if n_bad:
        warnings.warn(
            f"mle_dimension: {n_bad} of {len(dist)} points have no estimate (duplicate or "
            "equidistant neighbours) and are left out of the global mean",
            UserWarning,
            stacklevel=3,
        )
    inverse = log_sum[valid] / numerator[valid]
    global_estimate = float(1.0 / inverse.mean())
    values = np.full(len(dist), global_estimate)
    values[valid] = 1.0 / inverse
    return global_estimate, PointMetric("mle_dimension", values if rows is None else values[rows])
