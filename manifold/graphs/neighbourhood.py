"""Kernels on neighbourhoods, shared by every graph type and every metric that reads them.

* :func:`neighbourhood_diameter`: the largest distance between two kept neighbours,
  ``max_{j, l ∈ N(i)} ||x_j − x_l||``, from the offsets ``x_j − x_i`` (``x_j − x_l`` is the
  difference of two offsets).
* :func:`pca_dimension`: the number of significant principal directions of a neighbourhood,
  components whose explained variance ``s_c²`` is at least ``threshold`` times the largest
  (Cosentino et al. 2022), from the singular values of its offsets.

Both work on padded ``(b, k, D)`` blocks with a ``(b, k)`` mask, so callers never loop over
points. The NNK node solver they pair with is :func:`manifold.graphs.nnk.solve_nnk_nodes`.
"""

from __future__ import annotations

import torch

__all__ = ["RANK_EPS", "neighbourhood_diameter", "pca_dimension"]

#: Singular values below this fraction of the largest count as zero.
RANK_EPS = 1e-10


def neighbourhood_diameter(offsets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Largest distance between two kept neighbours per row; 0 with fewer than two.

    Args:
        offsets: ``(b, k, D)`` offsets ``x_j − x_i`` (masked rows may hold anything finite).
        mask: ``(b, k)`` bool, the kept neighbours.

    Returns:
        ``(b,)`` diameters, in the offsets' dtype.

    Examples:
        >>> import torch
        >>> offsets = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]]])
        >>> neighbourhood_diameter(offsets, torch.tensor([[True, True, False]])).tolist()
        [2.0]
    """
    dist = torch.cdist(offsets, offsets)
    pair = mask[:, :, None] & mask[:, None, :]
    return torch.where(pair, dist, torch.zeros((), dtype=dist.dtype, device=dist.device)).amax(
        dim=(1, 2)
    )


def pca_dimension(singular: torch.Tensor, threshold: float) -> torch.Tensor:
    """Significant principal directions from singular values ``(..., r)`` sorted descending.

    Counts the ``c`` with ``s_c² ≥ threshold · s_1²`` (and above the rounding floor
    ``RANK_EPS · s_1²``); 0 where every singular value is 0.

    Examples:
        >>> import torch
        >>> pca_dimension(torch.tensor([[3.0, 1.0, 0.5], [0.0, 0.0, 0.0]]), 0.1).tolist()
        [2, 0]
    """
    variance = singular**2
    top = variance[..., :1]
    keep = (variance >= threshold * top) & (variance > RANK_EPS * top) & (top > 0)
    return keep.sum(dim=-1)
