"""The spectrum of an embedding matrix, and the spectral metrics as functions of it.

:class:`Spectrum` holds the singular values and covariance eigenvalues that
:func:`manifold.spectral.spectrum` computes; the functions below read each spectral metric from
them. They sit in the base layer, with the other result types, so that a saved profile reads its
spectra back without importing the compute layer; the module-level functions of
:mod:`manifold.spectral` and the methods of :class:`Spectrum` share them, so that both give the
same numbers from the same decomposition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from manifold._checks import degenerate

__all__ = [
    "PowerLawFit",
    "Spectrum",
    "entropy_rank",
    "fit_power_law",
    "nesum",
    "participation_ratio",
    "stable_rank",
]


def entropy_rank(values: np.ndarray, eps: float) -> float:
    """Entropy rank exp(H) of ``p_k = v_k/‖v‖₁ + eps`` (RankMe; the effective rank when eps = 0)."""
    total = float(values.sum())
    if total <= 0.0:
        return degenerate(
            "the embeddings z are all zeros: every singular value is 0, so the entropy of the "
            "normalised spectrum (RankMe / effective rank) is undefined; returning NaN"
        )
    p = values / total + eps
    positive = p[p > 0]
    return float(np.exp(-np.sum(positive * np.log(positive))))


def stable_rank(singular_values: np.ndarray) -> float:
    """Σσ²/σ₁²."""
    top = float(singular_values[0])
    if top <= 0.0:
        return degenerate(
            "the embeddings z are all zeros: the largest singular value is 0, so the stable rank "
            "Σσ²/σ₁² is undefined; returning NaN"
        )
    sq = (singular_values / top) ** 2
    return float(sq.sum())


def _collapsed(eigenvalues: np.ndarray, metric: str) -> bool:
    """Whether the covariance is zero (collapse); warns (:class:`DegenerateWarning`) if so."""
    if eigenvalues.size == 0 or float(eigenvalues[0]) <= 0.0:
        degenerate(
            f"the centered covariance of z is zero (constant embeddings: every row is the same, "
            f"a collapsed representation), so the {metric} is undefined; returning NaN",
            stacklevel=4,
        )
        return True
    return False


def participation_ratio(eigenvalues: np.ndarray) -> float:
    """(Σλ)²/Σλ² (NaN with a :class:`DegenerateWarning` when the covariance is zero)."""
    if _collapsed(eigenvalues, "participation ratio (Σλ)²/Σλ²"):
        return float("nan")
    scaled = eigenvalues / eigenvalues[0]
    return float(scaled.sum() ** 2 / np.sum(scaled**2))


def nesum(eigenvalues: np.ndarray) -> float:
    """Σλ_n/λ_1 (NaN with a :class:`DegenerateWarning` when the covariance is zero)."""
    if _collapsed(eigenvalues, "NESum Σλ_n/λ_1"):
        return float("nan")
    return float(np.sum(eigenvalues / eigenvalues[0]))


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a power-law fit ``log λ_n = −α log n + c`` to a covariance spectrum.

    Attributes:
        alpha: Decay exponent α (larger = faster decay, fewer effective dimensions).
        intercept: Intercept c, so that the fitted spectrum is ``exp(c) · n^(−α)``.
        r2: Coefficient of determination of the fit in log space, weighted by 1/n like the fit
            itself: ``1 − Σ w_n r_n² / Σ w_n (y_n − ȳ_w)²``. 1.0 for an exact power law (also
            when the log-eigenvalues are constant over the range, where the denominator is 0).
            A fit quality over the chosen ranks, not a test of a power law.
        fit_range: The ranks ``(first, last)`` actually used (1-based, inclusive), after
            clipping the requested range to the eigenvalues that exist and are positive.
        eigenvalues: All covariance eigenvalues, descending.
    """

    alpha: float
    intercept: float
    r2: float
    fit_range: tuple[int, int]
    eigenvalues: np.ndarray = field(repr=False, compare=False)

    def __float__(self) -> float:
        return self.alpha


def _check_fit_range(fit_range: tuple[int, int]) -> tuple[int, int]:
    try:
        lo, hi = fit_range
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"fit_range must be a pair of ranks (first, last), got {fit_range!r}"
        ) from err
    for value in (lo, hi):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"fit_range must hold integer ranks, got {fit_range!r}")
    lo, hi = int(lo), int(hi)
    if lo < 1 or hi <= lo:
        raise ValueError(
            f"fit_range must be (first, last) with 1 <= first < last (1-based ranks), "
            f"got {fit_range!r}"
        )
    return lo, hi


def fit_power_law(eigenvalues: np.ndarray, fit_range: tuple[int, int]) -> PowerLawFit:
    """Weighted least-squares fit of ``log λ_n = −α log n + c`` with weights 1/n."""
    lo, hi = _check_fit_range(fit_range)
    nan = float("nan")
    if _collapsed(eigenvalues, "power-law exponent alpha"):
        return PowerLawFit(nan, nan, nan, (lo, lo), eigenvalues)
    n_positive = int(np.count_nonzero(eigenvalues > 0))
    last = min(hi, n_positive)
    if last - lo + 1 < 2:
        degenerate(
            f"alpha needs at least 2 positive eigenvalues at ranks {lo}..{hi} to fit a line, "
            f"but the covariance has {eigenvalues.size} eigenvalues of which {n_positive} are "
            f"positive (its rank is at most min(N-1, D), and eigenvalues at rounding-noise level "
            f"count as 0); use more samples, a lower fit_range, or check for collapsed "
            f"embeddings; returning NaN",
            stacklevel=3,
        )
        return PowerLawFit(nan, nan, nan, (lo, max(lo, last)), eigenvalues)
    ranks = np.arange(lo, last + 1, dtype=np.float64)
    x = np.log(ranks)
    y = np.log(eigenvalues[lo - 1 : last])
    w = 1.0 / ranks
    w = w / w.sum()
    x_mean = float(w @ x)
    y_mean = float(w @ y)
    dx = x - x_mean
    dy = y - y_mean
    slope = float(w @ (dx * dy)) / float(w @ (dx * dx))
    intercept = y_mean - slope * x_mean
    residual = y - (intercept + slope * x)
    ss_res = float(w @ residual**2)
    ss_tot = float(w @ dy**2)
    r2 = 1.0 if ss_tot == 0.0 else 1.0 - ss_res / ss_tot
    return PowerLawFit(
        alpha=-slope,
        intercept=float(intercept),
        r2=float(r2),
        fit_range=(lo, last),
        eigenvalues=eigenvalues,
    )


@dataclass(frozen=True, eq=False)
class Spectrum:
    """The two spectra of an embedding matrix, from which every spectral metric is read.

    Build it with :func:`manifold.spectral.spectrum`; each method reads a metric without touching
    the data again. A result type, like :class:`~manifold.PointMetric`: it sits under every layer
    (a saved :class:`~manifold.results.Profile` reads its spectra back as instances).

    Attributes:
        singular_values: Singular values σ of the *uncentered* Z, descending, float64, length
            ``min(N, D)``; values below ``σ_max · sqrt(4 (D + √N) eps₆₄)`` are reported as 0
            (eps₆₄ ≈ 2.2e-16: about 3.4e-7 σ_max at D = 100, N = 1,000 and 1.4e-6 σ_max at
            D = 2048, N = 25,600; see the module notes on the Gram route).
        eigenvalues: Eigenvalues λ of the *centered* covariance ``Σ(z−μ)(z−μ)ᵀ/(N−1)``,
            descending, float64, length ``min(N−1, D)`` (the covariance has rank ≤ N−1). With
            ``center=False`` they are the eigenvalues of ``ZᵀZ/N`` instead (length ``min(N, D)``).
        n_samples: Number of rows the spectra were computed from (after subsampling).
        dim: Embedding dimension D.
        centered: Whether ``eigenvalues`` are those of the centered covariance.
    """

    singular_values: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    n_samples: int
    dim: int
    centered: bool = True

    def rankme(self, eps: float = 1e-7) -> float:
        """RankMe from the uncentered singular values (see :func:`manifold.rankme`)."""
        return entropy_rank(self.singular_values, eps)

    def effective_rank(self) -> float:
        """Effective rank from the uncentered singular values (see :func:`manifold.effective_rank`)."""  # noqa: E501
        return entropy_rank(self.singular_values, 0.0)

    def stable_rank(self) -> float:
        """Stable rank Σσ²/σ₁² of the uncentered matrix (see :func:`manifold.stable_rank`)."""
        return stable_rank(self.singular_values)

    def participation_ratio(self) -> float:
        """Participation ratio (Σλ)²/Σλ² of the covariance (see :func:`manifold.participation_ratio`)."""  # noqa: E501
        return participation_ratio(self.eigenvalues)

    def nesum(self) -> float:
        """NESum Σλ_n/λ_1 of the covariance (see :func:`manifold.nesum`)."""
        return nesum(self.eigenvalues)

    def alpha(self, fit_range: tuple[int, int] = (6, 100)) -> PowerLawFit:
        """Power-law decay of the covariance eigenvalues (see :func:`manifold.alpha`)."""
        return fit_power_law(self.eigenvalues, fit_range)

    def to_dict(self) -> dict[str, list[float] | int | bool]:
        """The spectrum as JSON-ready lists and numbers (:meth:`from_dict` reads it back)."""
        return {
            "singular_values": self.singular_values.tolist(),
            "eigenvalues": self.eigenvalues.tolist(),
            "n_samples": int(self.n_samples),
            "dim": int(self.dim),
            "centered": bool(self.centered),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, list[float] | int | bool]) -> Spectrum:
        """The spectrum :meth:`to_dict` wrote (float64 arrays; every metric reads the same).

        Examples:
            >>> import numpy as np
            >>> from manifold.spectral import spectrum
            >>> s = spectrum(np.random.default_rng(0).normal(size=(50, 4)))
            >>> t = Spectrum.from_dict(s.to_dict())
            >>> t.rankme() == s.rankme(), t.participation_ratio() == s.participation_ratio()
            (True, True)
        """
        return cls(
            singular_values=np.asarray(data["singular_values"], dtype=np.float64),
            eigenvalues=np.asarray(data["eigenvalues"], dtype=np.float64),
            n_samples=int(data["n_samples"]),
            dim=int(data["dim"]),
            centered=bool(data.get("centered", True)),
        )
