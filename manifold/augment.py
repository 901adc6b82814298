"""Augmentation families built on kornia, with reproducible per-sample views.

A *family* is a named, documented set of random image transformations (``crop``, ``color``,
``rotation``, ``flip``, ``blur`` and the SimCLR-style composition ``ssl``). :func:`views` draws
``K`` views of every image; each view of each image gets its own random parameters.

Reproducibility rule: the randomness of image ``i`` comes only from ``(seed, i)``. Its parameters
are sampled under :func:`torch.random.fork_rng` with a seed derived from
``numpy.random.SeedSequence(seed, spawn_key=(i,))``, one independent stream per stage of the
family. The views therefore do not depend on ``batch_size``, on which other images are in the
batch, or on the device, and the global torch and numpy RNG states are left untouched.

Sampling is separate from applying (kornia's ``forward_parameters`` then ``aug(x, params=...)``):
parameters are drawn image by image, merged, and applied to a whole batch at once. Stages whose
parameters contain values shared by a batch (kornia's ``ColorJitter`` draws one random order of
its four adjustments per call) are applied to groups of images that share those values, so
every image keeps its own order. ``RandomResizedCrop``, whose kornia sampler is slow per call,
is sampled for a whole chunk at once from per-image ``torch.Generator`` draws that reproduce
kornia's parameters exactly (see :class:`_ResizedCropSampler`).
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
from manifold.settings import default_n_views
from manifold.typing import AugmentFn, DeviceLike, Family, Images, SeedLike

__all__ = [
    "FAMILIES",
    "FAMILY_PARAMETERS",
    "check_families",
    "describe_family",
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
    from kornia.augmentation.base import _BasicAugmentationBase
    from kornia.augmentation.container.image import ImageSequential

    if isinstance(family, _BasicAugmentationBase):
        return [family]
    if isinstance(family, ImageSequential) and not family.random_apply:
        children = list(family.children())
        if children and all(isinstance(c, _BasicAugmentationBase) for c in children):
            return children
    return None


class _Stage:
    """One kornia augmentation, sampled per image and applied per batch."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._batch_keys: dict[tuple[int, ...], frozenset[str]] = {}
        self.sampler = _ResizedCropSampler(module) if _ResizedCropSampler.supports(module) else None

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


class _ResizedCropSampler:
    """Kornia's ``RandomResizedCrop`` parameters for a whole batch, each image from its own seed.

    kornia's ``forward_parameters`` costs ~0.7 ms per call (many small tensor operations), which
    dominated the ``crop`` family when called once per image. This sampler draws, for image j, the
    same four uniform tensors kornia draws from the global generator, in the same order, from a
    ``torch.Generator`` seeded with the image's seed, and then runs kornia's arithmetic on the
    stacked draws of all images at once. The result equals kornia's ``forward_parameters`` under
    the same seed bit for bit (tested): only exactly rounded operations (+, x, /, sqrt, round,
    floor, comparisons) run batched; ``exp``, whose vectorised and scalar kernels may differ in the
    last bit, runs per image on the same (K, 10) shape as in kornia, so no value depends on the
    batch composition.
    """

    def __init__(self, module: nn.Module) -> None:
        gen = module._param_generator
        self.scale = gen.scale
        self.ratio = gen.ratio
        self.output_size = tuple(gen.output_size)
        self.log_low = gen.log_ratio_sampler.low
        self.log_high = gen.log_ratio_sampler.high
        self.generator = torch.Generator()

    @staticmethod
    def supports(module: nn.Module) -> bool:
        """True for a per-sample, always-applied ``RandomResizedCrop`` sampling float32 on CPU."""
        from kornia.augmentation import RandomResizedCrop

        if type(module) is not RandomResizedCrop:
            return False
        gen = getattr(module, "_param_generator", None)
        low = getattr(getattr(gen, "rand_sampler", None), "low", None)
        log_low = getattr(getattr(gen, "log_ratio_sampler", None), "low", None)
        return (
            module.p == 1.0
            and module.p_batch == 1.0
            and not module.same_on_batch
            and isinstance(low, torch.Tensor)
            and isinstance(log_low, torch.Tensor)
            and low.dtype == torch.float32
            and low.device.type == "cpu"
            and log_low.dtype == torch.float32
            and log_low.device.type == "cpu"
            and getattr(gen, "resize_to", None) is not None
        )

    def batch(
        self, seeds: np.ndarray, n_views: int, sample_shape: tuple[int, ...]
    ) -> dict[str, torch.Tensor]:
        """Parameters of ``len(seeds) * n_views`` crops; image j's rows are j*K..(j+1)*K-1."""
        from kornia.geometry.bbox import bbox_generator

        height, width = sample_shape[-2], sample_shape[-1]
        gen = self.generator
        area_draws, aspects, x_draws, y_draws = [], [], [], []
        span = self.log_high - self.log_low
        for s in seeds:
            gen.manual_seed(int(s))
            area_draws.append(torch.rand((n_views, 10), generator=gen))
            log_ratio = self.log_low + torch.rand((n_views, 10), generator=gen) * span
            aspects.append(torch.exp(log_ratio))
            x_draws.append(torch.rand((n_views,), generator=gen))
            y_draws.append(torch.rand((n_views,), generator=gen))
        rand_tensor = torch.cat(area_draws)
        aspect_ratio = torch.cat(aspects)
        batch_size = rand_tensor.shape[0]

        # kornia.augmentation.random_generator.ResizedCropGenerator.forward, batched
        scale = torch.as_tensor(self.scale, dtype=torch.float32)
        area = (rand_tensor * (scale[1] - scale[0]) + scale[0]) * height * width
        w = torch.sqrt(area * aspect_ratio).round().floor()
        h = torch.sqrt(area / aspect_ratio).round().floor()
        cond = ((0 < w) * (w <= width) * (0 < h) * (h <= height)).int()
        cond_bool, first = ((cond.cumsum(1) == 1) & cond.bool()).int().max(1)
        cond_bool = cond_bool.bool()
        rows = torch.arange(batch_size)
        h_out, w_out = h[rows, first], w[rows, first]
        in_ratio = float(width) / float(height)
        ratio = self.ratio
        r_min = float(ratio.min()) if isinstance(ratio, torch.Tensor) else min(ratio)
        r_max = float(ratio.max()) if isinstance(ratio, torch.Tensor) else max(ratio)
        if in_ratio < r_min:
            w_ct = torch.full((), width, dtype=torch.float32)
            h_ct = torch.round(w_ct / r_min)
        elif in_ratio > r_max:
            h_ct = torch.full((), height, dtype=torch.float32)
            w_ct = torch.round(h_ct * r_max)
        else:
            h_ct = torch.full((), height, dtype=torch.float32)
            w_ct = torch.full((), width, dtype=torch.float32)
        h_out = torch.where(cond_bool, h_out, h_ct.floor()).clamp(min=1, max=height)
        w_out = torch.where(cond_bool, w_out, w_ct.floor()).clamp(min=1, max=width)

        # CropGenerator._crop_parameters with the drawn sizes
        size = torch.stack([h_out, w_out], dim=1).floor()
        x_diff = (width - size[:, 1] + 1).clamp(0)
        y_diff = (height - size[:, 0] + 1).clamp(0)
        x_start = (torch.cat(x_draws) * x_diff).floor()
        y_start = (torch.cat(y_draws) * y_diff).floor()
        src = bbox_generator(
            x_start,
            y_start,
            torch.where(size[:, 1] == 0, torch.full((), float(width)), size[:, 1]),
            torch.where(size[:, 0] == 0, torch.full((), float(height)), size[:, 0]),
        )
        out_h, out_w = self.output_size
        dst = torch.tensor(
            [[[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]]],
            dtype=torch.float32,
        ).repeat(batch_size, 1, 1)
        return {
            "src": src,
            "dst": dst,
            "input_size": torch.tensor([height, width]).expand(batch_size, -1),
            "output_size": torch.tensor([out_h, out_w]).expand(batch_size, -1),
            "batch_prob": torch.ones(batch_size),
            "forward_input_shape": torch.tensor([batch_size, *sample_shape]),
        }


def _split_params(
    merged: dict[str, torch.Tensor], n_images: int, n_views: int, sample_shape: tuple[int, ...]
) -> list[dict[str, torch.Tensor]]:
    """Per-image parameters (K rows each) from a batch's parameters."""
    out = []
    for j in range(n_images):
        rows = slice(j * n_views, (j + 1) * n_views)
        params = {k: v[rows] for k, v in merged.items() if k != "forward_input_shape"}
        params["forward_input_shape"] = torch.tensor([n_views, *sample_shape])
        out.append(params)
    return out


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
    if stage.sampler is not None:
        merged = stage.sampler.batch(seeds, n_views, sample_shape)
        if keep is not None:
            split = _split_params(merged, len(seeds), n_views, sample_shape)
            for store, params in zip(keep, split, strict=True):
                store[_stage_name(stage.module, len(store))] = params
        params = {k: v if k == "forward_input_shape" else v.to(x.device) for k, v in merged.items()}
        return stage.module(x, params=params)
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


def iter_views(
    images: Images,
    family: Family,
    n_views: int | None = None,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
    return_params: bool = False,
) -> Iterator[
    tuple[slice, torch.Tensor]
    | tuple[slice, torch.Tensor, list[dict[str, dict[str, torch.Tensor]]]]
]:
    """Yield the views of consecutive chunks of images (memory bounded).

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``, C in {1, 3}.
        family: A name from :data:`FAMILIES`, a kornia augmentation, or a callable
            ``f(images, generator) -> images`` (called once per image on its K copies).
        n_views: K, views per image. ``None`` (the default): 8, with a ``FutureWarning``
            that the default becomes :data:`~manifold.settings.DEFAULT_N_VIEWS` (16) in the
            next release.
        seed: int, ``numpy.random.Generator`` or ``torch.Generator`` (one draw is taken from a
            generator). Image ``i`` is augmented from ``(seed, i)`` alone.
        batch_size: Images per chunk (a chunk holds ``batch_size * K`` views).
        device: Where views are computed; ``None`` keeps the images' device.
        return_params: Also yield, per image, the sampled kornia parameters.

    Yields:
        ``(index_slice, views_chunk)`` with ``views_chunk`` of shape ``(b, K, C, H, W)`` (float32),
        or ``(index_slice, views_chunk, params)`` when ``return_params``.
    """
    x_all = check_images(images)
    n_views = check_int(default_n_views(n_views, 8, "iter_views"), "n_views", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
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
            [{} for _ in range(stop - start)] if return_params else None
        )
        with torch.no_grad(), _private_rng(rng_devices) as seed_all:
            if stages is not None:
                for s, stage in enumerate(stages):
                    x = _apply_stage(stage, x, n_views, seeds[:, s], seed_all, keep)
            else:
                x = _apply_opaque(module, x, n_views, seeds[:, 0], seed_all)
        chunk = x.reshape(stop - start, n_views, *x.shape[1:])
        if return_params:
            yield slice(start, stop), chunk, keep
        else:
            yield slice(start, stop), chunk


def views(
    images: Images,
    family: Family,
    n_views: int | None = None,
    seed: SeedLike = 0,
    batch_size: int = 256,
    *,
    device: DeviceLike = None,
    return_params: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[dict[str, dict[str, torch.Tensor]]]]:
    """Draw K augmented views of every image, each with its own random parameters.

    View ``k`` of image ``i`` is ``a(x_i; θ_ik)`` with ``θ_ik`` drawn from the family's
    distribution by a generator seeded from ``(seed, i)`` only, so the result does not depend
    on ``batch_size`` and the global RNG state is untouched. For memory-bounded streaming of
    large inputs use :func:`iter_views`.

    Args:
        images: Float images in [0, 1], shape ``(N, C, H, W)``, C in {1, 3} (numpy or torch).
        family: A name from :data:`FAMILIES`, a kornia augmentation, or a callable
            ``f(images, generator) -> images``.
        n_views: K, views per image. ``None`` (the default): 8, with a ``FutureWarning``
            that the default becomes :data:`~manifold.settings.DEFAULT_N_VIEWS` (16) in the
            next release.
        seed: int, ``numpy.random.Generator`` or ``torch.Generator``.
        batch_size: Images augmented at once.
        device: Where views are computed and returned; ``None`` keeps the images' device.
        return_params: Also return the sampled parameters: a list of N dicts mapping
            ``"<stage index>_<augmentation>"`` to that stage's kornia parameters for the K views
            (empty dicts for callables).

    Returns:
        A float32 tensor of shape ``(N, K, C, H, W)`` (and the parameters when asked).

    Examples:
        >>> import torch
        >>> from manifold import views
        >>> x = torch.rand(5, 3, 32, 32)
        >>> v = views(x, "crop", n_views=4, seed=0)
        >>> v.shape
        torch.Size([5, 4, 3, 32, 32])
        >>> bool((views(x, "crop", n_views=4, seed=0, batch_size=2) == v).all())
        True
    """
    n_views = default_n_views(n_views, 8, "views")
    chunks, params = [], []
    for item in iter_views(
        images,
        family,
        n_views,
        seed,
        batch_size,
        device=device,
        return_params=return_params,
    ):
        chunks.append(item[1])
        if return_params:
            params.extend(item[2])
    out = torch.cat(chunks)
    return (out, params) if return_params else out


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
