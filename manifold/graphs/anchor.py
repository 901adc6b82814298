"""Neighbourhood graphs at anchor points of a large set, searched against every row.

For an ``(N, D)`` set too large for one graph in memory (a numpy memmap, a ``.npy`` path),
:func:`anchor_knn` finds the ``k`` nearest rows of **all** ``N`` rows for a seeded sample of
anchor rows, streaming the set chunk by chunk (:class:`AnchorSearch` is the running search, for
callers that stream the rows themselves, as :func:`manifold.large.profile_large` does to
accumulate the spectrum in the same pass). :func:`anchor_nnk` solves the anchors' NNK problems
against those candidates: an anchor's weights, degree, diameter and local dimension are those the
full NNK graph gives at that point. :class:`AnchorNNK` answers the graph protocol of
:mod:`manifold.graphs` (``n_nodes``, ``k``, ``neighbors(i)``, ``to_scipy``, ``to_networkx``).

Memory is ``O(n_anchors · k + chunk_rows · D)``; no ``N × N`` matrix and no ``N × D`` copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from manifold._backend import numpy_generator, require
from manifold._checks import as_tensor, check_int
from manifold._validation import Integral, NoneOK, Options, Real, Seed, validate_params
from manifold.graphs.knn import KNNGraph, knn_graph
from manifold.graphs.nnk import PrunedCandidates
from manifold.io import RowReader
from manifold.typing import ArrayLike, Embeddings, RowSource

if TYPE_CHECKING:
    import faiss
    import networkx as nx
    import scipy.sparse

__all__ = [
    "AnchorNNK",
    "AnchorSearch",
    "INDEXES",
    "anchor_knn",
    "anchor_nnk",
    "resolve_chunk_rows",
    "sample_anchors",
]

# Rows per streamed chunk: about 2**25 elements (128 MiB of float32).
_CHUNK_ELEMENTS = 2**25
# Working memory of one block of anchors in the NNK step, in float64 elements (128 MiB).
_BLOCK_ELEMENTS = 2**24
#: Neighbour-search indexes of :func:`anchor_knn`.
INDEXES = ("flat", "ivf")


def sample_anchors(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct rows of ``range(n)`` drawn uniformly by ``rng``, sorted (all if ``>= n``).

    Examples:
        >>> import numpy as np
        >>> sample_anchors(5, 9, np.random.default_rng(0)).tolist()
        [0, 1, 2, 3, 4]
    """
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


class AnchorSearch:
    """Running top-``m`` nearest rows of the anchors over streamed chunks (the anchor included).

    Build it with :meth:`create`, feed every chunk of the set once with :meth:`update` (in any
    order, each with its first row's index), then read the anchors' kNN graph with
    :meth:`graph`. :func:`anchor_knn` is this loop over a :class:`~manifold.io.RowReader`.

    Examples:
        >>> import numpy as np
        >>> from manifold.io import RowReader
        >>> reader = RowReader(np.array([[0.0], [1.0], [3.0], [7.0]]))
        >>> search = AnchorSearch.create(reader, np.array([1, 3]), m=3)
        >>> for lo, chunk in reader.chunks(2):
        ...     search.update(lo, chunk)
        >>> search.graph(2, reader.n).indices.tolist()
        [[0, 2], [2, 1]]
    """

    def __init__(
        self,
        anchors: torch.Tensor,
        rows: np.ndarray,
        m: int,
        index: str,
        ivf: faiss.IndexIVFFlat | None = None,
    ) -> None:
        self.anchors = anchors
        self.rows = rows
        self.m = m
        self.index = index
        self.ivf = ivf
        n_a = anchors.shape[0]
        self.indices = np.full((n_a, m), -1, dtype=np.int64)
        self.distances = np.full((n_a, m), np.inf)

    @classmethod
    def create(
        cls,
        reader: RowReader,
        rows: np.ndarray,
        m: int,
        index: str = "flat",
        nlist: int | None = None,
        nprobe: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> AnchorSearch:
        """A search for the ``m`` nearest rows of ``reader``'s rows ``rows`` (sorted, distinct).

        ``index="ivf"`` trains the inverted-file quantizer on a sample drawn by ``rng`` (see
        :func:`anchor_knn` for ``nlist`` and ``nprobe``).
        """
        rows = _check_anchor_rows(rows, reader.n)
        anchors, _ = as_tensor(reader.take(rows), reader.name, ("N", "D"))
        ivf = None
        if index == "ivf":
            if nlist is None:
                nlist = min(round(math.sqrt(rows.size)), reader.n // 64)
            nlist = check_int(max(1, nlist), "nlist", minimum=1, maximum=reader.n)
            nprobe = max(1, nlist // 8) if nprobe is None else nprobe
            rng = numpy_generator(0) if rng is None else rng
            ivf = _train_ivf(reader, nlist, min(nprobe, nlist), rng)
        elif nlist is not None or nprobe is not None:
            raise ValueError("nlist and nprobe apply to index='ivf' only")
        return cls(anchors, rows, m, index, ivf)

    def update(self, lo: int, chunk: Embeddings) -> None:
        """Merge the rows ``lo, lo + 1, ...`` of ``chunk`` into the running neighbours."""
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
    train_rows = sample_anchors(reader.n, min(reader.n, 64 * nlist), rng)
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


@validate_params(
    {
        "k": [Integral(1, None)],
        "index": [Options(INDEXES)],
        "chunk_rows": [Integral(1, None), NoneOK],
        "nlist": [Integral(1, None), NoneOK],
        "nprobe": [Integral(1, None), NoneOK],
        "seed": [Seed()],
    }
)
def anchor_knn(
    z: RowSource | RowReader,
    anchors: ArrayLike,
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
        z: ``(N, D)`` array, memmap or ``.npy`` path (see :class:`RowReader`), or a
            :class:`RowReader` over one.
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
    if reader.n < 2:
        raise ValueError(f"{reader.name}: an anchor kNN graph needs at least 2 rows, got N = 1")
    if k > reader.n - 1:
        raise ValueError(
            f"k must be <= N - 1 = {reader.n - 1} for {reader.name} with N = {reader.n} rows "
            f"(the point itself is excluded), got k = {k}"
        )
    chunk_rows = resolve_chunk_rows(chunk_rows, reader.dim)
    rng = numpy_generator(seed)
    search = AnchorSearch.create(reader, anchors, k + 1, index, nlist, nprobe, rng)
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


def resolve_chunk_rows(chunk_rows: int | None, dim: int) -> int:
    """Rows per streamed chunk: ``chunk_rows`` (checked by the caller) or about 128 MiB."""
    if chunk_rows is None:
        return max(1, _CHUNK_ELEMENTS // dim)
    return chunk_rows


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

    @validate_params({"weight": [Options(("theta", "distance", "connectivity"))]})
    def to_scipy(self, weight: str = "theta") -> scipy.sparse.csr_matrix:
        """The kept edges as an ``(n_anchors, N)`` CSR matrix (row ``i``: anchor ``i``).

        Args:
            weight: ``"theta"`` (NNK weights), ``"distance"`` (zero distances kept as explicit
                entries) or ``"connectivity"`` (ones).
        """
        import scipy.sparse

        values = {"theta": self.weights, "distance": self.knn.distances}.get(weight)
        order = np.argsort(self.knn.indices, axis=1, kind="stable")
        cols = np.take_along_axis(self.knn.indices, order, axis=1)
        keep = np.take_along_axis(self.mask, order, axis=1)
        data = np.ones(cols.shape) if values is None else np.take_along_axis(values, order, 1)
        indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
        return scipy.sparse.csr_matrix(
            (data[keep], cols[keep], indptr), shape=(self.n_nodes, int(self.knn.n_base))
        )

    def to_networkx(self) -> nx.DiGraph:
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


@validate_params(
    {
        "sigma": [Real(0, None, closed="neither"), NoneOK],
        "tol": [Real(0, None)],
        "threshold": [Real(0, 1, closed="right")],
        "max_iter": [Integral(1, None), NoneOK],
    }
)
def anchor_nnk(
    z: RowSource | RowReader,
    knn: KNNGraph,
    rows: ArrayLike,
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
        z: ``(N, D)`` array, memmap or ``.npy`` path, or a :class:`RowReader` over one.
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
    k = knn.k
    max_iter = 3 * k if max_iter is None else max_iter
    if sigma is None:
        sigma = float(knn.distances[:, -1].mean()) / 3.0
        sigma = sigma if sigma > 0 else 1.0

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
