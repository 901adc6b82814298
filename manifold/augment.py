"""Augmentation families built on kornia, with reproducible per-sample views.

A *family* is a named, documented set of random image transformations (``crop``, ``color``,
``rotation``, ``flip``, ``blur`` and the SimCLR-style composition ``ssl``). :func:`draw_views`
draws ``K`` views of every image; each view of each image gets its own random parameters.

Reproducibility rule: the randomness of image ``i`` comes only from ``(seed, i)``. Its parameters
are sampled under :func:`torch.random.fork_rng` with a seed derived from
``numpy.random.SeedSequence(seed, spawn_key=(i,))``, one independent stream per stage of the
family. The views therefore do not depend on ``batch_size``, on which other images are in the
batch, or on the device, and the global torch and numpy RNG states are left untouched.

Sampling is separate from applying, through kornia's public API only: each stage's parameters
are drawn image by image with ``forward_parameters``, merged, and applied to a whole batch at
once with ``forward(x, params=...)``. Stages whose parameters contain values shared by a batch
(kornia's ``ColorJitter`` draws one random order of its four adjustments per call) are applied
to groups of images that share those values, so every image keeps its own order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from manifold._backend import resolve_device, seed_int
from manifold._checks import as_tensor, check_int
from manifold._deprecation import warn_deprecated
from manifold._validation import Boolean, Device, Integral, NoneOK, Seed, validate_params
from manifold.settings import DEFAULT_N_VIEWS
from manifold.typing import AugmentFn, DeviceLike, Family, Images, SeedLike

__all__ = [
    "FAMILIES",
    "FAMILY_PARAMETERS",
    "check_families",
    "describe_family",
    "draw_view_chunks",
    "draw_views",
    "draw_views_with_params",
    "get_family",
    "images_fingerprint",
    "iter_views",
    "views",
]

FAMILIES = ("crop", "color", "rotation", "flip", "blur", "ssl")

#: Parameters of each named family, as documented in docs/augment.md.
CROP_SCALE = (0.2, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
COLOR_JITTER = (0.4, 0.4, 0.4, 0.1)  # brightness, contrast, saturation, hue
COLOR_P = 0.8
GRAYSCALE_P = 0.2
ROTATION_DEGREES = 30.0
FLIP_P = 0.5
BLUR_SIGMA = (0.1, 2.0)
SSL_BLUR_P = 0.5


def blur_kernel_size(height: int, width: int) -> int:
    """Odd Gaussian-blur kernel size of about 10% of the smaller image side, at least 3.

    ``k = max(3, 2 * round(0.05 * min(height, width)) + 1)``: 23 at 224 px (as in SimCLR),
    7 at 64 px, 3 at 28 px.
    """
    return max(3, 2 * int(round(0.05 * min(height, width))) + 1)


#: Parameters of each named family that :func:`get_family` lets a caller change, with defaults.
FAMILY_PARAMETERS: dict[str, dict[str, float | tuple[float, float]]] = {
    "crop": {"scale": CROP_SCALE, "ratio": CROP_RATIO},
    "color": {
        "brightness": COLOR_JITTER[0],
        "contrast": COLOR_JITTER[1],
        "saturation": COLOR_JITTER[2],
        "hue": COLOR_JITTER[3],
        "p": COLOR_P,
        "grayscale_p": GRAYSCALE_P,
    },  # fmt: skip
    "rotation": {"degrees": ROTATION_DEGREES},
    "flip": {"p": FLIP_P},
    "blur": {"sigma": BLUR_SIGMA, "p": 1.0},
    "ssl": {},
}


def _family_stages(
    name: str, size: tuple[int, int], channels: int, params: dict[str, Any] | None = None
) -> list[nn.Module]:
    import kornia.augmentation as K

    allowed = FAMILY_PARAMETERS[name]
    unknown = sorted(set(params or {}) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameters {unknown} for family {name!r}; it takes "
            f"{sorted(allowed) or 'none'}"
        )
    par = {**allowed, **(params or {})}

    def crop() -> nn.Module:
        scale, ratio = (par["scale"], par["ratio"]) if name == "crop" else (CROP_SCALE, CROP_RATIO)
        return K.RandomResizedCrop(size, scale=scale, ratio=ratio, p=1.0)

    def color() -> list[nn.Module]:
        c = par if name == "color" else FAMILY_PARAMETERS["color"]
        if channels == 1:
            # saturation and hue are undefined on a single channel
            return [K.ColorJitter(c["brightness"], c["contrast"], 0.0, 0.0, p=c["p"])]
        return [
            K.ColorJitter(c["brightness"], c["contrast"], c["saturation"], c["hue"], p=c["p"]),
            K.RandomGrayscale(p=c["grayscale_p"]),
        ]

    def blur(p: float) -> nn.Module:
        k = blur_kernel_size(*size)
        sigma = par["sigma"] if name == "blur" else BLUR_SIGMA
        return K.RandomGaussianBlur((k, k), sigma, p=p)

    if name == "crop":
        return [crop()]
    if name == "color":
        return color()
    if name == "rotation":
        return [K.RandomRotation(par["degrees"], p=1.0)]
    if name == "flip":
        return [K.RandomHorizontalFlip(p=par["p"])]
    if name == "blur":
        return [blur(par["p"])]
    # ssl
    return [crop(), K.RandomHorizontalFlip(p=FLIP_P), *color(), blur(SSL_BLUR_P)]


def _check_family_name(name: str) -> str:
    if name not in FAMILIES:
        allowed = ", ".join(repr(f) for f in FAMILIES)
        raise ValueError(
            f"unknown augmentation family {name!r}; expected one of {allowed}, a kornia "
            "augmentation, or a callable f(images, generator) -> images"
        )
    return name


def get_family(
    name_or_aug: Family,
    image_size: int | tuple[int, int] = 224,
    channels: int = 3,
    **params: float | tuple[float, float],
) -> nn.Module | AugmentFn:
    """Return the kornia module of a named family (or pass a user augmentation through).

    Families (``same_on_batch=False`` everywhere, so each view has its own parameters):

    ========== =====================================================================
    ``crop``     ``RandomResizedCrop(image_size, scale=(0.2, 1.0), ratio=(3/4, 4/3))``
    ``color``    ``ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)`` + ``RandomGrayscale(p=0.2)``;
                 on 1-channel images ``ColorJitter(0.4, 0.4, 0, 0, p=0.8)`` only
    ``rotation`` ``RandomRotation(30)``: angle uniform in [-30°, 30°], zero padding
    ``flip``     ``RandomHorizontalFlip(p=0.5)``
    ``blur``     ``RandomGaussianBlur(k, sigma=(0.1, 2.0), p=1)``, ``k`` odd, ~10% of the side
    ``ssl``      crop, flip, color, then blur with ``p=0.5`` (SimCLR / MoCo v2 recipe)
    ========== =====================================================================

    Args:
        name_or_aug: A family name from :data:`FAMILIES`, a kornia augmentation (returned
            unchanged), or a callable ``f(images, generator) -> images`` (returned unchanged).
        image_size: Output size ``(H, W)`` (or one int) of the crop; also sets the blur kernel.
        channels: 1 (grayscale) or 3 (RGB).
        **params: Change a named family's strength (defaults in :data:`FAMILY_PARAMETERS`):
            ``crop``: ``scale``, ``ratio``; ``color``: ``brightness``, ``contrast``,
            ``saturation``, ``hue`` (kornia's hue factor, at most 0.5 = the whole circle),
            ``p``, ``grayscale_p``; ``rotation``: ``degrees``; ``flip``: ``p``; ``blur``:
            ``sigma``, ``p``. For example ``get_family("color", hue=0.5)`` shifts hue
            anywhere on the colour circle.

    Returns:
        The kornia module (an ``AugmentationSequential`` for multi-stage families) or the
        user's augmentation.

    Examples:
        >>> from manifold.augment import get_family
        >>> get_family("flip")
        RandomHorizontalFlip(p=0.5, p_batch=1.0, same_on_batch=False)
    """
    if not isinstance(name_or_aug, str):
        if params:
            raise ValueError("parameters apply to named families only")
        if isinstance(name_or_aug, nn.Module) or callable(name_or_aug):
            return name_or_aug
        raise TypeError(
            "family must be a name, a kornia augmentation or a callable f(images, generator), "
            f"got {type(name_or_aug).__name__}"
        )
    name = _check_family_name(name_or_aug)
    size = _pair(image_size)
    channels = _check_channels(channels)
    stages = _family_stages(name, size, channels, params)
    if len(stages) == 1:
        return stages[0]
    import kornia.augmentation as K

    return K.AugmentationSequential(*stages)


def describe_family(family: Family, image_size: int | tuple[int, int], channels: int) -> str:
    """A stable text identifying a family and its parameters (used in cache keys)."""
    if isinstance(family, str):
        module = get_family(family, image_size=image_size, channels=channels)
        return f"family={family}; size={_pair(image_size)}; channels={channels}; {module!r}"
    if isinstance(family, nn.Module):
        return f"module={type(family).__module__}.{type(family).__qualname__}; {family!r}"
    return f"callable={callable_identity(family)}"


def callable_identity(fn: object) -> str:
    import inspect

    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    try:
        return name + "\n" + inspect.getsource(fn)
    except (OSError, TypeError):
        return name


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(f"image_size must be an int or a pair (H, W), got {size!r}")
    h = check_int(size[0], "image_size[0]", minimum=1)
    w = check_int(size[1], "image_size[1]", minimum=1)
    return h, w


def _check_channels(channels: int) -> int:
    channels = check_int(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 (grayscale) or 3 (RGB) channels, got {channels}")
    return channels


def check_images(images: Images, name: str = "images", *, channels: bool = True) -> torch.Tensor:
    """Validate a batch of images: float in [0, 1], shape (N, C, H, W); return float32.

    Args:
        images: numpy array or torch tensor of shape ``(N, C, H, W)``.
        name: Argument name used in error messages.
        channels: Require C in {1, 3}.

    Returns:
        A float32 tensor on the input's device (float16/bfloat16/float64 are converted).
    """
    dtype = getattr(images, "dtype", None)
    is_float = (
        dtype.is_floating_point
        if isinstance(dtype, torch.dtype)
        else dtype is not None and np.dtype(dtype).kind == "f"
    )
    if dtype is not None and not is_float:
        raise TypeError(
            f"{name} must be floating point with values in [0, 1], got dtype {dtype} "
            "(for 8-bit images divide by 255 first)"
        )
    t, _ = as_tensor(images, name, dims=("N", "C", "H", "W"), dtype=torch.float32)
    if channels and t.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 (grayscale) or 3 (RGB) channels in axis 1 of (N, C, H, W), "
            f"got shape {tuple(t.shape)}"
        )
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} must have values in [0, 1], got min {lo:.4g} and max {hi:.4g}; pass "
            "unnormalised images (normalise inside the model or with Embedder(transform=...))"
        )
    return t


def _image_seeds(base: int, start: int, stop: int, n_streams: int) -> np.ndarray:
    """One independent 64-bit seed per (image, stage), from ``SeedSequence(base, (i,))``."""
    return np.stack(
        [
            np.random.SeedSequence(base, spawn_key=(i,)).generate_state(n_streams, np.uint64)
            for i in range(start, stop)
        ]
    )


@contextlib.contextmanager
def _private_rng(devices: Sequence[torch.device]) -> Iterator[Callable[[int], None]]:
    """Fork the global RNGs of the CPU and ``devices``; yield a function that seeds them all."""
    cuda = sorted({d.index if d.index is not None else 0 for d in devices if d.type == "cuda"})
    cuda_gens = [torch.cuda.default_generators[i] for i in cuda] if cuda else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):

        def seed_all(seed: int) -> None:
            torch.random.default_generator.manual_seed(seed)
            for gen in cuda_gens:
                gen.manual_seed(seed)

        yield seed_all


def _kornia_stages(family: nn.Module) -> list[nn.Module] | None:
    """The base kornia augmentations a module applies in order, or None when opaque."""
    import kornia.augmentation as K

    # every kornia augmentation derives from one of these public bases, each of which samples
    # with forward_parameters and replays with forward(params=)
    bases = (K.AugmentationBase2D, K.AugmentationBase3D, K.MixAugmentationBaseV2)
    if isinstance(family, bases):
        return [family]
    if isinstance(family, K.ImageSequential) and not family.random_apply:
        children = list(family.children())
        if children and all(isinstance(c, bases) for c in children):
            return children
    return None


class _Stage:
    """One kornia augmentation, sampled per image and applied per batch."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._batch_keys: dict[tuple[int, ...], frozenset[str]] = {}

    def batch_keys(self, sample_shape: tuple[int, ...]) -> frozenset[str]:
        """Which parameters have one row per sample (found by sampling two batch sizes)."""
        keys = self._batch_keys.get(sample_shape)
        if keys is None:
            with _private_rng([]) as seed_all:
                seed_all(0)
                two = self.module.forward_parameters((2, *sample_shape))
                three = self.module.forward_parameters((3, *sample_shape))
            keys = frozenset(
                k
                for k, v in two.items()
                if k != "forward_input_shape"
                and isinstance(v, torch.Tensor)
                and v.ndim >= 1
                and v.shape[0] == 2
                and isinstance(three.get(k), torch.Tensor)
                and three[k].shape[0] == 3
            )
            self._batch_keys[sample_shape] = keys
        return keys


def _shared_key(params: dict[str, Any], batch_keys: frozenset[str]) -> tuple:
    items = []
    for k in sorted(params):
        if k in batch_keys or k == "forward_input_shape":
            continue
        v = params[k]
        items.append((k, tuple(v.reshape(-1).tolist()) if isinstance(v, torch.Tensor) else repr(v)))
    return tuple(items)


def _apply_stage(
    stage: _Stage,
    x: torch.Tensor,
    n_views: int,
    seeds: np.ndarray,
    seed_all: Callable[[int], None],
    keep: list[dict[str, Any]] | None,
) -> torch.Tensor:
    """Apply one stage to ``x`` of shape (b*K, C, H, W); image j's rows are j*K..(j+1)*K-1."""
    sample_shape = tuple(x.shape[1:])
    keys = stage.batch_keys(sample_shape)
    per_image = []
    for s in seeds:
        seed_all(int(s))
        per_image.append(stage.module.forward_parameters((n_views, *sample_shape)))
    if keep is not None:
        for store, params in zip(keep, per_image, strict=True):
            store[_stage_name(stage.module, len(store))] = params
    groups: dict[tuple, list[int]] = {}
    for j, params in enumerate(per_image):
        groups.setdefault(_shared_key(params, keys), []).append(j)
    if len(groups) == 1:
        (members,) = groups.values()
        return stage.module(x, params=_merge(per_image, members, keys, n_views, sample_shape, x))
    out: torch.Tensor | None = None
    for members in groups.values():
        merged = _merge(per_image, members, keys, n_views, sample_shape, x)
        rows = (
            torch.tensor(members, device=x.device)[:, None] * n_views
            + torch.arange(n_views, device=x.device)
        ).reshape(-1)
        y = stage.module(x[rows], params=merged)
        if out is None:
            out = x.new_empty((x.shape[0], *y.shape[1:]))
        out[rows] = y
    return out


def _merge(
    per_image: list[dict[str, Any]],
    members: list[int],
    keys: frozenset[str],
    n_views: int,
    sample_shape: tuple[int, ...],
    x: torch.Tensor,
) -> dict[str, Any]:
    """Stack the per-image parameters of ``members`` into one batch's parameters."""
    merged = {}
    for k, v in per_image[members[0]].items():
        if k in keys:
            merged[k] = torch.cat([per_image[j][k] for j in members]).to(x.device)
        else:
            merged[k] = v
    merged["forward_input_shape"] = torch.tensor(
        [len(members) * n_views, *sample_shape], dtype=torch.long
    )
    return merged


def _stage_name(module: nn.Module, index: int) -> str:
    return f"{index}_{type(module).__name__}"


def _apply_opaque(
    family: nn.Module | AugmentFn,
    x: torch.Tensor,
    n_views: int,
    seeds: np.ndarray,
    seed_all: Callable[[int], None],
) -> torch.Tensor:
    """Apply a callable (or an opaque kornia container) image by image, seeded per image."""
    outs = []
    for j, s in enumerate(seeds):
        seed_all(int(s))
        xj = x[j * n_views : (j + 1) * n_views]
        if isinstance(family, nn.Module):
            y = family(xj)
        else:
            gen = torch.Generator(device=x.device)
            gen.manual_seed(int(s))
            y = family(xj, gen)
        if not isinstance(y, torch.Tensor) or y.ndim != 4 or y.shape[0] != n_views:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(
                f"the augmentation must map images of shape {tuple(xj.shape)} to "
                f"({n_views}, C, H, W), got {got}"
            )
        outs.append(y)
    return torch.cat(outs)


def _draw(
    images: Images,
    family: Family,
    n_views: int,
    seed: SeedLike,
    batch_size: int,
    device: DeviceLike,
    keep_params: bool,
) -> Iterator[tuple[slice, torch.Tensor, list[dict[str, dict[str, torch.Tensor]]] | None]]:
    """Yield ``(index_slice, views_chunk, params or None)`` for consecutive chunks of images."""
    x_all = check_images(images)
    device = resolve_device(device, like=x_all)
    n, c, h, w = x_all.shape
    module = get_family(family, image_size=(h, w), channels=c)
    stage_modules = _kornia_stages(module) if isinstance(module, nn.Module) else None
    stages = [_Stage(m) for m in stage_modules] if stage_modules is not None else None
    n_streams = len(stages) if stages is not None else 1
    base = seed_int(seed)
    rng_devices = [device]
    if stage_modules is not None:
        rng_devices += [torch.device(getattr(m, "device", "cpu")) for m in stage_modules]

    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        seeds = _image_seeds(base, start, stop, n_streams)
        x = x_all[start:stop].to(device).repeat_interleave(n_views, dim=0)
        keep: list[dict[str, Any]] | None = (
            [{} for _ in range(stop - start)] if keep_params else None
        )
        with torch.no_grad(), _private_rng(rng_devices) as seed_all:
            if stages is not None:
                for s, stage in enumerate(stages):
                    x = _apply_stage(stage, x, n_views, seeds[:, s], seed_all, keep)
            else:
                x = _apply_opaque(module, x, n_views, seeds[:, 0], seed_all)
        yield slice(start, stop), x.reshape(stop - start, n_views, *x.shape[1:]), keep


#: The parameter constraints of every function that draws views.
DRAW_PARAMETERS = {
    "n_views": [Integral(1, None)],
    "seed": [Seed(), NoneOK],
    "batch_size": [Integral(1, None)],
    "device": [Device(), NoneOK],
}


@validate_params(DRAW_PARAMETERS)
def draw_view_chunks(
    images: Images,
    family: Family,
    n_views: int = DEFAULT_N_VIEWS,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield the views of consecutive chunks of images (memory bounded).

    The views :func:`draw_views` returns, ``batch_size`` images at a time: concatenated, the
    chunks are exactly its result.

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``, C in {1, 3}.
        family: A name from :data:`FAMILIES`, a kornia augmentation, or a callable
            ``f(images, generator) -> images`` (called once per image on its K copies).
        n_views: K, views per image (default :data:`~manifold.settings.DEFAULT_N_VIEWS`, 16,
            as in :func:`~manifold.profile`).
        seed: int, ``numpy.random.Generator`` or ``torch.Generator`` (one draw is taken from a
            generator). Image ``i`` is augmented from ``(seed, i)`` alone.
        batch_size: Images per chunk (a chunk holds ``batch_size * K`` views).
        device: Where views are computed; ``None`` keeps the images' device.

    Yields:
        ``(index_slice, views_chunk)`` with ``views_chunk`` of shape ``(b, K, C, H, W)``
        (float32): the views of ``images[index_slice]``.

    Examples:
        >>> import torch
        >>> x = torch.rand(5, 3, 16, 16)
        >>> [(index.start, chunk.shape[0]) for index, chunk in draw_view_chunks(
        ...     x, "flip", n_views=2, batch_size=2)]
        [(0, 2), (2, 2), (4, 1)]
    """
    for index, chunk, _ in _draw(images, family, n_views, seed, batch_size, device, False):
        yield index, chunk


@validate_params(DRAW_PARAMETERS)
def draw_views(
    images: Images,
    family: Family,
    n_views: int = DEFAULT_N_VIEWS,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
) -> torch.Tensor:
    """Draw K augmented views of every image, each with its own random parameters.

    View ``k`` of image ``i`` is ``a(x_i; θ_ik)`` with ``θ_ik`` drawn from the family's
    distribution by a generator seeded from ``(seed, i)`` only, so the result does not depend
    on ``batch_size`` and the global RNG state is untouched. For memory-bounded streaming of
    large inputs use :func:`draw_view_chunks`; for the sampled parameters,
    :func:`draw_views_with_params`.

    These are images; :func:`manifold.profile` embeds them (its ``view_embeddings=`` argument
    takes embeddings of views drawn beforehand).

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``, C in {1, 3} (numpy or torch).
        family: A name from :data:`FAMILIES`, a kornia augmentation, or a callable
            ``f(images, generator) -> images``.
        n_views: K, views per image (default :data:`~manifold.settings.DEFAULT_N_VIEWS`, 16,
            as in :func:`~manifold.profile`).
        seed: int, ``numpy.random.Generator`` or ``torch.Generator``.
        batch_size: Images augmented at once.
        device: Where views are computed and returned; ``None`` keeps the images' device.

    Returns:
        A float32 tensor of shape ``(N, K, C, H, W)``.

    Examples:
        >>> import torch
        >>> from manifold import draw_views
        >>> x = torch.rand(5, 3, 32, 32)
        >>> v = draw_views(x, "crop", n_views=4, seed=0)
        >>> v.shape
        torch.Size([5, 4, 3, 32, 32])
        >>> bool((draw_views(x, "crop", n_views=4, seed=0, batch_size=2) == v).all())
        True
    """
    chunks = _draw(images, family, n_views, seed, batch_size, device, False)
    return torch.cat([chunk for _, chunk, _ in chunks])


@validate_params(DRAW_PARAMETERS)
def draw_views_with_params(
    images: Images,
    family: Family,
    n_views: int = DEFAULT_N_VIEWS,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
) -> tuple[torch.Tensor, list[dict[str, dict[str, torch.Tensor]]]]:
    """The views of :func:`draw_views` and, per image, the kornia parameters they were drawn with.

    Kornia samples an augmentation's parameters, then applies them; each stage's parameters are
    kept, so that ``module(image_copies, params=...)`` replays a view.

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``, C in {1, 3} (numpy or torch).
        family: A name from :data:`FAMILIES`, a kornia augmentation, or a callable
            ``f(images, generator) -> images``.
        n_views: K, views per image (default :data:`~manifold.settings.DEFAULT_N_VIEWS`, 16,
            as in :func:`~manifold.profile`).
        seed: int, ``numpy.random.Generator`` or ``torch.Generator``.
        batch_size: Images augmented at once.
        device: Where views are computed and returned; ``None`` keeps the images' device.

    Returns:
        The views, a float32 tensor of shape ``(N, K, C, H, W)`` (equal to :func:`draw_views`'s),
        and a list of N dicts mapping ``"<stage index>_<augmentation>"`` to that stage's kornia
        parameters for the K views (empty dicts for callables).

    Examples:
        >>> import torch
        >>> x = torch.rand(2, 3, 32, 32)
        >>> v, params = draw_views_with_params(x, "rotation", n_views=3, seed=0)
        >>> sorted(params[0]), params[0]["0_RandomRotation"]["degrees"].shape
        (['0_RandomRotation'], torch.Size([3]))
    """
    chunks, params = [], []
    for _, chunk, kept in _draw(images, family, n_views, seed, batch_size, device, True):
        chunks.append(chunk)
        params.extend(kept)
    return torch.cat(chunks), params


@validate_params({**DRAW_PARAMETERS, "return_params": [Boolean()]})
def iter_views(
    images: Images,
    family: Family,
    n_views: int = 8,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
    return_params: bool = False,
) -> Iterator[
    tuple[slice, torch.Tensor]
    | tuple[slice, torch.Tensor, list[dict[str, dict[str, torch.Tensor]]]]
]:
    """Deprecated: use :func:`draw_view_chunks`.

    Yields what :func:`draw_view_chunks` yields (with ``return_params=True``, each chunk's
    parameters as a third item, as :func:`draw_views_with_params` returns them), with a
    :class:`DeprecationWarning`, until its removal in the next release.

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``.
        family: A family name, a kornia augmentation or a callable.
        n_views: K, views per image.
        seed: int, ``numpy.random.Generator`` or ``torch.Generator``.
        batch_size: Images per chunk.
        device: Where views are computed; ``None`` keeps the images' device.
        return_params: Also yield, per image, the sampled kornia parameters.

    Returns:
        An iterator of ``(index_slice, views_chunk)``, or ``(index_slice, views_chunk, params)``.
    """
    warn_deprecated("manifold.augment.iter_views(...)", "manifold.augment.draw_view_chunks(...)")
    chunks = _draw(images, family, n_views, seed, batch_size, device, return_params)
    if return_params:
        return iter(chunks)
    return ((index, chunk) for index, chunk, _ in chunks)


@validate_params({**DRAW_PARAMETERS, "return_params": [Boolean()]})
def views(
    images: Images,
    family: Family,
    n_views: int = 8,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
    return_params: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[dict[str, dict[str, torch.Tensor]]]]:
    """Deprecated: use :func:`draw_views` (or :func:`draw_views_with_params`).

    Returns what :func:`draw_views` returns (with ``return_params=True``, what
    :func:`draw_views_with_params` returns), with a :class:`DeprecationWarning`, until its
    removal in the next release. The new name says what it does: it draws augmented *images*,
    while :func:`manifold.profile`'s ``view_embeddings=`` takes their *embeddings*. Its default
    of 8 views is kept; :func:`draw_views` defaults to 16, as :func:`~manifold.profile` does.

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``.
        family: A family name, a kornia augmentation or a callable.
        n_views: K, views per image.
        seed: int, ``numpy.random.Generator`` or ``torch.Generator``.
        batch_size: Images augmented at once.
        device: Where views are computed and returned; ``None`` keeps the images' device.
        return_params: Also return the sampled parameters.

    Returns:
        A float32 tensor of shape ``(N, K, C, H, W)`` (and the parameters when asked).
    """
    args = (images, family, n_views, seed, batch_size)
    if return_params:
        warn_deprecated("views(..., return_params=True)", "draw_views_with_params(...)")
        return draw_views_with_params(*args, device=device)
    warn_deprecated("views(...)", "draw_views(...)")
    return draw_views(*args, device=device)


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
    from manifold._cache import array_fingerprint

    return array_fingerprint(check_images(images, channels=False))
