"""``profile``: from a model (or embeddings) and images to a tidy table of geometry metrics.

A thin driver over :mod:`manifold.engine`: it embeds the images (or takes embeddings), then
records the registry's semantic metrics and each family's metrics from one
:class:`~manifold.engine.ModelContext`. The result is a :class:`~manifold.results.Profile`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from manifold._checks import as_tensor
from manifold._validation import validate_params
from manifold.augment import check_families, images_fingerprint
from manifold.engine import check_views, warn_failures
from manifold.results import COLUMNS, SEMANTIC, Profile
from manifold.runner import (
    PROFILE_PARAMETERS,
    Job,
    job_profile,
    job_settings,
    profile_settings,
    run_job,
)
from manifold.settings import DEFAULT_FAMILIES, DEFAULT_N_VIEWS, RANKME_MAX_SAMPLES
from manifold.typing import DeviceLike, Embeddings, Family, Images, Views

__all__ = [
    "COLUMNS",
    "DEFAULT_FAMILIES",
    "DEFAULT_N_VIEWS",
    "Profile",
    "SEMANTIC",
    "check_families",
    "check_views",
    "images_fingerprint",
    "profile",
]


@validate_params(PROFILE_PARAMETERS)
def profile(
    model_or_embeddings: torch.nn.Module | Embeddings,
    images: Images | None = None,
    families: Family | Iterable[Family] | None = DEFAULT_FAMILIES,
    n_views: int = DEFAULT_N_VIEWS,
    k: int = 10,
    seed: int = 0,
    *,
    view_embeddings: Mapping[str, Views] | None = None,
    name: str = "model",
    layer: str | None = None,
    device: DeviceLike = None,
    batch_size: int = 256,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_samples: int | None = RANKME_MAX_SAMPLES,
    curvature: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    n_bootstrap: int = 0,
    output: int | str | None = None,
    layers: str | Iterable[str] | None = None,
    views: Mapping[str, Views] | None = None,
) -> Profile:
    """Profile the geometry of a model's representation, and its response to augmentations.

    Two ways in:

    - a model (``torch.nn.Module``) and ``images`` (N, C, H, W) in [0, 1]: the semantic
      embeddings and, for every family, ``n_views`` augmented views per image are computed with
      an :class:`~manifold.Embedder` (batched, optionally cached);
    - ready-made embeddings ``z`` (N, D) and optionally ``view_embeddings`` (a mapping family
      name -> the embeddings of its views, an (N, K, D) array): no model is run.

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
    (``lidar(..., scale="within")``).

    Parameters are checked at the call, as scikit-learn checks its parameters: an unknown
    family, ``view_embeddings`` that are not a mapping of ``(N, K, D)`` arrays matching the
    embeddings, or an unknown device raise a one-line ``ValueError`` or ``TypeError`` before
    anything is computed.

    The profile is one job of the zoo runner (:func:`manifold.runner.run_job`, the job each
    model of :func:`~manifold.profile_zoo` and each call of a :class:`~manifold.Monitor` run),
    with its failure policy: a metric that cannot be computed on valid input (e.g. alpha of a
    constant representation), or a family whose views cannot be made (the augmentation fails,
    or its views embed to the wrong shape), is recorded in :attr:`Profile.failures` with the
    reason, and a warning says so; the others are still computed. An error of the model itself
    (it cannot embed the images) is raised.

    With ``layers`` (a model only), every layer is profiled from one forward pass per batch
    (see :class:`~manifold.Embedder`): the views of each family are drawn once and shared by
    all layers. The table gets a ``layer`` column after ``model``, in the order of the layers;
    its rows for one layer are those of ``profile(..., layer=name)``, number for number. Use
    :meth:`Profile.to_matrix` with ``layer=`` or ``by="layer"``, and
    :func:`manifold.plot.plot_layers` for a metric against depth.

    Args:
        model_or_embeddings: A ``torch.nn.Module`` or embeddings (N, D).
        images: Images (N, C, H, W) in [0, 1]; required with a model.
        families: One family or an iterable of families, each a name (see
            :data:`manifold.augment.FAMILIES`), a kornia augmentation or a callable
            ``f(images, generator) -> images``; with embeddings, names of ``view_embeddings``
            (default: all of its keys).
        n_views: Views per image (K).
        k: Neighbours per node for the kNN and NNK graphs.
        seed: Seed for the augmentations and subsampling.
        view_embeddings: With embeddings: family name -> the embeddings of its views
            (N, K, D). (Views themselves are images, as :func:`manifold.views` draws them.)
        name: The model's name in the table.
        layer: Submodule whose output is the representation (default: the model's output).
        layers: Several submodules at once: names, glob patterns (``"blocks.*"``) or ``"all"``
            (see :func:`~manifold.embed.select_layers`); not together with ``layer``.
        device: Device for the model and augmentations: ``"auto"``, ``"cpu"``, ``"cuda"``,
            ``"cuda:<index>"``, ``"mps"`` or a :class:`torch.device` (default: the model's
            device).
        batch_size: Images per forward pass.
        transform: Applied to image batches before the model (e.g. normalisation).
        max_samples: Row cap for RankMe (the paper uses 25,600).
        curvature: Also compute Ollivier– and Forman–Ricci curvature of the semantic NNK graph.
        cache_dir: Folder for the Embedder's on-disk cache.
        progress: Show a progress bar; ``None`` (default): only when stderr is a terminal.
        n_bootstrap: Resamples of the images (0: none, else at least 2) for bootstrap standard
            errors: a row with statistic ``"se"`` for every global metric and for the mean of
            every per-point metric. The spectra come from row-weighted Grams and the graphs are
            reused, not rebuilt (see ``docs/analysis.md``); seeded by ``seed``.
        output: Which element of the model's output is the representation when ``forward``
            returns a tuple, list or dict: an index or a key (see
            :func:`manifold.embed.select_output`). With ``layers``, the element of every swept
            layer that returns a tuple, list or dict.
        views: Deprecated name of ``view_embeddings`` (a ``DeprecationWarning``; removed in
            the next release).

    Returns:
        A :class:`Profile`.

    Raises:
        ValueError: bad sizes, an unknown family, device or layer, view embeddings of the
            wrong shape, ``layers`` with embeddings or together with ``layer``.
        TypeError: ``families`` or ``view_embeddings`` of the wrong type.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if views is not None:
        warnings.warn(
            "profile(views=) is deprecated and will be removed in the next release: pass the "
            "embeddings of the views as view_embeddings= (manifold.views draws view images)",
            DeprecationWarning,
            stacklevel=2,
        )
        if view_embeddings is not None:
            raise TypeError("give view_embeddings= (views= is its deprecated name), not both")
        view_embeddings = views
    options = dict(k=k, seed=seed, max_samples=max_samples, curvature=curvature,
                   n_bootstrap=n_bootstrap)  # fmt: skip
    if isinstance(model_or_embeddings, torch.nn.Module):
        job = _model_job(model_or_embeddings, images, families, n_views, name=name, layer=layer,
                         layers=layers, views=view_embeddings, device=device,
                         batch_size=batch_size,
                         transform=transform, cache_dir=cache_dir, output=output,
                         **options)  # fmt: skip
        mode = "model"
    else:
        if layers is not None:
            raise ValueError("layers= needs a model (torch.nn.Module) and images, not embeddings")
        job = _embeddings_job(model_or_embeddings, images, families, view_embeddings, name=name,
                              ignored={"layer": layer, "device": device, "transform": transform,
                                       "output": output, "cache_dir": cache_dir},
                              **options)  # fmt: skip
        mode = "embeddings"
    job.progress = progress
    # one in-process job of the zoo runner: its failure policy, its settings
    prof = job_profile(
        [job], {name: run_job(job)}, {}, lambda job, parts: profile_settings(job, parts, mode=mode)
    )
    warn_failures(prof.failures)
    return prof


def _model_job(
    model: torch.nn.Module,
    images: Images | None,
    families: Family | Iterable[Family] | None,
    n_views: int,
    *,
    name: str,
    layer: str | None,
    layers: str | Iterable[str] | None,
    views: Any,
    device: DeviceLike,
    batch_size: int,
    transform: Callable | None,
    cache_dir: str | os.PathLike | None,
    output: int | str | None,
    **options: Any,
) -> Job:
    """The job of :func:`profile` on a model (one layer, or a sweep), its arguments checked."""
    from manifold.embed import check_channels_first

    if layers is not None and layer is not None:
        raise ValueError("give layer= (one submodule) or layers= (several), not both")
    if images is None:
        raise ValueError("profile needs images when given a model")
    if views is not None:
        raise ValueError(
            "pass either a model (its views are drawn and embedded) or embeddings with "
            "view_embeddings"
        )
    fams = check_families(families)
    if layers is not None:
        from manifold.embed import check_layer_entries

        layers = check_layer_entries(layers)
    check_channels_first(images)
    from manifold.augment import check_images

    images = check_images(images, channels=False)
    settings = job_settings(
        n_images=int(images.shape[0]), n_views=n_views, families=list(fams), layer=layer,
        batch_size=batch_size, device=device, output=output, layers=layers, **options,
    )  # fmt: skip
    cache = None if cache_dir is None else str(cache_dir)
    parts = [(SEMANTIC, None), *fams.items()]
    return Job(name, model, images, settings, parts=parts, transform=transform, cache_dir=cache)


def _embeddings_job(
    z: Embeddings,
    images: Images | None,
    families: Family | Iterable[Family] | None,
    views: Mapping[str, Views] | None,
    *,
    name: str,
    ignored: dict[str, Any],
    **options: Any,
) -> Job:
    """The job of :func:`profile` on embeddings (and views), its arguments checked."""
    if images is not None:
        raise ValueError(
            "images were given but model_or_embeddings is not a torch.nn.Module; pass a "
            "model to embed the images, or embeddings (and views) without images"
        )
    unused = [arg for arg, value in ignored.items() if value is not None]
    if unused:
        warnings.warn(
            f"profile: {', '.join(unused)} apply to a model and are ignored with embeddings",
            UserWarning,
            stacklevel=3,  # profile's caller
        )
    if views is None:
        views = {}
    elif not isinstance(views, Mapping):
        raise TypeError(
            "view_embeddings: the views must be a mapping family name -> views (N, K, D), got "
            f"{type(views).__name__}"
        )
    views = dict(views)
    bad_keys = [key for key in views if not isinstance(key, str)]
    if bad_keys:
        raise TypeError(f"view_embeddings keys must be family names (str), got {bad_keys}")
    if families is not None and families is not DEFAULT_FAMILIES:
        wanted = [families] if isinstance(families, str) else list(families)
        bad = [f for f in wanted if not isinstance(f, str)]
        if bad:
            raise TypeError(
                "with embeddings, families must be names of view_embeddings, got "
                f"{[type(f).__name__ for f in bad]}"
            )
        unknown = [f for f in wanted if f not in views]
        if unknown:
            raise ValueError(
                f"no views given for families {unknown}; view_embeddings has "
                f"{sorted(views) or 'none'}"
            )
        views = {f: views[f] for f in dict.fromkeys(wanted)}
    zt, _ = as_tensor(z, "embeddings", min_sizes={"N": options["k"] + 1})
    # bad views are the caller's mistake: raised here, before any metric runs
    checked = {fam: check_views(v, fam, zt) for fam, v in views.items()}
    settings = job_settings(
        n_images=int(zt.shape[0]), n_views=None, families=list(checked), layer=None,
        batch_size=None, device=None, output=None, layers=None, **options,
    )  # fmt: skip
    parts = [(SEMANTIC, None), *((fam, None) for fam in checked)]
    return Job(name, None, None, settings, parts=parts, embeddings=zt, views=checked)
