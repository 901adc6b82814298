"""Result types of a profile: the tidy :class:`Profile` table and its column names.

A :class:`Profile` holds one row per (model, manifold, metric, statistic) with its value, the
run's settings, and the metrics that could not be computed (with the reason), so that a failure
in one metric never loses the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from manifold._checks import check_names
from manifold._spectrum import Spectrum
from manifold._summary import STATISTICS
from manifold.io import atomic_write
from manifold.settings import COMPARABLE_SETTINGS, Settings

__all__ = [
    "COLUMNS",
    "COMPARABLE_SETTINGS",
    "LAYER",
    "LAYERED_COLUMNS",
    "SEMANTIC",
    "Profile",
    "describe_mismatch",
]

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
            run with ``n_bootstrap``, anchor sampling in :func:`~manifold.profile_large`; each
            model's ``settings["se"]`` says which) and ``value``. A layer sweep (``layers=``)
            adds a ``layer`` column after ``model``: the submodule each row describes, in the
            order of the sweep.
        settings: For each model, the settings of its run (N, K, k, seed, families, layer, ...),
            as :meth:`Settings.to_dict <manifold.settings.Settings.to_dict>` writes them.
        failures: One dict per metric that could not be computed: model, manifold, metric,
            error.
        spectra: For each model profiled on one representation, the
            :class:`~manifold.spectral.Spectrum` of its semantic embeddings, as the engine
            computed it for the spectral metrics (the report's eigenspectrum figure reads it;
            nothing is computed twice). Every spectral metric is read from it except RankMe
            when N exceeds ``max_samples``: RankMe then comes from the seeded subsample
            (:func:`~manifold.rankme`), so ``spectra[m].rankme()`` is that of all N rows.
            Empty for a layer sweep, and for a model whose spectrum failed.
    """

    table: pd.DataFrame
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    spectra: dict[str, Spectrum] = field(default_factory=dict, compare=False)

    @property
    def models(self) -> list[str]:
        """Model names, in order of first appearance in the table.

        Examples:
            >>> import pandas as pd
            >>> rows = [["b", "semantic", "rankme", "value", 3.0],
            ...         ["a", "semantic", "rankme", "value", 2.0]]
            >>> Profile(pd.DataFrame(rows, columns=COLUMNS)).models
            ['b', 'a']
        """
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
        """One number from the table.

        Args:
            metric: A metric name as in the table's ``metric`` column (e.g. ``"rankme"``,
                ``"spread_ratio"``).
            manifold: ``"semantic"`` (default) or an augmentation family.
            statistic: ``"value"`` for a scalar metric; for a per-point metric ``"mean"``,
                ``"median"``, ``"std"``, a quantile, or ``"se"``. Default: ``"value"`` when the
                metric has one, else ``"mean"``.
            model: The model; required when the profile holds several.
            layer: The layer; required in a layer sweep of several layers.

        Returns:
            The number, as a float.

        Raises:
            KeyError: no such row, or several (the message lists the valid metrics,
                manifolds, statistics, models or layers).

        Examples:
            >>> import pandas as pd
            >>> rows = [["m", "semantic", "rankme", "value", 3.5]]
            >>> Profile(pd.DataFrame(rows, columns=COLUMNS)).value("rankme")
            3.5
            >>> swept = [["m", "0", "semantic", "rankme", "value", 3.5],
            ...          ["m", "1", "semantic", "rankme", "value", 1.5]]
            >>> Profile(pd.DataFrame(swept, columns=LAYERED_COLUMNS)).value("rankme", layer="1")
            1.5
        """
        t = self.table
        for column, wanted in (("metric", metric), ("manifold", manifold), ("model", model)):
            if wanted is not None and not (t[column] == wanted).any():
                valid = sorted(map(str, t[column].unique()))
                raise KeyError(f"no {column} {wanted!r} in this profile; valid: {valid}")
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
            if len(rows) > 1 and rows["model"].nunique() > 1:
                hint = f"; pass model= one of {sorted(set(rows['model']))}"
            elif len(rows) > 1 and LAYER in rows.columns:
                hint = f"; pass layer= one of {list(dict.fromkeys(rows[LAYER].dropna()))}"
            else:
                hint = f"; statistics of {metric!r} here: {sorted(set(t[sel]['statistic']))}"
            raise KeyError(
                f"expected one row for metric={metric!r}, manifold={manifold!r}, "
                f"statistic={statistic!r}, model={model!r}"
                + (f", layer={layer!r}" if layer is not None else "")
                + f"; found {len(rows)}"
                + hint
            )
        return float(rows["value"].iloc[0])

    def mismatched_settings(
        self, keys: str | Iterable[str] = COMPARABLE_SETTINGS
    ) -> dict[str, dict[str, list[str]]]:
        """Settings whose values differ between the models of this profile.

        Metrics of models profiled with different N, K, k, families or layer are not directly
        comparable (e.g. the MLE dimension and the NNK degree depend on k and N), so
        :func:`~manifold.cluster_models` and :class:`~manifold.TransferPredictor` warn when
        this is not empty. Each model's settings are read by
        :meth:`Settings.from_dict <manifold.settings.Settings.from_dict>` (one reader for the
        settings of every driver and package version), and a setting a model's run did not
        record is not compared for it; a model without recorded settings is not compared.
        ``layers`` (the layers of a sweep) counts as ``None`` for a model that was not swept,
        so a sweep and a profile of one representation disagree. ``metrics_version`` counts
        as 1 for a model whose settings lack it: the version was first recorded as 2, so such
        a profile was computed under earlier rules (its NNK diameter and LiDAR can differ from
        today's by up to 50x), and it and a current one disagree.

        Args:
            keys: The settings to compare, or one setting (default
                :data:`COMPARABLE_SETTINGS`).

        Returns:
            ``setting -> {value as text: [models]}`` for every setting with two or more
            values; empty when the models agree.

        Examples:
            >>> import pandas as pd
            >>> p = Profile(pd.DataFrame(columns=COLUMNS), {"a": {"k": 10}, "b": {"k": 5}})
            >>> p.mismatched_settings()
            {'k': {'10': ['a'], '5': ['b']}}
            >>> swept = {"a": {"layer": None, "layers": ["0", "1"]}, "b": {"layer": "1"}}
            >>> Profile(pd.DataFrame(columns=COLUMNS), swept).mismatched_settings()
            {'layer': {'None': ['a'], '1': ['b']}, 'layers': {"['0', '1']": ['a'], 'None': ['b']}}
            >>> older = {"a": {"k": 10}, "b": {"k": 10, "metrics_version": 2}}
            >>> Profile(pd.DataFrame(columns=COLUMNS), older).mismatched_settings()
            {'metrics_version': {'1': ['a'], '2': ['b']}}
        """
        keys = tuple(check_names(keys, "keys"))
        recorded = {
            model: Settings.from_dict(settings).comparable(keys)
            for model, settings in self.settings.items()
        }
        out: dict[str, dict[str, list[str]]] = {}
        for key in keys:
            values: dict[str, list[str]] = {}
            for model, comparable in recorded.items():
                if key in comparable:
                    values.setdefault(str(comparable[key]), []).append(model)
            if len(values) > 1:
                out[key] = values
        return out

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
            statistic: Statistic of per-point metrics: one of ``mean``, ``median``, ``std``,
                ``q05``, ``q25``, ``q75``, ``q95``.
            layer: With a layer sweep: the layer whose matrix to return.
            by: ``"model"`` (rows are models) or ``"layer"`` (rows are (model, layer) pairs).

        Returns:
            A DataFrame indexed by model (``by="layer"``: by ``(model, layer)``), one float
            column per ``manifold/metric``.

        Raises:
            ValueError: an unknown ``statistic`` or ``by``, an unknown ``layer``,
                ``by="layer"`` without a layer sweep, or a sweep of several layers with
                neither ``layer`` nor ``by="layer"``.

        Examples:
            >>> import pandas as pd
            >>> rows = [["m", "semantic", "rankme", "value", 3.5],
            ...         ["m", "crop", "spread_ratio", "mean", 0.2]]
            >>> list(Profile(pd.DataFrame(rows, columns=COLUMNS)).to_matrix().columns)
            ['semantic/rankme', 'crop/spread_ratio']
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
        """Join the profiles of several models into one (tables, settings and failures).

        Args:
            profiles: Profiles of distinct models (e.g. one per :func:`~manifold.profile`
                call).

        Returns:
            One Profile; models keep their order.

        Raises:
            ValueError: no profile, or a model that appears in two of them.

        Examples:
            >>> import pandas as pd
            >>> def one(name):
            ...     row = [[name, "semantic", "rankme", "value", 1.0]]
            ...     return Profile(pd.DataFrame(row, columns=COLUMNS), {name: {"k": 10}})
            >>> Profile.concat([one("a"), one("b")]).models
            ['a', 'b']
        """
        profiles = list(profiles)
        if not profiles:
            raise ValueError("concat needs at least one Profile")
        settings: dict[str, dict[str, Any]] = {}
        failures: list[dict[str, str]] = []
        spectra: dict[str, Spectrum] = {}
        for p in profiles:
            settings.update(p.settings)
            failures.extend(p.failures)
            spectra.update(p.spectra)
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
        return cls(table, settings, failures, spectra)

    def save(self, path: str | os.PathLike) -> Path:
        """Save the table (``.parquet`` or ``.csv``), a ``.json`` sidecar and the spectra.

        Three files, each written atomically (temporary file, then rename), in this order:

        - ``something.csv`` or ``something.parquet``: the table;
        - ``something.spectra.npz``, only when the profile carries spectra (a stale one is
          removed): the arrays, float64 and exact, as ``s<i>_singular_values`` and
          ``s<i>_eigenvalues`` for the i-th model, and ``models``, the model names in that
          order;
        - ``something.json``: ``{"settings": ..., "failures": ..., "spectra": ...}``, where
          ``spectra`` maps each model to ``{"key": "s<i>", "n_samples", "dim", "centered",
          "token"}``: no array, so the sidecar stays small. ``token`` is the first 16 hex
          digits of the SHA-256 of the model's name and its two arrays, so that :meth:`load`
          can tell whether the ``.npz`` beside the sidecar is the one written with it (a save
          interrupted between the two renames, or two processes saving to one path, leave one
          save's arrays beside another's sidecar).

        Args:
            path: ``something.csv`` or ``something.parquet`` (parquet needs pyarrow); the
                sidecar is ``something.json`` beside it.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.

        Raises:
            ValueError: another suffix, or model (or layer) names that are not all strings
                (e.g. a table built by hand with integer names, which a CSV would not read back
                as the same names); nothing is written then.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise ValueError(f"save path must end in .parquet or .csv, got {path.name!r}")
        self._check_names()
        arrays: dict[str, np.ndarray] = {}
        index: dict[str, dict[str, Any]] = {}
        for i, (model, spec) in enumerate(self.spectra.items()):
            key = f"s{i}"
            sv, ev = _float64(spec.singular_values), _float64(spec.eigenvalues)
            arrays[f"{key}_singular_values"], arrays[f"{key}_eigenvalues"] = sv, ev
            index[model] = {"key": key, "n_samples": int(spec.n_samples), "dim": int(spec.dim),
                            "centered": bool(spec.centered),
                            "token": _token(model, sv, ev)}  # fmt: skip
        if arrays:
            arrays["models"] = np.array(list(index), dtype=str)
        meta = {"settings": self.settings, "failures": self.failures, "spectra": index}
        text = json.dumps(meta, indent=2, default=_json_default)  # fails before any write
        if suffix == ".parquet":
            atomic_write(path, lambda p: self.table.to_parquet(p, index=False))
        else:
            atomic_write(path, lambda p: self.table.to_csv(p, index=False))
        npz = path.with_suffix(".spectra.npz")
        if arrays:
            atomic_write(npz, lambda p: _write_npz(p, arrays))
        elif npz.exists():
            npz.unlink()
        atomic_write(path.with_suffix(".json"), lambda p: p.write_text(text))
        return path

    def _check_names(self) -> None:
        """Raise unless every model name (and layer name of a sweep) is a string."""
        names = [*self.table["model"], *self.settings, *self.spectra]
        odd = [n for n in dict.fromkeys(names) if not isinstance(n, str)]
        if odd:
            raise ValueError(
                f"model names must be strings, got {odd[:3]!r} ({type(odd[0]).__name__}); a "
                "CSV would read them back as other names. Rename them, e.g. "
                "table['model'] = table['model'].astype(str), and key the settings by the same "
                "strings"
            )
        if LAYER in self.table.columns:
            layers = self.table[LAYER].dropna()
            odd = [n for n in dict.fromkeys(layers) if not isinstance(n, str)]
            if odd:
                raise ValueError(f"layer names must be strings, got {odd[:3]!r}")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profile:
        """Load a profile written by :meth:`save` (the sidecar's settings, failures, spectra).

        The spectra are read from ``something.spectra.npz`` and checked against the sidecar:
        the ``.npz`` must name the same models, each model's arrays must give the sidecar's
        ``token``, and the arrays' lengths must fit its ``n_samples`` N and ``dim`` D (singular
        values: ``min(N, D)``; eigenvalues: ``min(N - 1, D)``, or ``min(N, D)`` uncentered).
        When they do not (a save interrupted between the two files, two processes saving to
        one path), when the ``.npz`` cannot be read, or when the sidecar lists spectra and no
        ``.npz`` is beside it, one ``UserWarning`` says why and the profile is returned
        without spectra (``spectra={}``): its table, settings and failures are loaded, and no
        model is given another's spectrum. A sidecar whose entries hold the arrays themselves
        (as :meth:`~manifold.spectral.Spectrum.to_dict` writes them) is read too, and so is
        one without tokens (written before they were recorded), checked by the lengths alone.

        Args:
            path: The ``.csv`` or ``.parquet`` table; a missing ``.json`` sidecar gives empty
                settings, failures and spectra.

        Returns:
            The Profile. Model and layer names are strings, also in a CSV (``"007"`` stays
            ``"007"``, and a model named ``"NA"`` is not a missing value).

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: another suffix, or a table without the profile columns.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no profile at {path}")
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            table = _read_csv(path)
        else:
            raise ValueError(f"profile path must end in .parquet or .csv, got {path.name!r}")
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{path} is not a profile table: missing columns {missing}")
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        columns = LAYERED_COLUMNS if LAYER in table.columns else COLUMNS
        spectra = _load_spectra(
            meta.get("spectra") or {}, path.with_suffix(".spectra.npz"), meta_path
        )
        return cls(table[columns], meta.get("settings", {}), meta.get("failures", []), spectra)


def _read_csv(path: Path) -> pd.DataFrame:
    """A profile table from a CSV whose model and layer names stay strings.

    Names such as ``"007"`` would otherwise become numbers, and models named ``"NA"`` or
    ``"None"`` missing values, while the sidecar's settings and spectra stay keyed by the
    strings. (An empty layer is a model that was not swept, so layers keep pandas' NA rule.)
    """
    table = pd.read_csv(path, dtype={"model": str, LAYER: str})
    if "model" in table.columns:
        names = pd.read_csv(path, usecols=["model"], dtype=str, keep_default_na=False)
        table["model"] = names["model"]
    return table


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # through a file object: np.savez would append ".npz" to the temporary file's name
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _float64(values: Any) -> np.ndarray:
    return np.ascontiguousarray(values, dtype="<f8")


def _token(model: str, singular_values: np.ndarray, eigenvalues: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of a model's name and its spectra (float64, LE)."""
    h = hashlib.sha256()
    for part in (model.encode(), _float64(singular_values).tobytes(),
                 _float64(eigenvalues).tobytes()):  # fmt: skip
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:16]


class _Mismatch(Exception):
    """The spectra file does not belong to the sidecar beside it."""


def _load_spectra(
    index: dict[str, dict[str, Any]], npz: Path, sidecar: Path
) -> dict[str, Spectrum]:
    """The spectra a sidecar lists, checked against ``npz`` (``{}`` and a warning on doubt)."""
    if not index:
        return {}
    if all(isinstance(e, dict) and "singular_values" in e for e in index.values()):
        try:  # the arrays inline, as Spectrum.to_dict writes them
            spectra = {m: Spectrum.from_dict(entry) for m, entry in index.items()}
            for model, spec in spectra.items():
                _check_lengths(model, spec)
        except (_Mismatch, KeyError, TypeError, ValueError) as err:
            _drop(sidecar, f"its spectra cannot be read ({type(err).__name__}: {err})")
            return {}
        return spectra
    if not npz.exists():
        _drop(sidecar, f"it lists the spectra of {len(index)} models but there is no "
                       f"spectra file {npz.name} beside it")  # fmt: skip
        return {}
    try:
        # through a file object: np.load leaves its own one open on a truncated archive
        with open(npz, "rb") as fh, np.load(fh, allow_pickle=False) as arrays:
            spectra = _read_npz(index, arrays)
        for model, spec in spectra.items():
            _check_lengths(model, spec)
    except _Mismatch as err:
        _drop(sidecar, f"the spectra file {npz.name} does not match this sidecar ({err}): "
                       "an interrupted or concurrent save?")  # fmt: skip
        return {}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        _drop(sidecar, f"the spectra file {npz.name} cannot be read ({type(err).__name__}: {err})")
        return {}
    return spectra


def _read_npz(index: dict[str, dict[str, Any]], arrays: Any) -> dict[str, Spectrum]:
    tokens = [entry.get("token") for entry in index.values()]
    if "models" in arrays.files or any(t is not None for t in tokens):
        named = arrays["models"].tolist() if "models" in arrays.files else []
        if named != list(index):
            raise _Mismatch(f"it holds the spectra of {_names(named)}, the sidecar lists "
                            f"those of {_names(list(index))}")  # fmt: skip
        if any(t is None for t in tokens):  # a sidecar of the earlier format, a newer npz
            raise _Mismatch("the sidecar has no token for its spectra")
    # else: both written before the names and tokens were recorded: the lengths are checked
    spectra = {}
    for model, entry in index.items():
        key = entry["key"]
        if f"{key}_singular_values" not in arrays.files:
            raise _Mismatch(f"no arrays {key!r} for model {model!r}")
        sv, ev = arrays[f"{key}_singular_values"], arrays[f"{key}_eigenvalues"]
        if entry.get("token") is not None and _token(model, sv, ev) != entry["token"]:
            raise _Mismatch(f"the arrays of model {model!r} are not those saved with it")
        spectra[model] = Spectrum(
            _float64(sv), _float64(ev), int(entry["n_samples"]), int(entry["dim"]),
            bool(entry.get("centered", True)),
        )  # fmt: skip
    return spectra


def _check_lengths(model: str, spec: Spectrum) -> None:
    """Raise :class:`_Mismatch` unless the arrays' lengths fit ``n_samples`` and ``dim``."""
    n, dim = spec.n_samples, spec.dim
    want_sv = min(n, dim)
    want_ev = min(n - 1, dim) if spec.centered else min(n, dim)
    got = (spec.singular_values.shape, spec.eigenvalues.shape)
    if got != ((want_sv,), (want_ev,)):
        raise _Mismatch(
            f"model {model!r}: {got[0]} singular values and {got[1]} eigenvalues, expected "
            f"({want_sv},) and ({want_ev},) for N = {n}, D = {dim}"
        )


def _names(models: list[str]) -> str:
    if not models:
        return "models it does not name"
    more = f" +{len(models) - 4}" if len(models) > 4 else ""
    return "[" + ", ".join(map(repr, models[:4])) + more + "]"


def _drop(sidecar: Path, reason: str) -> None:
    warnings.warn(
        f"{sidecar}: the spectra were dropped, the table, settings and failures loaded; {reason}",
        UserWarning,
        stacklevel=4,
    )


def describe_mismatch(mismatch: dict[str, dict[str, list[str]]]) -> str:
    """One line naming each differing setting and which models have which value."""

    def models(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")

    labels = {"data_fingerprint": "images (data_fingerprint)"}
    return "; ".join(
        f"{labels.get(key, key)}: "
        + ", ".join(f"{value} ({models(names)})" for value, names in values.items())
        for key, values in mismatch.items()
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return str(obj)
