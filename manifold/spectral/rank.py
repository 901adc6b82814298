"""Rank-like summaries of an embedding spectrum: RankMe, effective rank, stable rank, PR, NESum.

Two different spectra are used, and each docstring says which:

* the singular values σ of Z *uncentered* (RankMe, effective rank, stable rank), as in the
  RankMe paper;
* the eigenvalues λ of the *centered* covariance ``Σ(z−μ)(z−μ)ᵀ/(N−1)`` (participation ratio,
  NESum), as in the alpha-ReQ line of work.

All are read from one :func:`~manifold.spectral.spectrum`; to compute several, build it once.
"""

from __future__ import annotations

from .._validation import Integral, NoneOK, Real, Seed, validate_params
from ..settings import RANKME_MAX_SAMPLES
from ..typing import Batches, Embeddings, SeedLike
from ._decomposition import spectrum

__all__ = ["effective_rank", "nesum", "participation_ratio", "rankme", "stable_rank"]


@validate_params(
    {
        "eps": [Real(0, None)],
        "max_samples": [Integral(2, None), NoneOK],
        "seed": [Seed(), NoneOK],
    }
)
def rankme(
    z: Embeddings | Batches,
    eps: float = 1e-7,
    max_samples: int | None = RANKME_MAX_SAMPLES,
    seed: SeedLike = 0,
) -> float:
    """RankMe: the exponential of the entropy of the normalised singular values of Z.

    ``p_k = σ_k / ‖σ‖₁ + ε``,  ``RankMe = exp(−Σ_k p_k log p_k)``, with σ the singular values
    of the **uncentered** embedding matrix Z (k = 1..min(N, D)). ε = 1e-7 follows the paper
    (float32 noise level). For a matrix of rank r, RankMe ≤ r up to the ε term:
    ``RankMe ≤ exp((1 + rε) log(r/(1 + rε)) + (K − r) ε log(1/ε))`` with K = min(N, D).

    Not the covariance eigenvalues: reptrix's ``get_rankme`` applies the same entropy to the
    centered covariance eigenvalues (σ² of the centered matrix) and reports a different number,
    e.g. 278.6 for reptrix against 1571.4 here on the same 25600×2048 matrix.

    Reference: Q. Garrido, R. Balestriero, L. Najman, Y. LeCun, "RankMe: Assessing the
    downstream performance of pretrained self-supervised representations by their rank",
    ICML 2023.

    Args:
        z: Embeddings (N, D): numpy array or memmap, torch tensor, or an iterable of (b, D)
            batches (see :func:`~manifold.spectral.spectrum`).
        eps: The ε added to each normalised singular value.
        max_samples: Rows are capped at this many by a seeded uniform subsample, as the paper
            evaluates RankMe on 25,600 samples. ``None`` uses all rows.
        seed: Seed of the subsample.

    Returns:
        RankMe, a float in about [1, min(N, D)].

    Raises:
        ValueError: for invalid input (see :func:`~manifold.spectral.spectrum`) or an all-zero
            matrix. Constant (non-zero) embeddings are valid: they have rank 1 and RankMe ≈ 1.

    Examples:
        >>> import torch
        >>> z = torch.randn(1000, 4) @ torch.randn(4, 32)  # rank 4
        >>> rankme(z) <= 4.0001
        True
    """
    return spectrum(z, max_samples=max_samples, seed=seed).rankme(eps)


def effective_rank(z: Embeddings | Batches) -> float:
    """Effective rank: RankMe without the ε term, on the uncentered singular values.

    ``p_k = σ_k / ‖σ‖₁``,  ``erank = exp(−Σ_k p_k log p_k)`` (0 log 0 = 0), σ the singular
    values of the **uncentered** Z. Equals r exactly for r equal non-zero singular values.

    Reference: O. Roy, M. Vetterli, "The effective rank: a measure of effective
    dimensionality", EUSIPCO 2007.

    Args:
        z: Embeddings (N, D), as for :func:`rankme`; all rows are used.

    Returns:
        The effective rank, in [1, min(N, D)].

    Examples:
        >>> import numpy as np
        >>> round(effective_rank(np.eye(6)[:, :3] * 2.0), 6)
        3.0
    """
    return spectrum(z).effective_rank()


def stable_rank(z: Embeddings | Batches) -> float:
    """Stable rank ``Σ_k σ_k² / σ_1² = ‖Z‖_F² / ‖Z‖_2²`` of the uncentered matrix.

    Uses the singular values σ of the **uncentered** Z. Lies in [1, rank Z]; insensitive to
    tiny singular values.

    Reference: M. Rudelson, R. Vershynin, "Sampling from large matrices: an approach through
    geometric functional analysis", J. ACM 2007.

    Args:
        z: Embeddings (N, D), as for :func:`rankme`; all rows are used.

    Returns:
        The stable rank.

    Examples:
        >>> import numpy as np
        >>> round(stable_rank(np.diag([2.0, 1.0, 1.0])), 6)  # (4 + 1 + 1) / 4
        1.5
    """
    return spectrum(z).stable_rank()


def participation_ratio(z: Embeddings | Batches) -> float:
    """Participation ratio ``(Σ_n λ_n)² / Σ_n λ_n²`` of the centered covariance.

    λ are the eigenvalues of the **centered** covariance ``Σ_i (z_i−μ)(z_i−μ)ᵀ/(N−1)``. Equals
    d for d equal eigenvalues; a linear-dimension estimate.

    Reference: P. Gao, E. Trautmann, B. Yu, G. Santhanam, S. Ryu, K. Shenoy, S. Ganguli, "A
    theory of multineuronal dimensionality, dynamics and measurement", bioRxiv 2017.

    Args:
        z: Embeddings (N, D), as for :func:`rankme`; all rows are used.

    Returns:
        The participation ratio, in [1, min(N−1, D)].

    Raises:
        ValueError: for constant embeddings (zero covariance).

    Examples:
        >>> import numpy as np
        >>> z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        >>> round(participation_ratio(z), 6)
        2.0
    """
    return spectrum(z).participation_ratio()


def nesum(z: Embeddings | Batches) -> float:
    """NESum: the eigenvalues of the centered covariance normalised by the largest, summed.

    ``NESum = Σ_n λ_n / λ_1`` with λ the eigenvalues (descending) of the **centered**
    covariance ``Σ_i (z_i−μ)(z_i−μ)ᵀ/(N−1)``.

    Reference: C. He, M. Ozay, "Exploring the gap between collapsed and whitened features in
    self-supervised learning", ICML 2022.

    Args:
        z: Embeddings (N, D), as for :func:`rankme`; all rows are used.

    Returns:
        NESum, in [1, min(N−1, D)].

    Raises:
        ValueError: for constant embeddings (zero covariance).

    Examples:
        >>> import numpy as np
        >>> z = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        >>> round(nesum(z), 6)  # (8/3 + 2/3) / (8/3)
        1.25
    """
    return spectrum(z).nesum()
