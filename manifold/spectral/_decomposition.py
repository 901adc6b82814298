"""One pass over the embeddings: float64 Gram and column sum, then both spectra.

Every spectral metric of a matrix ``Z`` (N×D) is read from two spectra:

* the singular values ``σ`` of ``Z`` itself (uncentered), used by RankMe, effective rank and
  stable rank;
* the eigenvalues ``λ`` of the centered covariance ``Σ(z−μ)(z−μ)ᵀ/(N−1)``, used by alpha,
  participation ratio and NESum.

Both come from one float64 accumulation over row chunks. With a shift ``m`` (the first row
seen), each chunk adds ``(X−m)ᵀ(X−m)`` to a D×D matrix and ``Σ(x−m)`` to a D-vector; then

* centered scatter ``S = G_m − s sᵀ/N`` (the shift keeps this well conditioned when the mean is
  large compared with the spread, and makes it exactly zero for constant columns);
* uncentered Gram ``ZᵀZ = G_m + m sᵀ + s mᵀ + N m mᵀ``, whose eigenvalues are ``σ²``.

Memory is O(D²) whatever N is, so a generator of batches or a numpy memmap of millions of rows
works. When an in-memory matrix has fewer rows than columns (N < D), the N×N side is smaller:
``ZZᵀ`` and ``(Z−μ)(Z−μ)ᵀ`` have the same non-zero eigenvalues.

Accuracy: an eigenvalue of a float64 Gram carries an absolute error of order
``eps₆₄ · λ_max`` (eps₆₄ ≈ 2.2e-16), so singular values below about ``1.5e-8 · σ_max`` (the square
root of eps₆₄) cannot be resolved through the Gram (an SVD of Z could resolve them down to
``eps₆₄ · σ_max``). Eigenvalues below ``4 (D + √N) eps₆₄ · λ_max`` (rank-deficient input,
rounding noise, small negative values) are therefore set to exactly 0: singular values below
``σ_max · sqrt(4 (D + √N) eps₆₄)``, between about 3e-7 and 1.5e-6 of σ_max for D from 100 to
2048. RankMe, effective rank and stable rank are dominated by the large
singular values, and alpha is fitted on the leading eigenvalues, so none of them is affected in
practice; the smallest singular values are the ones to compute with an SVD if needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from .._backend import numpy_generator
from .._checks import all_finite, as_tensor
from .._spectrum import Spectrum
from .._validation import Boolean, Integral, NoneOK, Seed, validate_params
from ..io import RowReader
from ..typing import ArrayLike, Batches, Embeddings, SeedLike

__all__ = ["GramAccumulator", "Spectrum", "spectrum"]

# Rows per chunk are chosen so that one float64 chunk is about this size.
_CHUNK_BYTES = 64 * 2**20


def _chunk_rows(dim: int) -> int:
    return max(1, _CHUNK_BYTES // (8 * dim))


def is_batches(z: object) -> bool:
    """Whether ``z`` is an iterable of row batches rather than one array."""
    if isinstance(z, (torch.Tensor, np.ndarray)):
        return False
    if isinstance(z, (list, tuple)):
        return len(z) > 0 and isinstance(z[0], (torch.Tensor, np.ndarray))
    return isinstance(z, Iterator) or (
        isinstance(z, Iterable) and not hasattr(z, "__array__") and not isinstance(z, (str, bytes))
    )


def shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_chunk_finite(
    t: torch.Tensor, name: str, start: int, scope: str, unit: str = "row"
) -> None:
    """Raise with the count of non-finite values and the global index of the first bad row."""
    if all_finite(t):
        return
    finite = torch.isfinite(t.reshape(t.shape[0], -1))
    n_nan = int(torch.isnan(t).sum())
    n_inf = int((~finite).sum()) - n_nan
    first = start + int((~finite).any(dim=1).nonzero()[0, 0])
    parts = []
    if n_nan:
        parts.append(f"{n_nan} NaN value{'s' if n_nan != 1 else ''}")
    if n_inf:
        parts.append(f"{n_inf} infinite value{'s' if n_inf != 1 else ''}")
    raise ValueError(
        f"{name} contains {' and '.join(parts)} (first at {unit} {first}; counted in {scope})"
    )


def _check_subset_finite(t: torch.Tensor, name: str, rows: np.ndarray) -> None:
    if all_finite(t):
        return
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        first = int(rows[int(bad.nonzero()[0, 0])])
        count = int((~torch.isfinite(t)).sum())
        raise ValueError(
            f"{name} contains {count} NaN or infinite value{'s' if count != 1 else ''} "
            f"(first at row {first}; counted in the sampled rows {int(rows[0])}..{int(rows[-1])})"
        )


def _batch_tensor(batch: Any, name: str, index: int, start: int, dim: int | None) -> torch.Tensor:
    """Validate one batch of an iterable input; errors name the batch and its first row."""
    shape = tuple(getattr(batch, "shape", np.shape(batch)))
    where = f"batch {index} of {name} (rows from {start})"
    if len(shape) != 2:
        raise ValueError(f"expected {where} of shape (b, D), got {shape_str(shape)}")
    if dim is not None and shape[1] != dim:
        raise ValueError(
            f"{where} has D = {shape[1]}, expected D = {dim} as in the first batch "
            f"(shape {shape_str(shape)})"
        )
    t, _ = as_tensor(batch, f"{where}", ("b", "D"), check_finite=False)
    check_chunk_finite(t, name, start, f"rows {start}..{start + t.shape[0] - 1}")
    return t


def _array_chunks(
    z: Any, name: str, max_samples: int | None, seed: SeedLike
) -> tuple[Iterator[torch.Tensor], int, int]:
    """Row chunks of one array (tensor, ndarray or memmap), optionally a seeded row subset.

    A file-backed memmap is read with file reads (:class:`manifold.io.RowReader`), not
    through its mapping, so the pages read do not stay resident: memory stays at one chunk
    however large the file.
    """
    is_memmap = isinstance(z, np.memmap)
    if is_memmap:
        shape = tuple(z.shape)
        if len(shape) != 2:
            raise ValueError(f"expected {name} of shape (N, D), got {shape_str(shape)}")
        n, dim = shape
        if n == 0 or dim == 0:
            raise ValueError(f"{name} is empty (shape {shape_str(shape)})")
        source: Any = RowReader(z, name)
    else:
        # A whole in-memory array: one validation with the global NaN/Inf count.
        source, _ = as_tensor(z, name, ("N", "D"))
        n, dim = source.shape
    if n < 2:
        raise ValueError(f"{name} needs N >= 2 rows, got N = {n}")

    rows = None
    if max_samples is not None and n > max_samples:
        rows = np.sort(numpy_generator(seed).choice(n, size=max_samples, replace=False))
    step = _chunk_rows(dim)

    reader = source if is_memmap else RowReader(source, name)

    def gen() -> Iterator[torch.Tensor]:
        total = n if rows is None else rows.size
        try:
            for lo in range(0, total, step):
                hi = min(total, lo + step)
                idx = None if rows is None else rows[lo:hi]
                part = reader.read(lo, hi) if idx is None else reader.take(idx)
                if not is_memmap:  # validated as a whole above
                    yield part
                    continue
                t, _ = as_tensor(np.asarray(part), name, ("N", "D"), check_finite=False)
                if idx is None:
                    check_chunk_finite(t, name, lo, f"rows {lo}..{hi - 1}")
                else:
                    _check_subset_finite(t, name, idx)
                yield t
        finally:
            reader.close()

    return gen(), (n if rows is None else int(rows.size)), dim


def _batch_chunks(z: Iterable[Any], name: str) -> Iterator[torch.Tensor]:
    dim = None
    device = None
    start = 0
    for index, batch in enumerate(z):
        shape = tuple(getattr(batch, "shape", np.shape(batch)))
        if len(shape) == 2 and shape[0] == 0 and (dim is None or shape[1] == dim):
            continue
        t = _batch_tensor(batch, name, index, start, dim)
        if dim is None:
            dim, device = t.shape[1], t.device
        elif t.device != device:
            t = t.to(device)
        for lo in range(0, t.shape[0], _chunk_rows(dim)):
            yield t[lo : lo + _chunk_rows(dim)]
        start += t.shape[0]


def _reservoir(chunks: Iterator[torch.Tensor], size: int, seed: SeedLike) -> torch.Tensor | None:
    """A uniform sample of ``size`` rows from a stream (Algorithm R), or all rows if fewer.

    Memory is O(size·D). Returns ``None`` for an empty stream.
    """
    rng = numpy_generator(seed)
    buffer: torch.Tensor | None = None
    filled = 0
    seen = 0
    for t in chunks:
        if buffer is None:
            buffer = torch.empty((size, t.shape[1]), dtype=torch.float64, device=t.device)
        take = min(size - filled, t.shape[0])
        if take > 0:
            buffer[filled : filled + take] = t[:take]
            filled += take
        rest = t[take:]
        if rest.shape[0]:
            # row with global index i replaces slot j ~ U{0..i} when j < size
            highs = np.arange(seen + take, seen + t.shape[0]) + 1
            slots = rng.integers(0, highs)
            keep = np.nonzero(slots < size)[0]
            if keep.size:
                # the last row written to a slot wins, as in the sequential algorithm
                rev_slots = slots[keep][::-1]
                _, first = np.unique(rev_slots, return_index=True)
                chosen = keep[::-1][first]
                dev = buffer.device
                buffer[torch.as_tensor(slots[chosen], device=dev)] = rest[
                    torch.as_tensor(chosen, device=dev)
                ].to(torch.float64)
        seen += t.shape[0]
    if buffer is None:
        return None
    return buffer[:filled]


class GramAccumulator:
    r"""Streaming float64 Gram matrix and column sum of row chunks: ``update`` then ``compute``.

    With a shift ``m`` (the first row seen), each chunk ``X`` adds ``(X − m)ᵀ(X − m)`` to a
    D × D matrix ``G_m`` and ``Σ (x − m)`` to a D-vector ``s``; then

    * uncentered Gram ``ZᵀZ = G_m + m sᵀ + s mᵀ + N m mᵀ`` (its eigenvalues are ``σ²``),
    * centered scatter ``Σ (z − μ)(z − μ)ᵀ = G_m − s sᵀ / N``.

    The shift keeps the scatter well conditioned when the mean is large compared with the
    spread, and exactly zero for constant columns. Memory is ``O(D²)`` whatever the number of
    rows, so chunks can come from a memmap, a data loader or several machines' batches.
    :func:`spectrum`, :func:`~manifold.spectral.lidar` and :func:`manifold.large.profile_large`
    accumulate with it.

    Args:
        name: The data's name in error messages.

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(300, 5))
        >>> acc = GramAccumulator()
        >>> for chunk in np.array_split(z, 4):
        ...     acc.update(chunk)
        >>> acc.n
        300
        >>> bool(np.allclose(acc.compute().singular_values, np.linalg.svd(z, compute_uv=False)))
        True
    """

    def __init__(self, name: str = "z") -> None:
        self.name = name
        self.shift: torch.Tensor | None = None
        self.gram: torch.Tensor | None = None
        self.colsum: torch.Tensor | None = None
        self.n = 0

    def update(self, chunk: Embeddings) -> None:
        """Add the rows of ``chunk`` ``(b, D)`` (numpy or torch; validated, upcast to float64).

        Raises:
            ValueError: a shape other than ``(b, D)``, a ``D`` other than the first chunk's, or
                non-finite values (with their count and the first global row).
        """
        shape = tuple(getattr(chunk, "shape", np.shape(chunk)))
        where = f"rows {self.n}..{self.n + (shape[0] if shape else 0) - 1} of {self.name}"
        if len(shape) != 2:
            raise ValueError(f"expected {where} of shape (b, D), got {shape_str(shape)}")
        if shape[0] == 0:
            return
        if self.gram is not None and shape[1] != self.gram.shape[0]:
            raise ValueError(
                f"{where} have D = {shape[1]}, expected D = {self.gram.shape[0]} as in the "
                "first chunk"
            )
        t, _ = as_tensor(chunk, where, ("b", "D"), check_finite=False)
        check_chunk_finite(t, self.name, self.n, f"rows {self.n}..{self.n + t.shape[0] - 1}")
        if self.gram is not None and t.device != self.gram.device:
            t = t.to(self.gram.device)
        step = _chunk_rows(t.shape[1])
        for lo in range(0, t.shape[0], step):
            self._add(t[lo : lo + step])

    def _add(self, chunk: torch.Tensor) -> None:
        x = chunk.to(torch.float64)
        if self.shift is None:
            self.shift = x[0].clone()
            dim = x.shape[1]
            self.gram = torch.zeros((dim, dim), dtype=torch.float64, device=x.device)
            self.colsum = torch.zeros(dim, dtype=torch.float64, device=x.device)
        x = x - self.shift
        if x.device.type == "cpu":
            # numpy's BLAS (OpenBLAS in the wheels) computes xᵀx as a symmetric rank-k update;
            # on the project's AMD machine it was 1.6x faster than torch's (MKL) addmm
            g = self.gram.numpy()
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported later
                g += x.numpy().T @ x.numpy()
        else:
            self.gram.addmm_(x.T, x)
        self.colsum += x.sum(dim=0)
        self.n += x.shape[0]

    def matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The uncentered Gram ``ZᵀZ`` and the centered scatter ``Σ(z−μ)(z−μ)ᵀ`` (float64)."""
        if self.n == 0:
            raise ValueError(f"{self.name} holds no rows (nothing was accumulated)")
        m, s, n = self.shift, self.colsum, self.n
        scatter = self.gram - torch.outer(s, s) / n
        gram = self.gram + torch.outer(m, s) + torch.outer(s, m) + n * torch.outer(m, m)
        return symmetric_part(gram), symmetric_part(scatter)

    def compute(self, center: bool = True) -> Spectrum:
        """The :class:`Spectrum` of the rows accumulated so far (see :func:`spectrum`)."""
        if self.n == 0:
            raise ValueError(f"{self.name} holds no rows (an empty iterable of batches)")
        if self.n < 2:
            raise ValueError(f"{self.name} needs N >= 2 rows, got N = {self.n}")
        n, dim = self.n, self.gram.shape[0]
        gram, scatter = self.matrices()
        sq = _clean_eigenvalues(gram, n, dim, min(n, dim))
        if center:
            eig = _clean_eigenvalues(scatter / (n - 1), n, dim, min(n - 1, dim))
        else:
            eig = sq / n
        return Spectrum(np.sqrt(sq), eig, n, dim, center)


def symmetric_part(a: torch.Tensor) -> torch.Tensor:
    return (a + a.T) / 2


def _clean_eigenvalues(mat: torch.Tensor, n: int, dim: int, keep: int) -> np.ndarray:
    """Descending eigenvalues of a PSD matrix, noise-level ones (and negatives) set to 0."""
    if not bool(torch.isfinite(mat).all()):
        raise ValueError(
            "the embeddings' Gram matrix overflows float64 (values of about 1e154 or larger); "
            "rescale the embeddings (RankMe, the ranks and alpha do not depend on the scale)"
        )
    if mat.device.type == "cpu":
        # LAPACK through numpy: 2.7x faster than torch.linalg.eigvalsh (MKL) at D = 2048 on the
        # project's AMD machine, same values to 1e-14 relative
        ev = np.linalg.eigvalsh(mat.numpy())[::-1]
    else:
        ev = torch.linalg.eigvalsh(mat).flip(0).cpu().numpy()
    top = float(ev[0]) if ev.size else 0.0
    tol = 4.0 * (dim + math.sqrt(n)) * np.finfo(np.float64).eps * max(top, 0.0)
    ev = np.where(ev > tol, ev, 0.0)
    return np.ascontiguousarray(ev[:keep])


@validate_params(
    {
        "max_samples": [Integral(2, None), NoneOK],
        "seed": [Seed(), NoneOK],
        "center": [Boolean()],
    }
)
def spectrum(
    z: Embeddings | Batches,
    *,
    max_samples: int | None = None,
    seed: SeedLike = 0,
    center: bool = True,
    name: str = "z",
    weights: ArrayLike | None = None,
) -> Spectrum:
    """Compute both spectra of an embedding matrix in one pass over its rows.

    One float64 D×D accumulation of the shifted Gram and the column sum gives the uncentered
    Gram ``ZᵀZ`` (its eigenvalues are σ²) and the centered covariance
    ``(ZᵀZ − N μμᵀ)/(N−1)`` (eigenvalues λ). An in-memory matrix with N < D uses the N×N side
    instead. Every metric of :mod:`manifold.spectral` is then read from the returned object, so
    computing five of them costs one pass over the data and two symmetric eigenvalue problems.

    Args:
        z: Embeddings, shape (N, D): a numpy array, a numpy memmap (read in row chunks with
            file reads, never copied whole nor kept resident), a torch tensor (CUDA tensors are
            processed on their device), or an iterable of row batches, each of shape (b, D)
            (numpy or torch, e.g. a generator over a data loader). float16/bfloat16 are
            upcast; all accumulation is in float64.
        max_samples: Use at most this many rows, drawn uniformly without replacement with
            ``seed``. ``None`` uses every row. Arrays are subsampled by a sorted seeded row
            subset; an iterable of batches by reservoir sampling (memory O(max_samples·D)),
            which draws a different subset than for the same rows given as one array.
        seed: Seed for the subsample (int, numpy or torch generator).
        center: If False, ``eigenvalues`` are those of the second-moment matrix ``ZᵀZ/N``
            rather than of the centered covariance.
        name: Name of the argument, used in error messages.
        weights: Optional row weights ``(N,)``, finite and ``>= 0``, for an in-memory array:
            the spectra of the matrix in which row i appears ``weights[i]`` times (N becomes
            ``Σ weights``). With integer weights this is exactly the spectrum of the rows
            repeated, which is how a bootstrap resample is computed without copying rows. Not
            with ``max_samples`` or an iterable of batches.

    Returns:
        A :class:`Spectrum`.

    Raises:
        ValueError: for non-finite values (count and first global row), a shape other than
            (N, D) (for batches: the batch index and its first row), batches with different
            D, or fewer than 2 rows.

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(500, 8))
        >>> s = spectrum(z)
        >>> s.singular_values.shape, s.eigenvalues.shape
        ((8,), (8,))
        >>> round(s.stable_rank(), 1) > 1
        True
    """
    if weights is not None:
        if max_samples is not None or is_batches(z) or isinstance(z, np.memmap):
            raise ValueError("weights need one in-memory array of embeddings and max_samples=None")
        x, _ = as_tensor(z, name, ("N", "D"))
        return _from_weighted_rows(x, _check_weights(weights, x.shape[0]), center, name)

    if is_batches(z):
        chunks: Iterator[torch.Tensor] = _batch_chunks(z, name)
        if max_samples is not None:
            sample = _reservoir(chunks, max_samples, seed)
            step = 1 if sample is None else _chunk_rows(sample.shape[1])
            chunks = iter(()) if sample is None else iter(sample.split(step))
        return _from_chunks(chunks, name, center)

    chunks, n, dim = _array_chunks(z, name, max_samples, seed)
    if n < dim and not isinstance(z, np.memmap):
        return _from_rows(torch.cat([c.to(torch.float64) for c in chunks]), center)
    return _from_chunks(chunks, name, center)


def _from_chunks(chunks: Iterator[torch.Tensor], name: str, center: bool) -> Spectrum:
    acc = GramAccumulator(name)
    for chunk in chunks:
        acc.update(chunk)
    return acc.compute(center)


def _from_rows(x: torch.Tensor, center: bool) -> Spectrum:
    """The N×N route for an in-memory matrix with N < D."""
    n, dim = x.shape
    sq = _clean_eigenvalues(symmetric_part(x @ x.T), n, dim, n)
    if center:
        # shift by the first row first, so that constant columns become exactly zero
        xs = x - x[0]
        xc = xs - xs.mean(dim=0)
        eig = _clean_eigenvalues(symmetric_part(xc @ xc.T) / (n - 1), n, dim, n - 1)
    else:
        eig = sq / n
    return Spectrum(np.sqrt(sq), eig, n, dim, center)


def _check_weights(weights: Any, n: int) -> np.ndarray:
    w = np.asarray(weights.cpu() if isinstance(weights, torch.Tensor) else weights, np.float64)
    if w.shape != (n,):
        raise ValueError(f"expected weights of shape ({n},), one per row, got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    return w


def _from_weighted_rows(x: torch.Tensor, w: np.ndarray, center: bool, name: str) -> Spectrum:
    """Spectra of the rows of ``x`` counted ``w`` times: weighted shifted Gram, or N×N side."""
    keep = w > 0
    x = x[torch.from_numpy(keep).to(x.device)].to(torch.float64)
    wt = torch.from_numpy(w[keep]).to(x.device)
    total = float(wt.sum())
    size = int(round(total))
    if size < 2:
        raise ValueError(f"{name} needs weights summing to >= 2 rows, got {total:g}")
    dim = x.shape[1]
    shift = x[0]
    xs = x - shift
    colsum = (xs * wt[:, None]).sum(dim=0)
    if x.shape[0] < dim:
        root = wt.sqrt()[:, None]
        uncentered = x * root
        sq = _clean_eigenvalues(
            symmetric_part(uncentered @ uncentered.T), size, dim, min(size, dim)
        )
        centred = (xs - colsum / total) * root
        cov = symmetric_part(centred @ centred.T) / (total - 1)
        eig = _clean_eigenvalues(cov, size, dim, min(size - 1, dim))
        sq, eig = _pad(sq, min(size, dim)), _pad(eig, min(size - 1, dim))
    else:
        g = (xs * wt[:, None]).T @ xs
        scatter = g - torch.outer(colsum, colsum) / total
        gram = g + torch.outer(shift, colsum) + torch.outer(colsum, shift)
        gram = gram + total * torch.outer(shift, shift)
        sq = _clean_eigenvalues(symmetric_part(gram), size, dim, min(size, dim))
        eig = _clean_eigenvalues(
            symmetric_part(scatter) / (total - 1), size, dim, min(size - 1, dim)
        )
    if not center:
        eig = sq / total
    return Spectrum(np.sqrt(sq), eig, size, dim, center)


def _pad(values: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length)
    out[: min(length, values.size)] = values[:length]
    return out
