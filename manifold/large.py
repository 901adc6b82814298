"""Metrics of very large embedding sets (millions of rows) in bounded memory.

:func:`profile_large` computes the semantic-manifold metrics of :func:`manifold.profile` on an
``(N, D)`` array that need not fit in memory (a numpy memmap, or the path of a ``.npy`` file):

* **Spectral metrics** (RankMe, effective and stable rank, participation ratio, NESum, alpha)
  are exact: one streaming pass accumulates the float64 ``D × D`` Gram matrix
  (:func:`manifold.spectral.spectrum`).
* **Graph and geometry metrics** are defined per point (NNK degree and diameter, local
  dimension, MLE dimension) or as an average over points (TwoNN). They are computed exactly at
  ``n_anchors`` points drawn uniformly without replacement (seeded): each anchor's nearest
  neighbours are searched among **all** ``N`` rows, in the same streaming pass, so an anchor's
  value is the value the full-graph computation gives at that point. The population mean over
  the ``N`` points is estimated by the anchor mean, with its standard error.

No ``N × N`` matrix and no ``N × D`` copy is ever made. Memory is
``O(n_anchors · D + chunk_rows · D + D²)``, independent of ``N``. A numpy memmap backed by a
file is read with plain file reads (``readinto`` at the rows' byte offsets) rather than through
its mapping, so the pages read are not mapped into the process and do not count towards its
resident set; other arrays are sliced.

Estimators (``n`` anchors out of ``N`` points, per-anchor values ``m_a``, sample standard
deviation ``s``):

* mean of a per-point metric: ``m̄ = (1/n) Σ_a m_a``, design-unbiased for the mean over the
  ``N`` points; standard error ``s / √n · √(1 − n/N)`` (sampling without replacement, finite
  population correction; 0 when every point is an anchor).
* MLE dimension (MacKay–Ghahramani): ``1 / mean_a(1/m̂_a)``; delta-method standard error
  ``SE(mean(1/m̂)) / mean(1/m̂)²``.
* TwoNN: the linear fit of Facco et al. on the anchors' ratios ``r₂/r₁`` (the empirical
  distribution of the ratios of a uniform sample estimates that of all points); standard error
  from a seeded bootstrap over the anchors (200 resamples) times ``√(1 − n/N)``.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from manifold._backend import numpy_generator, require
from manifold._checks import as_tensor, check_choice, check_int, check_positive
from manifold._summary import PointMetric
from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.graphs.nnk import PrunedCandidates
from manifold.io import RowReader

__all__ = ["AnchorNNK", "RowReader", "anchor_knn", "anchor_nnk", "profile_large"]

# Rows per streamed chunk: about 2**25 elements (128 MiB of float32).
_CHUNK_ELEMENTS = 2**25
# Working memory of one block of anchors in the NNK step, in float64 elements (128 MiB).
_BLOCK_ELEMENTS = 2**24
_BOOTSTRAP = 200
_INDEXES = ("flat", "ivf")


def _default_chunk_rows(dim: int) -> int:
    return max(1, _CHUNK_ELEMENTS // dim)


def _sample_rows(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


class _AnchorSearch:
    """Running top-m neighbours of the anchors over streamed base chunks (self included)."""

    def __init__(
        self,
        anchors: torch.Tensor,
        rows: np.ndarray,
        m: int,
        index: str,
        ivf: Any = None,
    ) -> None:
        self.anchors = anchors
        self.rows = rows
        self.m = m
        self.index = index
        self.ivf = ivf
        n_a = anchors.shape[0]
        self.indices = np.full((n_a, m), -1, dtype=np.int64)
        self.distances = np.full((n_a, m), np.inf)

    def update(self, lo: int, chunk: Any) -> None:
        x, _ = as_tensor(chunk, "z", ("N", "D"))
        kk = min(self.m, x.shape[0])
        if self.index == "flat":
            g = knn_graph(self.anchors, k=kk, base=x)
            idx, dist = g.indices, g.distances
        else:
            idx, dist = _ivf_search(self.ivf, self.anchors, x, kk)
        idx = np.where(idx >= 0, idx + lo, -1)
        all_idx = np.concatenate([self.indices, idx], axis=1)
        all_dist = np.concatenate([self.distances, dist], axis=1)
        order = np.argsort(all_dist, axis=1, kind="stable")[:, : self.m]
        self.indices = np.take_along_axis(all_idx, order, axis=1)
        self.distances = np.take_along_axis(all_dist, order, axis=1)

    def graph(self, k: int, n_base: int) -> KNNGraph:
        """The anchors' ``k`` nearest neighbours, the anchor itself removed by index."""
        n_a = self.indices.shape[0]
        is_self = self.indices == self.rows[:, None]
        # more than k exact duplicates of the anchor: it may be missing, drop the farthest
        is_self[~is_self.any(axis=1), -1] = True
        keep = ~is_self
        indices = self.indices[keep].reshape(n_a, self.m - 1)[:, :k]
        distances = self.distances[keep].reshape(n_a, self.m - 1)[:, :k]
        if (indices < 0).any():
            raise ValueError(
                "the IVF search found fewer than k neighbours for some anchors; raise nprobe"
            )
        return KNNGraph(indices, distances, "euclidean", None, int(n_base))


def _train_ivf(reader: RowReader, nlist: int, nprobe: int, rng: np.random.Generator) -> Any:
    faiss = require("faiss", purpose="index='ivf'")
    train_rows = _sample_rows(reader.n, min(reader.n, 64 * nlist), rng)
    train, _ = as_tensor(reader.take(train_rows), "z", ("N", "D"), dtype=torch.float32)
    quantizer = faiss.IndexFlatL2(reader.dim)
    ivf = faiss.IndexIVFFlat(quantizer, reader.dim, nlist, faiss.METRIC_L2)
    ivf.cp.niter = 10
    ivf.cp.seed = int(rng.integers(0, 2**31 - 1))
    ivf.train(np.ascontiguousarray(train.numpy()))
    ivf.nprobe = nprobe
    return ivf


def _ivf_search(ivf: Any, anchors: torch.Tensor, x: torch.Tensor, k: int):
    """Candidates from the shared-quantizer IVF over this chunk, then exact float64 distances."""
    ivf.reset()
    ivf.add(np.ascontiguousarray(x.to(torch.float32).numpy()))
    _, found = ivf.search(np.ascontiguousarray(anchors.to(torch.float32).numpy()), k)
    dist = np.full(found.shape, np.inf)
    valid = found >= 0
    step = max(1, _BLOCK_ELEMENTS // (k * x.shape[1]))
    for s in range(0, found.shape[0], step):
        f = torch.from_numpy(np.where(valid[s : s + step], found[s : s + step], 0))
        q = anchors[s : s + step].to(torch.float64)
        b = x.index_select(0, f.reshape(-1)).to(torch.float64).reshape(q.shape[0], k, -1)
        dist[s : s + step] = torch.linalg.vector_norm(b - q[:, None, :], dim=2).numpy()
    dist[~valid] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(found, order, axis=1), np.take_along_axis(dist, order, axis=1)


def anchor_knn(
    z: Any,
    anchors: Any,
    k: int = 10,
    *,
    index: str = "flat",
    chunk_rows: int | None = None,
    nlist: int | None = None,
    nprobe: int | None = None,
    seed: int = 0,
) -> KNNGraph:
    """The ``k`` nearest neighbours of some rows of ``z`` among all rows, streamed in chunks.

    For each chunk of ``chunk_rows`` base rows the anchors' ``k + 1`` nearest rows are found
    (:func:`manifold.graphs.knn_graph` with ``base=``: exact faiss search, distances recomputed
    in float64) and merged into a running top ``k + 1`` (stable by distance, so ties keep the
    lower row index); the anchor itself is then removed by index, as in a kNN graph over one
    point set. Memory ``O(n_anchors · k + chunk_rows · D)``.

    ``index="ivf"`` trains one inverted-file quantizer (``nlist`` cells, default
    ``round(sqrt(n_anchors))`` clipped to ``[1, N / 64]``, on a seeded sample of ``64 · nlist``
    rows, 10 k-means iterations) and, per chunk, searches only the ``nprobe`` cells nearest each
    anchor (default ``max(1, nlist // 8)``); candidates get exact float64 distances. Per base
    row this costs ``nlist + n_anchors · nprobe / nlist`` distance evaluations instead of
    ``n_anchors``. With ``nprobe = nlist`` it is exact. Measured on 100,000 x 2048 rows with
    2,000 anchors (``benchmarks/scale.md``): 9.0 s at recall@10 0.853 against 9.8 s exact, since
    the exact search is one BLAS product per chunk; prefer ``"flat"`` unless anchors are many.

    Args:
        z: ``(N, D)`` array, memmap or ``.npy`` path (see :class:`RowReader`).
        anchors: Sorted distinct row indices ``(n_anchors,)`` into ``z``.
        k: Neighbours per anchor, ``1 <= k <= N - 1``.
        index: ``"flat"`` (exact) or ``"ivf"``.
        chunk_rows: Base rows per chunk (default: about 128 MiB of float32).
        nlist: IVF cells (``index="ivf"`` only).
        nprobe: IVF cells visited per anchor (``index="ivf"`` only).
        seed: Seed of the IVF training sample.

    Returns:
        A :class:`~manifold.graphs.KNNGraph` with ``(n_anchors, k)`` indices into ``z`` and
        Euclidean distances (``points=None``, ``n_base=N``).

    Examples:
        >>> import numpy as np
        >>> z = np.array([[0.0], [1.0], [3.0], [7.0]])
        >>> g = anchor_knn(z, np.array([1, 3]), k=2, chunk_rows=2)
        >>> g.indices.tolist(), g.distances.tolist()
        ([[0, 2], [2, 1]], [[1.0, 2.0], [4.0, 6.0]])
    """
    reader = z if isinstance(z, RowReader) else RowReader(z)
    rows = _check_anchor_rows(anchors, reader.n)
    k = check_int(k, "k", minimum=1, maximum=reader.n - 1)
    index = check_choice(index, "index", _INDEXES)
    chunk_rows = _check_chunk_rows(chunk_rows, reader.dim)
    search = _make_search(reader, rows, k + 1, index, nlist, nprobe, numpy_generator(seed))
    for lo, chunk in reader.chunks(chunk_rows):
        search.update(lo, chunk)
    return search.graph(k, reader.n)


def _check_anchor_rows(anchors: Any, n: int) -> np.ndarray:
    rows = np.asarray(anchors)
    if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu":
        raise ValueError(
            f"anchors must be a non-empty 1-D array of row indices, got shape {rows.shape} "
            f"and dtype {rows.dtype}"
        )
    rows = rows.astype(np.int64)
    if rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"anchors must be row indices in [0, {n - 1}], got {rows.min()}..")
    if rows.size > 1 and not (np.diff(rows) > 0).all():
        raise ValueError("anchors must be sorted and distinct (use np.unique)")
    return rows


def _check_chunk_rows(chunk_rows: int | None, dim: int) -> int:
    if chunk_rows is None:
        return _default_chunk_rows(dim)
    return check_int(chunk_rows, "chunk_rows", minimum=1)


def _make_search(
    reader: RowReader,
    rows: np.ndarray,
    m: int,
    index: str,
    nlist: int | None,
    nprobe: int | None,
    rng: np.random.Generator,
) -> _AnchorSearch:
    anchors, _ = as_tensor(reader.take(rows), reader.name, ("N", "D"))
    ivf = None
    if index == "ivf":
        if nlist is None:
            nlist = min(round(math.sqrt(rows.size)), reader.n // 64)
        nlist = check_int(max(1, nlist), "nlist", minimum=1, maximum=reader.n)
        nprobe = max(1, nlist // 8) if nprobe is None else check_int(nprobe, "nprobe", minimum=1)
        ivf = _train_ivf(reader, nlist, min(nprobe, nlist), rng)
    elif nlist is not None or nprobe is not None:
        raise ValueError("nlist and nprobe apply to index='ivf' only")
    return _AnchorSearch(anchors, rows, m, index, ivf)


@dataclass
class AnchorNNK(PrunedCandidates):
    """NNK neighbourhoods of anchor points, solved against candidates from the full set.

    Attributes:
        knn: The anchors' candidate :class:`~manifold.graphs.KNNGraph` (indices into ``z``).
        rows: ``(n_anchors,)`` row indices of the anchors in ``z``.
        weights: ``(n_anchors, k)`` NNK weights θ aligned with ``knn.indices`` (0 where pruned).
        mask: ``weights > tol``.
        degree: ``(n_anchors,)`` NNK degree.
        diameter: ``(n_anchors,)`` largest distance between two NNK neighbours.
        local_dimension: ``(n_anchors,)`` significant PCA directions of the NNK offsets.
        error: ``(n_anchors,)`` kernel reconstruction error.
        sigma: Gaussian kernel bandwidth used.
    """

    knn: KNNGraph
    rows: np.ndarray
    weights: np.ndarray
    mask: np.ndarray
    degree: np.ndarray
    diameter: np.ndarray
    local_dimension: np.ndarray
    error: np.ndarray
    sigma: float

    @property
    def n_nodes(self) -> int:
        """Number of anchors (the graph's nodes; their rows in ``z`` are :attr:`rows`)."""
        return int(self.rows.size)

    def to_scipy(self, weight: str = "theta") -> Any:
        """The kept edges as an ``(n_anchors, N)`` CSR matrix (row ``i``: anchor ``i``).

        Args:
            weight: ``"theta"`` (NNK weights), ``"distance"`` (zero distances kept as explicit
                entries) or ``"connectivity"`` (ones).
        """
        import scipy.sparse

        weight = check_choice(weight, "weight", ("theta", "distance", "connectivity"))
        values = {"theta": self.weights, "distance": self.knn.distances}.get(weight)
        order = np.argsort(self.knn.indices, axis=1, kind="stable")
        cols = np.take_along_axis(self.knn.indices, order, axis=1)
        keep = np.take_along_axis(self.mask, order, axis=1)
        data = np.ones(cols.shape) if values is None else np.take_along_axis(values, order, 1)
        indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
        return scipy.sparse.csr_matrix(
            (data[keep], cols[keep], indptr), shape=(self.n_nodes, int(self.knn.n_base))
        )

    def to_networkx(self) -> Any:
        """The kept edges as a :class:`networkx.DiGraph` on rows of ``z``.

        An edge runs from each anchor's row to each neighbour it keeps, with ``"weight"`` = the
        distance and ``"theta"`` = the NNK weight.
        """
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(int(r) for r in self.rows)
        a, pos = np.nonzero(self.mask)
        graph.add_edges_from(
            (int(self.rows[i]), int(self.knn.indices[i, p]),
             {"weight": float(self.knn.distances[i, p]), "theta": float(self.weights[i, p])})
            for i, p in zip(a, pos, strict=True)
        )  # fmt: skip
        return graph


def anchor_nnk(
    z: Any,
    knn: KNNGraph,
    rows: Any,
    *,
    sigma: float | None = None,
    tol: float = 1e-6,
    threshold: float = 0.1,
    max_iter: int | None = None,
) -> AnchorNNK:
    r"""NNK graph rows, degree, diameter and local dimension at anchors of a large set.

    The NNK problem of node ``i`` involves only ``x_i`` and its candidates ``S``:
    :math:`\theta_i = \arg\min_{\theta\ge 0} \tfrac12\theta^\top K_{SS}\theta - \theta^\top
    K_{Si}` with the Gaussian kernel ``exp(-d²/(2σ²))`` (Shekkizhar & Ortega 2020). So with
    ``S`` = the anchor's ``k`` nearest rows of the **whole** set (from :func:`anchor_knn`) the
    anchor's weights, degree ``|N(i)|``, diameter ``max_{j,l∈N(i)} ||x_j − x_l||`` and local
    dimension (significant PCA directions of the offsets ``x_j − x_i``, explained variance
    ``≥ threshold ×`` the largest) are those the full NNK graph gives at that point, with the
    same solver (:mod:`manifold.graphs.nnk`). Candidate rows are read block by block
    (memory ``O(block · k · D)``).

    The default ``σ`` is the anchors' mean distance to their ``k``-th neighbour / 3, an unbiased
    estimate of the full-set default (the mean over all points); pass ``sigma`` to fix it.

    Args:
        z: ``(N, D)`` array, memmap or ``.npy`` path.
        knn: The anchors' kNN graph from :func:`anchor_knn` (its ``k`` columns are the
            candidates).
        rows: The anchors' row indices in ``z`` (as given to :func:`anchor_knn`).
        sigma: Gaussian bandwidth.
        tol: Weights ``<= tol`` are pruned.
        threshold: Local-dimension variance ratio, in ``(0, 1]``.
        max_iter: Active-set steps per node (default ``3 k``).

    Returns:
        An :class:`AnchorNNK`.

    Examples:
        >>> import numpy as np
        >>> t = np.linspace(0, 1, 11)[:, None]
        >>> z = np.hstack([t, 0 * t])
        >>> g = anchor_knn(z, np.array([5]), k=4)
        >>> anchor_nnk(z, g, [5]).degree.tolist()
        [2]
    """
    from manifold.graphs.neighbourhood import neighbourhood_diameter, pca_dimension
    from manifold.graphs.nnk import kernel_block, solve_nnk_nodes

    reader = z if isinstance(z, RowReader) else RowReader(z)
    rows = _check_anchor_rows(rows, reader.n)
    if knn.indices.shape[0] != rows.size:
        raise ValueError(f"knn has {knn.indices.shape[0]} rows but {rows.size} anchors were given")
    tol = check_positive(tol, "tol", allow_zero=True)
    threshold = check_positive(threshold, "threshold")
    if threshold > 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    k = knn.k
    max_iter = 3 * k if max_iter is None else check_int(max_iter, "max_iter", minimum=1)
    if sigma is None:
        sigma = float(knn.distances[:, -1].mean()) / 3.0
        sigma = sigma if sigma > 0 else 1.0
    else:
        sigma = check_positive(sigma, "sigma")

    n_a = rows.size
    weights = np.empty((n_a, k))
    error = np.empty(n_a)
    diameter = np.zeros(n_a)
    local_dim = np.zeros(n_a)
    block = max(1, _BLOCK_ELEMENTS // (k * reader.dim + 4 * k * k))
    for s in range(0, n_a, block):
        cand = knn.indices[s : s + block]
        b = cand.shape[0]
        need = np.unique(np.concatenate([rows[s : s + block], cand.ravel()]))
        points, _ = as_tensor(reader.take(need), reader.name, ("N", "D"))
        local_rows = torch.from_numpy(np.searchsorted(need, rows[s : s + block]))
        local_idx = torch.from_numpy(np.searchsorted(need, cand))
        kernels = kernel_block(
            points, local_rows, local_idx, "gaussian", "euclidean", sigma, torch.device("cpu")
        )
        theta, err, _ = solve_nnk_nodes(*kernels, max_iter, tol)
        weights[s : s + b] = theta.numpy()
        error[s : s + b] = err.numpy()

        # offsets x_j - x_i over the kept neighbours, as manifold.metrics.local computes them
        p64 = points.to(torch.float64)
        m = torch.from_numpy(weights[s : s + b] > tol)
        offsets = (p64[local_idx] - p64[local_rows, None, :]) * m[..., None]
        diameter[s : s + b] = neighbourhood_diameter(offsets, m).numpy()
        local_dim[s : s + b] = pca_dimension(torch.linalg.svdvals(offsets), threshold).numpy()
    mask = weights > tol
    return AnchorNNK(
        knn=knn,
        rows=rows,
        weights=weights,
        mask=mask,
        degree=mask.sum(axis=1).astype(np.int64),
        diameter=diameter,
        local_dimension=local_dim,
        error=error,
        sigma=sigma,
    )


def _fpc(n: int, population: int) -> float:
    """Finite-population correction ``√(1 − n/N)`` for sampling without replacement."""
    return math.sqrt(max(0.0, 1.0 - n / population))


def _mean_se(values: np.ndarray, population: int) -> float:
    n = values.size
    if n < 2:
        return float("nan") if n < population else 0.0
    return float(values.std(ddof=1) / math.sqrt(n) * _fpc(n, population))


def _twonn_with_se(knn: KNNGraph, population: int, rng: np.random.Generator) -> tuple[float, float]:
    from manifold.metrics import twonn_dimension

    value = twonn_dimension(knn)
    n = knn.n_nodes
    reps = []
    for _ in range(_BOOTSTRAP):
        pick = np.sort(rng.integers(0, n, n))
        boot = KNNGraph(knn.indices[pick, :2], knn.distances[pick, :2], knn.metric, None, n)
        try:
            reps.append(twonn_dimension(boot))
        except ValueError:
            continue
    se = float(np.std(reps, ddof=1)) * _fpc(n, population) if len(reps) > 1 else float("nan")
    return value, se


def _mle_with_se(knn: KNNGraph, k: int, population: int) -> tuple[float, float, PointMetric]:
    from manifold.metrics import mle_dimension

    per_point = mle_dimension(knn, k=k, per_point=True)
    inverse = 1.0 / np.asarray(per_point.values, dtype=np.float64)
    mean_inv = float(inverse.mean())
    se = _mean_se(inverse, population) / mean_inv**2
    return 1.0 / mean_inv, se, per_point


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def profile_large(
    z: Any,
    *,
    n_anchors: int = 10_000,
    k: int = 10,
    seed: int = 0,
    index: str = "flat",
    chunk_rows: int | None = None,
    nlist: int | None = None,
    nprobe: int | None = None,
    max_samples: int | None = 25600,
    sigma: float | None = None,
    name: str = "model",
) -> Any:
    """Profile the semantic manifold of up to millions of embeddings in bounded memory.

    One streaming pass over ``z`` accumulates the spectral statistics (exact, all rows) and the
    anchors' nearest neighbours among all rows; a second pass over the anchors' candidate rows
    solves their NNK problems. See the module notes for the estimators and standard errors.

    The table has the rows :func:`manifold.profile` gives for the semantic manifold (spectral
    metrics; ``twonn_dimension``, ``mle_dimension`` as ``"value"``; ``nnk_degree``,
    ``nnk_diameter``, ``local_dimension`` as summary statistics), plus a ``"se"`` row (standard
    error of the ``value`` or ``mean``) for every anchor-based metric. Summary statistics other
    than the mean (median, quantiles, std) are those of the anchor sample. ``nnk_diameter`` is in
    the engine's unit of length, as in :func:`manifold.profile`: the median distance from an
    anchor to its k-th neighbour (:meth:`manifold.engine.ModelContext.length_unit`). Subspace
    angles, Ricci curvature and the augmentation metrics are not computed here.

    A metric that cannot be computed (e.g. alpha of a collapsed representation) is recorded in
    :attr:`Profile.failures` with the reason, and a warning says so, as in
    :func:`manifold.profile`; the others are still computed.

    Args:
        z: ``(N, D)`` numpy array or memmap, torch tensor, or ``.npy`` path.
        n_anchors: Anchor points (all rows when ``>= N``, which is then the exact computation).
        k: Candidates per node for the NNK graph (TwoNN uses the first two neighbours, MLE
            :func:`manifold.engine.mle_neighbours` ``= min(20, N - 1)``, as in
            :func:`manifold.profile`).
        seed: Seed of the anchors, the RankMe subsample (as in :func:`manifold.profile`), the
            IVF training sample and the TwoNN bootstrap.
        index: ``"flat"`` (exact neighbour search) or ``"ivf"`` (see :func:`anchor_knn`).
        chunk_rows: Rows per streamed chunk (default: about 128 MiB of float32).
        nlist: IVF cells (``index="ivf"``).
        nprobe: IVF cells searched per anchor (``index="ivf"``).
        max_samples: Row cap for RankMe (the paper uses 25,600); ``None``: all rows.
        sigma: NNK Gaussian bandwidth (default: anchors' mean k-th neighbour distance / 3).
        name: The model's name in the table.

    Returns:
        A :class:`~manifold.Profile`; its settings record N, D, the anchors, the estimators,
        and the seconds and peak resident memory (MiB) after each stage.

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(400, 8))  # alpha needs ranks 6 and 7
        >>> p = profile_large(z, n_anchors=100, k=8)
        >>> round(p.value("stable_rank"), 2) > 1, p.value("nnk_degree", statistic="se") > 0
        (True, True)
    """
    from manifold.engine import (
        ModelContext,
        Recorder,
        mle_neighbours,
        record_semantic,
        search_neighbours,
        warn_failures,
    )
    from manifold.results import SEMANTIC, Profile
    from manifold.spectral import GramAccumulator

    started = time.perf_counter()
    reader = z if isinstance(z, RowReader) else RowReader(z)
    n = reader.n
    seed = check_int(seed, "seed", minimum=0)
    k = check_int(k, "k", minimum=2)
    if n < k + 1:
        raise ValueError(f"z needs N >= k + 1 = {k + 1} rows, got N = {n}")
    n_anchors = check_int(n_anchors, "n_anchors", minimum=2)
    index = check_choice(index, "index", _INDEXES)
    chunk_rows = _check_chunk_rows(chunk_rows, reader.dim)
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples", minimum=2)
    k_wide = search_neighbours(k, n)
    k_mle = mle_neighbours(n)
    rng = numpy_generator(seed)
    rows = _sample_rows(n, n_anchors, rng)
    stages: dict[str, dict[str, float]] = {}

    t0 = time.perf_counter()
    search = _make_search(reader, rows, k_wide + 1, index, nlist, nprobe, rng)
    t0 = _merge_mark(stages, "anchors", t0)
    knn_seconds = 0.0
    rec = Recorder(name)
    gram = GramAccumulator(reader.name)

    def stream() -> None:
        # one pass: each chunk is accumulated (and validated) for the spectrum, then searched
        nonlocal knn_seconds
        for lo, chunk in reader.chunks(chunk_rows):
            gram.update(chunk)
            t = time.perf_counter()
            search.update(lo, chunk)
            knn_seconds += time.perf_counter() - t

    stream()
    spec = gram.compute()
    stages["stream"] = {"knn_seconds": round(knn_seconds, 3)}
    t0 = _merge_mark(stages, "stream", t0)

    ctx = ModelContext(reader, k, rec, seed=seed, max_samples=max_samples, spectrum=spec)
    record_semantic(ctx, needs={"spectrum"})
    t0 = _merge_mark(stages, "rankme", t0)

    wide = search.graph(k_wide, n)
    knn = KNNGraph(wide.indices[:, :k], wide.distances[:, :k], "euclidean", None, n)
    n_a = rows.size

    def add_se(metric: str, se: float) -> None:
        rec.add(SEMANTIC, metric, se, statistic="se")

    twonn = rec.attempt(SEMANTIC, "twonn_dimension", lambda: _twonn_with_se(knn, n, rng))
    if twonn is not None:
        rec.add(SEMANTIC, "twonn_dimension", twonn[0])
        add_se("twonn_dimension", twonn[1])
    mle = rec.attempt(SEMANTIC, "mle_dimension", lambda: _mle_with_se(wide, k_mle, n))
    if mle is not None:
        rec.add(SEMANTIC, "mle_dimension", mle[0])
        add_se("mle_dimension", mle[1])
    t0 = _merge_mark(stages, "dimension", t0)

    nnk = rec.attempt(SEMANTIC, "nnk_graph", lambda: anchor_nnk(reader, knn, rows, sigma=sigma))
    if nnk is not None:
        # nnk_diameter in the engine's unit of length, as profile reports it: with the default
        # scale, the median distance from an anchor to its k-th neighbour
        unit = rec.attempt(SEMANTIC, "nnk_diameter", lambda: ctx.length_unit(knn))
        for metric, values in (
            ("nnk_degree", nnk.degree.astype(np.float64)),
            ("nnk_diameter", None if unit is None else nnk.diameter / unit),
            ("local_dimension", nnk.local_dimension),
        ):
            if values is None:
                continue
            rec.add(SEMANTIC, metric, PointMetric(metric, values))
            add_se(metric, _mean_se(values, n))
    _merge_mark(stages, "nnk", t0)
    reader.close()

    settings = {
        "mode": "large",
        "n_images": n,
        "dim": reader.dim,
        "k": k,
        "k_mle": k_mle,
        "seed": seed,
        "n_anchors": int(n_a),
        "index": index,
        "chunk_rows": chunk_rows,
        "max_samples": max_samples,
        "sigma": None if nnk is None else nnk.sigma,
        "streams_from_file": reader.streams_from_file,
        "estimators": {
            "spectral": "exact, all rows (RankMe on the seeded max_samples subset)",
            "per_point_mean": "mean over uniform anchors; se = s/sqrt(n)*sqrt(1-n/N)",
            "mle_dimension": "1/mean(1/m_a) over anchors; delta-method se",
            "twonn_dimension": f"linear fit on anchors; bootstrap se ({_BOOTSTRAP} resamples)",
        },
        "stages": stages,
        "seconds": round(time.perf_counter() - started, 3),
    }
    warn_failures(rec.failures)
    return Profile(rec.table(), {name: settings}, rec.failures)


def _merge_mark(stages: dict[str, dict[str, float]], stage: str, t0: float) -> float:
    now = time.perf_counter()
    entry = stages.setdefault(stage, {})
    entry["seconds"] = round(now - t0, 3)
    entry["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    return now
