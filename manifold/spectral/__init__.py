"""Spectral metrics of embeddings: RankMe, effective rank, stable rank, NESum, alpha, LiDAR.

Also the participation ratio. All metrics of one matrix are read from one :class:`Spectrum`
(one float64 pass over the rows); :func:`spectrum` builds it from an array, a memmap or a
stream of row batches.
"""

from ._decomposition import GramAccumulator, Spectrum, spectrum
from .lidar import lidar
from .powerlaw import PowerLawFit, alpha
from .rank import effective_rank, nesum, participation_ratio, rankme, stable_rank

__all__ = [
    "GramAccumulator",
    "PowerLawFit",
    "Spectrum",
    "alpha",
    "effective_rank",
    "lidar",
    "nesum",
    "participation_ratio",
    "rankme",
    "spectrum",
    "stable_rank",
]
