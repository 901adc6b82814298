"""``Monitor``: the geometry of a model's representation, measured while it trains.

A driver over :mod:`manifold.engine`, like :func:`~manifold.profile`: each call runs the
profiling job of :func:`~manifold.profile` (:func:`manifold.runner.run_job`) on a fixed probe
batch (and the views of each family, drawn once when the monitor is made): it embeds them,
builds one :class:`~manifold.engine.ModelContext` and records the registry's entries of the
chosen metrics. On the same probe batch, model and settings, its numbers are those of
:func:`~manifold.profile`, row for row. A representation that collapses (RankMe at most
``collapse_rank``, or constant embeddings) is flagged once with a
:class:`~manifold.DegenerateWarning` and :attr:`Monitor.first_collapse`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from manifold._backend import numpy_generator, seed_int
from manifold._checks import DegenerateWarning, check_int
from manifold._validation import (
    Boolean,
    InstanceOf,
    Integral,
    NoneOK,
    Real,
    Resamples,
    Seed,
    validate_params,
)
from manifold._validation import Callable as CallableOK
from manifold.augment import check_families
from manifold.engine import FAMILY, REGISTRY, ModelContext, warn_failures
from manifold.io import atomic_write
from manifold.results import SEMANTIC
from manifold.runner import VIEW_ERRORS, Job, job_settings, run_job
from manifold.settings import COLLAPSE_RANK, RANKME_MAX_SAMPLES, default_n_views
from manifold.typing import Family, Images, ScalarWriter, SeedLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COLLAPSE_RANK",
    "CONSTANT_RTOL",
    "HISTORY_COLUMNS",
    "MONITOR_FAMILIES",
    "MONITOR_METRICS",
    "Monitor",
]

#: Metrics recorded by default: cheap ones (one spectrum, one kNN graph for the spread ratio).
#: A name covers every manifold that has it: ``rankme`` is the semantic RankMe and that of each
#: family's views; ``alpha`` records ``alpha`` and ``alpha_r2``.
MONITOR_METRICS = ("rankme", "effective_rank", "alpha", "spread_ratio")
#: Augmentation families of the family metrics by default.
MONITOR_FAMILIES = ("crop",)
#: Embeddings are constant when no feature varies over the probe images by more than this
#: fraction of the largest absolute value (all zeros are constant).
CONSTANT_RTOL = 1e-5
#: Columns of :attr:`Monitor.history`.
HISTORY_COLUMNS = ["step", "manifold", "metric", "value", "se"]
# views kept in memory when they take at most this many bytes (keep_views=None)
_VIEW_BYTES = 2**30


class Monitor:
    """Measure a model's representation geometry on a fixed probe batch during training.

    Made once before training; called as ``monitor(model, step)`` in the loop (every step, or
    once per epoch with ``step=epoch``). A call whose ``step`` is not a multiple of ``every``
    returns ``None`` at once. Otherwise it embeds the probe images, and the views of each
    family, under ``torch.no_grad()`` with the model in eval mode (every submodule's train/eval
    flag is restored afterwards, also when the model raises), records the metrics into
    :attr:`history` and returns this step's rows.

    **One job, the numbers of profile.** The probe batch (a seeded subsample of ``n_images``
    of the ``images``) and its views (``n_views`` per image and family, drawn once by
    :func:`manifold.draw_views` from ``seed``) never change, so the history is a curve of one
    measurement. Each call runs the job of :func:`~manifold.profile`: its rows equal
    ``profile(model, monitor.images, families, n_views, k, seed, max_samples=...,
    n_bootstrap=...)``'s rows of the same metrics to rounding (the same functions on the same
    embeddings).

    **Collapse.** At every recorded call the semantic embeddings are checked: when their RankMe
    is at most ``collapse_rank`` (the rule applies when the representation has more than
    ``collapse_rank`` dimensions) or they are constant (no feature varies by more than
    :data:`CONSTANT_RTOL` of the largest absolute value), the first such step is kept in
    :attr:`first_collapse` and a :class:`~manifold.DegenerateWarning` says so, once. RankMe is
    scale-free: a representation that shrinks toward the origin keeping its shape is not
    collapsed; one that shrinks toward a point other than the origin is.

    A metric that cannot be computed at a step (e.g. alpha of constant embeddings), or a
    family whose views cannot be made (the augmentation fails, the model fails on the views,
    or they embed to the wrong shape: metric ``"views"``), is left out of that step's rows and
    kept in :attr:`failures`; a warning names it the first time. This is the failure policy of
    :func:`~manifold.profile` and :func:`~manifold.profile_zoo`. A model that fails on the
    probe images themselves raises.

    Args:
        images: Probe images (N, C, H, W) in [0, 1] (numpy or torch), or a
            :class:`torch.utils.data.DataLoader` whose batches are images or tuples/lists
            whose first element is images (its first ``n_images`` images are taken, in the
            loader's order).
        every: Record only steps that are multiples of this.
        metrics: Names of registry metrics (see :data:`manifold.engine.REGISTRY`); a name
            covers every manifold that has it. Default: :data:`MONITOR_METRICS`.
        families: Augmentation families of the family metrics (names, kornia augmentations
            or callables, as in :func:`~manifold.profile`). Default: :data:`MONITOR_FAMILIES`.
        n_views: Views per image and family (K). ``None`` (the default): 4, with a
            ``FutureWarning`` that the default becomes
            :data:`~manifold.settings.DEFAULT_N_VIEWS` (16, as in :func:`~manifold.profile`) in
            the next release; a probe batch of fewer images or views costs less per call.
        k: Neighbours per node for the kNN graph (spread ratio) and the other graph metrics.
        seed: Seed of the probe subsample, the views, RankMe's row cap and the bootstrap.
        n_images: Probe images (``None``: all of ``images``); a larger N measures more stably
            and costs proportionally more per call.
        layer: Submodule whose output is the representation (default: the model's output).
        output: Index or key of the representation when the model returns a tuple, list or
            dict (see :func:`manifold.embed.select_output`).
        transform: Applied to image batches before the model (e.g. normalisation).
        batch_size: Images (or views) per forward pass.
        max_samples: Row cap for RankMe, as in :func:`~manifold.profile`.
        n_bootstrap: Resamples of the probe images for standard errors (column ``se``;
            0: none, else at least 2).
        collapse_rank: Flag the representation as collapsed when its RankMe is at most this.
        writer: Anything with ``add_scalar(tag, value, step)``, e.g.
            ``torch.utils.tensorboard.SummaryWriter``: every recorded value is also written
            there as ``manifold/<manifold>/<metric>``.
        keep_views: Keep the drawn views in memory (``True``) or draw them again from the
            seed at each call (``False``: the same views, at the cost of augmenting again);
            ``None``: keep them when they take at most 1 GiB.

    Attributes:
        images: The probe batch, a float32 CPU tensor (N, C, H, W).
        indices: Which of the given images form the probe batch (for a DataLoader: 0..N-1).
        first_collapse: The first recorded step at which the representation had collapsed, or
            ``None``.
        collapse_reason: Why that step was flagged (``None`` before).
        failures: Metrics that could not be computed: dicts with step, manifold, metric and
            error.

    Raises:
        ValueError, TypeError: bad images, an unknown metric or family, a family metric without
            families, or a parameter out of range (one-line messages).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 16))
        >>> monitor = Monitor(torch.rand(40, 1, 8, 8), every=2, k=5, families="flip", n_views=2)
        >>> monitor(model, step=1) is None  # not a multiple of every
        True
        >>> rows = monitor(model, step=2)
        >>> sorted(set(monitor.history["metric"]))
        ['alpha', 'alpha_r2', 'effective_rank', 'rankme', 'spread_ratio']
        >>> list(monitor.history.columns), model.training
        (['step', 'manifold', 'metric', 'value', 'se'], True)
    """

    @validate_params(
        {
            "every": [Integral(1, None)],
            "n_views": [Integral(2, None), NoneOK],
            "k": [Integral(1, None)],
            "seed": [Seed(), NoneOK],
            "n_images": [Integral(2, None), NoneOK],
            "layer": [InstanceOf(str, name="a submodule name (str)"), NoneOK],
            "output": [Integral(), InstanceOf(str), NoneOK],
            "transform": [CallableOK(), NoneOK],
            "batch_size": [Integral(1, None)],
            "max_samples": [Integral(2, None), NoneOK],
            "n_bootstrap": [Resamples()],
            "collapse_rank": [Real(0, None, closed="neither")],
            "keep_views": [Boolean(), NoneOK],
        }
    )
    def __init__(
        self,
        images: Images | torch.utils.data.DataLoader,
        every: int = 1,
        metrics: str | Iterable[str] = MONITOR_METRICS,
        families: Family | Iterable[Family] | None = MONITOR_FAMILIES,
        n_views: int | None = None,
        k: int = 10,
        seed: SeedLike = 0,
        *,
        n_images: int | None = 1000,
        layer: str | None = None,
        output: int | str | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        batch_size: int = 256,
        max_samples: int | None = RANKME_MAX_SAMPLES,
        n_bootstrap: int = 0,
        collapse_rank: float = COLLAPSE_RANK,
        writer: ScalarWriter | None = None,
        keep_views: bool | None = None,
    ) -> None:
        self.every, self.k, self.batch_size = every, k, batch_size
        self.n_bootstrap, self.max_samples = n_bootstrap, max_samples
        self.collapse_rank = collapse_rank
        self.seed = seed_int(seed)  # an int: every call draws from the same seed
        if writer is not None and not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(
                "writer must have a method add_scalar(tag, value, step) (e.g. a "
                f"torch.utils.tensorboard.SummaryWriter), got {type(writer).__name__}"
            )
        self.layer, self.output, self.transform, self.writer = layer, output, transform, writer
        self.metrics = _check_metrics(metrics)
        self._semantic = [m for m in self.metrics if _defined_on(m, SEMANTIC)]
        self._family = [m for m in self.metrics if _defined_on(m, FAMILY)]
        self._options = {e.option for e in REGISTRY if e.name in self.metrics and e.option}
        fams = check_families(families) if self._family else {}
        family_only = [m for m in self._family if m not in self._semantic]
        if family_only and not fams:
            raise ValueError(
                f"metrics {family_only} are measured on augmentation families, but families "
                "is empty; give families (e.g. 'crop') or leave those metrics out"
            )
        self.families = fams
        # the default warns of its change only where views are drawn
        self.n_views = (4 if n_views is None and not fams
                        else default_n_views(n_views, 4, "Monitor"))  # fmt: skip

        if n_images is not None:
            n_images = check_int(n_images, "n_images", minimum=self.k + 1)
        self.images, self.indices = _probe(images, n_images, self.seed, channels=bool(fams))
        if self.images.shape[0] <= self.k:
            raise ValueError(
                f"the probe batch needs more than k = {self.k} images, got {self.images.shape[0]}"
            )
        n, c, h, w = self.images.shape
        size = len(fams) * n * self.n_views * c * h * w * 4
        keep = size <= _VIEW_BYTES if keep_views is None else keep_views
        self._views: dict[str, torch.Tensor] = {}
        if keep:
            from manifold.augment import draw_views

            for name, fam in fams.items():
                try:
                    self._views[name] = draw_views(self.images, fam, self.n_views, self.seed)
                except VIEW_ERRORS:
                    pass  # drawn again at each call, whose failure records why (as profile)

        self._rows: list[tuple[int, str, str, float, float]] = []
        self._steps: list[int] = []
        self._warned: set[tuple[str, str]] = set()
        self._written: dict[Path, int] = {}
        self.first_collapse: int | None = None
        self.collapse_reason: str | None = None
        self.failures: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return (
            f"Monitor(images={self.images.shape[0]}, every={self.every}, "
            f"metrics={list(self.metrics)}, families={list(self.families)}, "
            f"n_views={self.n_views}, k={self.k}, seed={self.seed}, steps={len(self._steps)}, "
            f"first_collapse={self.first_collapse})"
        )

    @property
    def steps(self) -> list[int]:
        """The recorded steps, in order."""
        return list(self._steps)

    @property
    def history(self) -> pd.DataFrame:
        """One row per recorded (step, manifold, metric): the value and its standard error.

        ``value`` is the metric's value, or the mean of a per-point metric (e.g. the spread
        ratio); ``se`` its bootstrap standard error (NaN without ``n_bootstrap``).
        """
        table = pd.DataFrame(self._rows, columns=HISTORY_COLUMNS)
        return table.astype({"step": "int64", "value": "float64", "se": "float64"})

    def __call__(self, model: nn.Module, step: int) -> pd.DataFrame | None:
        """Measure ``model`` at ``step``; ``None`` when ``step`` is not a multiple of ``every``.

        Args:
            model: The model being trained (any ``torch.nn.Module`` taking image batches).
            step: The training step or epoch; recorded steps must increase.

        Returns:
            This step's rows of :attr:`history`, or ``None`` for a skipped step.

        Raises:
            ValueError: a step not after the last recorded one.
            TypeError: a model that is not a ``torch.nn.Module`` or a step that is not an int.
        """
        step = check_int(step, "step")
        if step % self.every:
            return None
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if self._steps and step <= self._steps[-1]:
            raise ValueError(
                f"step {step} is not after the last recorded step {self._steps[-1]}; "
                "recorded steps must increase"
            )
        # one job of the zoo runner, on the probe batch and its views drawn once
        settings = job_settings(
            n_images=int(self.images.shape[0]), n_views=self.n_views, k=self.k, seed=self.seed,
            families=list(self.families), layer=self.layer, max_samples=self.max_samples,
            curvature=bool(self._options), batch_size=self.batch_size, device=None,
            output=self.output, n_bootstrap=self.n_bootstrap, layers=None,
        )  # fmt: skip
        job = Job(f"monitor at step {step}", model, self.images, settings,
                  parts=[(SEMANTIC, None), *self.families.items()], transform=self.transform,
                  views=self._views, names=self.metrics)  # fmt: skip
        contexts: dict[str | None, ModelContext] = {}
        results = run_job(job, contexts)
        ctx = contexts[None]
        table = pd.concat([r.table for r in results], ignore_index=True)
        failures = [f for r in results for f in r.failures]

        rows = _history_rows(table, step)
        self._rows.extend(rows)
        self._steps.append(step)
        new = []
        for failure in failures:
            self.failures.append({"step": step, **failure})
            key = (failure["manifold"], failure["metric"])
            if key not in self._warned:
                self._warned.add(key)
                new.append(failure)
        warn_failures(new)
        self._check_collapse(ctx, rows, step)
        if self.writer is not None:
            for _, manifold, metric, value, _ in rows:
                self.writer.add_scalar(f"manifold/{manifold}/{metric}", value, step)
        return pd.DataFrame(rows, columns=HISTORY_COLUMNS)

    def _check_collapse(self, ctx: ModelContext, rows: list[tuple], step: int) -> None:
        if self.first_collapse is not None:
            return
        z = ctx.z
        spread = float((z.amax(dim=0) - z.amin(dim=0)).max())
        largest = float(z.abs().max())
        reason = None
        if spread <= CONSTANT_RTOL * largest or largest == 0.0:
            reason = (
                "the embeddings are constant (no feature varies by more than "
                f"{CONSTANT_RTOL:g} of the largest absolute value {largest:.3g})"
            )
        elif z.shape[1] > self.collapse_rank:
            rank = next((r[3] for r in rows if r[1] == SEMANTIC and r[2] == "rankme"), None)
            if rank is None:  # not among the metrics recorded: the same engine number
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DegenerateWarning)
                    try:
                        rank = ctx.rankme()
                    except (ValueError, RuntimeError, np.linalg.LinAlgError):
                        rank = float("nan")
            if rank <= self.collapse_rank:
                reason = f"RankMe {rank:.4g} <= collapse_rank = {self.collapse_rank:g}"
        if reason is not None:
            self.first_collapse, self.collapse_reason = step, reason
            warnings.warn(
                f"the representation collapsed at step {step}: {reason}",
                DegenerateWarning,
                stacklevel=3,
            )

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Append the rows not yet written to ``path`` to that CSV file, atomically.

        The first call writes the header (or appends to an existing file with the same
        columns, e.g. one written before a restart); each later call adds the steps recorded
        since. The file is replaced in one rename, so a reader never sees half a row.

        Returns:
            The path written.

        Raises:
            ValueError: an existing file whose header is not :data:`HISTORY_COLUMNS`.
        """
        path = Path(path)
        key = path.resolve()  # one count per file, however its path is spelled
        rows = self._rows[self._written.get(key, 0) :]
        old = path.read_text() if path.exists() else ""
        header = ",".join(HISTORY_COLUMNS)
        if old and old.splitlines()[0] != header:
            raise ValueError(
                f"{path} has columns {old.splitlines()[0]!r}, expected {header!r}; write "
                "the history to another file"
            )
        if old and not old.endswith("\n"):
            old += "\n"
        new = pd.DataFrame(rows, columns=HISTORY_COLUMNS).to_csv(index=False, header=not old)
        atomic_write(path, lambda p: p.write_text(old + new))
        self._written[key] = len(self._rows)
        return path

    def plot(self, metrics: str | Iterable[str] | None = None) -> Figure:
        """One panel per metric against the step, one line per manifold (±1 se when known).

        The step of :attr:`first_collapse`, if any, is marked by a vertical line.

        Args:
            metrics: Metrics to show (default: every metric of the history, in its order).

        Returns:
            A matplotlib Figure.

        Raises:
            ValueError: nothing recorded yet, or a metric not in the history.
        """
        import matplotlib.pyplot as plt

        table = self.history
        if table.empty:
            raise ValueError("nothing recorded yet: call the monitor with a model first")
        present = list(dict.fromkeys(table["metric"]))
        if metrics is None:
            names = present
        else:
            names = [metrics] if isinstance(metrics, str) else list(metrics)
            missing = [m for m in names if m not in present]
            if missing:
                raise ValueError(f"metrics {missing} are not in the history; it has {present}")
        cols = min(3, len(names))
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
        for ax, metric in zip(axes.flat, names, strict=False):
            part = table[table["metric"] == metric]
            for manifold, line in part.groupby("manifold", sort=False):
                ax.plot(line["step"], line["value"], marker=".", label=manifold)
                if line["se"].notna().any():
                    ax.fill_between(
                        line["step"], line["value"] - line["se"], line["value"] + line["se"],
                        alpha=0.25,
                    )  # fmt: skip
            if self.first_collapse is not None:
                ax.axvline(self.first_collapse, color="crimson", linestyle="--", linewidth=1)
            ax.set_title(metric)
            ax.set_xlabel("step")
            if part["manifold"].nunique() > 1:
                ax.legend(fontsize="small")
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        fig.tight_layout()
        return fig


def _check_metrics(metrics: str | Iterable[str]) -> tuple[str, ...]:
    """Validate metric names against the registry; one name or an iterable of names."""
    known = list(dict.fromkeys(m.name for m in REGISTRY))
    if isinstance(metrics, str):
        metrics = [metrics]
    elif not isinstance(metrics, Iterable):
        raise TypeError(f"metrics must be a name or an iterable of names, got {metrics!r}")
    names = list(dict.fromkeys(metrics))
    if not names:
        raise ValueError(f"metrics is empty; name at least one of {', '.join(known)}")
    bad = [m for m in names if not isinstance(m, str) or m not in known]
    if bad:
        raise ValueError(f"unknown metrics {bad}; expected names among {', '.join(known)}")
    return tuple(names)


def _defined_on(name: str, manifold: str) -> bool:
    return any(m.name == name and m.manifold == manifold for m in REGISTRY)


def _probe(
    images: Any, n_images: int | None, seed: int, *, channels: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """The probe batch (float32, CPU, its own memory) and the rows it came from."""
    from torch.utils.data import DataLoader

    from manifold.augment import check_images
    from manifold.embed import check_channels_first

    if isinstance(images, DataLoader):
        batches, count = [], 0
        for batch in images:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not isinstance(x, (torch.Tensor, np.ndarray)):
                raise TypeError(
                    "the DataLoader's batches must be image tensors or tuples/lists whose "
                    f"first element is one, got {type(x).__name__}"
                )
            batches.append(torch.as_tensor(x))
            count += batches[-1].shape[0]
            if n_images is not None and count >= n_images:
                break
        if not batches:
            raise ValueError("the DataLoader yielded no batch")
        images = torch.cat(batches)[:n_images]
        check_channels_first(images)
        x = check_images(images, channels=channels)
        return x.detach().cpu().clone(), np.arange(x.shape[0])
    check_channels_first(images)
    x = check_images(images, channels=channels)
    n = x.shape[0]
    if n_images is None or n <= n_images:
        rows = np.arange(n)
    else:
        rows = np.sort(numpy_generator(seed).choice(n, size=n_images, replace=False))
    return x[torch.from_numpy(rows).to(x.device)].detach().cpu().clone(), rows


def _history_rows(table: pd.DataFrame, step: int) -> list[tuple[int, str, str, float, float]]:
    """A profile table's rows as history rows: the value (or mean) and its se."""
    out = []
    stats: dict[tuple[str, str], dict[str, float]] = {}
    for manifold, metric, statistic, value in table[
        ["manifold", "metric", "statistic", "value"]
    ].itertuples(index=False):
        stats.setdefault((manifold, metric), {})[statistic] = float(value)
    for (manifold, metric), values in stats.items():
        value = values.get("value", values.get("mean"))
        if value is None:
            continue
        out.append((step, manifold, metric, value, values.get("se", float("nan"))))
    return out
