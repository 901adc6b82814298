r"""Direct similarity of two representations of the same images: CKA, mutual kNN, Procrustes.

Row ``i`` of ``a`` and row ``i`` of ``b`` embed the same image ``i`` (with any dimensions
``D_a`` and ``D_b``). Three measures, each "higher = more alike":

* ``"cka"``: linear centred kernel alignment, debiased by default (Song et al. 2012's unbiased
  HSIC, as used by Nguyen, Raghu & Kornblith 2021), or the classic form (Kornblith et al. 2019);
* ``"mutual_knn"``: the mutual k-nearest-neighbour alignment of Huh et al. (2024);
* ``"procrustes"``: the orthogonal Procrustes similarity of the centred, unit-norm matrices,
  whose distances are the shape metrics of Williams et al. (2021).

CKA and Procrustes are computed from feature-space sums accumulated in float64 over chunks of
rows (``AᵀA``, ``BᵀB``, ``AᵀB``, column sums and per-row squared norms), never from an N × N
matrix: memory is ``O((D_a + D_b)²)`` whatever N, and a file-backed memmap is streamed from the
file. When ``D > N`` a side is first replaced by an ``N × N`` factor with the same Gram matrix
(a QR decomposition), which changes no measure and keeps the sums small.

Every measure is calibrated on request by a permutation null: the rows of ``b`` are shuffled
(breaking the pairing of images, keeping each representation's own geometry) and the measure
recomputed; the result carries the null's mean and standard deviation, the calibrated score
``value − null mean`` and the p-value ``(1 + #{null ≥ value}) / (1 + n_permutations)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from manifold._backend import numpy_generator
from manifold._checks import as_tensor, degenerate
from manifold._validation import Boolean, Integral, NoneOK, Options, Seed, validate_params
from manifold.io import RowReader, file_location
from manifold.typing import Embeddings, PointsOrGraph, SeedLike

__all__ = [
    "MEASURES",
    "SimilarityResult",
    "linear_cka",
    "mutual_knn",
    "procrustes_distance",
    "similarity",
]

#: The measures :func:`similarity` computes.
MEASURES = ("cka", "mutual_knn", "procrustes")
#: Distances of the kNN graphs behind ``"mutual_knn"`` (cosine is Huh et al.'s choice).
KNN_METRICS = ("cosine", "euclidean")

# Bytes of float64 rows (both sides together) per chunk of the accumulation.
_CHUNK_BYTES = 2**24
# Rows whose mean is the shift subtracted before accumulating (the exact mean when N is smaller).
_SHIFT_ROWS = 4096
# Relative tolerance of "null >= value" in the p-value (a permutation that reproduces the pairing
# recomputes the same number up to rounding).
_TIES = 1e-12


@dataclass(frozen=True)
class SimilarityResult:
    """The similarity of two representations, and its permutation calibration.

    Attributes:
        measure: ``"cka"``, ``"mutual_knn"`` or ``"procrustes"``.
        value: The measure (higher = more alike); NaN when it is undefined (a constant
            representation, with a :class:`~manifold.DegenerateWarning`).
        n: Number of images (rows) compared.
        n_permutations: Row shuffles of ``b`` behind the null (0: no calibration).
        null_mean: Mean of the measure over the shuffles (NaN without them).
        null_sd: Their standard deviation (``ddof=1``; NaN with fewer than 2).
        calibrated: ``value − null_mean``: the similarity beyond what two unpaired
            representations with the same geometry reach (NaN without shuffles).
        p_value: ``(1 + #{null ≥ value}) / (1 + n_permutations)``; ties within a relative
            ``1e-12`` count as ``≥`` (NaN without shuffles).
        null: The null values, in the order the shuffles were drawn (None without them).
        options: The options the measure used (``debiased``; ``k`` and ``metric``).
    """

    measure: str
    value: float
    n: int
    n_permutations: int = 0
    null_mean: float = float("nan")
    null_sd: float = float("nan")
    calibrated: float = float("nan")
    p_value: float = float("nan")
    null: np.ndarray | None = field(default=None, repr=False, compare=False)
    options: dict[str, bool | int | str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, bool | int | float | str]:
        """The scalar fields and options as one flat dict (a row of a tidy table)."""
        row = {
            "measure": self.measure,
            "value": self.value,
            "n": self.n,
            "n_permutations": self.n_permutations,
            "null_mean": self.null_mean,
            "null_sd": self.null_sd,
            "calibrated": self.calibrated,
            "p_value": self.p_value,
        }
        row.update(self.options)
        return row


# -- rows of one representation, in float64 chunks ----------------------------------------------
class _Rows:
    """The rows of one ``(N, D)`` representation, read in float64 chunks minus a shift.

    In-memory arrays and tensors are validated at once by :func:`~manifold._checks.as_tensor`;
    file-backed memmaps (and ``.npy`` paths) are read chunk by chunk through
    :class:`~manifold.io.RowReader` and checked as they are read. The shift (the mean of the first
    rows) keeps the sums well conditioned when the mean is large compared with the spread; every
    measure here is invariant to it.
    """

    def __init__(self, z: Any, name: str) -> None:
        self.name = name
        self._reader: RowReader | None = None
        self._tensor: torch.Tensor | None = None
        if isinstance(z, (str, os.PathLike)) or file_location(z) is not None:
            self._reader = RowReader(z, name)
            self.n, self.dim = self._reader.shape
            self.device = torch.device("cpu")
        else:
            self._tensor, _ = as_tensor(z, name, ("N", "D"))
            self.n, self.dim = (int(s) for s in self._tensor.shape)
            self.device = self._tensor.device
        self.shift = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        self.shift = self.read(0, min(self.n, _SHIFT_ROWS)).mean(dim=0)
        if self.dim > self.n:
            self._narrow()

    def _narrow(self) -> None:
        """Replace the rows by an N × N factor with the same Gram matrix (``D > N``).

        With the shifted rows ``X`` (N × D) and ``Xᵀ = QR`` (Q: D × N orthonormal columns),
        ``X = RᵀQᵀ`` and ``XXᵀ = RᵀR``: every measure here depends on ``X`` only through its
        Gram matrix (CKA, Procrustes' nuclear norm ``‖XᵀY‖_*``), so ``Rᵀ`` stands for ``X``.
        """
        x = self.read(0, self.n)
        r = torch.linalg.qr(x.T, mode="r")[1]
        self._tensor, self._reader = r.T.contiguous(), None
        self.dim = self.n
        self.shift = torch.zeros(self.dim, dtype=torch.float64, device=self.device)

    def _raw(self, lo: int, hi: int) -> torch.Tensor:
        if self._tensor is not None:
            return self._tensor[lo:hi]
        chunk, _ = as_tensor(self._reader.read(lo, hi), self.name, ("N", "D"), check_finite=False)
        _check_finite_rows(chunk, self.name, lo)
        return chunk

    def read(self, lo: int, hi: int) -> torch.Tensor:
        """Rows ``lo .. hi-1`` minus the shift, float64, on the compute device."""
        return self._raw(lo, hi).to(self.device, torch.float64) - self.shift

    def take(self, rows: np.ndarray) -> torch.Tensor:
        """Rows at the indices ``rows`` (any order) minus the shift, float64."""
        if self._tensor is not None:
            index = torch.from_numpy(rows).to(self._tensor.device)
            return self._tensor.index_select(0, index).to(torch.float64) - self.shift
        order = np.argsort(rows, kind="stable")
        chunk, _ = as_tensor(self._reader.take(rows[order]), self.name, ("N", "D"),
                             check_finite=False)  # fmt: skip
        _check_finite_rows(chunk, self.name, 0, rows[order])
        back = torch.from_numpy(np.argsort(order, kind="stable"))
        return chunk.index_select(0, back).to(self.device, torch.float64) - self.shift


def _check_finite_rows(
    chunk: torch.Tensor, name: str, start: int, rows: np.ndarray | None = None
) -> None:
    bad = ~torch.isfinite(chunk)
    if not bool(bad.any()):
        return
    n_nan = int(torch.isnan(chunk).sum())
    n_inf = int(bad.sum()) - n_nan
    first = int(bad.any(dim=1).nonzero()[0, 0])
    first = int(rows[first]) if rows is not None else start + first
    parts = [f"{c} {what} value{'s' if c != 1 else ''}"
             for c, what in ((n_nan, "NaN"), (n_inf, "infinite")) if c]  # fmt: skip
    raise ValueError(f"{name} contains {' and '.join(parts)} (first at row {first})")


def _chunk_rows(*dims: int) -> int:
    return max(1, _CHUNK_BYTES // (8 * sum(dims)))


# -- feature-space sums --------------------------------------------------------------------------
@dataclass
class _SideSums:
    """Sums over the shifted rows ``x_i`` of one side, with ``k_i = ‖x_i‖²``."""

    colsum: torch.Tensor  # s = Σ x_i
    gram: torch.Tensor | None  # XᵀX (CKA only)
    sum_k: float  # Σ k_i
    sum_kk: float  # Σ k_i²
    xk: torch.Tensor  # Xᵀk = Σ k_i x_i
    constant: bool  # every row equal


def _side_sums(rows: _Rows, gram: bool) -> _SideSums:
    p = rows.dim
    dev = rows.device
    colsum = torch.zeros(p, dtype=torch.float64, device=dev)
    xk = torch.zeros(p, dtype=torch.float64, device=dev)
    g = torch.zeros((p, p), dtype=torch.float64, device=dev) if gram else None
    sum_k = sum_kk = 0.0
    first = None
    constant = True
    step = _chunk_rows(p)
    for lo in range(0, rows.n, step):
        x = rows.read(lo, min(rows.n, lo + step))
        if first is None:
            first = x[0].clone()
        if constant and bool((x != first).any()):
            constant = False
        k = (x * x).sum(dim=1)
        colsum += x.sum(dim=0)
        xk += x.T @ k
        sum_k += float(k.sum())
        sum_kk += float(k @ k)
        if g is not None:
            g.addmm_(x.T, x)
    return _SideSums(colsum, g, sum_k, sum_kk, xk, constant)


@dataclass
class _CrossSums:
    """Sums pairing the rows of two sides (``l_i = ‖y_i‖²``)."""

    gram: torch.Tensor  # XᵀY
    sum_kl: float  # Σ k_i l_i
    xl: torch.Tensor  # Xᵀl
    yk: torch.Tensor  # Yᵀk


def _cross_sums(a: _Rows, b: _Rows, order: np.ndarray | None = None) -> _CrossSums:
    """The cross sums of ``a`` with ``b`` (row ``i`` of ``a`` with row ``order[i]`` of ``b``)."""
    dev = a.device
    gram = torch.zeros((a.dim, b.dim), dtype=torch.float64, device=dev)
    xl = torch.zeros(a.dim, dtype=torch.float64, device=dev)
    yk = torch.zeros(b.dim, dtype=torch.float64, device=dev)
    sum_kl = 0.0
    step = _chunk_rows(a.dim, b.dim)
    for lo in range(0, a.n, step):
        hi = min(a.n, lo + step)
        x = a.read(lo, hi)
        y = (b.read(lo, hi) if order is None else b.take(order[lo:hi])).to(dev)
        k, norms_y = (x * x).sum(dim=1), (y * y).sum(dim=1)
        gram.addmm_(x.T, y)
        xl += x.T @ norms_y
        yk += y.T @ k
        sum_kl += float(k @ norms_y)
    return _CrossSums(gram, sum_kl, xl, yk)


def _self_hsic(n: int, s: _SideSums) -> tuple[float, float]:
    """``(debiased, classic)`` self-HSIC of one side, up to the factors common to every pair."""
    cross = _CrossSums(s.gram, s.sum_kk, s.xk, s.xk)
    return _hsic(n, s, s, cross, True), _hsic(n, s, s, cross, False)


def _hsic(n: int, sa: _SideSums, sb: _SideSums, c: _CrossSums, debiased: bool) -> float:
    """HSIC of the linear kernels ``K = XXᵀ``, ``L = YYᵀ`` from feature-space sums.

    With ``a_i = x_i·s_x``, ``b_i = y_i·s_y`` (so ``K1 = a``, ``L1 = b``):

    * ``tr(KL) = ‖XᵀY‖²_F``, ``1ᵀK1 = ‖s_x‖²``, ``1ᵀKL1 = Σ a_i b_i = s_xᵀ(XᵀY)s_y``;
    * classic: ``tr(HKHL) = tr(KL) − 2/n·1ᵀKL1 + 1ᵀK1·1ᵀL1/n²`` (the (n−1)² cancels in CKA);
    * debiased, with ``K̃``, ``L̃`` the Gram matrices with zero diagonals:
      ``tr(K̃L̃) = tr(KL) − Σ k_i l_i``, ``1ᵀK̃1 = ‖s_x‖² − Σ k_i``,
      ``1ᵀK̃L̃1 = Σ (a_i − k_i)(b_i − l_i) = Σ a_i b_i − (Yᵀk)·s_y − (Xᵀl)·s_x + Σ k_i l_i``,
      and ``n(n−3)·HSIC₁ = tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1``
      (the n(n−3) cancels in CKA).
    """
    sx, sy = sa.colsum, sb.colsum
    trace = float((c.gram * c.gram).sum())
    ones_kl = float(sx @ (c.gram @ sy))
    ss_x, ss_y = float(sx @ sx), float(sy @ sy)
    if not debiased:
        return trace - 2.0 * ones_kl / n + ss_x * ss_y / n**2
    kt_kt = trace - c.sum_kl
    one_k = ss_x - sa.sum_k
    one_l = ss_y - sb.sum_k
    one_kl = ones_kl - float(c.yk @ sy) - float(c.xl @ sx) + c.sum_kl
    return kt_kt + one_k * one_l / ((n - 1) * (n - 2)) - 2.0 * one_kl / (n - 2)


def _procrustes_value(n: int, sa: _SideSums, sb: _SideSums, c: _CrossSums) -> float:
    """``‖X̃ᵀỸ‖_*`` of the centred, unit-Frobenius-norm matrices, from the sums."""
    cross = c.gram - torch.outer(sa.colsum, sb.colsum) / n  # XcᵀYc
    norm_a = sa.sum_k - float(sa.colsum @ sa.colsum) / n  # ‖Xc‖²_F
    norm_b = sb.sum_k - float(sb.colsum @ sb.colsum) / n
    nuclear = float(torch.linalg.svdvals(cross).sum())
    return min(1.0, nuclear / math.sqrt(norm_a * norm_b))


# -- mutual kNN ----------------------------------------------------------------------------------
def _knn_overlap(ia: np.ndarray, ib: np.ndarray) -> float:
    """Mean over rows of ``|row_a ∩ row_b| / k`` for two ``(N, k)`` index arrays."""
    n, k = ia.shape
    step = max(1, 2**22 // (k * k))
    hits = 0
    for lo in range(0, n, step):
        a, b = ia[lo : lo + step], ib[lo : lo + step]
        hits += int((a[:, :, None] == b[:, None, :]).sum())
    return hits / (n * k)


# -- one prepared side ---------------------------------------------------------------------------
@dataclass
class PreparedSide:
    """One representation, ready to be compared with others under one measure.

    Built by :func:`prepare_side`; :func:`compare_sides` compares two of them. The per-side work
    (the float64 sums and self-HSIC for CKA, the column sums for Procrustes, the kNN graph for
    mutual kNN) is done once, so a zoo of M models costs M preparations and M(M−1)/2 cross
    passes.

    Attributes:
        measure: The measure it was prepared for.
        name: The representation's name in messages.
        n: Number of rows.
        constant: Every row is the same (a collapsed representation).
        rows: The rows (CKA and Procrustes).
        sums: Their feature-space sums (CKA and Procrustes).
        self_hsic: ``(debiased, classic)`` self-HSIC (CKA).
        knn: ``(N, k)`` neighbour indices (mutual kNN).
        k: Neighbours per row (mutual kNN).
        metric: Their distance (mutual kNN; ``"graph"`` when a graph was given).
    """

    measure: str
    name: str
    n: int
    constant: bool = False
    rows: _Rows | None = field(default=None, repr=False)
    sums: _SideSums | None = field(default=None, repr=False)
    self_hsic: tuple[float, float] | None = None
    knn: np.ndarray | None = field(default=None, repr=False)
    k: int | None = None
    metric: str | None = None


def prepare_side(
    z: PointsOrGraph, measure: str, name: str = "z", *, k: int = 10, metric: str = "cosine"
) -> PreparedSide:
    """Validate one representation and do its share of the work for ``measure``.

    Args:
        z: ``(N, D)`` embeddings (numpy, torch, a memmap or a ``.npy`` path); for
            ``"mutual_knn"`` also a :class:`~manifold.graphs.KNNGraph` or
            :class:`~manifold.graphs.NNKGraph` over the N points (its first ``k`` neighbours
            are used).
        measure: One of :data:`MEASURES`.
        name: The argument's name in error messages.
        k: Neighbours per point (``"mutual_knn"``).
        metric: ``"cosine"`` or ``"euclidean"`` (``"mutual_knn"`` from points).

    Returns:
        A :class:`PreparedSide`.

    Raises:
        TypeError: a graph for a measure that needs the embeddings.
        ValueError: bad shapes, non-finite values, ``k`` out of range, unknown options.
    """
    from manifold.graphs import Graph, as_graph, knn_graph

    if measure != "mutual_knn":
        if isinstance(z, Graph):
            raise TypeError(
                f"measure={measure!r} needs the embeddings of {name}, got a "
                f"{type(z).__name__} (graphs serve measure='mutual_knn')"
            )
        rows = _Rows(z, name)
        sums = _side_sums(rows, gram=measure == "cka")
        side = PreparedSide(measure, name, rows.n, sums.constant, rows, sums)
        if measure == "cka" and not sums.constant:
            side.self_hsic = _self_hsic(rows.n, sums)
        return side
    if isinstance(z, Graph):
        graph = as_graph(z, "knn")
        if graph.n_base != graph.n_nodes:
            raise ValueError(
                f"{name} must be a graph over one point set; this one links {graph.n_nodes} "
                f"queries to {graph.n_base} base points"
            )
        if graph.k < k:
            raise ValueError(
                f"mutual_knn with k = {k} needs {k} neighbours per point; the graph {name} has "
                f"{graph.k} (build it with knn_graph(z, k={k}) or more, or lower k)"
            )
        knn = np.asarray(graph.indices[:, :k], dtype=np.int64)
        return PreparedSide(measure, name, graph.n_nodes, knn=knn, k=k, metric="graph")
    if isinstance(z, (str, os.PathLike)):
        z = np.load(os.fspath(z), mmap_mode="r")
    t, _ = as_tensor(z, name, ("N", "D"))
    n = int(t.shape[0])
    if n < k + 1:
        raise ValueError(
            f"mutual_knn with k = {k} needs at least k + 1 = {k + 1} rows (each point's k "
            f"neighbours exclude itself); {name} has N = {n}"
        )
    if not bool((t != t[0]).any()):
        return PreparedSide(measure, name, n, constant=True, k=k, metric=metric)
    try:
        knn = knn_graph(t, k=k, metric=metric).indices
    except ValueError as err:  # e.g. zero rows under the cosine metric: name the argument
        raise ValueError(f"{name}: {err}") from err
    return PreparedSide(measure, name, n, knn=knn, k=k, metric=metric)


def compare_sides(
    a: PreparedSide,
    b: PreparedSide,
    *,
    debiased: bool = True,
    n_permutations: int = 0,
    seed: SeedLike = 0,
) -> SimilarityResult:
    """The similarity of two prepared sides, with an optional permutation null.

    A constant side gives NaN (with a :class:`~manifold.DegenerateWarning`), as does a
    debiased self-HSIC that is not positive (too few or degenerate rows).

    Args:
        a: A :class:`PreparedSide`.
        b: Another, prepared for the same measure, with the same N (and k for mutual kNN).
        debiased: Debiased (True) or classic linear CKA.
        n_permutations: Row shuffles of ``b`` for the null (0: none).
        seed: Seed of the shuffles: shuffle j is the j-th ``permutation(N)`` of
            ``numpy_generator(seed)``.

    Returns:
        A :class:`SimilarityResult`.
    """
    if a.measure != b.measure:
        raise ValueError(f"{a.name} was prepared for {a.measure!r}, {b.name} for {b.measure!r}")
    if a.n != b.n:
        raise ValueError(
            f"{a.name} and {b.name} must embed the same images (row i of each is image i): "
            f"{a.name} has N = {a.n} rows, {b.name} has N = {b.n}"
        )
    if a.measure == "mutual_knn" and a.k != b.k:
        raise ValueError(f"{a.name} was prepared with k = {a.k}, {b.name} with k = {b.k}")
    measure = a.measure
    check_rows(a.n, measure, debiased, (a.name, b.name))
    options: dict[str, bool | int | str] = (
        {"debiased": bool(debiased)} if measure == "cka" else
        {"k": a.k, "metric": a.metric if a.metric == b.metric else f"{a.metric}/{b.metric}"}
        if measure == "mutual_knn" else {}
    )  # fmt: skip
    constant = [s.name for s in (a, b) if s.constant]
    if constant:
        value = degenerate(
            f"{' and '.join(constant)} {'is' if len(constant) == 1 else 'are'} constant (every "
            f"row the same: a collapsed representation); {measure} is undefined, returning NaN"
        )
        return SimilarityResult(measure, value, a.n, options=options)

    def value_of(order: np.ndarray | None) -> float:
        return _pair_value(a, b, debiased, order)

    value = value_of(None)
    if n_permutations == 0 or not math.isfinite(value):
        return SimilarityResult(measure, value, a.n, options=options)
    null = np.array([value_of(order) for order in permutations(a.n, n_permutations, seed)])
    return calibrate(measure, value, a.n, null, options)


def check_rows(n: int, measure: str, debiased: bool, names: tuple[str, ...]) -> None:
    """Raise unless N rows suffice for ``measure`` (debiased CKA: 4; CKA, Procrustes: 2).

    Mutual kNN checks its own minimum (k + 1) when the graphs are built.
    """
    who = " and ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])}, ... (all)"
    if measure == "cka" and debiased and n < 4:
        raise ValueError(f"debiased CKA needs N >= 4 rows (its estimator divides by n(n - 3)); "
                         f"{who} have N = {n}; use debiased=False")  # fmt: skip
    if n < 2:
        raise ValueError(f"{measure} needs N >= 2 rows; {who} have N = {n}")


def _pair_value(a: PreparedSide, b: PreparedSide, debiased: bool, order: np.ndarray | None):
    n = a.n
    if a.measure == "mutual_knn":
        ib = b.knn
        if order is not None:
            # shuffling the rows of b relabels its graph: row i of b[order] is b's row order[i],
            # and b's node j is node inverse[j] of the shuffled set
            inverse = np.empty_like(order)
            inverse[order] = np.arange(n)
            ib = inverse[b.knn[order]]
        return _knn_overlap(a.knn, ib)
    cross = _cross_sums(a.rows, b.rows, order)
    if a.measure == "procrustes":
        return _procrustes_value(n, a.sums, b.sums, cross)
    which = 0 if debiased else 1
    self_a, self_b = a.self_hsic[which], b.self_hsic[which]
    if not (self_a > 0 and self_b > 0):
        return degenerate(
            f"the {'debiased' if debiased else 'classic'} self-HSIC of "
            f"{a.name if self_a <= 0 else b.name} is not positive ({min(self_a, self_b):.3g}; "
            "too few or degenerate rows); CKA is undefined, returning NaN",
            stacklevel=5,
        )
    return _hsic(n, a.sums, b.sums, cross, debiased) / math.sqrt(self_a * self_b)


def pairwise_values(sides: list[PreparedSide], debiased: bool = True) -> np.ndarray:
    """The ``(M, M)`` matrix of every pair's value (no null), each as :func:`compare_sides`.

    The diagonal is 1 (every measure gives 1 for a representation with itself) and a constant
    side's row and column are NaN (no warning: the caller names it). For CKA and Procrustes the
    cross sums of many pairs come from one pass over the rows of a group of models stacked side
    by side (``[X_1 … X_g]ᵀ[X_1 … X_h]`` holds every ``X_aᵀX_b`` of the two groups): groups are
    sized so that their float64 cross Gram stays within 256 MiB, so a zoo of small models is a
    few large matrix products instead of M(M−1)/2 small ones.

    Args:
        sides: Prepared sides (one measure, one N).
        debiased: Debiased (True) or classic linear CKA.

    Returns:
        The symmetric matrix of values.
    """
    m = len(sides)
    out = np.full((m, m), np.nan)
    live = [i for i, s in enumerate(sides) if not s.constant]
    for i in live:
        out[i, i] = 1.0
    if m == 0:
        return out
    measure, n = sides[0].measure, sides[0].n
    if measure == "mutual_knn" or measure == "cka" and debiased and n < 4:
        for x, i in enumerate(live):
            for j in live[x + 1 :]:
                out[i, j] = out[j, i] = compare_sides(sides[i], sides[j], debiased=debiased).value
        return out
    groups, current, width = [], [], 0
    for i in live:
        dim = sides[i].rows.dim
        if current and width + dim > _GROUP_WIDTH:
            groups.append(current)
            current, width = [], 0
        current.append(i)
        width += dim
    if current:
        groups.append(current)
    for g, first in enumerate(groups):
        for second in groups[g:]:
            for (i, j), cross in _group_cross_sums(sides, first, second).items():
                if i == j or (first is second and i > j):
                    continue
                a, b = sides[i], sides[j]
                if measure == "procrustes":
                    value = _procrustes_value(n, a.sums, b.sums, cross)
                else:
                    which = 0 if debiased else 1
                    self_a, self_b = a.self_hsic[which], b.self_hsic[which]
                    if not (self_a > 0 and self_b > 0):
                        value = float("nan")
                    else:
                        value = _hsic(n, a.sums, b.sums, cross, debiased) / math.sqrt(
                            self_a * self_b
                        )
                out[i, j] = out[j, i] = value
    return out


# Most columns of the models stacked in one group of pairwise_values: a float64 cross Gram of two
# groups is at most 4096 x 4096 (128 MiB); their rows are read in chunks.
_GROUP_WIDTH = 4096


def _group_cross_sums(
    sides: list[PreparedSide], first: list[int], second: list[int]
) -> dict[tuple[int, int], _CrossSums]:
    """The cross sums of every model of ``first`` with every model of ``second``, in one pass."""
    dev = sides[first[0]].rows.device
    dims_a = [sides[i].rows.dim for i in first]
    dims_b = [sides[j].rows.dim for j in second]
    gram = torch.zeros((sum(dims_a), sum(dims_b)), dtype=torch.float64, device=dev)
    xl = torch.zeros((sum(dims_a), len(second)), dtype=torch.float64, device=dev)
    yk = torch.zeros((sum(dims_b), len(first)), dtype=torch.float64, device=dev)
    kl = torch.zeros((len(first), len(second)), dtype=torch.float64, device=dev)
    n = sides[first[0]].n
    step = _chunk_rows(sum(dims_a), sum(dims_b))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        xa = torch.cat([sides[i].rows.read(lo, hi).to(dev) for i in first], dim=1)
        xb = xa if first is second else torch.cat(
            [sides[j].rows.read(lo, hi).to(dev) for j in second], dim=1)  # fmt: skip
        ka = torch.stack([(c * c).sum(dim=1) for c in xa.split(dims_a, dim=1)], dim=1)
        kb = ka if first is second else torch.stack(
            [(c * c).sum(dim=1) for c in xb.split(dims_b, dim=1)], dim=1)  # fmt: skip
        gram.addmm_(xa.T, xb)
        xl.addmm_(xa.T, kb)
        yk.addmm_(xb.T, ka)
        kl.addmm_(ka.T, kb)
    starts_a = np.concatenate([[0], np.cumsum(dims_a)])
    starts_b = np.concatenate([[0], np.cumsum(dims_b)])
    out = {}
    for x, i in enumerate(first):
        rows = slice(starts_a[x], starts_a[x + 1])
        for y, j in enumerate(second):
            cols = slice(starts_b[y], starts_b[y + 1])
            out[(i, j)] = _CrossSums(gram[rows, cols], float(kl[x, y]), xl[rows, y], yk[cols, x])
    return out


def permutations(n: int, n_permutations: int, seed: SeedLike) -> Iterator[np.ndarray]:
    """The row shuffles of a permutation null: the successive ``permutation(n)`` of one generator.

    Examples:
        >>> [p.tolist() for p in permutations(3, 2, seed=0)]
        [[2, 0, 1], [2, 1, 0]]
    """
    rng = numpy_generator(seed)
    for _ in range(n_permutations):
        yield rng.permutation(n)


def calibrate(
    measure: str, value: float, n: int, null: np.ndarray, options: dict[str, bool | int | str]
) -> SimilarityResult:
    """A :class:`SimilarityResult` from a value and its permutation null."""
    null = np.asarray(null, dtype=np.float64)
    count = int(null.size)
    tol = _TIES * max(1.0, abs(value))
    mean = float(null.mean())
    sd = float(null.std(ddof=1)) if count > 1 else float("nan")
    p = (1 + int((null >= value - tol).sum())) / (1 + count)
    return SimilarityResult(measure, value, n, count, mean, sd, value - mean, p, null, options)


# -- public functions ----------------------------------------------------------------------------
#: The parameter constraints of :func:`similarity` (and of ``similarity_matrix``, which adds its
#: model options).
SIMILARITY_PARAMETERS = {
    "measure": [Options(MEASURES)],
    "debiased": [Boolean()],
    "k": [Integral(1, None)],
    "metric": [Options(KNN_METRICS)],
    "n_permutations": [Integral(0, None)],
    "seed": [Seed(), NoneOK],
}


@validate_params(SIMILARITY_PARAMETERS)
def similarity(
    a: PointsOrGraph,
    b: PointsOrGraph,
    measure: str = "cka",
    *,
    debiased: bool = True,
    k: int = 10,
    metric: str = "cosine",
    n_permutations: int = 0,
    seed: SeedLike = 0,
) -> SimilarityResult:
    r"""How alike two representations of the same images are, optionally calibrated.

    Row ``i`` of ``a`` and of ``b`` must embed the same image; the dimensions may differ.

    * ``measure="cka"`` (:func:`linear_cka`): linear CKA, debiased by default. With
      :math:`K = XX^\top`, :math:`L = YY^\top` and :math:`\tilde K`, :math:`\tilde L` the same
      with zero diagonals, the unbiased HSIC (Song et al. 2012) is

      .. math::

         \mathrm{HSIC}_1(K, L) = \frac{1}{n(n-3)}\Big[\mathrm{tr}(\tilde K\tilde L)
         + \frac{\mathbf 1^\top\tilde K\mathbf 1\,\mathbf 1^\top\tilde L\mathbf 1}{(n-1)(n-2)}
         - \frac{2}{n-2}\,\mathbf 1^\top\tilde K\tilde L\mathbf 1\Big]

      and :math:`\mathrm{CKA} = \mathrm{HSIC}(K,L)/\sqrt{\mathrm{HSIC}(K,K)\,\mathrm{HSIC}(L,L)}`
      (Nguyen, Raghu & Kornblith 2021). ``debiased=False`` gives the classic
      :math:`\|Y_c^\top X_c\|_F^2 / (\|X_c^\top X_c\|_F \|Y_c^\top Y_c\|_F)` of the
      column-centred matrices (Kornblith et al. 2019), which is biased upwards when N is not
      much larger than the dimensions (it approaches 1 for independent noise as D/N grows).
      Both are computed from feature-space sums in float64, never an N × N matrix. Invariant to orthogonal transforms, isotropic scaling and translations of
      either side; in [−1, 1], 1 for identical inputs; the debiased form is about 0 (standard
      deviation :math:`\approx\sqrt{2/(n(n-1))}`) for independent representations.
    * ``measure="mutual_knn"`` (:func:`mutual_knn`): the mean over images of
      :math:`|\mathrm{kNN}_a(i) \cap \mathrm{kNN}_b(i)| / k` (Huh et al. 2024, k = 10, cosine
      neighbours), on the package's faiss kNN graphs (a graph given for ``a`` or ``b`` is used
      as is). 1 when the neighbourhoods coincide; :math:`k/(N-1)` expected for independent
      representations (each kNN set is then a uniformly random k-subset of the other N − 1
      images: a hypergeometric overlap of mean :math:`k^2/(N-1)`).
    * ``measure="procrustes"``: with :math:`\tilde X`, :math:`\tilde Y` centred and scaled to
      unit Frobenius norm (the smaller zero-padded to the larger dimension),
      :math:`\|\tilde X^\top\tilde Y\|_*` (nuclear norm), in [0, 1]. It is
      :math:`1 - d^2/2` for the orthogonal Procrustes distance
      :math:`d = \min_Q \|\tilde X - \tilde Y Q\|_F = \sqrt{2 - 2\|\tilde X^\top\tilde Y\|_*}`,
      and :math:`\cos\theta` for the angular shape metric :math:`\theta` of Williams et al.
      (2021); :func:`procrustes_distance` returns either distance.

    Calibration (``n_permutations > 0``): the rows of ``b`` are shuffled (shuffle j is the j-th
    ``permutation(N)`` of ``numpy_generator(seed)``), which keeps each representation's own
    geometry and breaks the pairing of images. The result carries the null's mean and sd,
    ``calibrated = value − null mean`` and ``p = (1 + #{null ≥ value}) / (1 + n_permutations)``.
    Cost per shuffle: one cross pass (``N·D_a·D_b`` for CKA and Procrustes) or one relabelling
    of ``b``'s graph (mutual kNN: no new search).

    Args:
        a: ``(N, D_a)`` embeddings (numpy, torch, a memmap or a ``.npy`` path; float16 is
            upcast), or for ``"mutual_knn"`` a kNN/NNK graph over them.
        b: ``(N, D_b)`` embeddings of the same N images (or a graph).
        measure: ``"cka"``, ``"mutual_knn"`` or ``"procrustes"``.
        debiased: CKA: the debiased estimator (default) or the classic one.
        k: mutual kNN: neighbours per image (``k <= N - 1``).
        metric: mutual kNN: ``"cosine"`` (Huh et al.) or ``"euclidean"`` neighbours.
        n_permutations: Row shuffles of ``b`` for the calibration (0: none).
        seed: Seed of the shuffles (an int, a numpy Generator or a torch Generator).

    Returns:
        A :class:`SimilarityResult` (``value`` and, with shuffles, the calibration).

    A constant representation (every row the same: a collapsed model) has no defined
    similarity: ``value`` is NaN and a :class:`~manifold.DegenerateWarning` names it (collapse
    is a result, not an error, so a sweep over checkpoints does not stop at a collapsed one).

    Raises:
        ValueError: different N, non-finite values, fewer than 4 rows for debiased CKA (2 for
            classic CKA and Procrustes, ``k + 1`` for mutual kNN), an unknown measure or metric.
        TypeError: a graph for CKA or Procrustes, non-numeric input.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(200, 16))
        >>> rotated = a @ np.linalg.qr(rng.normal(size=(16, 16)))[0] * 3.0
        >>> round(similarity(a, rotated).value, 6), round(similarity(a, rotated, "procrustes").value, 6)
        (1.0, 1.0)
        >>> res = similarity(a, rng.normal(size=(200, 8)), n_permutations=99, seed=0)
        >>> abs(res.value) < 0.05, res.p_value > 0.01
        (True, True)
    """  # noqa: E501
    side_a = prepare_side(a, measure, "a", k=k, metric=metric)
    side_b = prepare_side(b, measure, "b", k=k, metric=metric)
    return compare_sides(side_a, side_b, debiased=debiased, n_permutations=n_permutations,
                         seed=seed)  # fmt: skip


@validate_params({"debiased": [Boolean()]})
def linear_cka(a: Embeddings, b: Embeddings, debiased: bool = True) -> float:
    """Linear CKA of two representations of the same images (see :func:`similarity`).

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 5))
        >>> round(linear_cka(x, 2 * x + 1), 12), round(linear_cka(x, x, debiased=False), 12)
        (1.0, 1.0)
    """
    return similarity(a, b, "cka", debiased=debiased).value


@validate_params({"k": [Integral(1, None)], "metric": [Options(KNN_METRICS)]})
def mutual_knn(a: PointsOrGraph, b: PointsOrGraph, k: int = 10, metric: str = "cosine") -> float:
    """Mutual k-nearest-neighbour alignment (Huh et al. 2024; see :func:`similarity`).

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(50, 4))
        >>> mutual_knn(x, 5 * x, k=5)
        1.0
    """
    return similarity(a, b, "mutual_knn", k=k, metric=metric).value


@validate_params({"angular": [Boolean()]})
def procrustes_distance(a: Embeddings, b: Embeddings, angular: bool = False) -> float:
    r"""Orthogonal Procrustes shape distance of Williams et al. (2021).

    Both sides are column-centred and scaled to unit Frobenius norm (the smaller dimension
    zero-padded): :math:`d = \min_Q \|\tilde X - \tilde Y Q\|_F = \sqrt{2 - 2\|\tilde X^\top
    \tilde Y\|_*}` over orthogonal :math:`Q`, or with ``angular=True``
    :math:`\theta = \arccos \|\tilde X^\top\tilde Y\|_*` (radians). Both are metrics on shapes:
    0 exactly when the two differ by a translation, a rotation or reflection and a scaling.

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(60, 3))
        >>> round(procrustes_distance(x, -2 * x + 5), 6)
        0.0
    """
    value = similarity(a, b, "procrustes").value
    if angular:
        return float(math.acos(max(-1.0, min(1.0, value))))
    return float(math.sqrt(max(0.0, 2.0 - 2.0 * value)))
