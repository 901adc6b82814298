"""Input validation shared by every public function.

Every public entry point turns its array arguments into a :class:`torch.Tensor` through
:func:`as_tensor`, which checks the shape against named dimensions, the dtype, the device and
the values, and raises an error that says what was expected and what came. The returned
:class:`ArrayInfo` records how the caller passed the array (kind, dtype, device). Results are
plain floats, numpy arrays and result objects, whatever the input's array type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "ArrayInfo",
    "DegenerateWarning",
    "all_finite",
    "as_tensor",
    "check_choice",
    "check_int",
    "check_names",
    "check_positive",
    "degenerate",
    "to_numpy",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


class DegenerateWarning(UserWarning):
    """A metric is undefined on this (valid) input, e.g. collapsed embeddings; it returned NaN.

    Collapse is a result, not an error: a sweep over checkpoints must not die at the collapsed
    one. Filter it like any warning (``warnings.simplefilter("error", DegenerateWarning)`` to
    stop at the first one).
    """


def degenerate(message: str, value: float = float("nan"), stacklevel: int = 3) -> float:
    """Warn that a metric is undefined on this input (:class:`DegenerateWarning`); return NaN.

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     degenerate("the covariance is zero")
        nan
    """
    import warnings

    warnings.warn(message, DegenerateWarning, stacklevel=stacklevel)
    return value


@dataclass(frozen=True)
class ArrayInfo:
    """How an array argument came in: its library, dtype and device.

    Attributes:
        kind: ``"numpy"`` or ``"torch"``.
        dtype: The original dtype (a numpy or torch dtype).
        device: The torch device the values live on (``cpu`` for numpy input).
    """

    kind: str
    dtype: Any
    device: torch.device


def _describe_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _expected_shape(dims: Sequence[str]) -> str:
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def as_tensor(
    x: Any,
    name: str,
    dims: Sequence[str] = ("N", "D"),
    *,
    min_sizes: dict[str, int] | None = None,
    dtype: torch.dtype | None = None,
    check_finite: bool = True,
) -> tuple[torch.Tensor, ArrayInfo]:
    """Validate an array argument and return it as a floating-point torch tensor.

    Args:
        x: A numpy array (memmaps included), a torch tensor, or anything ``numpy.asarray``
            accepts.
        name: The argument's name, used in error messages.
        dims: Names of the expected dimensions, e.g. ``("N", "D")``; fixes the number of axes.
        min_sizes: Smallest allowed size per named dimension, e.g. ``{"N": 2}``.
        dtype: Floating dtype to compute in. ``None`` keeps float32/float64 and upcasts
            float16/bfloat16 to float32 and integers to float64.
        check_finite: Reject NaN and infinite values.

    Returns:
        The tensor (on the input's device, detached, not necessarily a copy) and the
        :class:`ArrayInfo` describing the input.

    Raises:
        TypeError: for non-numeric, boolean or complex input, or a tensor on the meta device.
        ValueError: for a wrong number of axes, a dimension below its minimum, or non-finite
            values (the message gives their count and the first offending index along the
            first axis).
    """
    if isinstance(x, torch.Tensor):
        info = ArrayInfo("torch", x.dtype, x.device)
        if x.device.type == "meta":
            raise TypeError(
                f"{name} is a tensor on the meta device, which holds no values; "
                "materialise it (e.g. with .to('cpu')) first"
            )
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except Exception as err:  # noqa: BLE001 - any conversion failure is a type error here
            got = type(x).__name__
            raise TypeError(f"{name} must be an array (numpy or torch), got {got}") from err
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
        info = ArrayInfo("numpy", arr.dtype, torch.device("cpu"))
        if arr.dtype.kind == "c":
            raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
        if arr.dtype.kind == "b":
            raise TypeError(f"{name} must be floating point or integer, got dtype bool")
        if arr.dtype.kind in "iu" or arr.dtype == np.float16:
            arr = arr.astype(np.float64 if arr.dtype.kind in "iu" else np.float32)
        elif not arr.flags.writeable or not arr.flags.c_contiguous:
            # torch.from_numpy refuses read-only arrays and we want contiguous rows
            arr = np.ascontiguousarray(arr)
            if not arr.flags.writeable:
                arr = arr.copy()
        t = torch.from_numpy(arr)

    if t.is_complex():
        raise TypeError(f"{name} must be real-valued, got complex dtype {t.dtype}")
    if t.dtype == torch.bool:
        raise TypeError(f"{name} must be floating point or integer, got dtype torch.bool")

    if t.ndim != len(dims):
        raise ValueError(
            f"expected {name} of shape {_expected_shape(dims)}, got {_describe_shape(t.shape)}"
        )
    for dim_name, size in zip(dims, t.shape, strict=True):
        if size == 0:
            raise ValueError(
                f"{name} is empty: dimension {dim_name} has size 0 "
                f"(shape {_describe_shape(t.shape)})"
            )
    if min_sizes:
        for dim_name, minimum in min_sizes.items():
            axis = list(dims).index(dim_name)
            if t.shape[axis] < minimum:
                raise ValueError(
                    f"{name} needs {dim_name} >= {minimum}, got {dim_name} = {t.shape[axis]} "
                    f"(shape {_describe_shape(t.shape)})"
                )

    if dtype is None:
        if t.dtype in _LOW_PRECISION:
            dtype = torch.float32
        elif t.dtype in (torch.float32, torch.float64):
            dtype = t.dtype
        else:
            dtype = torch.float64
    if t.dtype != dtype:
        t = t.to(dtype)

    if check_finite:
        _check_finite(t, name)
    return t, info


def all_finite(t: torch.Tensor) -> bool:
    """Whether every value of a floating tensor is finite.

    Fast path: a NaN or an infinity anywhere makes the sum NaN or infinite (IEEE arithmetic),
    so a finite sum proves every value finite; a plain reduction is about 100x faster than
    materialising ``isfinite``. A non-finite sum (which finite values can also give, by
    overflow) falls back to the exact elementwise test.
    """
    if t.numel() == 0 or bool(torch.isfinite(t.sum())):
        return True
    return bool(torch.isfinite(t).all())


def _check_finite(t: torch.Tensor, name: str) -> None:
    if all_finite(t):
        return
    finite = torch.isfinite(t)
    n_nan = int(torch.isnan(t).sum())
    n_inf = int((~finite).sum()) - n_nan
    bad_rows = (~finite).reshape(t.shape[0], -1).any(dim=1).nonzero()
    first = int(bad_rows[0, 0])
    parts = []
    if n_nan:
        parts.append(f"{n_nan} NaN value{'s' if n_nan != 1 else ''}")
    if n_inf:
        parts.append(f"{n_inf} infinite value{'s' if n_inf != 1 else ''}")
    raise ValueError(f"{name} contains {' and '.join(parts)} (first at row {first})")


def to_numpy(x: Any) -> np.ndarray:
    """Return a numpy view or copy of a numpy array or torch tensor (CPU, detached)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Check that ``value`` is an integer within ``[minimum, maximum]`` and return it."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite real number > 0 (or >= 0) and return it as float."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_names(value: str | Iterable[str], name: str) -> list[str]:
    """A list of names from one name or an iterable of names; a bare string is one name.

    Iterating a string would give its letters (``"sweep"`` -> ``['s', 'w', 'e', ...]``), so a
    parameter that takes several names reads ``"sweep"`` as ``["sweep"]``.

    Raises:
        TypeError: neither a string nor an iterable of strings (the message names ``name``).

    Examples:
        >>> check_names("sweep", "names"), check_names(("a", "b"), "names")
        (['sweep'], ['a', 'b'])
    """
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Iterable) or isinstance(value, bytes):
        raise TypeError(f"{name} must be a name (str) or an iterable of names, got {value!r}")
    names = list(value)
    odd = [v for v in names if not isinstance(v, str)]
    if odd:
        raise TypeError(f"{name} must hold names (str), got {odd[0]!r} ({type(odd[0]).__name__})")
    return names


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` and return it."""
    choices = tuple(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value
