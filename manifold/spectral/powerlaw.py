"""alpha-ReQ: the power-law decay exponent of the covariance eigenspectrum."""

from __future__ import annotations

from .._spectrum import PowerLawFit
from ..typing import Batches, Embeddings
from ._decomposition import spectrum

__all__ = ["PowerLawFit", "alpha"]


def alpha(z: Embeddings | Batches, fit_range: tuple[int, int] = (6, 100)) -> PowerLawFit:
    """Fit a power law ``λ_n ≈ e^c n^(−α)`` to the centered covariance eigenvalues.

    λ_n are the eigenvalues (descending, n = 1, 2, ...) of the **centered** covariance
    ``Σ_i (z_i−μ)(z_i−μ)ᵀ/(N−1)``. The fit is least squares in log–log space weighted by 1/n,

        ``min_{α,c} Σ_{n ∈ R} (1/n) (log λ_n + α log n − c)²``,

    over the ranks R = fit_range (1-based, inclusive), clipped to the eigenvalues that exist
    (at most min(N−1, D)) and are positive (eigenvalues at rounding-noise level count as 0).
    For an exact power law λ_n = C n^(−a), α = a exactly. R² is the weighted R² of this fit in
    log space (see :class:`PowerLawFit`): a measure of how well this line fits the chosen ranks,
    not a test that the spectrum follows a power law (a curved spectrum can still give R² near 1
    over a short range, and no null distribution or alternative is considered).

    Where the defaults come from: the paper does not state the fit range or the weights. The
    1/n weights and the range follow the alpha-ReQ authors' code (``get_alpha`` in
    ``reptrix/alpha.py`` of the ``arnab39/reptrix`` repository, whose fit is adapted from
    Stringer & Pachitariu's ``get_powerlaw``): 0-based ``np.arange(5, 100)``, i.e. ranks 6..100
    as here, in its earlier versions; later versions default to ``np.arange(10, 100)`` (ranks
    11..100), which ``fit_range=(11, 100)`` reproduces.

    Reference: K. K. Agrawal, A. K. Mondal, A. Ghosh, B. A. Richards, "α-ReQ: Assessing
    representation quality in self-supervised learning by measuring eigenspectrum decay",
    NeurIPS 2022.

    Args:
        z: Embeddings (N, D): numpy array or memmap, torch tensor, or an iterable of (b, D)
            batches (see :func:`~manifold.spectral.spectrum`); all rows are used.
        fit_range: Ranks ``(first, last)`` to fit, 1-based and inclusive. The default skips the
            first five eigenvalues, which often sit above the power law.

    Returns:
        A :class:`PowerLawFit` with ``alpha``, ``intercept``, ``r2``, the ranks actually used
        and all eigenvalues.

    Raises:
        ValueError: for constant embeddings (zero covariance: there is no spectrum to fit) and
            when fewer than 2 positive eigenvalues fall in fit_range (too few samples or
            dimensions, or collapsed embeddings), with the counts in the message.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(4000, 64)) * np.arange(1, 65) ** -1.0  # λ_n ∝ n^-2
        >>> fit = alpha(z, fit_range=(2, 30))
        >>> round(fit.alpha, 1), fit.fit_range
        (2.0, (2, 30))
    """
    return spectrum(z).alpha(fit_range)
