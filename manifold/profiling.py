"""``profile``: from a model (or embeddings) and images to a tidy table of geometry metrics.

A thin driver over :mod:`manifold.engine`: it embeds the images (or takes embeddings), then
records the registry's semantic metrics and each family's metrics from one
:class:`~manifold.engine.ModelContext`. The result is a :class:`~manifold.results.Profile`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from manifold._checks import as_tensor, check_int
from manifold.engine import ModelContext, Recorder, record_family, record_semantic
from manifold.results import COLUMNS, LAYER, SEMANTIC, Profile

__all__ = ["COLUMNS", "DEFAULT_FAMILIES", "Profile", "SEMANTIC", "profile"]

#: Augmentation families profiled by default.
DEFAULT_FAMILIES = ("crop", "color", "rotation", "flip", "blur")


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
    (``lidar(..., delta_relative=True)``).

    A metric that cannot be computed (e.g. alpha of a constant representation) is recorded in
    :attr:`Profile.failures` with the reason; the others are still computed.

    With ``layers`` (a model only), every layer is profiled from one forward pass per batch
    (see :class:`~manifold.Embedder`): the views of each family are drawn once and shared by
    all layers. The table gets a ``layer`` column after ``model``, in the order of the layers;
    its rows for one layer are those of ``profile(..., layer=name)``, number for number. Use
    :meth:`Profile.to_matrix` with ``layer=`` or ``by="layer"``, and
    :func:`manifold.plot.plot_layers` for a metric against depth.

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
        layers: Several submodules at once: names, glob patterns (``"blocks.*"``) or ``"all"``
            (see :func:`~manifold.embed.select_layers`); not together with ``layer``.
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
            model_or_embeddings, images, families, n_views, k, seed, name=name, layers=layers,
            device=device, batch_size=batch_size, transform=transform, max_samples=max_samples,
            curvature=curvature, cache_dir=cache_dir, progress=progress,
            n_bootstrap=n_bootstrap, started=started,
        )  # fmt: skip
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
    rec = Recorder(name)
    ctx = ModelContext(zt, k, rec, seed=seed, max_samples=max_samples, n_bootstrap=n_bootstrap)
    options = {"curvature"} if curvature else set()
    steps = [SEMANTIC, *family_names]
    bar = _progress(steps, progress, f"profile {name}")
    n_views_seen = None
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
        n_views_seen = vt.shape[1]
        record_family(ctx, step, vt)

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


def _profile_layers(
    model: torch.nn.Module,
    images: Any,
    families: Iterable[Any] | None,
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
        progress=options["progress"],
    )  # fmt: skip
    names = embedder.layers
    fams = list(families or ())
    family_names = [f if isinstance(f, str) else type(f).__name__ for f in fams]
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
        fam = fams[family_names.index(step)]
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
    settings = {
        "mode": "model",
        "n_images": int(next(iter(contexts.values())).n_points),
        "dims": dims,
        "n_views": int(n_views),
        "k": k,
        "seed": seed,
        "families": family_names,
        "layer": None,
        "layers": names,
        "max_samples": options["max_samples"],
        "curvature": options["curvature"],
        "n_bootstrap": n_bootstrap,
        "seconds": round(time.time() - started, 3),
    }
    return Profile(pd.concat(tables, ignore_index=True), {name: settings}, failures)


def _progress(items: list[str], enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


def check_views(views: Any, family: str, z: torch.Tensor) -> torch.Tensor:
    """Validate one family's views ``(N, K, D)`` against the semantic embeddings ``z``."""
    vt, _ = as_tensor(views, f"views[{family!r}]", dims=("N", "K", "D"), min_sizes={"K": 2})
    if vt.shape[0] != z.shape[0] or vt.shape[2] != z.shape[1]:
        raise ValueError(
            f"views[{family!r}] has shape {tuple(vt.shape)}, expected "
            f"({z.shape[0]}, K, {z.shape[1]}) to match the embeddings"
        )
    return vt
