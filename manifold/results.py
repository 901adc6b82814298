"""Result types of a profile: the tidy :class:`Profile` table and its column names.

A :class:`Profile` holds one row per (model, manifold, metric, statistic) with its value, the
run's settings, and the metrics that could not be computed (with the reason), so that a failure
in one metric never loses the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from manifold._summary import STATISTICS
from manifold.io import atomic_write

__all__ = ["COLUMNS", "LAYER", "LAYERED_COLUMNS", "SEMANTIC", "Profile"]

#: Name of the semantic manifold (one clean embedding per image) in profile tables.
SEMANTIC = "semantic"
#: Columns of a profile table.
COLUMNS = ["model", "manifold", "metric", "statistic", "value"]
#: The column of a layer sweep (``profile(..., layers=...)``): the submodule each row describes.
LAYER = "layer"
#: Columns of a layer sweep's table.
LAYERED_COLUMNS = ["model", LAYER, "manifold", "metric", "statistic", "value"]


@dataclass
class Profile:
    """Geometry metrics of one or more models as a tidy table.

    Attributes:
        table: DataFrame with columns ``model``, ``manifold`` (``"semantic"`` or an augmentation
            family), ``metric``, ``statistic`` (``"value"`` for a scalar metric; ``mean``,
            ``median``, ``std``, ``q05``, ``q25``, ``q75``, ``q95`` for a per-point metric, and
            ``se`` for the standard error of the ``value`` or ``mean``: bootstrap in a profile
            run with ``n_bootstrap``, anchor sampling in :func:`~manifold.profile_large`) and
            ``value``. A layer sweep (``layers=``) adds a ``layer`` column after ``model``: the
            submodule each row describes, in the order of the sweep.
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

    @property
    def layers(self) -> list[str]:
        """Layer names of a layer sweep, in the sweep's order (``[]`` without a layer column)."""
        if LAYER not in self.table.columns:
            return []
        return list(dict.fromkeys(self.table[LAYER].dropna()))

    def __repr__(self) -> str:
        layers = f", layers={len(self.layers)}" if self.layers else ""
        return (
            f"Profile(models={self.models}{layers}, rows={len(self.table)}, "
            f"failures={len(self.failures)})"
        )

    def value(
        self,
        metric: str,
        manifold: str = SEMANTIC,
        statistic: str | None = None,
        model: str | None = None,
        layer: str | None = None,
    ) -> float:
        """One number from the table (``statistic`` defaults to ``value`` or ``mean``).

        ``layer`` picks the row of one layer in a layer sweep.
        """
        t = self.table
        sel = (t["metric"] == metric) & (t["manifold"] == manifold)
        if model is not None:
            sel &= t["model"] == model
        if layer is not None:
            self._check_layer(layer)
            sel &= t[LAYER] == layer
        rows = t[sel]
        if statistic is None:
            statistic = "value" if (rows["statistic"] == "value").any() else "mean"
        rows = rows[rows["statistic"] == statistic]
        if len(rows) != 1:
            raise KeyError(
                f"expected one row for metric={metric!r}, manifold={manifold!r}, "
                f"statistic={statistic!r}, model={model!r}"
                + (f", layer={layer!r}" if layer is not None else "")
                + f"; found {len(rows)}"
            )
        return float(rows["value"].iloc[0])

    def to_matrix(
        self, statistic: str = "mean", *, layer: str | None = None, by: str = "model"
    ) -> pd.DataFrame:
        """Pivot to a model × metric matrix for clustering and transfer prediction.

        Columns are named ``"<manifold>/<metric>"``; scalar metrics contribute their value and
        per-point metrics the requested ``statistic``.

        A layer sweep has several rows per model. ``layer="blocks.3"`` gives the model × metric
        matrix of that layer; ``by="layer"`` gives one row per (model, layer) pair, indexed by a
        ``(model, layer)`` MultiIndex in the sweep's order (``matrix.xs("blocks.3",
        level="layer")`` is one layer; to cluster the pairs, flatten the index, e.g.
        ``matrix.index = [f"{m}@{l}" for m, l in matrix.index]``). Without either, a sweep of
        more than one layer is an error rather than an average over layers.

        Args:
            statistic: Statistic of per-point metrics (one of ``mean``, ``median``, ...).
            layer: With a layer sweep: the layer whose matrix to return.
            by: ``"model"`` (rows are models) or ``"layer"`` (rows are (model, layer) pairs).
        """
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}; got {statistic!r}")
        if by not in ("model", "layer"):
            raise ValueError(f"by must be 'model' or 'layer', got {by!r}")
        t = self.table
        layers = self.layers
        if by == "layer" and not layers:
            raise ValueError(
                "by='layer' needs a layer sweep; this profile has no layer column "
                "(profile(model, images, layers=[...]) makes one)"
            )
        if layer is not None:
            self._check_layer(layer)
            t = t[t[LAYER] == layer]
        elif by == "model" and len(layers) > 1:
            shown = ", ".join(map(repr, layers[:8])) + (", ..." if len(layers) > 8 else "")
            raise ValueError(
                f"this profile sweeps {len(layers)} layers ({shown}); pick one with "
                "to_matrix(layer=...) or get one row per (model, layer) with to_matrix(by='layer')"
            )
        t = t[(t["statistic"] == "value") | (t["statistic"] == statistic)]
        t = t.assign(column=t["manifold"] + "/" + t["metric"])
        index = ["model", LAYER] if by == "layer" else "model"
        return t.pivot_table(index=index, columns="column", values="value", sort=False)

    def _check_layer(self, layer: str) -> None:
        if layer not in self.layers:
            have = ", ".join(map(repr, self.layers)) if self.layers else "none (not a sweep)"
            raise ValueError(f"no layer {layer!r} in this profile; its layers: {have}")

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
        key = ["model", "manifold", "metric", "statistic"]
        if LAYER in table.columns:
            table = table[[c for c in LAYERED_COLUMNS if c in table.columns]]
            key.insert(1, LAYER)
        dup = table.duplicated(key)
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
            atomic_write(path, lambda p: self.table.to_parquet(p, index=False))
        else:
            atomic_write(path, lambda p: self.table.to_csv(p, index=False))
        meta = {"settings": self.settings, "failures": self.failures}
        atomic_write(
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
            # layer names such as "0" stay strings
            table = pd.read_csv(path, dtype={LAYER: str})
        else:
            raise ValueError(f"profile path must end in .parquet or .csv, got {path.name!r}")
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{path} is not a profile table: missing columns {missing}")
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        columns = LAYERED_COLUMNS if LAYER in table.columns else COLUMNS
        return cls(table[columns], meta.get("settings", {}), meta.get("failures", []))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return str(obj)
