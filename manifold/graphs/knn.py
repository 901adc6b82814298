"""k-nearest-neighbour graphs: faiss (CPU, or GPU when usable) with a chunked torch fallback.

The search backend only proposes candidates. Whatever found them, the distances of the returned
pairs are recomputed exactly in float64 from the points, each row is re-sorted by the exact
distance (stable), and the query itself is removed by index, so the result does not depend on
float32 rounding inside faiss, and exact duplicates give distance 0 rather than a tiny negative
squared distance or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from manifold._backend import (
    faiss_gpu_usable,
    get_faiss,
    require,
    resolve_device,
    working_budget,
)
from manifold._checks import as_tensor, check_int
from manifold._validation import Device, Integral, NoneOK, Options, validate_params
from manifold.graphs.base import Graph
from manifold.typing import DeviceLike, Embeddings

if TYPE_CHECKING:
    import networkx as nx
    import scipy.sparse

__all__ = ["KNNGraph", "knn_graph"]

_METRICS = ("euclidean", "cosine")
_INDEXES = ("flat", "ivf")
_BACKENDS = ("auto", "faiss", "torch")

# Working-memory budgets (in float elements) for the chunked torch search and the exact
# float64 refinement. 2**25 elements is 128 MiB of float32. The refinement works in chunks of
# 2**18 float64 elements (2 MiB), which stay in cache: 10x faster than 256 MiB chunks at
# 50,000 x 512, k = 10 (see benchmarks/graphs.md).
_SEARCH_BUDGET = 2**25
_REFINE_BUDGET = 2**18


@dataclass
class KNNGraph(Graph):
    """A directed k-nearest-neighbour graph.

    Row ``i`` lists the ``k`` nearest points of the base set to query point ``i``, nearest
    first. For a graph over one point set (``base=None``) the query and base sets coincide and
    the point itself is excluded from its own row.

    Attributes:
        indices: ``(N, k)`` int64 indices into the base set, sorted by distance ascending
            (ties keep the search order).
        distances: ``(N, k)`` float64 exact distances in the same order: Euclidean
            ``||x_i - x_j||`` (not squared), or cosine ``1 - cos(x_i, x_j)`` in ``[0, 2]``.
        metric: ``"euclidean"`` or ``"cosine"``.
        points: The validated points (a reference, not a copy) when the graph is over one
            point set, else ``None``. NNK graphs reuse them to evaluate kernels.
        n_base: Number of base points (``N`` for a graph over one point set).
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    points: torch.Tensor | None = field(default=None, repr=False)
    n_base: int | None = None

    def __post_init__(self) -> None:
        if self.n_base is None:
            self.n_base = int(self.indices.shape[0])

    @property
    def k(self) -> int:
        """Number of neighbours per node."""
        return int(self.indices.shape[1])

    @property
    def n_nodes(self) -> int:
        """Number of query nodes ``N``."""
        return int(self.indices.shape[0])

    def neighbors(self, i: int) -> np.ndarray:
        """Indices (into the base set) of the ``k`` neighbours of node ``i``, nearest first."""
        i = check_int(i, "i", minimum=-self.n_nodes, maximum=self.n_nodes - 1)
        return self.indices[i]

    @validate_params({"weight": [Options(("distance", "connectivity"))]})
    def to_scipy(self, weight: str = "distance") -> scipy.sparse.csr_matrix:
        """The graph as a ``(N, N_base)`` CSR matrix.

        Args:
            weight: ``"distance"`` (the distances as data) or ``"connectivity"`` (ones).

        Zero distances (duplicates) are kept as explicit entries, so the sparsity pattern is
        always exactly the ``N * k`` edges.
        """
        import scipy.sparse

        n, k = self.indices.shape
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        order = np.argsort(self.indices, axis=1, kind="stable")
        cols = np.take_along_axis(self.indices, order, axis=1).ravel()
        data = np.take_along_axis(self.distances, order, axis=1).ravel()
        if weight == "connectivity":
            data = np.ones_like(data)
        return scipy.sparse.csr_matrix((data, cols, indptr), shape=(n, int(self.n_base)))

    def to_networkx(self) -> nx.Graph:
        """The graph as an undirected :class:`networkx.Graph` on nodes ``0..N-1``.

        An edge joins ``i`` and ``j`` when either lists the other; its ``"weight"`` attribute
        is the distance. Only defined for a graph over one point set.
        """
        if self.points is None and self.n_base != self.n_nodes:
            raise ValueError(
                "to_networkx needs a graph over one point set; this graph links "
                f"{self.n_nodes} queries to {self.n_base} base points (use to_scipy instead)"
            )
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(self.n_nodes))
        rows = np.repeat(np.arange(self.n_nodes), self.k)
        graph.add_weighted_edges_from(
            zip(
                rows.tolist(),
                self.indices.ravel().tolist(),
                self.distances.ravel().tolist(),
                strict=True,
            )
        )
        return graph


@validate_params(
    {
        "k": [Integral(1, None)],
        "metric": [Options(_METRICS)],
        "index": [Options(_INDEXES)],
        "device": [Device(), NoneOK],
        "batch_size": [Integral(1, None), NoneOK],
        "nlist": [Integral(1, None), NoneOK],
        "nprobe": [Integral(1, None), NoneOK],
        "backend": [Options(_BACKENDS)],
    }
)
def knn_graph(
    z: Embeddings,
    k: int = 10,
    *,
    metric: str = "euclidean",
    base: Embeddings | None = None,
    index: str = "flat",
    device: DeviceLike = None,
    batch_size: int | None = None,
    nlist: int | None = None,
    nprobe: int | None = None,
    backend: str = "auto",
) -> KNNGraph:
    """Build the k-nearest-neighbour graph of ``z`` (or of ``z`` against ``base``).

    Distances: Euclidean ``d(x, y) = ||x - y||_2``; cosine ``d(x, y) = 1 - <x, y> / (||x|| ||y||)``
    (searched as inner product on unit-normalised vectors). Candidates come from faiss (exact
    flat search by default) or, without faiss or with ``backend="torch"``, from a chunked torch
    matmul + top-k; the returned distances are then recomputed exactly in float64 and each row
    is re-sorted by them.

    Self exclusion: for a graph over one point set, ``k + 1`` candidates are searched and the
    query's own index is removed (with exact duplicates a twin may come first at distance 0);
    if the query is not among them (more than ``k`` duplicates), the farthest is dropped.

    ``index="ivf"`` uses an inverted-file index (``IndexIVFFlat``) with ``nlist`` cells
    (default ``round(4 * sqrt(N_base))``, at most ``N_base / 39``) of which ``nprobe`` are
    visited (default ``max(8, nlist // 32)``, at most ``nlist``). Measured with the defaults
    against the exact graph on 2 CPU threads (``benchmarks/graphs.md``): recall@10 1.000 and
    2.0x faster on 50,000 x 512 Gaussian-mixture data; recall@20 0.988 and 2.1-2.8x faster on
    100,000 points of a 10-D cube in 128-D, where it moved the MLE dimension from 8.823 to
    8.772. IVF scans its cells without BLAS, so visiting more than about a tenth of the cells
    is slower than the exact search. Rows for which the probed cells hold fewer than ``k + 1``
    points are searched exactly.

    GPU: faiss GPU is used only when a GPU faiss build and CUDA are usable
    (:func:`manifold._backend.faiss_gpu_usable`) and the compute device is CUDA (``device``,
    or the device of ``z`` when ``device`` is None). The torch fallback runs on that device.

    Args:
        z: ``(N, D)`` query points (numpy or torch; float16 is upcast to float32).
        k: Neighbours per point, ``1 <= k <= N - 1`` (``<= N_base`` with ``base``).
        metric: ``"euclidean"`` or ``"cosine"``.
        base: Optional ``(N_base, D)`` points to search in; no self exclusion then.
        index: ``"flat"`` (exact) or ``"ivf"`` (approximate, faiss only).
        device: Compute device (None: that of ``z``; ``"auto"``: CUDA when available).
        batch_size: Queries per chunk (torch search: memory ``batch_size * N_base``).
        nlist: IVF cells (``index="ivf"`` only).
        nprobe: IVF cells visited per query (``index="ivf"`` only).
        backend: ``"auto"`` (faiss when installed, else torch), ``"faiss"`` or ``"torch"``.

    Returns:
        A :class:`KNNGraph` with ``(N, k)`` indices and distances.

    Raises:
        ValueError: bad shapes, non-finite values, ``k`` out of range, zero vectors under the
            cosine metric, mismatched dimensions of ``z`` and ``base``, unknown options.

    Examples:
        >>> import numpy as np
        >>> z = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
        >>> g = knn_graph(z, k=1)
        >>> g.indices.ravel().tolist(), g.distances.ravel().tolist()
        ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    z_t, _ = as_tensor(z, "z", ("N", "D"))
    points = z_t
    if base is None:
        base_t = z_t
        n_base = z_t.shape[0]
        if n_base < 2:
            raise ValueError(f"z: a kNN graph needs at least 2 points, got N = {n_base}")
        if k > n_base - 1:
            raise ValueError(
                f"k must be <= N - 1 = {n_base - 1} for z with N = {n_base} rows (the point "
                f"itself is excluded), got k = {k}"
            )
    else:
        base_t, _ = as_tensor(base, "base", ("N_base", "D"))
        if base_t.shape[1] != z_t.shape[1]:
            raise ValueError(
                f"z and base must have the same dimension D, got z with D = {z_t.shape[1]} "
                f"and base with D = {base_t.shape[1]}"
            )
        n_base = base_t.shape[0]
        if k > n_base:
            raise ValueError(f"k must be <= N_base = {n_base} (the rows of base), got k = {k}")
        if base_t.dtype != z_t.dtype:
            dtype = torch.promote_types(z_t.dtype, base_t.dtype)
            z_t, base_t = z_t.to(dtype), base_t.to(dtype)
    if index != "ivf" and (nlist is not None or nprobe is not None):
        raise ValueError("nlist and nprobe apply to index='ivf' only")
    dev = resolve_device(device, like=z_t)
    if metric == "cosine":
        _check_nonzero(z_t, "z")
        if base is not None:
            _check_nonzero(base_t, "base")

    self_graph = base is None
    n_search = k + 1 if self_graph else k
    # faiss and the torch search square coordinates in float32, which overflows beyond about
    # 1e19 (faiss then returns -1 for the missing neighbours) and underflows below 1e-19: search
    # and refine on points rescaled by a power of two (exact, order-preserving), and scale the
    # distances back.
    z_t, base_t, unit = _exact_rescale(z_t, None if self_graph else base_t)
    if backend == "faiss":
        faiss = require("faiss", purpose="backend='faiss'")
    else:
        faiss = get_faiss(force_fallback=backend == "torch")
    if index == "ivf" and faiss is None:
        raise ValueError("index='ivf' needs faiss (backend 'auto' or 'faiss' with faiss installed)")

    if faiss is None:
        candidates = _torch_search(z_t, base_t, n_search, metric, dev, batch_size)
    else:
        candidates = _faiss_search(
            faiss, z_t, base_t, n_search, metric, index, dev, batch_size, nlist, nprobe
        )
    indices, distances = _refine(z_t, base_t, candidates, metric, dev, self_graph, k)
    if metric == "euclidean" and unit != 1.0:
        distances *= unit
    return KNNGraph(
        indices=indices,
        distances=distances,
        metric=metric,
        points=points if self_graph else None,
        n_base=int(n_base),
    )


def _exact_rescale(
    z: torch.Tensor, base: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(z / u, base / u, u)`` with ``u`` a power of two bringing ``max |x|`` near 1.

    Returns the inputs unchanged (``u = 1``) when their magnitude is safe for float32
    squares, i.e. within ``[2**-32, 2**32]``, or all zero. ``base=None`` means ``base is z``.
    """
    top = float(z.abs().max())
    if base is not None:
        top = max(top, float(base.abs().max()))
    if top == 0.0 or 2.0**-32 <= top <= 2.0**32:
        return z, z if base is None else base, 1.0
    exponent = math.frexp(top)[1]
    factor = torch.tensor(math.ldexp(1.0, -exponent), dtype=z.dtype, device=z.device)
    z_s = z * factor
    base_s = z_s if base is None else base * factor.to(base.dtype)
    return z_s, base_s, math.ldexp(1.0, exponent)


def _check_nonzero(x: torch.Tensor, name: str) -> None:
    zero = (x == 0).all(dim=1)
    if bool(zero.any()):
        rows = zero.nonzero()[:, 0]
        raise ValueError(
            f"the cosine distance is undefined for zero vectors: {name} has {rows.numel()} "
            f"all-zero row{'s' if rows.numel() != 1 else ''} (first at row {int(rows[0])})"
        )


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def _as_float32_numpy(x: torch.Tensor, metric: str) -> np.ndarray:
    x = x.detach().to("cpu", torch.float32)
    if metric == "cosine":
        x = _unit(x)
    return np.ascontiguousarray(x.numpy())


def _faiss_search(
    faiss: Any,
    z: torch.Tensor,
    base: torch.Tensor,
    k: int,
    metric: str,
    index: str,
    dev: torch.device,
    batch_size: int | None,
    nlist: int | None,
    nprobe: int | None,
) -> np.ndarray:
    xq = _as_float32_numpy(z, metric)
    xb = xq if base is z else _as_float32_numpy(base, metric)
    faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    n = xq.shape[0]
    step = batch_size or n
    if index == "flat":
        if dev.type == "cuda" and faiss_gpu_usable():
            resources = faiss.StandardGpuResources()
            search = lambda q: faiss.knn_gpu(resources, q, xb, k, metric=faiss_metric)[1]  # noqa: E731
        else:
            search = lambda q: faiss.knn(q, xb, k, metric=faiss_metric)[1]  # noqa: E731
        return np.concatenate([search(xq[s : s + step]) for s in range(0, n, step)])

    n_base, dim = xb.shape
    # faiss k-means wants >= 39 training points per cell
    nlist = nlist or max(1, min(round(4 * math.sqrt(n_base)), n_base // 39))
    nlist = min(nlist, n_base)
    if nprobe is None:
        nprobe = max(8, nlist // 32)
    quantizer = faiss.IndexFlatL2(dim) if metric == "euclidean" else faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_metric)
    # training k-means on all points would cost about half of an exact search: a seeded
    # subsample of 64 points per cell and 10 k-means iterations keep it small and reproducible
    ivf.cp.niter = 10
    n_train = min(n_base, 64 * nlist)
    train = xb if n_train == n_base else xb[np.random.default_rng(0).choice(n_base, n_train, False)]
    ivf.train(train)
    ivf.add(xb)
    ivf.nprobe = min(nprobe, nlist)
    found = np.concatenate([ivf.search(xq[s : s + step], k)[1] for s in range(0, n, step)])
    missing = (found < 0).any(axis=1)
    if missing.any():
        found[missing] = faiss.knn(xq[missing], xb, k, metric=faiss_metric)[1]
    return found


def _torch_search(
    z: torch.Tensor,
    base: torch.Tensor,
    k: int,
    metric: str,
    dev: torch.device,
    batch_size: int | None,
) -> np.ndarray:
    xb = base.to(dev)
    if metric == "cosine":
        xb = _unit(xb)
        base_sq = None
    else:
        base_sq = (xb * xb).sum(dim=1)
    n = z.shape[0]
    step = batch_size or max(1, _SEARCH_BUDGET // xb.shape[0])
    out = torch.empty((n, k), dtype=torch.int64)
    for s in range(0, n, step):
        q = z[s : s + step].to(dev)
        if metric == "cosine":
            score = _unit(q) @ xb.T  # larger is nearer
        else:
            # squared distance up to the per-query constant ||q||^2, which does not change
            # the ranking within a row
            score = 2.0 * (q @ xb.T) - base_sq
        out[s : s + step] = score.topk(k, dim=1, largest=True, sorted=True).indices.cpu()
    return out.numpy()


def _refine(
    z: torch.Tensor,
    base: torch.Tensor,
    candidates: np.ndarray,
    metric: str,
    dev: torch.device,
    self_graph: bool,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 distances of the candidate pairs, stable re-sort, self removal."""
    n, n_cand = candidates.shape
    dim = z.shape[1]
    cand = torch.from_numpy(np.ascontiguousarray(candidates, dtype=np.int64))
    dist = torch.empty((n, n_cand), dtype=torch.float64)
    step = max(1, working_budget(_REFINE_BUDGET, dev) // (n_cand * dim))
    for s in range(0, n, step):
        q = z[s : s + step].to(dev, torch.float64)
        idx = cand[s : s + step].to(dev)
        b = base.index_select(0, idx.reshape(-1).to(base.device)).to(dev, torch.float64)
        b = b.reshape(q.shape[0], n_cand, dim)
        if metric == "euclidean":
            d = torch.linalg.vector_norm(b - q[:, None, :], dim=2)
        else:
            cos = torch.einsum("bkd,bd->bk", _unit_rows(b), _unit(q))
            d = (1.0 - cos).clamp_(0.0, 2.0)
        dist[s : s + step] = d.cpu()
    dist_np = dist.numpy()
    order = np.argsort(dist_np, axis=1, kind="stable")
    indices = np.take_along_axis(candidates.astype(np.int64, copy=False), order, axis=1)
    distances = np.take_along_axis(dist_np, order, axis=1)
    if not self_graph:
        return indices, distances
    is_self = indices == np.arange(n)[:, None]
    # rows where the query was not returned (more than k duplicates of it): drop the farthest
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    keep = ~is_self
    return indices[keep].reshape(n, k), distances[keep].reshape(n, k)


def _unit_rows(b: torch.Tensor) -> torch.Tensor:
    return b / torch.linalg.vector_norm(b, dim=2, keepdim=True)
