"""``profile``: from a model (or embeddings) and images to a tidy table of geometry metrics.

A :class:`Profile` holds one row per (model, manifold, metric, statistic) with its value, the
run's settings, and the metrics that could not be computed (with the reason), so that a failure
in one metric never loses the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from manifold._checks import as_tensor, check_int
from manifold._summary import STATISTICS, PointMetric

__all__ = ["DEFAULT_FAMILIES", "Profile", "SEMANTIC", "profile"]

#: Augmentation families profiled by default.
DEFAULT_FAMILIES = ("crop", "color", "rotation", "flip", "blur")
#: Name of the semantic manifold (one clean embedding per image) in profile tables.
SEMANTIC = "semantic"
COLUMNS = ["model", "manifold", "metric", "statistic", "value"]
# neighbours used by the MLE intrinsic dimension (Levina & Bickel's and scikit-dimension's default)
_MLE_K = 20


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass
class Profile:
    """Geometry metrics of one or more models as a tidy table.

    Attributes:
        table: DataFrame with columns ``model``, ``manifold`` (``"semantic"`` or an augmentation
            family), ``metric``, ``statistic`` (``"value"`` for a scalar metric; ``mean``,
            ``median``, ``std``, ``q05``, ``q25``, ``q75``, ``q95`` for a per-point metric, and
            ``se`` for the bootstrap standard error of the ``value`` or ``mean`` when the profile
            was run with ``n_bootstrap``) and ``value``.
        settings: For each model, the settings of its run (N, K, k, seed, families, layer, ...).
        failures: One dict per metric that could not be computed: model, manifold, metric,
            error.
    """

    table: pd.DataFrame
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        """Model names, in order of first appearance."""
        return list(dict.fromkeys(self.table["model"]))

    def __repr__(self) -> str:
        return (
            f"Profile(models={self.models}, rows={len(self.table)}, failures={len(self.failures)})"
        )

    def value(
        self,
        metric: str,
        manifold: str = SEMANTIC,
        statistic: str | None = None,
        model: str | None = None,
    ) -> float:
        """One number from the table (``statistic`` defaults to ``value`` or ``mean``)."""
        t = self.table
        sel = (t["metric"] == metric) & (t["manifold"] == manifold)
        if model is not None:
            sel &= t["model"] == model
        rows = t[sel]
        if statistic is None:
            statistic = "value" if (rows["statistic"] == "value").any() else "mean"
        rows = rows[rows["statistic"] == statistic]
        if len(rows) != 1:
            raise KeyError(
                f"expected one row for metric={metric!r}, manifold={manifold!r}, "
                f"statistic={statistic!r}, model={model!r}; found {len(rows)}"
            )
        return float(rows["value"].iloc[0])

    def to_matrix(self, statistic: str = "mean") -> pd.DataFrame:
        """Pivot to a model × metric matrix for clustering and transfer prediction.

        Columns are named ``"<manifold>/<metric>"``; scalar metrics contribute their value and
        per-point metrics the requested ``statistic``.
        """
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}; got {statistic!r}")
        t = self.table
        t = t[(t["statistic"] == "value") | (t["statistic"] == statistic)]
        t = t.assign(column=t["manifold"] + "/" + t["metric"])
        return t.pivot_table(index="model", columns="column", values="value", sort=False)

    @classmethod
    def concat(cls, profiles: Iterable[Profile]) -> Profile:
        """Join the profiles of several models into one."""
        profiles = list(profiles)
        if not profiles:
            raise ValueError("concat needs at least one Profile")
        settings: dict[str, dict[str, Any]] = {}
        failures: list[dict[str, str]] = []
        for p in profiles:
            settings.update(p.settings)
            failures.extend(p.failures)
        table = pd.concat([p.table for p in profiles], ignore_index=True)
        dup = table.duplicated(["model", "manifold", "metric", "statistic"])
        if dup.any():
            first = table[dup].iloc[0]
            raise ValueError(
                f"model {first['model']!r} appears in more than one profile; give each run a "
                "distinct name"
            )
        return cls(table, settings, failures)

    def save(self, path: str | os.PathLike) -> Path:
        """Save the table (``.parquet`` or ``.csv``) and a ``.json`` sidecar with the settings.

        Both files are written atomically (temporary file, then rename).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise ValueError(f"save path must end in .parquet or .csv, got {path.name!r}")
        if suffix == ".parquet":
            _atomic_write(path, lambda p: self.table.to_parquet(p, index=False))
        else:
            _atomic_write(path, lambda p: self.table.to_csv(p, index=False))
        meta = {"settings": self.settings, "failures": self.failures}
        _atomic_write(
            path.with_suffix(".json"),
            lambda p: p.write_text(json.dumps(meta, indent=2, default=_json_default)),
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profile:
        """Load a profile written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no profile at {path}")
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
        else:
            raise ValueError(f"profile path must end in .parquet or .csv, got {path.name!r}")
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{path} is not a profile table: missing columns {missing}")
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return cls(table[COLUMNS], meta.get("settings", {}), meta.get("failures", []))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return str(obj)


class _Recorder:
    """Collects metric rows and failures for one model."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.rows: list[tuple[str, str, str, str, float]] = []
        self.failures: list[dict[str, str]] = []
        # per-point values, kept for the bootstrap
        self.values: dict[tuple[str, str], np.ndarray] = {}

    def add(self, manifold: str, metric: str, result: Any) -> None:
        if isinstance(result, PointMetric):
            self.values[(manifold, metric)] = result.values
            for stat, val in result.summary.to_dict().items():
                self.rows.append((self.model, manifold, metric, stat, float(val)))
        else:
            self.rows.append((self.model, manifold, metric, "value", float(result)))

    def recorded(self, manifold: str) -> set[str]:
        """Metrics of ``manifold`` with a ``value`` row."""
        return {r[2] for r in self.rows if r[1] == manifold and r[3] == "value"}

    def add_se(self, manifold: str, metric: str, replicates: list[float]) -> None:
        """A ``se`` row: the standard deviation of the finite bootstrap replicates."""
        finite = np.asarray(replicates, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size >= 2:
            self.rows.append((self.model, manifold, metric, "se", float(finite.std(ddof=1))))

    def attempt(self, manifold: str, metric: str, compute: Callable[[], Any]) -> Any:
        """Run ``compute``; on a failure record it and return None."""
        try:
            return compute()
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
            self.failures.append(
                {"model": self.model, "manifold": manifold, "metric": metric, "error": str(err)}
            )
            return None

    def run(self, manifold: str, metric: str, compute: Callable[[], Any]) -> Any:
        """Run ``compute`` and record its value(s) as rows."""
        result = self.attempt(manifold, metric, compute)
        if result is None:
            return None
        if isinstance(result, dict):
            for name, value in result.items():
                self.add(manifold, name, value)
        else:
            self.add(manifold, metric, result)
        return result

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)


def _semantic_metrics(
    rec: _Recorder, z: torch.Tensor, k: int, max_samples: int | None, seed: int, curvature: bool
) -> Any:
    from manifold import metrics
    from manifold.graphs import nnk_graph
    from manifold.spectral import spectrum

    spec = rec.attempt(SEMANTIC, "spectrum", lambda: spectrum(z))
    if spec is not None:
        if max_samples is not None and max_samples < z.shape[0]:
            # RankMe's paper caps the rows (25,600); the other spectral metrics use them all
            from manifold.spectral import rankme

            rec.run(SEMANTIC, "rankme", lambda: rankme(z, max_samples=max_samples, seed=seed))
        else:
            rec.run(SEMANTIC, "rankme", spec.rankme)
        for name in ("effective_rank", "stable_rank", "participation_ratio", "nesum"):
            rec.run(SEMANTIC, name, getattr(spec, name))
        fit = rec.attempt(SEMANTIC, "alpha", spec.alpha)
        if fit is not None:
            rec.add(SEMANTIC, "alpha", fit.alpha)
            rec.add(SEMANTIC, "alpha_r2", fit.r2)

    graphs = rec.attempt(SEMANTIC, "knn_graph", lambda: _knn_graphs(z, k))
    if graphs is None:
        return None, None, None
    wide, knn = graphs
    nnk = rec.attempt(SEMANTIC, "nnk_graph", lambda: nnk_graph(knn))
    k_mle = wide.k if wide.k < _MLE_K else _MLE_K
    rec.run(SEMANTIC, "twonn_dimension", lambda: metrics.twonn_dimension(knn))
    rec.run(SEMANTIC, "mle_dimension", lambda: metrics.mle_dimension(wide, k=k_mle))
    if nnk is not None:
        rec.run(SEMANTIC, "nnk_degree", lambda: metrics.nnk_degree(nnk))
        rec.run(SEMANTIC, "nnk_diameter", lambda: metrics.nnk_diameter(nnk, scale="knn"))
        rec.run(SEMANTIC, "local_dimension", lambda: metrics.local_dimension(nnk))
        rec.run(SEMANTIC, "subspace_angles", lambda: metrics.subspace_angles(nnk))
        if curvature:
            rec.run(
                SEMANTIC,
                "ollivier_ricci",
                lambda: _edge_values(
                    metrics.ollivier_ricci(nnk, scale="knn"), "ollivier_ricci", "ricci_curvature"
                ),
            )
            rec.run(
                SEMANTIC,
                "forman_ricci",
                lambda: _edge_values(
                    metrics.forman_ricci(nnk, scale="knn"), "forman_ricci", "forman_curvature"
                ),
            )
    return wide, knn, nnk


def _knn_graphs(z: torch.Tensor, k: int) -> tuple[Any, Any]:
    """A kNN graph wide enough for MLE, and its first k columns.

    One neighbour search serves every graph metric: MLE needs its 20 neighbours, the NNK graph
    and the invariance scale use the first k of them.
    """
    from manifold.graphs import knn_graph

    wide = knn_graph(z, k=max(k, min(_MLE_K, z.shape[0] - 1)))
    if wide.k == k:
        return wide, wide
    return wide, dataclasses.replace(
        wide, indices=wide.indices[:, :k], distances=wide.distances[:, :k]
    )


def _edge_values(graph: Any, name: str, attribute: str) -> PointMetric:
    values = [d[attribute] for _, _, d in graph.edges(data=True)]
    return PointMetric(name, np.asarray(values, dtype=float))


def _family_metrics(
    rec: _Recorder, family: str, z: torch.Tensor, v: torch.Tensor, k: int, knn: Any, nnk: Any
) -> None:
    from manifold import metrics
    from manifold.spectral import lidar, rankme

    rec.run(family, "spread_ratio", lambda: metrics.spread_ratio(z, v, k=k, graph=knn))
    rec.run(
        family,
        "augmentation_diameter_ratio",
        lambda: metrics.augmentation_diameter_ratio(z, v, k=k, graph=nnk),
    )
    rec.run(family, "same_source_rate", lambda: metrics.same_source_rate(v))
    rec.run(family, "augmentation_dimension", lambda: metrics.augmentation_dimension(v))
    rec.run(family, "tangent_alignment", lambda: metrics.tangent_alignment(z, v, k=k, graph=nnk))
    rec.run(family, "lidar", lambda: lidar(v, delta_relative=True))
    rec.run(family, "alignment", lambda: metrics.alignment(v))
    rec.run(family, "rankme", lambda: rankme(v.reshape(-1, v.shape[-1])))


def profile(
    model_or_embeddings: Any,
    images: Any = None,
    families: Iterable[Any] | None = DEFAULT_FAMILIES,
    n_views: int = 16,
    k: int = 10,
    seed: int = 0,
    *,
    views: Mapping[str, Any] | None = None,
    name: str = "model",
    layer: str | None = None,
    device: Any = None,
    batch_size: int = 256,
    transform: Callable | None = None,
    max_samples: int | None = 25600,
    curvature: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    n_bootstrap: int = 0,
) -> Profile:
    """Profile the geometry of a model's representation, and its response to augmentations.

    Two ways in:

    - a model (``torch.nn.Module``) and ``images`` (N, C, H, W) in [0, 1]: the semantic
      embeddings and, for every family, ``n_views`` augmented views per image are computed with
      an :class:`~manifold.Embedder` (batched, optionally cached);
    - ready-made embeddings ``z`` (N, D) and optionally ``views`` (a mapping family name ->
      (N, K, D) array): no model is run.

    The semantic manifold gets the spectral metrics (RankMe, effective rank, stable rank,
    participation ratio, NESum, alpha and its R²) and the geometry metrics on one shared kNN/NNK
    graph (TwoNN and MLE dimension, NNK degree and diameter, local dimension, subspace angles;
    Ollivier– and Forman–Ricci curvature with ``curvature=True``). Each family gets the
    invariance metrics (spread ratio, augmentation diameter ratio, same-source rate,
    augmentation dimension, tangent alignment, LiDAR, alignment) and the RankMe of its views.

    Every number is invariant to rescaling the embeddings and views by one factor, so models of
    different scales can be compared: the NNK diameter is divided by the median distance from a
    point to its k-th neighbour (the unit of the spread ratio too), both curvatures run on edge
    lengths divided by that unit, and LiDAR's ridge is relative to the within-image variance
    (``lidar(..., delta_relative=True)``).

    A metric that cannot be computed (e.g. alpha of a constant representation) is recorded in
    :attr:`Profile.failures` with the reason; the others are still computed.

    Args:
        model_or_embeddings: A ``torch.nn.Module`` or embeddings (N, D).
        images: Images (N, C, H, W) in [0, 1]; required with a model.
        families: Augmentation family names (see :data:`manifold.augment.FAMILIES`) or kornia
            augmentations; with embeddings, defaults to the keys of ``views``.
        n_views: Views per image (K).
        k: Neighbours per node for the kNN and NNK graphs.
        seed: Seed for the augmentations and subsampling.
        views: With embeddings: family name -> views (N, K, D).
        name: The model's name in the table.
        layer: Submodule whose output is the representation (default: the model's output).
        device: Device for the model and augmentations (default: the images' device).
        batch_size: Images per forward pass.
        transform: Applied to image batches before the model (e.g. normalisation).
        max_samples: Row cap for RankMe (the paper uses 25,600).
        curvature: Also compute Ollivier– and Forman–Ricci curvature of the semantic NNK graph.
        cache_dir: Folder for the Embedder's on-disk cache.
        progress: Show progress bars.
        n_bootstrap: Resamples of the images (0: none, else at least 2) for bootstrap standard
            errors: a row with statistic ``"se"`` for every global metric and for the mean of
            every per-point metric. The spectra come from row-weighted Grams and the graphs are
            reused, not rebuilt (see ``docs/analysis.md``); seeded by ``seed``.

    Returns:
        A :class:`Profile`.
    """
    k = check_int(k, "k", minimum=1)
    n_views = check_int(n_views, "n_views", minimum=2)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    if n_bootstrap == 1:
        raise ValueError("n_bootstrap must be 0 (no standard errors) or at least 2, got 1")
    started = time.time()
    family_views: dict[str, Any] = {}
    if isinstance(model_or_embeddings, torch.nn.Module):
        if images is None:
            raise ValueError("profile needs images when given a model")
        if views is not None:
            raise ValueError("pass either a model (views are computed) or embeddings with views")
        from manifold.embed import Embedder

        embedder = Embedder(
            model_or_embeddings,
            layer=layer,
            device=device,
            batch_size=batch_size,
            transform=transform,
            cache_dir=cache_dir,
            progress=progress,
        )
        z = embedder.embed(images)
        fams = list(families or ())
        family_names = [f if isinstance(f, str) else type(f).__name__ for f in fams]
        for fam, fam_name in zip(fams, family_names, strict=True):
            family_views[fam_name] = lambda fam=fam: embedder.embed_views(
                images, fam, n_views=n_views, seed=seed
            )
        mode = "model"
    else:
        if images is not None:
            raise ValueError(
                "images were given but model_or_embeddings is not a torch.nn.Module; pass a "
                "model to embed the images, or embeddings (and views) without images"
            )
        z = model_or_embeddings
        views = dict(views or {})
        if families is not None and families is not DEFAULT_FAMILIES:
            unknown = [f for f in families if f not in views]
            if unknown:
                raise ValueError(f"no views given for families {unknown}")
            views = {f: views[f] for f in families}
        family_names = list(views)
        for fam_name, v in views.items():
            family_views[fam_name] = lambda v=v: v
        mode = "embeddings"

    zt, _ = as_tensor(z, "embeddings", min_sizes={"N": k + 1})
    rec = _Recorder(name)
    steps = [SEMANTIC, *family_names]
    bar = _progress(steps, progress, f"profile {name}")
    knn = nnk = None
    n_views_seen = None
    boot = None
    if n_bootstrap:
        from manifold._bootstrap import Bootstrap

        boot = Bootstrap(n_bootstrap, seed, zt.shape[0])
    for step in bar:
        if step == SEMANTIC:
            wide, knn, nnk = _semantic_metrics(rec, zt, k, max_samples, seed, curvature)
            if boot is not None:
                k_mle = None if wide is None else min(wide.k, _MLE_K)
                boot.semantic(rec, zt, wide, knn, k_mle, max_samples)
            continue
        try:
            v_raw = family_views[step]()
            vt, _ = as_tensor(v_raw, f"views[{step!r}]", dims=("N", "K", "D"), min_sizes={"K": 2})
            if vt.shape[0] != zt.shape[0] or vt.shape[2] != zt.shape[1]:
                raise ValueError(
                    f"views[{step!r}] has shape {tuple(vt.shape)}, expected "
                    f"({zt.shape[0]}, K, {zt.shape[1]}) to match the embeddings"
                )
        except (ValueError, RuntimeError, TypeError) as err:
            rec.failures.append(
                {"model": name, "manifold": step, "metric": "views", "error": str(err)}
            )
            continue
        n_views_seen = vt.shape[1]
        _family_metrics(rec, step, zt, vt, k, knn, nnk)
        if boot is not None:
            boot.family(rec, step, vt)
    if boot is not None:
        boot.per_point(rec)

    settings = {
        "mode": mode,
        "n_images": int(zt.shape[0]),
        "dim": int(zt.shape[1]),
        "n_views": int(n_views_seen if mode == "embeddings" and n_views_seen else n_views),
        "k": k,
        "seed": seed,
        "families": family_names,
        "layer": layer,
        "max_samples": max_samples,
        "curvature": curvature,
        "n_bootstrap": n_bootstrap,
        "seconds": round(time.time() - started, 3),
    }
    return Profile(rec.table(), {name: settings}, rec.failures)


def _progress(items: list[str], enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)
