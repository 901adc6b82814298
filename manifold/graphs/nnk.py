"""Non-negative kernel regression (NNK) graphs, solved for all nodes at once in torch.

Reference: S. Shekkizhar and A. Ortega, "Graph construction from data by Non-Negative Kernel
regression", ICASSP 2020 (arXiv:1910.09383).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse
import torch

from manifold._backend import resolve_device, warn_once, working_budget
from manifold._checks import check_int
from manifold._validation import (
    Boolean,
    Device,
    Integral,
    NoneOK,
    Options,
    Real,
    validate_params,
)
from manifold.graphs.base import Graph
from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.typing import DeviceLike, Embeddings

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["NNKGraph", "PrunedCandidates", "kernel_block", "nnk_graph", "solve_nnk_nodes"]

_KERNELS = ("gaussian", "cosine")

# Ridge added to every K_SS, relative to its mean diagonal (which is 1 for both kernels): makes
# blocks with duplicate or near-duplicate candidates positive definite without moving any weight
# by more than about 1e-10 relative.
RIDGE = 1e-10
# A candidate enters the active set only if its gradient b_j - K_jS theta exceeds this
# (kernel values are in [0, 1]; rounding noise in the gradient is ~1e-15).
_OPT_TOL = 1e-12
# PDAS steps before the remaining nodes of a block are handed to Lawson-Hanson.
_PDAS_STEPS = 12
# Working memory per block of nodes handed to the solver, in float64 elements (2**24 = 128 MiB).
_BLOCK_BUDGET = 2**24
# Kernel blocks are computed in sub-chunks of about this many gathered float64 elements
# (2**19 = 4 MiB), small enough to stay in cache between the gather, the offsets and the Gram
# product: 4x faster than one large chunk at N = 20,000, D = 512, k = 30.
_KERNEL_CHUNK = 2**19


class PrunedCandidates(Graph):
    """The ``k`` and ``neighbors(i)`` calls of a graph that prunes kNN candidates.

    Shared by :class:`NNKGraph` and the anchor graphs of :mod:`manifold.graphs.anchor`; a subclass
    defines ``n_nodes``, ``knn`` (the candidates) and ``mask`` (those each node kept).
    """

    knn: KNNGraph
    mask: np.ndarray

    @property
    def k(self) -> int:
        """Candidates per node (the kNN graph's ``k``; the kept degree is at most this)."""
        return self.knn.k

    def neighbors(self, i: int) -> np.ndarray:
        """Indices of the neighbours node ``i`` kept among its candidates, nearest first."""
        i = check_int(i, "i", minimum=-self.n_nodes, maximum=self.n_nodes - 1)
        return self.knn.indices[i][self.mask[i]]


@dataclass
class NNKGraph(PrunedCandidates):
    """An NNK graph: the kNN candidates of each node pruned by non-negative kernel regression.

    Attributes:
        knn: The candidate :class:`~manifold.graphs.KNNGraph`.
        weights: ``(N, k)`` float64 NNK weights θ aligned with ``knn.indices`` (0 where pruned).
        mask: ``(N, k)`` bool, ``weights > tol``: the NNK neighbours among the candidates.
        degree: ``(N,)`` int64 NNK degree ``|N(i)| = mask.sum(1)``.
        error: ``(N,)`` float64 kernel reconstruction error
            ``K_ii - 2 θᵀ K_Si + θᵀ K_SS θ`` (clipped at 0 against rounding).
        adjacency: ``(N, N)`` CSR matrix of NNK weights (symmetrised when asked).
        kernel: ``"gaussian"`` or ``"cosine"``.
        sigma: Gaussian kernel bandwidth (``None`` for the cosine kernel).
        tol: Weight threshold that defines the NNK neighbours.
        symmetrize: ``"max"``, ``"mean"``, ``"error"`` or ``False`` (how ``adjacency`` was
            built).
    """

    knn: KNNGraph
    weights: np.ndarray
    mask: np.ndarray
    degree: np.ndarray
    error: np.ndarray
    adjacency: scipy.sparse.csr_matrix
    kernel: str
    sigma: float | None
    tol: float
    symmetrize: str | bool = "max"

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return self.knn.n_nodes

    @validate_params({"weight": [Options(("theta", "distance", "connectivity"))]})
    def to_scipy(self, weight: str = "theta") -> scipy.sparse.csr_matrix:
        """The graph as an ``(N, N)`` CSR matrix with the edges of :attr:`adjacency`.

        Args:
            weight: ``"theta"`` (the NNK weights: :attr:`adjacency` itself), ``"distance"``
                (the distance between the endpoints, zero distances kept as explicit entries)
                or ``"connectivity"`` (ones).
        """
        if weight == "theta":
            return self.adjacency
        rows, pos = np.nonzero(self.mask)
        cols = self.knn.indices[rows, pos]
        dist = self.knn.distances[rows, pos]
        if self.symmetrize:
            # an edge kept by either endpoint, once; the distance is the same both ways
            rows, cols, dist = (
                np.concatenate([rows, cols]),
                np.concatenate([cols, rows]),
                np.concatenate([dist, dist]),
            )
            _, first = np.unique(rows * self.n_nodes + cols, return_index=True)
            rows, cols, dist = rows[first], cols[first], dist[first]
        data = dist if weight == "distance" else np.ones(rows.size)
        order = np.lexsort((cols, rows))
        rows, cols, data = rows[order], cols[order], data[order]
        indptr = np.searchsorted(rows, np.arange(self.n_nodes + 1)).astype(np.int64)
        return scipy.sparse.csr_matrix(
            (data, cols.astype(np.int64), indptr), shape=(self.n_nodes, self.n_nodes)
        )

    def to_networkx(self) -> nx.Graph:
        """The NNK graph as a networkx graph on nodes ``0..N-1``.

        Edges are those of ``adjacency``; each carries ``"weight"`` = the distance between the
        two points and ``"theta"`` = the NNK weight in ``adjacency``. An undirected
        :class:`networkx.Graph` when the adjacency is symmetrised, else a
        :class:`networkx.DiGraph` with an edge ``i -> j`` for each selected neighbour ``j``.
        """
        import networkx as nx

        graph = nx.Graph() if self.symmetrize else nx.DiGraph()
        graph.add_nodes_from(range(self.n_nodes))
        rows, pos = np.nonzero(self.mask)
        cols = self.knn.indices[rows, pos]
        theta = np.asarray(self.adjacency[rows, cols]).ravel()
        # "error" removes some selected edges from the adjacency: keep only those it holds
        kept = theta > 0
        rows, pos, cols, theta = rows[kept], pos[kept], cols[kept], theta[kept]
        dist = self.knn.distances[rows, pos]
        graph.add_edges_from(
            (int(i), int(j), {"weight": float(d), "theta": float(t)})
            for i, j, d, t in zip(rows, cols, dist, theta, strict=True)
        )
        return graph


@validate_params(
    {
        "k": [Integral(1, None), NoneOK],
        "kernel": [Options(_KERNELS)],
        "sigma": [Real(0, None, closed="neither"), NoneOK],
        "tol": [Real(0, None)],
        "symmetrize": [Boolean(), Options(("max", "mean", "error"))],
        "metric": [Options(("euclidean", "cosine")), NoneOK],
        "device": [Device(), NoneOK],
        "batch_size": [Integral(1, None), NoneOK],
        "max_iter": [Integral(1, None), NoneOK],
        "backend": [Options(("auto", "faiss", "torch"))],
    }
)
def nnk_graph(
    z_or_graph: Embeddings | KNNGraph,
    k: int | None = None,
    *,
    kernel: str = "gaussian",
    sigma: float | None = None,
    tol: float = 1e-6,
    symmetrize: bool | str = True,
    metric: str | None = None,
    device: DeviceLike = None,
    batch_size: int | None = None,
    max_iter: int | None = None,
    backend: str = "auto",
) -> NNKGraph:
    r"""Build the NNK graph of a point set (Shekkizhar & Ortega 2020).

    For node ``i`` with candidate set ``S`` = its ``k`` nearest neighbours and kernel ``K``,

    .. math::

        \theta_i = \arg\min_{\theta \ge 0}\; \tfrac12 \theta^\top K_{SS}\theta
        - \theta^\top K_{Si},

    and the NNK neighbours of ``i`` are the ``j`` with ``θ_ij > tol``. A candidate is pruned
    when a selected neighbour already explains it (for the Gaussian kernel: ``j`` is pruned by
    ``m`` when ``K_ij / K_im <= K_jm``), so NNK neighbourhoods are small polytopes around ``i``
    whose size adapts to the local dimension.

    Kernels:

    * ``"gaussian"``: ``K(x, y) = exp(-d(x, y)^2 / (2 σ^2))`` with ``d`` the Euclidean distance
      (under ``metric="cosine"``, that of the unit-normalised points, ``d^2 = 2 (1 - cos)``).
      Default ``σ`` = mean distance to the k-th neighbour / 3; when that is 0 (all points
      coincide) ``σ = 1`` (every kernel value is then 1 whatever ``σ``).
    * ``"cosine"``: ``K(x, y) = 1/2 + 1/2 cos(x, y)`` (zero vectors are rejected).

    Solver: a batched Lawson-Hanson active-set method on ``[B, k, k]`` blocks in float64 on the
    points' device; each step solves the free-set system by Cholesky. It reaches the optimum
    of an exact NNLS solver (``scipy.optimize.nnls`` on ``min ||Lθ - L^{-T} K_Si||`` with
    ``K_SS = LᵀL`` gives the same weights). ``K_SS`` gets a ridge of ``1e-10`` times its mean
    diagonal so duplicate candidates never give NaN; a duplicate of ``i`` itself explains ``i``
    exactly (``K_Si = 1 = K_ii``), receives weight ≈ 1 and the other candidates are pruned.

    Reconstruction error per node: ``e_i = K_ii - 2 θᵀ K_Si + θᵀ K_SS θ`` (``K_ii = 1``).

    Adjacency: ``W_ij = θ_ij``. ``symmetrize=True`` or ``"max"`` (the default) keeps an edge
    when either endpoint selects the other, with weight ``max(W_ij, W_ji)``; ``"mean"`` uses
    ``(W_ij + W_ji) / 2`` (a one-sided edge gets half its weight); ``False`` keeps the directed
    ``W``. ``"error"`` is the rule of the authors' reference code: an edge is kept only from the
    endpoint that reconstructs itself better, i.e. ``W_ij`` survives when ``i`` and ``j`` are
    each other's candidates and ``e_i < e_j`` (strictly; a tie removes both directions), and
    then ``max(W_ij, W_ji)`` is taken. It drops every edge that only one endpoint has among
    its candidates, so points that no neighbour lists among its k nearest (outliers, points at
    the edge of a cluster) can lose all their edges. The default stays ``"max"`` for that
    reason: every selected neighbour remains connected and no point is isolated by the
    symmetrisation. The per-point metrics (degree, diameter, local dimension, ...) read the
    directed selection ``mask`` and do not depend on this choice; the curvatures and
    ``to_networkx`` do.

    Args:
        z_or_graph: ``(N, D)`` points, or a :class:`KNNGraph` over one point set (its candidates
            are reused).
        k: Candidates per node (default 10 for points; for a graph, its ``k``, and a smaller
            ``k`` takes the nearest ``k`` of its candidates).
        kernel: ``"gaussian"`` or ``"cosine"``.
        sigma: Gaussian bandwidth (default: mean k-th neighbour distance / 3).
        tol: Weights ``<= tol`` are pruned (set to 0).
        symmetrize: ``True``/``"max"``, ``"mean"``, ``"error"`` or ``False`` (see above).
        metric: kNN metric for points (default ``"euclidean"``); for a graph it must match.
        device: Compute device (None: that of the points).
        batch_size: Nodes per block (default: about 128 MiB of working memory per block).
        max_iter: Active-set steps per block (default ``3 * k``, as scipy's ``nnls``); nodes
            not converged by then keep their last feasible weights, with a warning.
        backend: kNN backend for points (``"auto"``, ``"faiss"`` or ``"torch"``).

    Returns:
        An :class:`NNKGraph`.

    Examples:
        >>> import numpy as np
        >>> t = np.linspace(0, 1, 11)[:, None]          # evenly spaced points on a line
        >>> g = nnk_graph(np.hstack([t, 0 * t]), k=4)
        >>> g.neighbors(5).tolist()                      # only the two adjacent points survive
        [4, 6]
    """
    symmetrize = "max" if symmetrize is True else symmetrize

    if isinstance(z_or_graph, KNNGraph):
        knn = _restrict(z_or_graph, k, metric)
    elif isinstance(z_or_graph, PrunedCandidates):
        raise TypeError(
            f"nnk_graph takes points or a KNNGraph, got an {type(z_or_graph).__name__} (already "
            "pruned); pass its .knn to prune the same candidates with other options"
        )
    else:
        knn = knn_graph(
            z_or_graph,
            10 if k is None else k,
            metric="euclidean" if metric is None else metric,
            device=device,
            batch_size=batch_size,
            backend=backend,
        )
    points = knn.points
    k = knn.k
    max_iter = 3 * k if max_iter is None else max_iter
    dev = resolve_device(device, like=points)

    if kernel == "cosine":
        norms = torch.linalg.vector_norm(points, dim=1)
        if bool((norms == 0).any()):
            first = int((norms == 0).nonzero()[0, 0])
            raise ValueError(
                f"the cosine kernel is undefined for zero vectors (first at row {first})"
            )
        sigma = None
    elif sigma is None:
        kth = knn.distances[:, -1]
        if knn.metric == "cosine":
            kth = np.sqrt(2.0 * kth)
        sigma = float(kth.mean()) / 3.0
        if sigma <= 0.0:
            sigma = 1.0

    n, dim = points.shape
    block = batch_size or max(1, _BLOCK_BUDGET // (8 * k * k))
    weights = np.empty((n, k))
    error = np.empty(n)
    not_converged = 0
    indices_t = torch.from_numpy(knn.indices)
    for start in range(0, n, block):
        rows = torch.arange(start, min(start + block, n))
        kernels = kernel_block(points, rows, indices_t[rows], kernel, knn.metric, sigma, dev)
        theta, err, converged = solve_nnk_nodes(*kernels, max_iter, tol)
        not_converged += int((~converged).sum())
        weights[start : start + len(rows)] = theta.cpu().numpy()
        error[start : start + len(rows)] = err.cpu().numpy()
    if not_converged:
        warn_once(
            "nnk-max-iter",
            f"NNK: {not_converged} of {n} nodes did not converge in max_iter = {max_iter} "
            "active-set steps; their weights are feasible but may not be optimal "
            "(raise max_iter)",
        )

    mask = weights > tol
    adjacency = _adjacency(knn.indices, weights, mask, n, symmetrize, error)
    return NNKGraph(
        knn=knn,
        weights=weights,
        mask=mask,
        degree=mask.sum(axis=1).astype(np.int64),
        error=error,
        adjacency=adjacency,
        kernel=kernel,
        sigma=sigma,
        tol=tol,
        symmetrize=symmetrize,
    )


def solve_nnk_nodes(
    k_ss: torch.Tensor, k_si: torch.Tensor, max_iter: int, tol: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NNK weights ``(B, k)`` pruned at ``tol``, reconstruction errors and converged flags.

    From the kernel blocks of :func:`kernel_block` (``K_SS`` gets the ridge in place).
    """
    k_ss.diagonal(dim1=1, dim2=2).add_(RIDGE)
    theta, converged = _nnls(k_ss, k_si, max_iter)
    theta = torch.where(theta > tol, theta, torch.zeros((), dtype=theta.dtype, device=k_si.device))
    quad = torch.einsum("bi,bij,bj->b", theta, k_ss, theta) - RIDGE * (theta * theta).sum(1)
    err = (1.0 - 2.0 * (theta * k_si).sum(1) + quad).clamp_(min=0.0)
    return theta, err, converged


def _restrict(knn: KNNGraph, k: int | None, metric: str | None) -> KNNGraph:
    if knn.points is None:
        raise ValueError(
            "nnk_graph needs a kNN graph over one point set (built without base=), since the "
            "kernel is evaluated between the candidates themselves"
        )
    if metric is not None and metric != knn.metric:
        raise ValueError(f"metric={metric!r} does not match the kNN graph's metric {knn.metric!r}")
    if k is None or k == knn.k:
        return knn
    k = check_int(k, "k", minimum=1, maximum=knn.k)
    return KNNGraph(
        indices=knn.indices[:, :k],
        distances=knn.distances[:, :k],
        metric=knn.metric,
        points=knn.points,
        n_base=knn.n_base,
    )


def kernel_block(
    points: torch.Tensor,
    rows: torch.Tensor,
    idx: torch.Tensor,
    kernel: str,
    metric: str,
    sigma: float | None,
    dev: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """K_SS ``(B, k, k)`` and K_Si ``(B, k)`` in float64 for the nodes ``rows``.

    Computed in sub-chunks of about ``_KERNEL_CHUNK`` gathered elements so that each chunk's
    gathered candidates, offsets and Gram product stay in cache.
    """
    b, k = idx.shape
    step = max(1, working_budget(_KERNEL_CHUNK, dev) // (k * points.shape[1]))
    k_ss = torch.empty((b, k, k), dtype=torch.float64, device=dev)
    k_si = torch.empty((b, k), dtype=torch.float64, device=dev)
    for s in range(0, b, step):
        part = idx[s : s + step]
        c = part.shape[0]
        x_i = points.index_select(0, rows[s : s + step].to(points.device))
        x_s = points.index_select(0, part.reshape(-1).to(points.device)).reshape(c, k, -1)
        if kernel == "cosine" or metric == "cosine":
            x_i = x_i / torch.linalg.vector_norm(x_i, dim=1, keepdim=True)
            x_s = x_s / torch.linalg.vector_norm(x_s, dim=2, keepdim=True)
        if kernel == "cosine":
            x_i, x_s = x_i.to(dev, torch.float64), x_s.to(dev, torch.float64)
            ss = torch.bmm(x_s, x_s.transpose(1, 2)).mul_(0.5).add_(0.5)
            ss.diagonal(dim1=1, dim2=2).fill_(1.0)
            k_ss[s : s + c] = ss.clamp_(0.0, 1.0)
            k_si[s : s + c] = (0.5 + 0.5 * torch.einsum("bkd,bd->bk", x_s, x_i)).clamp_(0.0, 1.0)
            continue
        # offsets from x_i (exact up to one rounding in the points' dtype) keep the squared
        # distances accurate for close points; their Gram matrix is accumulated in float64
        x_s, x_i = x_s.to(dev), x_i.to(dev)
        y = torch.empty(x_s.shape, dtype=torch.float64, device=dev)
        torch.sub(x_s, x_i[:, None, :], out=y)
        gram = torch.bmm(y, y.transpose(1, 2))
        sq = gram.diagonal(dim1=1, dim2=2).clone()
        d2 = (sq[:, :, None] + sq[:, None, :]).sub_(gram, alpha=2.0).clamp_(min=0.0)
        d2.diagonal(dim1=1, dim2=2).fill_(0.0)
        scale = -0.5 / (sigma * sigma)
        k_ss[s : s + c] = d2.mul_(scale).exp_()
        k_si[s : s + c] = sq.mul_(scale).exp_()
    return k_ss, k_si


def _masked_solve(k_ss: torch.Tensor, rhs: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """Solve ``K_FF s_F = rhs_F`` per batch element, with ``s = 0`` outside the free set ``F``."""
    if bool(free.all()):
        mat, vec = k_ss, rhs
    else:
        fixed = ~free
        mat = k_ss.masked_fill(fixed[:, :, None] | fixed[:, None, :], 0.0)
        mat.diagonal(dim1=1, dim2=2).add_(fixed.to(mat.dtype))
        vec = rhs.masked_fill(fixed, 0.0)
    chol, info = torch.linalg.cholesky_ex(mat)
    sol = torch.cholesky_solve(vec[:, :, None], chol)[:, :, 0]
    failed = info != 0
    if bool(failed.any()):
        # not positive definite despite the ridge (extreme input): least squares instead
        sol[failed] = torch.linalg.lstsq(mat[failed], vec[failed][:, :, None]).solution[:, :, 0]
    return sol.masked_fill_(~free, 0.0)


def _nnls(
    k_ss: torch.Tensor, k_si: torch.Tensor, max_iter: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve ``min_{θ >= 0} ½ θᵀ K θ - θᵀ b`` for a batch: PDAS first, Lawson-Hanson after.

    The primal-dual active-set iteration changes many variables per step and reaches the
    exact optimum in a few steps for almost every node; it stops only at a point satisfying
    the KKT conditions (θ_F > 0 solving ``K_FF θ_F = b_F``, gradient ``b - Kθ <= 0`` off F).
    It can cycle when ``K`` is not an M-matrix, so the nodes left after ``_PDAS_STEPS`` steps
    are solved by Lawson-Hanson, which terminates.
    """
    theta, done = _nnls_pdas(k_ss, k_si)
    rest = (~done).nonzero()[:, 0]
    if rest.numel():
        theta[rest], done[rest] = _nnls_active_set(k_ss[rest], k_si[rest], max_iter)
    return theta, done


def _nnls_pdas(k_ss: torch.Tensor, k_si: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Primal-dual active set (semismooth Newton) steps from the all-free start."""
    bsz = k_si.shape[0]
    theta = torch.zeros_like(k_si)
    done = torch.zeros(bsz, dtype=torch.bool, device=k_si.device)
    # the working set is compacted only when it has halved, to keep gathers rare
    idx = torch.arange(bsz, device=k_si.device)
    kk, bb, ff = k_ss, k_si, k_si > _OPT_TOL
    live = torch.ones(bsz, dtype=torch.bool, device=k_si.device)
    for _ in range(_PDAS_STEPS):
        sol = _masked_solve(kk, bb, ff)
        grad = bb - torch.bmm(kk, sol[:, :, None])[:, :, 0]
        new_free = torch.where(ff, sol > 0, grad > _OPT_TOL)
        conv = live & (new_free == ff).all(dim=1)
        hit = idx[conv]
        theta[hit] = sol[conv]
        done[hit] = True
        live &= ~conv
        ff = new_free
        n_live = int(live.sum())
        if n_live == 0:
            break
        if 2 * n_live <= live.numel():
            keep = live.nonzero()[:, 0]
            idx, kk, bb, ff = idx[keep], kk[keep], bb[keep], ff[keep]
            live = torch.ones(n_live, dtype=torch.bool, device=k_si.device)
    return theta, done


def _nnls_active_set(
    k_ss: torch.Tensor, k_si: torch.Tensor, max_iter: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched Lawson-Hanson for ``min_{θ >= 0} ½ θᵀ K θ - θᵀ b``.

    Each step either adds the candidate with the largest positive gradient ``b - Kθ`` to the
    free set (when the current point is optimal on its free set) or, when the free-set
    solution has non-positive entries, moves towards it as far as feasibility allows and
    frees the blocking variables. Returns ``θ`` and a per-element converged flag.
    """
    bsz, k = k_si.shape
    dev, dtype = k_si.device, k_si.dtype
    theta = torch.zeros_like(k_si)
    free = torch.zeros((bsz, k), dtype=torch.bool, device=dev)
    arange = torch.arange(bsz, device=dev)
    best_grad, added = k_si.max(dim=1)
    done = best_grad <= _OPT_TOL
    free[arange[~done], added[~done]] = True
    inf = torch.tensor(float("inf"), dtype=dtype, device=dev)
    for _ in range(max_iter):
        act = (~done).nonzero()[:, 0]
        if act.numel() == 0:
            break
        kk, bb, ff, th, last = k_ss[act], k_si[act], free[act], theta[act], added[act]
        sol = _masked_solve(kk, bb, ff)
        bad = ff & (sol <= 0)
        feasible = ~bad.any(dim=1)

        # infeasible: step towards sol until the first free variable hits 0, drop it
        gap = th - sol  # >= 0 where bad; 0 only when th = 0, then the step length is 0
        ratio = torch.where(bad, th / torch.where(gap > 0, gap, 1.0), inf)
        alpha, block = ratio.min(dim=1)
        stepped = th + alpha[:, None] * (sol - th)
        local = torch.arange(act.numel(), device=dev)
        drop = ff & (stepped <= 0)
        drop[local, block] = True
        stepped = torch.where(drop, torch.zeros((), dtype=dtype, device=dev), stepped)
        # a variable that cannot even enter (rounding noise in its gradient) ends the search
        stalled = ~feasible & (alpha <= 0) & (block == last)

        # feasible: accept, then look for the next variable to add
        grad = bb - torch.einsum("bij,bj->bi", kk, sol)
        grad = torch.where(ff, -inf, grad)
        best_grad, best = grad.max(dim=1)
        optimal = feasible & (best_grad <= _OPT_TOL)
        grow = feasible & ~optimal

        new_theta = torch.where(feasible[:, None], sol, stepped)
        new_free = torch.where(feasible[:, None], ff, ff & ~drop)
        new_free[local[grow], best[grow]] = True
        theta[act] = new_theta
        free[act] = new_free
        added[act] = torch.where(grow, best, last)
        done[act] = optimal | stalled
    return theta, done


def _adjacency(
    indices: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    n: int,
    symmetrize: str | bool,
    error: np.ndarray,
) -> scipy.sparse.csr_matrix:
    if symmetrize == "error":
        mask = mask & _smaller_error(indices, error)
        symmetrize = "max"
    rows, pos = np.nonzero(mask)
    directed = scipy.sparse.csr_matrix(
        (weights[rows, pos], (rows, indices[rows, pos])), shape=(n, n)
    )
    if symmetrize == "max":
        out = directed.maximum(directed.T)
    elif symmetrize == "mean":
        out = (directed + directed.T) * 0.5
    else:
        out = directed
    out = scipy.sparse.csr_matrix(out)
    out.sort_indices()
    return out


def _smaller_error(indices: np.ndarray, error: np.ndarray) -> np.ndarray:
    """``(N, k)``: j = indices[i, c] lists i among its candidates too, and e_i < e_j."""
    n, k = indices.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = indices.ravel().astype(np.int64)
    keys = np.sort(rows * n + cols)
    reverse = cols * n + rows
    at = np.minimum(np.searchsorted(keys, reverse), keys.size - 1)
    mutual = keys[at] == reverse
    return (mutual & (error[rows] < error[cols])).reshape(n, k)
