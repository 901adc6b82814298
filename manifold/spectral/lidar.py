"""LiDAR: the effective rank of the linear-discriminant-analysis matrix of augmentation views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch

from .._checks import as_tensor, degenerate
from .._deprecation import warn_deprecated
from .._validation import Boolean, NoneOK, Real, validate_params
from ..typing import Batches, Views
from ._decomposition import (
    GramAccumulator,
    check_chunk_finite,
    is_batches,
    shape_str,
    symmetric_part,
)

__all__ = ["lidar"]

# Images per chunk are chosen so that one float64 chunk of views is about this size.
_CHUNK_BYTES = 64 * 2**20


def _view_chunks(views: Any) -> Iterator[torch.Tensor]:
    """Chunks of shape (b, K, D), validated; errors give the global image index."""
    if not is_batches(views):
        t, _ = as_tensor(views, "views", ("N", "K", "D"), min_sizes={"K": 2})
        step = max(1, _CHUNK_BYTES // (8 * t.shape[1] * t.shape[2]))
        for lo in range(0, t.shape[0], step):
            yield t[lo : lo + step]
        return
    shape_kd = None
    device = None
    start = 0
    for index, batch in enumerate(views):
        shape = tuple(getattr(batch, "shape", np.shape(batch)))
        where = f"batch {index} of views (images from {start})"
        if len(shape) != 3:
            raise ValueError(f"expected {where} of shape (b, K, D), got {shape_str(shape)}")
        if shape[0] == 0:
            continue
        if shape_kd is not None and shape[1:] != shape_kd:
            raise ValueError(
                f"{where} has (K, D) = {shape[1:]}, expected {shape_kd} as in the first batch"
            )
        t, _ = as_tensor(batch, where, ("b", "K", "D"), min_sizes={"K": 2}, check_finite=False)
        check_chunk_finite(
            t, "views", start, f"images {start}..{start + t.shape[0] - 1}", unit="image"
        )
        if device is None:
            shape_kd, device = tuple(t.shape[1:]), t.device
        yield t.to(device)
        start += t.shape[0]


@validate_params(
    {
        "delta": [Real(0, None)],
        "eps": [Real(0, None)],
        "delta_relative": [Boolean(), NoneOK],
    }
)
def lidar(
    views: Views | Batches,
    delta: float = 1e-4,
    eps: float = 1e-8,
    *,
    scale: Literal["within"] | None = None,
    delta_relative: bool | None = None,
) -> float:
    """LiDAR: effective rank of the LDA matrix that separates images from their own views.

    For N images with K augmented views each, ``v_ij`` (image i, view j), let μ_i be the mean
    of image i's views and μ the grand mean. Then

        ``Σ_b = Σ_i (μ_i − μ)(μ_i − μ)ᵀ / (N − 1)``
        ``Σ_w = Σ_i Σ_j (v_ij − μ_i)(v_ij − μ_i)ᵀ / (N (K − 1)) + δ I``
        ``λ = eig(Σ_w^(−1/2) Σ_b Σ_w^(−1/2))``,  ``p = (λ + ε) / Σ (λ + ε)``
        ``LiDAR = exp(−Σ p log p)``.

    The λ are also the generalised eigenvalues of ``Σ_b v = λ Σ_w v``. Up to δ, LiDAR is
    invariant to any invertible linear map of the embeddings, and it is at most N − 1 (the rank
    of Σ_b) plus a slack from ε.

    Scale: the paper's ridge δ is absolute (``scale=None``, the default here), so rescaling the
    embeddings by c changes LiDAR (it acts like a ridge δ/c²). With ``scale="within"`` δ is
    measured in units of the mean within-image variance per dimension: the ridge is
    ``δ · tr(Σ_w)/D``, and LiDAR is invariant to rescaling (``scale`` is the argument that makes
    the length-based metrics scale-free too, e.g. ``nnk_diameter(..., scale="knn")``); when
    every image's views coincide (``tr Σ_w = 0``) the ridge is ``δ · tr(Σ_b)/D`` instead, which
    gives the limit of the paper's value as Σ_w → 0 (the effective rank of Σ_b). This is a
    deviation from the paper, made so that models of different scales can be compared;
    :func:`manifold.profile` uses it (see ``docs/spectral.md`` for its measured effect).

    Undefined cases (NaN with a :class:`~manifold.DegenerateWarning`, as for collapsed
    embeddings elsewhere): with δ = 0 and a singular Σ_w, e.g. a model whose views of each image
    coincide, the matrix Σ_w^(−1/2) does not exist (any δ > 0 gives a number: when every image's
    views coincide, about the effective rank of Σ_b, its limit as δ → 0); with an absolute δ > 0
    below the float64 precision of a singular Σ_w (``δ ≤ D · eps₆₄ · λ_max(Σ_w)``, e.g. the
    default 1e-4 on embeddings of scale 1e6 with N(K − 1) < D), Σ_w + δI is singular to working
    precision and the D × D route cannot invert it (an in-memory array with N·K < D takes the
    exact N × N route below and still gives a number; ``scale="within"`` avoids the case);
    and with Σ_b = 0 to
    working precision (every image has the same mean view, a collapsed model) no direction
    separates the images: every λ is 0, so p is 0/0 with ε = 0 and uniform with ε > 0, which
    would make LiDAR D, its maximum, for a model that cannot tell images apart.

    Both scatter matrices are accumulated in float64 over chunks of images (memory O(D²)); the
    means μ_i use the same shifted accumulation as :func:`~manifold.spectral.spectrum`.

    Reference: V. Thilak, C. Huang, O. Saremi, L. Dinh, H. Goh, P. Nakkiran, J. Susskind,
    E. Littwin, "LiDAR: Sensing linear probing performance in joint embedding SSL
    architectures", ICLR 2024 (arXiv 2312.04000, 2023).

    Args:
        views: Embeddings of the views, shape (N, K, D) (numpy or torch), or an iterable of
            (b, K, D) batches of images. Needs N ≥ 2 images and K ≥ 2 views per image.
        delta: Ridge δ added to the within-image covariance (δ ≥ 0; with δ = 0 a singular
            within covariance gives NaN, see above).
        eps: ε added to each eigenvalue before normalising (ε ≥ 0).
        scale: ``None`` (δ absolute, as in the paper) or ``"within"`` (δ in units of the mean
            within-image variance per dimension; see above).
        delta_relative: Deprecated: ``delta_relative=True`` is ``scale="within"``,
            ``delta_relative=False`` is ``scale=None``. Warns, for one more release.

    Returns:
        LiDAR, a float in about [1, min(N − 1, D)].

    Raises:
        ValueError: for a shape other than (N, K, D), N < 2, K < 2, non-finite values (count
            and first image), or a ``scale`` other than ``None`` and ``"within"``.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> centres = torch.randn(50, 1, 8, generator=g)
        >>> views = centres + 0.1 * torch.randn(50, 4, 8, generator=g)
        >>> 7.0 < lidar(views) <= 8.0  # 8 well-separated directions
        True
    """
    if delta_relative is not None:
        new = 'lidar(..., scale="within")' if delta_relative else "lidar(..., scale=None)"
        warn_deprecated(f"lidar(..., delta_relative={delta_relative!r})", new)
        if scale is not None:
            raise TypeError("pass scale= alone: delta_relative= is its deprecated spelling")
        scale = "within" if delta_relative else None
    if not (scale is None or (isinstance(scale, str) and scale == "within")):
        raise ValueError(f'scale must be None or "within", got {scale!r}')
    relative = scale == "within"
    if delta > 0 and not is_batches(views):
        t, _ = as_tensor(views, "views", ("N", "K", "D"), min_sizes={"K": 2, "N": 2})
        if t.shape[0] * t.shape[1] < t.shape[2]:
            return _lidar_low_rank(t, delta, eps, relative)

    means = GramAccumulator("views")
    within = None
    n_views = 0
    for chunk in _view_chunks(views):
        x, mu, dev = _deviations(chunk)
        dev = dev.reshape(-1, x.shape[2])
        if within is None:
            within = torch.zeros((x.shape[2], x.shape[2]), dtype=torch.float64, device=x.device)
            n_views = x.shape[1]
        within.addmm_(dev.T, dev)
        means.update(mu)
    n = means.n
    if n < 2:
        got = "no images" if n == 0 else "N = 1"
        raise ValueError(f"views needs N >= 2 images to estimate Σ_b, got {got}")

    gram_b, scatter_b = means.matrices()
    sigma_b = scatter_b / (n - 1)
    dim = sigma_b.shape[0]
    if _no_between(scatter_b.trace(), gram_b.trace(), n, dim):
        return _collapsed()
    sigma_w = symmetric_part(within / (n * (n_views - 1)))
    delta_given = delta
    if relative:
        unit = _relative_unit(sigma_w.trace(), sigma_b.trace(), dim)
        delta = delta * unit
    sigma_w = sigma_w + delta * torch.eye(dim, dtype=torch.float64, device=sigma_b.device)
    w, u = torch.linalg.eigh(sigma_w)
    # singular to working precision: Σ_w^(-1/2) would amplify rounding errors without bound
    floor = dim * torch.finfo(torch.float64).eps * float(w[-1])
    if not float(w[0]) > floor:
        if delta == 0:
            return degenerate(
                f"the within-image covariance Σ_w of views is singular (eigenvalues from "
                f"{float(w[0]):.3g} to {float(w[-1]):.3g}; e.g. each image's views coincide, an "
                "invariant or collapsed model), so LiDAR with delta = 0 is undefined; use "
                "delta > 0; returning NaN"
            )
        if relative:  # the ridge is delta_given x the mean within variance: raise delta
            ridge = f"the relative ridge (delta = {delta_given:.3g}, δ = {delta:.3g})"
            fix = f"use a larger delta (δ above about {floor:.3g})"
        else:
            ridge = f"the ridge delta = {delta:.3g}"
            fix = f'use delta above about {floor:.3g} or scale="within" (as profile does)'
        return degenerate(
            f"{ridge} is below the float64 precision of the within-image covariance of views "
            f"(largest eigenvalue {float(w[-1]):.3g}), so Σ_w + δI is singular to working "
            f"precision and LiDAR cannot be computed from the D x D scatter; {fix}; "
            "returning NaN"
        )
    inv_sqrt = (u * w.rsqrt()) @ u.T
    lam = torch.linalg.eigvalsh(symmetric_part(inv_sqrt @ sigma_b @ inv_sqrt)).clamp(min=0.0)
    return _entropy_rank(lam, eps, 0)


def _deviations(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float64 views, each image's mean, and the views minus it (exactly 0 for equal views)."""
    x = views.to(torch.float64)
    # measured from the first view, so that identical views give exactly zero deviations
    d = x - x[:, :1]
    shift = d.mean(dim=1)
    return x, x[:, 0] + shift, d - shift[:, None, :]


def _no_between(scatter_trace: torch.Tensor, gram_trace: torch.Tensor, n: int, dim: int) -> bool:
    """Whether Σ_b is 0 to working precision: the image means agree up to rounding.

    The scatter ``Σ_i |μ_i − μ|²`` (accumulated from shifted rows, so it keeps the precision of
    the differences) is compared with what rounding the means alone can produce: squared
    deviations of ``c · eps₆₄ · |μ_i|`` with ``c = 4 (D + √N)``, the factor
    :func:`~manifold.spectral.spectrum` uses for zero eigenvalues.
    """
    rel = 4.0 * (dim + n**0.5) * torch.finfo(torch.float64).eps
    tol = rel * rel * float(gram_trace)
    return not float(scatter_trace) > tol


def _collapsed() -> float:
    return degenerate(
        "every image of views has the same mean view (Σ_b = 0 to working precision, e.g. "
        "collapsed embeddings): no direction separates the images, so LiDAR is undefined (the "
        "formula would give D, its maximum, for any eps > 0); returning NaN"
    )


def _relative_unit(trace_w: torch.Tensor, trace_b: torch.Tensor, dim: int) -> float:
    """tr(Σ_w)/D, or tr(Σ_b)/D when the views of every image coincide."""
    trace = float(trace_w)
    return (trace if trace > 0 else float(trace_b)) / dim


def _entropy_rank(lam: torch.Tensor, eps: float, n_zero: int) -> float:
    """exp(entropy) of p = (λ + ε)/Σ(λ + ε) over ``lam`` and ``n_zero`` further zero eigenvalues."""
    p = lam + eps
    total = p.sum() + n_zero * eps
    if float(total) <= 0.0:
        return degenerate(
            "every image of views has the same mean view (Σ_b = 0, e.g. collapsed embeddings), "
            "so every eigenvalue is 0 and with eps = 0 LiDAR is undefined; use eps > 0; "
            "returning NaN"
        )
    p = p / total
    p = p[p > 0]
    entropy = -(p * p.log()).sum()
    if n_zero and eps > 0:
        p0 = eps / total
        entropy = entropy - n_zero * p0 * torch.log(p0)
    return float(torch.exp(entropy))


def _lidar_low_rank(views: torch.Tensor, delta: float, eps: float, relative: bool = False) -> float:
    """LiDAR when N·K < D, without any D × D matrix.

    With B = (μ_i − μ)ᵀ/√(N−1) (D × N) and W = (v_ij − μ_i)ᵀ/√(N(K−1)) (D × NK), Σ_b = BBᵀ and
    Σ_w = WWᵀ + δI. The non-zero eigenvalues of Σ_w^(−1/2) Σ_b Σ_w^(−1/2) are those of the
    N × N matrix Bᵀ Σ_w⁻¹ B, and by the Woodbury identity
    Bᵀ Σ_w⁻¹ B = (BᵀB − BᵀW (δI + WᵀW)⁻¹ WᵀB) / δ. The other D − N eigenvalues are exactly 0
    and enter the entropy through ε alone.
    """
    x, mu, dev = _deviations(views)
    n, k, dim = x.shape
    b = (mu - mu.mean(dim=0)) / (n - 1) ** 0.5  # (N, D): rows are the columns of B
    if _no_between((b * b).sum() * (n - 1), (mu * mu).sum(), n, dim):
        return _collapsed()
    w = dev.reshape(n * k, dim) / (n * (k - 1)) ** 0.5
    if relative:
        unit = _relative_unit((w * w).sum(), (b * b).sum(), dim)
        delta = delta * unit
    gram_w = symmetric_part(w @ w.T) + delta * torch.eye(n * k, dtype=x.dtype, device=x.device)
    wb = w @ b.T  # WᵀB, (NK, N)
    chol = torch.linalg.cholesky(gram_w)
    solved = torch.cholesky_solve(wb, chol)
    m = (symmetric_part(b @ b.T) - wb.T @ solved) / delta
    lam = torch.linalg.eigvalsh(symmetric_part(m)).clamp(min=0.0)
    return _entropy_rank(lam, eps, dim - n)
