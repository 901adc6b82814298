"""The settings of a profile, and the defaults every driver shares.

Every driver (:func:`~manifold.profile`, :func:`~manifold.profile_zoo`,
:func:`~manifold.profile_large`) records the settings of each model's run as one
:class:`Settings`, stored in :attr:`Profile.settings <manifold.results.Profile.settings>` as a
plain dict (:meth:`Settings.to_dict`, so that it saves to JSON and reads back as it was
written), and :meth:`Profile.mismatched_settings <manifold.results.Profile.mismatched_settings>`
reads them back through :meth:`Settings.from_dict`. One schema, one reader: two drivers that
profile the same model with the same settings write the same keys.

The defaults shared by the package's functions are named here, once.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMPARABLE_SETTINGS",
    "DEFAULT_FAMILIES",
    "DEFAULT_N_VIEWS",
    "RANKME_MAX_SAMPLES",
    "Settings",
    "default_n_views",
]

#: Row cap of RankMe by default: Garrido et al. (ICML 2023) evaluate RankMe on 25,600
#: samples. Every RankMe of a profile (the semantic one and each family's) uses it.
RANKME_MAX_SAMPLES = 25600
#: A representation whose semantic RankMe is at most this uses about one direction of its
#: space (RankMe counts effective dimensions; 1 is complete collapse): the threshold of
#: :class:`~manifold.Monitor`'s collapse flag, :func:`~manifold.select` and the report.
COLLAPSE_RANK = 2.0
#: Views per image (K) by default: in :func:`~manifold.profile`, :func:`~manifold.profile_zoo`,
#: :class:`~manifold.Monitor`, :func:`~manifold.views` and the :class:`~manifold.Embedder`, and
#: on the command line.
DEFAULT_N_VIEWS = 16


def default_n_views(n_views: int | None, was: int, where: str, stacklevel: int = 3) -> int:
    """``n_views``, or while a function's default moves to :data:`DEFAULT_N_VIEWS`, its old one.

    :meth:`Embedder.embed_views <manifold.Embedder.embed_views>` (8 views) and
    :class:`~manifold.Monitor` (4 views) defaulted to other numbers of views than
    :func:`~manifold.profile` (16); :func:`~manifold.draw_views` takes 16 at once (the
    deprecated ``views`` and ``iter_views`` keep 8 until they are removed). The first two's
    ``n_views`` now defaults to ``None``: for one release that means the old number, with a
    ``FutureWarning`` saying that it becomes :data:`DEFAULT_N_VIEWS`; passing ``n_views``
    explicitly keeps any number without a warning.

    Examples:
        >>> default_n_views(3, 8, "views")
        3
    """
    if n_views is not None:
        return n_views
    warnings.warn(
        f"{where}: n_views will default to {DEFAULT_N_VIEWS} (manifold.settings.DEFAULT_N_VIEWS, "
        f"as in profile) in the next release; it is {was} now. Pass n_views={was} to keep it "
        "(and silence this warning)",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return was


#: Augmentation families profiled by default.
DEFAULT_FAMILIES = ("crop", "color", "rotation", "flip", "blur")
#: Settings that must agree for two models' metrics to be compared (N, K, k, families, the
#: layer, or the layers of a sweep, the version of the metrics' numbers, and the images: the
#: fingerprint of the images a model was profiled on).
COMPARABLE_SETTINGS = (
    "n_images", "n_views", "k", "families", "layer", "layers", "max_samples", "metrics_version",
    "data_fingerprint",
)  # fmt: skip

# the fields of each mode beyond the common ones, in the order a profile records them
_MODE_FIELDS = {
    "model": ("dim", "dims", "output", "batch_size", "device", "transform", "data_fingerprint",
              "fingerprint"),
    "embeddings": ("dim", "embeddings_fingerprint"),
    "large": ("dim", "n_anchors", "index", "chunk_rows", "sigma", "streams_from_file",
              "estimators", "stages"),
}  # fmt: skip
# fields a mode records only when they are set (a sweep has dims, one representation dim; a
# zoo's checkpoints are keyed by a fingerprint, a profile of one model in memory has none)
_WHEN_SET = ("dim", "dims", "fingerprint")
# what a settings dict without the key meant when it was written
_LEGACY = {
    # not a layer sweep
    "layers": None,
    # "metrics_version" was first recorded as 2: a profile without it was computed under
    # earlier rules (its NNK diameter and LiDAR can differ from today's by up to 50x)
    "metrics_version": 1,
}


@dataclass
class Settings:
    """The settings of one model's run: what was computed, from what, and how.

    Attributes:
        mode: ``"model"`` (a model and images), ``"embeddings"`` (ready-made embeddings) or
            ``"large"`` (:func:`~manifold.profile_large`).
        n_images: Images (rows) N.
        k: Neighbours per node of the kNN and NNK graphs.
        k_mle: Neighbours of the MLE dimension (:func:`~manifold.engine.mle_neighbours`).
        seed: Seed of the augmentations, subsamples and resamples.
        max_samples: Row cap of RankMe (``None``: all rows).
        metrics_version: :data:`~manifold.engine.METRICS_VERSION` of the numbers.
        version: The package's version.
        n_views: Views per image K (with embeddings: the K of the views given, one int, a
            dict when the families differ, or ``None`` without views).
        families: The augmentation families, by name.
        layer: The submodule whose output was profiled (``None``: the model's output).
        layers: The layers of a sweep (``None``: not a sweep).
        curvature: Whether the Ricci curvatures were computed.
        n_bootstrap: Bootstrap resamples of the images (0: none).
        se: What the table's ``"se"`` rows are (``None``: the table has none); see
            :meth:`bootstrap_se`.
        seconds: Wall time of the run.
        dim: Dimension D of the representation (one representation).
        dims: Layer -> dimension (a sweep).
        output: Index or key of the model's output that was profiled.
        batch_size: Images per forward pass.
        device: The device the model ran on.
        transform: The transform applied before the model (its name).
        data_fingerprint: Fingerprint of the images
            (:func:`~manifold.profiling.images_fingerprint`).
        embeddings_fingerprint: Fingerprint of ready-made embeddings.
        fingerprint: Key of :func:`~manifold.profile_zoo`'s checkpoints.
        n_anchors, index, chunk_rows, sigma, streams_from_file, estimators, stages: Those of
            :func:`~manifold.profile_large`.
        extra: Settings recorded beside these (e.g. a weights checksum added by a script).
        recorded: The keys a settings dict held when read by :meth:`from_dict` (all fields
            for settings made by a driver).
    """

    mode: str
    n_images: int
    k: int
    k_mle: int
    seed: int
    max_samples: int | None
    metrics_version: int
    version: str
    n_views: int | dict[str, int] | None = None
    families: list[str] = field(default_factory=list)
    layer: str | None = None
    layers: list[str] | None = None
    curvature: bool = False
    n_bootstrap: int = 0
    se: str | dict[str, str] | None = None
    seconds: float | None = None
    dim: int | None = None
    dims: dict[str, int] | None = None
    output: int | str | None = None
    batch_size: int | None = None
    device: str | None = None
    transform: str | None = None
    data_fingerprint: str | None = None
    embeddings_fingerprint: str | None = None
    fingerprint: str | None = None
    n_anchors: int | None = None
    index: str | None = None
    chunk_rows: int | None = None
    sigma: float | None = None
    streams_from_file: bool | None = None
    estimators: dict[str, str] | None = None
    stages: dict[str, dict[str, float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    recorded: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in _MODE_FIELDS:
            raise ValueError(f"mode must be one of {', '.join(_MODE_FIELDS)}, got {self.mode!r}")

    @staticmethod
    def bootstrap_se(n_bootstrap: int) -> str | None:
        """The meaning of the ``"se"`` rows of a profile with ``n_bootstrap`` resamples.

        Examples:
            >>> Settings.bootstrap_se(0) is None, Settings.bootstrap_se(200).split(":")[0]
            (True, 'bootstrap over images')
        """
        if not n_bootstrap:
            return None
        return (
            f"bootstrap over images: the sd (ddof=1) of the metric over {n_bootstrap} "
            "multinomial resamples of the images, graphs fixed (manifold._bootstrap)"
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a profile records them: the common keys, the mode's, then extra.

        Examples:
            >>> s = Settings("embeddings", 100, 10, 20, 0, None, 2, "1.0", dim=8)
            >>> d = s.to_dict()
            >>> d["mode"], d["dim"], "batch_size" in d, Settings.from_dict(d) == s
            ('embeddings', 8, False, True)
        """
        common = [f.name for f in dataclasses.fields(self)][:_COMMON_COUNT]
        out = {name: getattr(self, name) for name in common}
        for name in _MODE_FIELDS[self.mode]:
            value = getattr(self, name)
            if value is not None or name not in _WHEN_SET:
                out[name] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> Settings:
        """Read a recorded settings dict (of any driver and any version of the package).

        Keys that are not fields go to :attr:`extra`; :attr:`recorded` keeps which keys the
        dict held, so that :meth:`comparable` leaves out what was not recorded.

        Raises:
            TypeError: ``settings`` is not a mapping.
        """
        if not isinstance(settings, Mapping):
            raise TypeError(f"settings must be a mapping, got {type(settings).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra", "recorded"}
        known = {k: v for k, v in settings.items() if k in names}
        required = {"mode": "model", "n_images": None, "k": None, "k_mle": None, "seed": None,
                    "max_samples": None, "version": None}  # fmt: skip
        for name, default in required.items():
            known.setdefault(name, default)
        known.setdefault("metrics_version", _LEGACY["metrics_version"])
        if known["mode"] not in _MODE_FIELDS:
            known["mode"] = "model"
        extra = {k: v for k, v in settings.items() if k not in names}
        return cls(**known, extra=extra, recorded=frozenset(settings))

    def comparable(self, keys: tuple[str, ...] = COMPARABLE_SETTINGS) -> dict[str, Any]:
        """The values of ``keys`` two models must share to be compared.

        A key the settings were recorded without is left out, except ``layers`` (such a
        profile is not a sweep: ``None``) and ``metrics_version`` (such a profile predates the
        version: 1). Settings read from an empty dict compare nothing.
        """
        if self.recorded is not None and not self.recorded:
            return {}
        out = {}
        for key in keys:
            if self.recorded is None or key in self.recorded:
                out[key] = getattr(self, key) if hasattr(self, key) else self.extra.get(key)
            elif key in self.extra:
                out[key] = self.extra[key]
            elif key in _LEGACY:
                out[key] = _LEGACY[key]
        return out


# the fields every mode records: mode ... seconds
_COMMON_COUNT = [f.name for f in dataclasses.fields(Settings)].index("seconds") + 1
