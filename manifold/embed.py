"""Embeddings of images and of their augmented views, from any ``torch.nn.Module``.

:class:`Embedder` wraps a model (and optionally one of its submodules) and turns images into
semantic embeddings ``Z`` (N, D) and augmentation embeddings ``V`` (N, K, D), batched, with a
progress bar, optional mixed precision on CUDA, and an optional on-disk cache. Users who already
have embeddings skip this module: every metric takes arrays.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
import torch
from torch import nn

from manifold import __version__
from manifold._backend import resolve_device, seed_int, show_progress, warn_once
from manifold._cache import Hasher, entry_path, load_entry, save_entry
from manifold._checks import as_tensor
from manifold._validation import (
    Boolean,
    Device,
    InstanceOf,
    Integral,
    NoneOK,
    Options,
    Seed,
    validate_params,
)
from manifold._validation import Callable as CallableOK
from manifold.augment import (
    callable_identity,
    check_images,
    describe_family,
    draw_view_chunks,
)
from manifold.settings import default_n_views
from manifold.typing import ArrayLike, DeviceLike, Family, Images, SeedLike

__all__ = [
    "Embedder",
    "POOLS",
    "check_channels_first",
    "check_layer_entries",
    "pool_features",
    "select_layers",
    "select_output",
]

POOLS = ("auto", "avg", "max", "cls", "flatten")


class _Captured(Exception):
    """Raised by the layer hook to stop the forward pass once the layer(s) have run."""


def select_layers(model: nn.Module, layers: str | Iterable[str]) -> list[str]:
    """Resolve a layer selection to submodule names, in the order asked for.

    Each entry is a submodule name (``model.get_submodule(name)``), a glob pattern, or
    ``"all"``:

    - a pattern (``*``, ``?``, ``[...]``) is matched part by part on the dotted names, so
      ``"blocks.*"`` selects ``blocks.0``, ``blocks.1``, ... but not ``blocks.0.conv``; its
      matches come in the model's module order (the order of depth for a stack of blocks);
    - ``"all"`` is the family of blocks of the model: the items of its longest
      ``nn.Sequential`` or ``nn.ModuleList`` (the first such when several are as long), or the
      model's direct children when it has no container of two or more items.

    A name given twice is kept once, at its first place.

    Args:
        model: The model.
        layers: One entry (a str) or several.

    Returns:
        The submodule names.

    Raises:
        ValueError: a name that is not a submodule or a pattern that matches none; the message
            lists the available names.

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
        >>> select_layers(net, "all"), select_layers(net, ["2.*", "0"])
        (['0', '1', '2'], ['2.0', '0'])
    """
    entries = check_layer_entries(layers)
    names = [n for n, _ in model.named_modules() if n]
    chosen: list[str] = []
    for entry in entries:
        if entry == "all":
            found = _block_family(model)
        elif any(c in entry for c in "*?["):
            found = [n for n in names if _glob_match(n, entry)]
        else:
            found = [entry] if entry in names else []
        if not found:
            raise ValueError(_unknown_layer_message(entry, names))
        chosen.extend(found)
    return list(dict.fromkeys(chosen))


def check_layer_entries(layers: str | Iterable[str]) -> list[str]:
    """The entries of a layer selection, checked before any model is read.

    Raises:
        TypeError: not a str or an iterable of non-empty str.
        ValueError: no entry.

    Examples:
        >>> check_layer_entries("blocks.*"), check_layer_entries(("0", "2"))
        (['blocks.*'], ['0', '2'])
    """
    if isinstance(layers, str):
        layers = [layers]
    try:
        entries = list(layers)
    except TypeError:
        raise TypeError(
            f"layers must be a submodule name, a pattern, 'all' or a list of them, got {layers!r}"
        ) from None
    if not entries:
        raise ValueError("layers is empty: give submodule names, a pattern or 'all'")
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            raise TypeError(f"each layer must be a non-empty submodule name, got {entry!r}")
    return entries


def _glob_match(name: str, pattern: str) -> bool:
    parts, wanted = name.split("."), pattern.split(".")
    return len(parts) == len(wanted) and all(
        fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True)
    )


def _block_family(model: nn.Module) -> list[str]:
    best: tuple[str, nn.Module] | None = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Sequential, nn.ModuleList)) and len(module) >= 2:
            if best is None or len(module) > len(best[1]):
                best = (name, module)
    if best is None:
        return [name for name, _ in model.named_children()]
    prefix = f"{best[0]}." if best[0] else ""
    return [prefix + child for child, _ in best[1].named_children()]


def _unknown_layer_message(entry: str, names: list[str]) -> str:
    what = "pattern" if any(c in entry for c in "*?[") else "submodule"
    shallow = sorted(names, key=lambda n: n.count("."))[:60]
    shown = [n for n in names if n in set(shallow)]
    listing = ", ".join(shown)
    if len(shown) < len(names):
        listing += (
            f", ... ({len(names)} in all; see [n for n, _ in model.named_modules()]; a pattern "
            "such as 'blocks.*' selects a family)"
        )
    close = difflib.get_close_matches(entry, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close and what == "submodule" else ""
    found = "matches no submodule" if what == "pattern" else "is not a submodule of the model"
    return f"layer {what} {entry!r} {found}{hint}; available names: {listing}, or 'all'"


def pool_features(
    features: torch.Tensor, pool: str | Callable[[torch.Tensor], torch.Tensor] = "auto"
) -> torch.Tensor:
    """Reduce features of any rank to one vector per sample, shape (N, D).

    ========== =================================================================
    rank 2     (N, D): returned as is, whatever ``pool``
    ``auto``   same as ``avg``
    ``avg``    4-D (N, C, H, W): mean over H, W -> (N, C) (global average pool);
               3-D (N, T, D) tokens: mean over T -> (N, D); higher: mean over axes 2..
    ``max``    as ``avg`` with the maximum
    ``cls``    3-D (N, T, D): the first token -> (N, D)
    ``flatten`` reshape to (N, prod(rest))
    callable   ``pool(features) -> (N, D)``
    ========== =================================================================

    Examples:
        >>> import torch
        >>> pool_features(torch.ones(2, 5, 3, 3)).shape
        torch.Size([2, 5])
    """
    if callable(pool):
        out = pool(features)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"pool must return features of shape (N, D), got {got}")
        return out
    if features.ndim < 2:
        raise ValueError(
            f"expected features of shape (N, D) or (N, C, ...), got {tuple(features.shape)}"
        )
    if features.ndim == 2:
        return features
    if pool == "flatten":
        return features.reshape(features.shape[0], -1)
    if pool == "cls":
        if features.ndim != 3:
            raise ValueError(
                "pool='cls' needs token features of shape (N, T, D), got "
                f"{tuple(features.shape)}; use 'avg' or 'flatten'"
            )
        return features[:, 0]
    dims = (1,) if features.ndim == 3 else tuple(range(2, features.ndim))
    if pool == "max":
        return features.amax(dim=dims)
    return features.mean(dim=dims)


def select_output(value: object, output: int | str | None = None) -> torch.Tensor:
    """The representation in what a model (or a layer) returned.

    A tensor is the representation. When ``forward`` returns a tuple or list (e.g.
    ``(logits, features)``) or a dict (e.g. ``{"logits": ..., "features": ...}``), ``output``
    picks the element: an index for a tuple or list, a key for a dict. Without ``output`` the
    first element is used and a warning names it and the others, since a model that returns
    ``(logits, features)`` would otherwise be profiled by its logits without a word.

    Args:
        value: The model's (or layer's) output.
        output: Index or key of the representation; ``None``: the tensor itself, or the first
            element with a warning.

    Returns:
        The selected tensor.

    Raises:
        ValueError: ``output`` names no element (the message lists the valid ones), or is given
            for a model that returns a single tensor.
        TypeError: the selected element is not a tensor.

    Examples:
        >>> import torch
        >>> select_output({"logits": torch.zeros(2, 10), "features": torch.ones(2, 4)},
        ...               "features").shape
        torch.Size([2, 4])
    """
    if isinstance(value, torch.Tensor):
        if output is not None:
            raise ValueError(
                f"output={output!r} was given but the model returns a single tensor of shape "
                f"{tuple(value.shape)}; leave output unset"
            )
        return value
    if isinstance(value, (tuple, list)) and value:
        valid = f"an index in 0..{len(value) - 1}"
        if output is None:
            chosen, label = value[0], "item 0"
        elif isinstance(output, (int, np.integer)) and not isinstance(output, bool):
            if not -len(value) <= int(output) < len(value):
                raise ValueError(
                    f"output={output!r} is out of range: the model returns a "
                    f"{type(value).__name__} of {len(value)} items; use {valid}"
                )
            chosen, label = value[int(output)], f"item {int(output)}"
        else:
            raise ValueError(
                f"the model returns a {type(value).__name__} of {len(value)} items; output must "
                f"be {valid}, got {output!r}"
            )
    elif isinstance(value, Mapping) and value:
        keys = list(value)
        if output is None:
            chosen, label = value[keys[0]], f"key {keys[0]!r}"
        elif output in value:
            chosen, label = value[output], f"key {output!r}"
        else:
            raise ValueError(f"output={output!r} is not a key of the model's output; keys: {keys}")
    else:
        raise TypeError(
            f"the model (or layer) returned {type(value).__name__}; expected a tensor, or a "
            "tuple, list or dict of tensors. Pick a layer with layer=... or wrap the model."
        )
    if not isinstance(chosen, torch.Tensor):
        raise TypeError(
            f"{label} of the model's output is a {type(chosen).__name__}, not a tensor; choose "
            "another with output=..."
        )
    if output is None:
        warnings.warn(
            f"the model returns a {type(value).__name__} of {len(value)} items "
            f"({_describe_items(value)}); using {label} as the representation. Pass "
            "output=<index or key> (CLI: --output) to choose another",
            UserWarning,
            stacklevel=2,
        )
    return chosen


def _describe_items(value: Any) -> str:
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    parts = [
        f"{key!r}: {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
        for key, v in items
    ]
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


def check_channels_first(images: Images, name: str = "images") -> None:
    """Reject channels-last images ``(N, H, W, C)`` with a message that says how to fix them.

    Images are ``(N, C, H, W)``. A 4-D array whose last axis has 1 or 3 entries while its
    second has neither is almost surely channels-last (as PIL, matplotlib and TensorFlow store
    images); a model would fail on it deep inside a convolution.

    Examples:
        >>> import numpy as np
        >>> check_channels_first(np.zeros((2, 3, 8, 8)))
        >>> try:
        ...     check_channels_first(np.zeros((2, 8, 8, 3)))
        ... except ValueError as err:
        ...     print(str(err)[:53])
        images look channels-last (N, H, W, C) = (2, 8, 8, 3)
    """
    shape = tuple(getattr(images, "shape", ()))
    if len(shape) == 4 and shape[1] not in (1, 3) and shape[3] in (1, 3):
        raise ValueError(
            f"{name} look channels-last (N, H, W, C) = {shape}; expected (N, C, H, W): pass "
            f"{name}.permute(0, 3, 1, 2) (torch) or {name}.transpose(0, 3, 1, 2) (numpy)"
        )


class Embedder:
    """Embed images with a model's output or one of its layers, in batches, with a cache.

    Features are computed under ``torch.no_grad`` with the model in eval mode (each
    submodule's training flag is restored afterwards). With ``layer``, a forward hook captures
    that submodule's output (its first call when the module runs several times) and the forward
    pass stops there. Features of rank > 2 are pooled (see :func:`pool_features`). Results are
    float32 torch tensors on the CPU, whatever the compute device.

    With ``layers`` (several submodules, see :func:`select_layers`), one forward pass per batch
    feeds every layer through forward hooks; each hook pools its layer's output at once, so only
    the pooled (batch, D) features of each layer are kept, never the full-resolution activations
    of all layers, and the pass stops once the last of them has run. :meth:`embed` and
    :meth:`embed_views` then return a dict layer name -> tensor, in the order of
    :attr:`layers`, each equal to what ``Embedder(model, layer=name, output=output)`` returns.
    A layer whose output is a tuple, list or dict follows :func:`select_output`: ``output``
    picks its element (an index or a key), and without ``output`` its first element is used with
    a warning, once per layer, that names the layer and its elements. ``output`` applies only to
    the swept layers that return such a container (the others are tensors, used as they are);
    it is an error when none of them does.

    Cache: with ``cache_dir``, results are stored under the sha256 of (model class and state
    dict, layer, pool, transform, amp, images, family and its parameters, K, seed, package
    version). Entries are written atomically and carry a checksum; a corrupt, truncated or stale
    entry is reported with a warning and recomputed. The device and batch size are not part of
    the key (they change results only by floating-point rounding).

    Args:
        model: Any ``torch.nn.Module`` taking a batch of images (N, C, H, W).
        layer: Name of a submodule (``model.get_submodule(layer)``, e.g. ``"blocks.3"``) whose
            output is used instead of the model's output.
        layers: Several layers at once: names, glob patterns or ``"all"`` (resolved by
            :func:`select_layers` into :attr:`layers`); not together with ``layer``.
        device: ``None`` (the model's device), ``"auto"``, or a device; the model is moved there.
        batch_size: Images (or views) per forward pass.
        transform: Applied to each image batch on the device before the model, e.g. a
            normalisation ``lambda x: (x - 0.5) / 0.5``.
        pool: One of :data:`POOLS` or a callable ``features -> (N, D)``.
        amp: Mixed precision (``torch.autocast``, float16) when the device is CUDA; ignored
            with a warning on other devices.
        cache_dir: Folder of the on-disk cache; ``None`` disables it. Each layer of ``layers``
            has its own entry, the one ``Embedder(model, layer=name, output=output)`` reads and
            writes.
        progress: Show a tqdm progress bar when there is more than one batch; ``None``: only
            when stderr is a terminal.
        output: When the model (or layer) returns a tuple, list or dict, the index or key of
            the representation (see :func:`select_output`; default: the first, with a warning).
            With ``layers``, it applies to every swept layer that returns one.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
        >>> emb = Embedder(model, layer="1", progress=False)
        >>> emb.embed(torch.rand(5, 3, 16, 16)).shape
        torch.Size([5, 8])
        >>> emb.embed_views(torch.rand(5, 3, 16, 16), "crop", n_views=3).shape
        torch.Size([5, 3, 8])
        >>> sweep = Embedder(model, layers="all", progress=False)
        >>> {name: tuple(z.shape) for name, z in sweep.embed(torch.rand(5, 3, 16, 16)).items()}
        {'0': (5, 8), '1': (5, 8), '2': (5, 4)}
    """

    @validate_params(
        {
            "layer": [InstanceOf(str, name="a submodule name (str)"), NoneOK],
            "device": [Device(), NoneOK],
            "batch_size": [Integral(1, None)],
            "transform": [CallableOK(), NoneOK],
            "pool": [Options(POOLS), CallableOK()],
            "progress": [Boolean(), NoneOK],
            "output": [Integral(), InstanceOf(str), NoneOK],
        }
    )
    def __init__(
        self,
        model: nn.Module,
        layer: str | None = None,
        device: DeviceLike = None,
        batch_size: int = 256,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        pool: str | Callable[[torch.Tensor], torch.Tensor] = "auto",
        amp: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        output: int | str | None = None,
        layers: str | Iterable[str] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if layers is not None and layer is not None:
            raise ValueError("give layer= (one submodule) or layers= (several), not both")
        #: The resolved layer names of a multi-layer Embedder (None: one output per image).
        self.layers = None if layers is None else select_layers(model, layers)
        if layer is not None:
            try:
                model.get_submodule(layer)
            except AttributeError as err:
                names = [n for n, _ in model.named_modules() if n][:20]
                raise ValueError(
                    f"model has no submodule {layer!r}; some of its submodules: {names}"
                ) from err
        self.model = model
        self.layer = layer
        self.batch_size = batch_size
        self.transform = transform
        self.pool = pool
        self.amp = bool(amp)
        self.cache_dir = cache_dir
        self.progress = progress
        self.output = output
        self._warned_output = False
        self._warned_layers: set[str] = set()  # swept layers whose element choice was warned
        if device is None:
            first = next(iter(model.parameters()), None)
            if first is None:
                first = next(iter(model.buffers()), None)
            self.device = first.device if first is not None else torch.device("cpu")
        else:
            self.device = resolve_device(device)
            model.to(self.device)

    # public API -------------------------------------------------------------------------

    def embed(self, images: Images) -> torch.Tensor | dict[str, torch.Tensor]:
        """Embeddings of the images themselves (the semantic manifold).

        Args:
            images: Float images in [0, 1], shape (N, C, H, W), numpy or torch.

        Returns:
            float32 CPU tensor of shape (N, D); with ``layers``, a dict layer -> (N, D_layer).
        """
        check_channels_first(images)
        x = check_images(images, channels=False)
        if self.layers is not None:
            return self._embed_layers(x)
        key = self._key(x, "embed") if self.cache_dir is not None else None
        cached = self._load(key)
        if cached is not None:
            return cached
        chunks = (x[i : i + self.batch_size] for i in range(0, x.shape[0], self.batch_size))
        n_batches = -(-x.shape[0] // self.batch_size)
        with self._session():
            feats = [
                self._forward(chunk.to(self.device))
                for chunk in self._bar(chunks, n_batches, "embed")
            ]
        out = torch.cat(feats)
        self._save(key, out)
        return out

    @validate_params({"n_views": [Integral(1, None), NoneOK], "seed": [Seed(), NoneOK]})
    def embed_views(
        self, images: Images, family: Family, n_views: int | None = None, seed: SeedLike = 0
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Embeddings of K augmented views of every image (the augmentation manifolds).

        Views are drawn by :func:`manifold.augment.draw_view_chunks` on the compute device and
        streamed: at most ``max(batch_size, K)`` views exist at a time.

        Args:
            images: Float images in [0, 1], shape (N, C, H, W), C in {1, 3}.
            family: A family name, a kornia augmentation, or ``f(images, generator)``.
            n_views: K. ``None`` (the default): 8, with a ``FutureWarning`` that the default
                becomes :data:`~manifold.settings.DEFAULT_N_VIEWS` (16) in the next release.
            seed: int, numpy or torch generator; the views of image i depend on (seed, i).

        Returns:
            float32 CPU tensor of shape (N, K, D); with ``layers``, a dict layer ->
            (N, K, D_layer), all from the same views.
        """
        n_views = default_n_views(n_views, 8, "Embedder.embed_views")
        check_channels_first(images)
        x = check_images(images)
        base_seed = seed_int(seed)
        if self.layers is not None:
            return self._embed_views_layers(x, family, n_views, base_seed)
        n, c, h, w = x.shape
        key = None
        if self.cache_dir is not None:
            key = self._key(
                x,
                "views",
                family=describe_family(family, (h, w), c),
                n_views=n_views,
                seed=base_seed,
            )
        cached = self._load(key)
        if cached is not None:
            return cached
        per_chunk = self._views_per_chunk(n_views)
        stream = draw_view_chunks(x, family, n_views, base_seed, per_chunk, device=self.device)
        out = self._embed_view_stream(stream, n, n_views)
        self._save(key, out)
        return out

    def embed_drawn_views(self, views: ArrayLike) -> torch.Tensor | dict[str, torch.Tensor]:
        """Embeddings of views drawn beforehand, e.g. by :func:`manifold.draw_views`, kept, reused.

        The views are batched as :meth:`embed_views` batches the views it draws, so for
        ``v = manifold.draw_views(images, family, K, seed)`` the result equals
        ``embed_views(images, family, K, seed)`` number for number. Their values are not checked
        against [0, 1] (an augmentation may overshoot it by a rounding error), and the result
        is not cached.

        Args:
            views: Views of shape (N, K, C, H, W), numpy or torch, on any device.

        Returns:
            float32 CPU tensor of shape (N, K, D); with ``layers``, a dict layer ->
            (N, K, D_layer).

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> from manifold import draw_views
            >>> images = torch.rand(6, 3, 8, 8)
            >>> emb = Embedder(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(2)), progress=False)
            >>> drawn = draw_views(images, "flip", n_views=3, seed=1)
            >>> bool((emb.embed_drawn_views(drawn) == emb.embed_views(images, "flip", 3, 1)).all())
            True
        """
        v, _ = as_tensor(views, "views", dims=("N", "K", "C", "H", "W"), dtype=torch.float32)
        n, n_views = v.shape[:2]
        per_chunk = self._views_per_chunk(n_views)
        stream = ((slice(i, i + per_chunk), v[i : i + per_chunk]) for i in range(0, n, per_chunk))
        if self.layers is not None:
            out: dict[str, torch.Tensor] = {}
            self._embed_view_stream_layers(stream, n, n_views, list(self.layers), out)
            return {name: out[name] for name in self.layers}
        return self._embed_view_stream(stream, n, n_views)

    @validate_params(
        {
            "n_views": [Integral(1, None), NoneOK],
            "seed": [Seed(), NoneOK],
            "layer": [InstanceOf(str), NoneOK],
        }
    )
    def cache_key(
        self,
        images: Images,
        family: Family | None = None,
        n_views: int | None = None,
        seed: SeedLike = 0,
        layer: str | None = None,
    ) -> str:
        """The cache key of :meth:`embed` (no family) or :meth:`embed_views` (a family).

        ``n_views`` and ``seed`` (used with a family) default to those of :meth:`embed_views`,
        so ``cache_key(images, family)`` names the entry ``embed_views(images, family)`` writes.
        ``layer``: with ``layers``, the layer whose entry to name (each layer has its own).
        """
        x = check_images(images, channels=family is not None)
        if self.layers is None and layer is not None:
            raise ValueError("layer= names an entry of a multi-layer Embedder (layers=)")
        if self.layers is not None and layer not in self.layers:
            raise ValueError(f"name one of the Embedder's layers {self.layers}, got {layer!r}")
        if family is None:
            return self._key(x, "embed", layer=layer)
        _, c, h, w = x.shape
        return self._key(
            x,
            "views",
            layer=layer,
            family=describe_family(family, (h, w), c),
            n_views=default_n_views(n_views, 8, "Embedder.cache_key"),
            seed=seed_int(seed),
        )

    def __repr__(self) -> str:
        which = f"layers={self.layers!r}" if self.layers is not None else f"layer={self.layer!r}"
        return (
            f"Embedder(model={type(self.model).__name__}, {which}, "
            f"device={str(self.device)!r}, batch_size={self.batch_size}, pool={self.pool!r}, "
            f"output={self.output!r}, amp={self.amp}, cache_dir={self.cache_dir!r})"
        )

    # internals --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, layers: list[str] | None = None) -> Iterator[None]:
        """Eval mode, no grad, and the layer hook(s), all undone on exit.

        ``layers`` (multi-layer Embedders): the layers to hook, e.g. those missing from the
        cache.
        """
        modes = [(m, m.training) for m in self.model.modules()]
        handles = []
        if layers is not None:
            self._active = list(layers)
            self._pooled: dict[str, torch.Tensor] = {}
            self._containers: set[str] = set()
            for name in layers:
                hook = functools.partial(self._layer_hook, name)
                handles.append(self.model.get_submodule(name).register_forward_hook(hook))
        elif self.layer is not None:
            handles.append(self.model.get_submodule(self.layer).register_forward_hook(self._hook))
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for handle in handles:
                handle.remove()
            for module, mode in modes:
                module.training = mode

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self._captured = output
        raise _Captured

    def _layer_hook(self, name: str, module: nn.Module, inputs: Any, output: Any) -> None:
        if name in self._pooled:  # a module that runs several times: its first call, as `layer`
            return
        tensor = self._layer_tensor(name, output)
        try:
            feats = pool_features(tensor, self.pool)
        except (TypeError, ValueError) as err:  # e.g. output= picked a scalar: name the layer
            raise type(err)(f"layer {name!r}: {err}") from err
        # pooled now, copied off the activation: later in-place ops (ReLU(inplace=True)) cannot
        # change it, and the layer's full-resolution output is not kept
        self._pooled[name] = feats.detach().to("cpu", torch.float32, copy=True)
        if len(self._pooled) == len(self._active):
            raise _Captured

    def _layer_tensor(self, name: str, output: Any) -> torch.Tensor:
        """The representation in a swept layer's output: the rule of :func:`select_output`."""
        if isinstance(output, torch.Tensor):
            return output  # `output` picks an element of the layers that return a container
        self._containers.add(name)
        try:
            if self.output is not None or name in self._warned_layers:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    return select_output(output, self.output)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                tensor = select_output(output, None)
        except (TypeError, ValueError) as err:
            raise type(err)(f"layer {name!r}: {err}") from err
        self._warned_layers.add(name)
        for record in caught:  # once per layer and Embedder, naming the layer
            warnings.warn(
                f"layer {name!r}: {str(record.message).replace('the model returns', 'it returns')}",
                UserWarning,
                stacklevel=2,
            )
        return tensor

    def _forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One forward pass; the pooled features of every hooked layer."""
        if self.transform is not None:
            x = self.transform(x)
        self._pooled = {}
        with self._autocast():
            try:
                self.model(x)
            except _Captured:
                pass
        pooled, self._pooled = self._pooled, {}
        missing = [name for name in self._active if name not in pooled]
        if missing:
            raise RuntimeError(f"layers {missing} did not run during the model's forward pass")
        if self.output is not None and not self._containers:
            raise ValueError(
                f"output={self.output!r} was given but none of the layers {self._active} returns "
                "a tuple, list or dict (each returns a single tensor); leave output unset"
            )
        for name, feats in pooled.items():
            if feats.shape[0] != x.shape[0]:
                raise ValueError(
                    f"features of layer {name!r} have {feats.shape[0]} rows for a batch of "
                    f"{x.shape[0]} images"
                )
        return pooled

    def _cached_layers(
        self, x: torch.Tensor, kind: str, **extra: Any
    ) -> tuple[dict[str, str | None], dict[str, torch.Tensor]]:
        """Each layer's cache key (None without a cache) and the layers found in the cache."""
        keys: dict[str, str | None] = {}
        found: dict[str, torch.Tensor] = {}
        for name in self.layers:
            keys[name] = None if self.cache_dir is None else self._key(x, kind, layer=name, **extra)
            cached = self._load(keys[name])
            if cached is not None:
                found[name] = cached
        return keys, found

    def _embed_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        keys, out = self._cached_layers(x, "embed")
        missing = [name for name in self.layers if name not in out]
        if missing:
            chunks = (x[i : i + self.batch_size] for i in range(0, x.shape[0], self.batch_size))
            n_batches = -(-x.shape[0] // self.batch_size)
            with self._session(missing):
                feats = [
                    self._forward_layers(chunk.to(self.device))
                    for chunk in self._bar(chunks, n_batches, f"embed ({len(missing)} layers)")
                ]
            for name in missing:
                out[name] = torch.cat([f[name] for f in feats])
                self._save(keys[name], out[name])
        return {name: out[name] for name in self.layers}

    def _embed_views_layers(
        self, x: torch.Tensor, family: Family, n_views: int, base_seed: int
    ) -> dict[str, torch.Tensor]:
        n, c, h, w = x.shape
        described = describe_family(family, (h, w), c) if self.cache_dir is not None else None
        keys, out = self._cached_layers(
            x, "views", family=described, n_views=n_views, seed=base_seed
        )
        missing = [name for name in self.layers if name not in out]
        if missing:
            per_chunk = self._views_per_chunk(n_views)
            stream = draw_view_chunks(x, family, n_views, base_seed, per_chunk, device=self.device)
            self._embed_view_stream_layers(stream, n, n_views, missing, out)
            for name in missing:
                self._save(keys[name], out[name])
        return {name: out[name] for name in self.layers}

    def _views_per_chunk(self, n_views: int) -> int:
        """Images whose K views make one chunk: at most ``batch_size`` views (at least 1 image)."""
        return max(1, self.batch_size // n_views)

    def _embed_view_stream(self, stream: Iterator, n: int, n_views: int) -> torch.Tensor:
        """(N, K, D) features of a stream of ``(index, (b, K, C, H, W) views)`` chunks."""
        n_chunks = -(-n // self._views_per_chunk(n_views))
        out: torch.Tensor | None = None
        with self._session():
            for index, chunk in self._bar(stream, n_chunks, f"views ({n_views}/image)"):
                b = chunk.shape[0]
                flat = chunk.reshape(b * n_views, *chunk.shape[2:]).to(self.device)
                feats = torch.cat(
                    [
                        self._forward(flat[i : i + self.batch_size])
                        for i in range(0, flat.shape[0], self.batch_size)
                    ]
                )
                if out is None:
                    out = torch.empty((n, n_views, feats.shape[1]), dtype=torch.float32)
                out[index] = feats.reshape(b, n_views, -1)
        assert out is not None
        return out

    def _embed_view_stream_layers(
        self, stream: Iterator, n: int, n_views: int, missing: list[str], out: dict
    ) -> None:
        """Fill ``out[layer]`` (N, K, D_layer) for the ``missing`` layers from a view stream."""
        n_chunks = -(-n // self._views_per_chunk(n_views))
        desc = f"views ({n_views}/image, {len(missing)} layers)"
        with self._session(missing):
            for index, chunk in self._bar(stream, n_chunks, desc):
                b = chunk.shape[0]
                flat = chunk.reshape(b * n_views, *chunk.shape[2:]).to(self.device)
                parts = [
                    self._forward_layers(flat[i : i + self.batch_size])
                    for i in range(0, flat.shape[0], self.batch_size)
                ]
                for name in missing:
                    feats = torch.cat([p[name] for p in parts])
                    if name not in out:
                        out[name] = torch.empty((n, n_views, feats.shape[1]))
                    out[name][index] = feats.reshape(b, n_views, -1)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        if self.device.type != "cuda":
            warn_once(
                "embed-amp-cpu",
                f"amp=True is used only on CUDA devices; computing in full precision on "
                f"{self.device}",
            )
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.float16)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transform is not None:
            x = self.transform(x)
        self._captured = None
        with self._autocast():
            try:
                out = self.model(x)
            except _Captured:
                out = self._captured
            else:
                if self.layer is not None:
                    raise RuntimeError(
                        f"layer {self.layer!r} did not run during the model's forward pass"
                    )
            finally:
                self._captured = None
            out = self._select(out)
            feats = pool_features(out, self.pool)
        if feats.shape[0] != x.shape[0]:
            raise ValueError(
                f"features have {feats.shape[0]} rows for a batch of {x.shape[0]} images"
            )
        return feats.detach().float().cpu()

    def _select(self, out: Any) -> torch.Tensor:
        """The representation in the model's output; warn about the choice once per Embedder."""
        if self.output is not None or isinstance(out, torch.Tensor) or self._warned_output:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return select_output(out, self.output)
        self._warned_output = True
        return select_output(out, self.output)

    def _bar(self, iterable: Any, total: int, desc: str) -> Any:
        if not show_progress(self.progress) or total < 2:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)

    def _key(self, x: torch.Tensor, kind: str, layer: str | None = None, **extra: Any) -> str:
        h = Hasher().text("version", __version__).text("kind", kind)
        h.state_dict("model", self.model)
        h.text("layer", self.layer if layer is None else layer)
        h.text("output", self.output)
        h.text("pool", callable_identity(self.pool) if callable(self.pool) else self.pool)
        h.text("amp", self.amp)
        if self.transform is None:
            h.text("transform", None)
        elif isinstance(self.transform, nn.Module):
            h.text("transform", repr(self.transform)).state_dict("transform", self.transform)
        else:
            h.text("transform", callable_identity(self.transform))
        h.array("images", x)
        for name in sorted(extra):
            h.text(name, extra[name])
        return h.hexdigest()

    def _load(self, key: str | None) -> torch.Tensor | None:
        if key is None:
            return None
        array = load_entry(entry_path(self.cache_dir, key), key, __version__)
        return None if array is None else torch.from_numpy(array)

    def _save(self, key: str | None, out: torch.Tensor) -> None:
        if key is not None:
            save_entry(
                entry_path(self.cache_dir, key), key, out.numpy().astype(np.float32), __version__
            )
