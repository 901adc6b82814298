"""``profile``: from a model (or embeddings) and images to a tidy table of geometry metrics.

A thin driver over :mod:`manifold.engine`: it embeds the images (or takes embeddings), then
records the registry's semantic metrics and each family's metrics from one
:class:`~manifold.engine.ModelContext`. The result is a :class:`~manifold.results.Profile`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from manifold import __version__
from manifold._backend import show_progress
from manifold._cache import array_fingerprint
from manifold._checks import as_tensor, check_int
from manifold.engine import (
    METRICS_VERSION,
    ModelContext,
    Recorder,
    record_family,
    record_semantic,
    warn_failures,
)
from manifold.results import COLUMNS, LAYER, SEMANTIC, Profile
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

#: Augmentation families profiled by default.
DEFAULT_FAMILIES = ("crop", "color", "rotation", "flip", "blur")
#: Views per image (K) by default, in Python and on the command line.
DEFAULT_N_VIEWS = 16


def profile(
    model_or_embeddings: torch.nn.Module | Embeddings,
    images: Images | None = None,
    families: Family | Iterable[Family] | None = DEFAULT_FAMILIES,
    n_views: int = DEFAULT_N_VIEWS,
    k: int = 10,
    seed: int = 0,
    *,
    views: Mapping[str, Views] | None = None,
    name: str = "model",
    layer: str | None = None,
    device: DeviceLike = None,
    batch_size: int = 256,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_samples: int | None = 25600,
    curvature: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    n_bootstrap: int = 0,
    output: int | str | None = None,
    layers: str | Iterable[str] | None = None,
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
    (``lidar(..., scale="within")``).

    Parameters are checked at the call, as scikit-learn checks its parameters: an unknown
    family, ``views`` that are not a mapping of ``(N, K, D)`` arrays matching the embeddings,
    or an unknown device raise a one-line ``ValueError`` or ``TypeError`` before anything is
    computed. A metric that cannot be computed on valid input (e.g. alpha of a constant
    representation) is recorded in :attr:`Profile.failures` with the reason, and a warning says
    so; the others are still computed.

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
            ``f(images, generator) -> images``; with embeddings, names of ``views`` (default:
            all of its keys).
        n_views: Views per image (K).
        k: Neighbours per node for the kNN and NNK graphs.
        seed: Seed for the augmentations and subsampling.
        views: With embeddings: family name -> views (N, K, D).
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

    Returns:
        A :class:`Profile`.

    Raises:
        ValueError: bad sizes, an unknown family, device or layer, views of the wrong shape,
            ``layers`` with embeddings or together with ``layer``.
        TypeError: ``families`` or ``views`` of the wrong type.
    """
    k = check_int(k, "k", minimum=1)
    n_views = check_int(n_views, "n_views", minimum=2)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    if n_bootstrap == 1:
        raise ValueError("n_bootstrap must be 0 (no standard errors) or at least 2, got 1")
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples", minimum=2)
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    started = time.time()
    if layers is not None:  # a layer sweep: its own driver below
        if not isinstance(model_or_embeddings, torch.nn.Module):
            raise ValueError("layers= needs a model (torch.nn.Module) and images, not embeddings")
        if layer is not None:
            raise ValueError("give layer= (one submodule) or layers= (several), not both")
        if images is None:
            raise ValueError("profile needs images when given a model")
        if views is not None:
            raise ValueError("pass either a model (views are computed) or embeddings with views")
        return _profile_layers(
            model_or_embeddings, images, check_families(families), n_views, k, seed, name=name,
            layers=layers, device=device, batch_size=batch_size, transform=transform,
            max_samples=max_samples, curvature=curvature, cache_dir=cache_dir,
            progress=progress, n_bootstrap=n_bootstrap, output=output, started=started,
        )  # fmt: skip
    family_views: dict[str, Any] = {}
    if isinstance(model_or_embeddings, torch.nn.Module):
        if images is None:
            raise ValueError("profile needs images when given a model")
        if views is not None:
            raise ValueError("pass either a model (views are computed) or embeddings with views")
        fams = check_families(families)
        from manifold.embed import Embedder

        embedder = Embedder(
            model_or_embeddings,
            layer=layer,
            device=device,
            batch_size=batch_size,
            transform=transform,
            cache_dir=cache_dir,
            # one progress bar at a time: the profile's own bar when it shows one
            progress=False,
            output=output,
        )
        z = embedder.embed(images)
        family_names = list(fams)
        for fam_name, fam in fams.items():
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
        ignored = [
            arg
            for arg, value, default in (
                ("layer", layer, None),
                ("device", device, None),
                ("transform", transform, None),
                ("output", output, None),
                ("cache_dir", cache_dir, None),
            )
            if value is not default
        ]
        if ignored:
            warnings.warn(
                f"profile: {', '.join(ignored)} apply to a model and are ignored with embeddings",
                UserWarning,
                stacklevel=2,
            )
        z = model_or_embeddings
        if views is None:
            views = {}
        elif not isinstance(views, Mapping):
            raise TypeError(
                "views must be a mapping family name -> views (N, K, D), got "
                f"{type(views).__name__}"
            )
        views = dict(views)
        bad_keys = [key for key in views if not isinstance(key, str)]
        if bad_keys:
            raise TypeError(f"views keys must be family names (str), got {bad_keys}")
        if families is not None and families is not DEFAULT_FAMILIES:
            wanted = [families] if isinstance(families, str) else list(families)
            bad = [f for f in wanted if not isinstance(f, str)]
            if bad:
                raise TypeError(
                    "with embeddings, families must be names of views, got "
                    f"{[type(f).__name__ for f in bad]}"
                )
            unknown = [f for f in wanted if f not in views]
            if unknown:
                raise ValueError(
                    f"no views given for families {unknown}; views has {sorted(views) or 'none'}"
                )
            views = {f: views[f] for f in dict.fromkeys(wanted)}
        family_names = list(views)
        mode = "embeddings"

    zt, _ = as_tensor(z, "embeddings", min_sizes={"N": k + 1})
    if mode == "embeddings":
        # bad views are the caller's mistake: raised here, before any metric runs
        for fam_name, v in views.items():
            vt = check_views(v, fam_name, zt)
            family_views[fam_name] = lambda vt=vt: vt
    rec = Recorder(name)
    ctx = ModelContext(zt, k, rec, seed=seed, max_samples=max_samples, n_bootstrap=n_bootstrap)
    options = {"curvature"} if curvature else set()
    steps = [SEMANTIC, *family_names]
    bar = _progress(steps, progress, f"profile {name}")
    views_per_family: dict[str, int] = {}
    for step in bar:
        if step == SEMANTIC:
            record_semantic(ctx, options)
            continue
        try:
            vt = check_views(family_views[step](), step, zt)
        except (ValueError, RuntimeError, TypeError) as err:
            rec.failures.append(
                {"model": name, "manifold": step, "metric": "views", "error": str(err)}
            )
            continue
        views_per_family[step] = int(vt.shape[1])
        record_family(ctx, step, vt)

    settings = {
        "mode": mode,
        "n_images": int(zt.shape[0]),
        "dim": int(zt.shape[1]),
        "n_views": n_views if mode == "model" else _views_used(views_per_family),
        "k": k,
        "k_mle": ctx.k_mle,
        "seed": seed,
        "families": family_names,
        "layer": layer,
        "max_samples": max_samples,
        "curvature": curvature,
        "n_bootstrap": n_bootstrap,
        "seconds": round(time.time() - started, 3),
        "version": __version__,
        "metrics_version": METRICS_VERSION,
    }
    if mode == "model":
        settings.update(_model_settings(embedder, output, batch_size, transform))
        settings["data_fingerprint"] = images_fingerprint(images)
    else:
        settings["embeddings_fingerprint"] = array_fingerprint(zt)
    warn_failures(rec.failures)
    # the spectrum the spectral metrics were read from (built once; None if it failed)
    spectra = {} if ctx.spectrum is None else {name: ctx.spectrum}
    return Profile(rec.table(), {name: settings}, rec.failures, spectra)


def _profile_layers(
    model: torch.nn.Module,
    images: Any,
    fams: dict[str, Any],
    n_views: int,
    k: int,
    seed: int,
    *,
    name: str,
    layers: str | Iterable[str],
    started: float,
    **options: Any,
) -> Profile:
    """The layer sweep of :func:`profile`: one Embedder pass, one context per layer."""
    import pandas as pd

    from manifold.embed import Embedder

    embedder = Embedder(
        model, layers=layers, device=options["device"], batch_size=options["batch_size"],
        transform=options["transform"], cache_dir=options["cache_dir"],
        # one progress bar at a time: the profile's own bar when it shows one
        progress=False, output=options["output"],
    )  # fmt: skip
    names = embedder.layers
    family_names = list(fams)
    n_bootstrap = options["n_bootstrap"]
    recorders = {layer: Recorder(name) for layer in names}
    contexts: dict[str, ModelContext] = {}
    dims: dict[str, int] = {}
    flags = {"curvature"} if options["curvature"] else set()
    bar = _progress([SEMANTIC, *family_names], options["progress"], f"profile {name}")
    for step in bar:
        if step == SEMANTIC:
            for layer, z in embedder.embed(images).items():
                zt, _ = as_tensor(z, f"embeddings of layer {layer!r}", min_sizes={"N": k + 1})
                dims[layer] = int(zt.shape[1])
                contexts[layer] = ModelContext(
                    zt, k, recorders[layer], seed=seed, max_samples=options["max_samples"],
                    n_bootstrap=n_bootstrap,
                )  # fmt: skip
                record_semantic(contexts[layer], flags)
            continue
        fam = fams[step]
        try:
            per_layer = embedder.embed_views(images, fam, n_views=n_views, seed=seed)
        except (ValueError, RuntimeError, TypeError) as err:
            per_layer = {layer: err for layer in names}
        for layer in names:
            rec = recorders[layer]
            try:
                if isinstance(per_layer[layer], Exception):
                    raise per_layer[layer]
                vt = check_views(per_layer[layer], step, contexts[layer].z)
            except (ValueError, RuntimeError, TypeError) as err:
                rec.failures.append(
                    {"model": name, "manifold": step, "metric": "views", "error": str(err)}
                )
                continue
            record_family(contexts[layer], step, vt)
    tables, failures = [], []
    for layer in names:
        table = recorders[layer].table()
        table.insert(1, LAYER, layer)
        tables.append(table)
        failures.extend({**f, LAYER: layer} for f in recorders[layer].failures)
    first = next(iter(contexts.values()))
    settings = {
        "mode": "model",
        "n_images": int(first.n_points),
        "dims": dims,
        "n_views": int(n_views),
        "k": k,
        "k_mle": first.k_mle,
        "seed": seed,
        "families": family_names,
        "layer": None,
        "layers": names,
        "max_samples": options["max_samples"],
        "curvature": options["curvature"],
        "n_bootstrap": n_bootstrap,
        "seconds": round(time.time() - started, 3),
        "version": __version__,
        "metrics_version": METRICS_VERSION,
        **_model_settings(embedder, options["output"], options["batch_size"], options["transform"]),
        "data_fingerprint": images_fingerprint(images),
    }
    warn_failures(failures, stacklevel=4)  # profile() -> _profile_layers() -> here
    return Profile(pd.concat(tables, ignore_index=True), {name: settings}, failures)


def _model_settings(
    embedder: Any, output: int | str | None, batch_size: int, transform: Callable | None
) -> dict[str, Any]:
    """The settings of a profile computed from a model, beyond those of any profile."""
    return {
        "output": output,
        "batch_size": batch_size,
        "device": str(embedder.device),
        "transform": None
        if transform is None
        else (getattr(transform, "__qualname__", None) or repr(transform)),
    }


def images_fingerprint(images: Images) -> str:
    """The ``data_fingerprint`` of a profile's settings: a SHA-256 of the images (16 digits).

    Computed on the images as float32 (as every driver reads them), so the same images give
    the same fingerprint in :func:`profile` and :func:`~manifold.profile_zoo`, and profiles
    of other images (another subset, order, size, channel count) are told apart when they are
    compared (:meth:`Profile.mismatched_settings`).

    Examples:
        >>> import torch
        >>> x = torch.rand(4, 1, 8, 8)
        >>> images_fingerprint(x) == images_fingerprint(x.clone()) != images_fingerprint(x[:3])
        True
    """
    from manifold.augment import check_images

    return array_fingerprint(check_images(images, channels=False))


def _views_used(views_per_family: dict[str, int]) -> int | dict[str, int] | None:
    """K of the views given with embeddings: one int, a dict when families differ, or None."""
    counts = set(views_per_family.values())
    if not counts:
        return None
    return counts.pop() if len(counts) == 1 else dict(views_per_family)


def check_families(families: Family | Iterable[Family] | None) -> dict[str, Family]:
    """Validate ``families``: one name, or an iterable of names, kornia modules or callables.

    Returns:
        Family name (a module or callable is named by its type) -> family, in the given order.

    Raises:
        ValueError: an unknown name, or two families with the same name.
        TypeError: a family that is neither a name, a module nor a callable.

    Examples:
        >>> list(check_families("crop")), list(check_families(["crop", "blur"]))
        (['crop'], ['crop', 'blur'])
    """
    from manifold.augment import FAMILIES

    if families is None:
        return {}
    if isinstance(families, (str, torch.nn.Module)) or (
        callable(families) and not isinstance(families, Iterable)
    ):
        families = [families]
    elif not isinstance(families, Iterable):
        raise TypeError(
            "families must be a family name or an iterable of names, kornia augmentations or "
            f"callables, got {type(families).__name__}"
        )
    out: dict[str, Family] = {}
    for fam in families:
        if isinstance(fam, str):
            if fam not in FAMILIES:
                raise ValueError(
                    f"unknown augmentation family {fam!r}; expected one of "
                    f"{', '.join(FAMILIES)}, a kornia augmentation or a callable "
                    "f(images, generator) -> images"
                )
            label = fam
        elif isinstance(fam, torch.nn.Module) or callable(fam):
            label = getattr(fam, "__name__", None) or type(fam).__name__
        else:
            raise TypeError(
                "each family must be a name, a kornia augmentation or a callable, got "
                f"{type(fam).__name__} ({fam!r})"
            )
        if label in out:
            raise ValueError(
                f"family {label!r} is given twice; give each family once (wrap two "
                "augmentations of one type in distinctly named functions)"
            )
        out[label] = fam
    return out


def _progress(items: list[str], enabled: bool | None, desc: str):
    if not show_progress(enabled):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


def check_views(views: Views, family: str, z: torch.Tensor) -> torch.Tensor:
    """Validate one family's views ``(N, K, D)`` against the semantic embeddings ``z``."""
    vt, _ = as_tensor(views, f"views[{family!r}]", dims=("N", "K", "D"), min_sizes={"K": 2})
    if vt.shape[0] != z.shape[0] or vt.shape[2] != z.shape[1]:
        raise ValueError(
            f"views[{family!r}] has shape {tuple(vt.shape)}, expected "
            f"({z.shape[0]}, K, {z.shape[1]}) to match the embeddings"
        )
    return vt
