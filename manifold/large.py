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

Both come from the engine (:mod:`manifold.engine`), as every driver's numbers do: a
:class:`~manifold.engine.StreamingContext` is fed each chunk (``update``: the
:class:`~manifold.spectral.GramAccumulator` and the anchors' neighbour search), finished
(``compute``), and :func:`~manifold.engine.record_semantic` records every registry entry that
declares an :class:`~manifold.engine.AnchorEstimate`: how it is estimated on anchors and how
its standard error is computed. The table's settings state what its ``"se"`` rows are
(``settings["se"]``, and each metric's estimator in ``settings["estimators"]``): the error of
estimating the value on all ``N`` rows from the anchors, where :func:`manifold.profile`'s
``"se"`` rows are a bootstrap over images.

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

import resource
import time
from typing import TYPE_CHECKING

from manifold._backend import numpy_generator
from manifold._validation import InstanceOf, Integral, NoneOK, Options, Real, validate_params
from manifold.graphs.anchor import (
    INDEXES,
    AnchorNNK,
    AnchorSearch,
    anchor_knn,
    anchor_nnk,
    resolve_chunk_rows,
    sample_anchors,
)
from manifold.io import RowReader
from manifold.settings import RANKME_MAX_SAMPLES
from manifold.typing import RowSource

if TYPE_CHECKING:
    from manifold.results import Profile

# anchor_knn, anchor_nnk and AnchorNNK live in manifold.graphs.anchor; re-exported here, where
# they were first published
__all__ = ["AnchorNNK", "RowReader", "anchor_knn", "anchor_nnk", "profile_large"]

#: What the ``"se"`` rows of :func:`profile_large`'s table are (its settings' ``"se"``).
ANCHOR_SE = (
    "anchor sampling: the standard error of each anchor estimate as an estimate of the value "
    "on all N rows (0 when every row is an anchor; per metric: settings['estimators'])"
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@validate_params(
    {
        # its range (>= 2) is checked after z is read, so a short z is reported as such
        "n_anchors": [Integral()],
        "k": [Integral(2, None)],
        "seed": [Integral(0, None)],
        "index": [Options(INDEXES)],
        "chunk_rows": [Integral(1, None), NoneOK],
        "nlist": [Integral(1, None), NoneOK],
        "nprobe": [Integral(1, None), NoneOK],
        "max_samples": [Integral(2, None), NoneOK],
        "sigma": [Real(0, None, closed="neither"), NoneOK],
        "name": [InstanceOf(str)],
    }
)
def profile_large(
    z: RowSource | RowReader,
    *,
    n_anchors: int = 10_000,
    k: int = 10,
    seed: int = 0,
    index: str = "flat",
    chunk_rows: int | None = None,
    nlist: int | None = None,
    nprobe: int | None = None,
    max_samples: int | None = RANKME_MAX_SAMPLES,
    sigma: float | None = None,
    name: str = "model",
) -> Profile:
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
    from manifold import __version__
    from manifold.engine import (
        METRICS_VERSION,
        REGISTRY,
        Recorder,
        StreamingContext,
        mle_neighbours,
        record_semantic,
        search_neighbours,
        warn_failures,
    )
    from manifold.results import SEMANTIC, Profile
    from manifold.settings import Settings

    started = time.perf_counter()
    reader = z if isinstance(z, RowReader) else RowReader(z)
    n = reader.n
    if n < k + 1:
        raise ValueError(f"z needs N >= k + 1 = {k + 1} rows, got N = {n}")
    if n_anchors < 2:
        raise ValueError(f"profile_large: n_anchors must be >= 2, got {n_anchors}")
    chunk_rows = resolve_chunk_rows(chunk_rows, reader.dim)
    rng = numpy_generator(seed)
    rows = sample_anchors(n, n_anchors, rng)
    stages: dict[str, dict[str, float]] = {}

    t0 = time.perf_counter()
    search = AnchorSearch.create(reader, rows, search_neighbours(k, n) + 1, index, nlist, nprobe,
                                 rng)  # fmt: skip
    t0 = _merge_mark(stages, "anchors", t0)
    rec = Recorder(name)
    ctx = StreamingContext(reader, k, rec, rows=rows, search=search, rng=rng, seed=seed,
                           max_samples=max_samples, sigma=sigma)  # fmt: skip
    # one pass: each chunk is accumulated (and validated) for the spectrum, then searched
    for lo, chunk in reader.chunks(chunk_rows):
        ctx.update(lo, chunk)
    ctx.compute()
    stages["stream"] = {"knn_seconds": round(ctx.search_seconds, 3)}
    t0 = _merge_mark(stages, "stream", t0)
    # the registry's entries, stage by stage: exact spectral metrics, dimensions, NNK metrics
    for stage, needs in (("rankme", {"spectrum"}), ("dimension", {"knn", "mle_knn"}),
                         ("nnk", {"nnk"})):  # fmt: skip
        record_semantic(ctx, needs=needs)
        t0 = _merge_mark(stages, stage, t0)
    reader.close()

    nnk = ctx.nnk if ctx.available("knn") else None
    estimators = {m.name: m.anchors.description for m in REGISTRY
                  if m.manifold == SEMANTIC and m.anchors is not None}  # fmt: skip
    settings = Settings(
        mode="large", n_images=n, k=k, k_mle=mle_neighbours(n), seed=seed,
        max_samples=max_samples, metrics_version=METRICS_VERSION, version=__version__,
        se=ANCHOR_SE, dim=reader.dim, n_anchors=int(rows.size), index=index,
        chunk_rows=chunk_rows, sigma=None if nnk is None else nnk.sigma,
        streams_from_file=reader.streams_from_file, estimators=estimators, stages=stages,
        seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip
    warn_failures(rec.failures)
    return Profile(rec.table(), {name: settings.to_dict()}, rec.failures, {name: ctx.spectrum})


def _merge_mark(stages: dict[str, dict[str, float]], stage: str, t0: float) -> float:
    now = time.perf_counter()
    entry = stages.setdefault(stage, {})
    entry["seconds"] = round(now - t0, 3)
    entry["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    return now
