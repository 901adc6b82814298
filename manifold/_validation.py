"""Declarative validation of scalar, option and type parameters at the public boundary.

A public function declares what each of its scalar parameters accepts, and
:func:`validate_params` checks every call against the declaration before the body runs::

    @validate_params({"k": [Integral(1, None)], "metric": [Options({"euclidean", "cosine"})]})
    def knn_graph(z, k=10, *, metric="euclidean"): ...

Each parameter maps to a list of constraints; a value is accepted when any one of them accepts
it. A value of the right type that lies outside its range or option set raises
:class:`ValueError`; a value of no accepted type raises :class:`TypeError`. The message names
the function, the parameter, what was expected and what came. Array arguments keep their own
checks (:func:`manifold._checks.as_tensor`): the constraints here are for scalars, options and
types only, and cost one signature binding per call, never per-element work.

Accepted integers come back as :class:`int` (numpy integer types included) and accepted reals
as :class:`float`, so the body sees plain Python numbers. The declarations stay readable:
``func.__wrapped_constraints__`` and :data:`REGISTRY` hold them, and the docs list them.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable as _CallableABC
from collections.abc import Iterable
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = [
    "REGISTRY",
    "Boolean",
    "Callable",
    "Constraint",
    "Device",
    "HasMethod",
    "InstanceOf",
    "Integral",
    "Names",
    "NoneOK",
    "Options",
    "Real",
    "Resamples",
    "Seed",
    "constraints_of",
    "constraints_table",
    "validate_params",
]

F = TypeVar("F", bound=_CallableABC[..., Any])

#: Every validated function by its dotted name (``module.qualname``), in declaration order.
REGISTRY: dict[str, _CallableABC[..., Any]] = {}

_MISSING = object()


class Constraint:
    """What one parameter accepts; a parameter accepts a value when any of its constraints does.

    Subclasses implement :meth:`type_ok` (the value is of the kind this constraint speaks about)
    and optionally :meth:`value_error` (a message when the value is of the right kind but not
    allowed) and :meth:`convert`.
    """

    #: How the expected type reads in a message, e.g. ``"an integer"``.
    expected: str = "a value"

    def type_ok(self, value: Any) -> bool:
        """Whether ``value`` is of the kind this constraint accepts."""
        raise NotImplementedError

    def value_error(self, value: Any) -> str | None:
        """Why a value of the right kind is still refused (``None``: it is accepted)."""
        return None

    def convert(self, value: Any) -> Any:
        """The value the function body receives."""
        return value

    def describe(self) -> str:
        """The whole constraint in words, as the docs list it."""
        return self.expected

    def alternatives(self) -> tuple[str, ...]:
        """The expected kinds, as a type error lists them (``"A, B or C"``)."""
        return (self.expected,)

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        """Values just outside this constraint, with the error each must raise.

        Used by the generated bad-input tests; each value may still be accepted by another
        constraint of the same parameter, which the tests account for.
        """
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class _NoneOK(Constraint):
    expected = "None"

    def type_ok(self, value: Any) -> bool:
        return value is None

    def __repr__(self) -> str:
        return "NoneOK"


#: Accepts ``None`` (a parameter's "choose for me" value).
NoneOK: Constraint = _NoneOK()


class Integral(Constraint):
    """An integer (Python or numpy, not bool) in ``[low, high]``; ``None`` leaves a side open.

    Examples:
        >>> c = Integral(1, None)
        >>> c.type_ok(np.int64(3)), c.type_ok(True), c.value_error(0)
        (True, False, 'must be >= 1, got 0')
    """

    expected = "an integer"

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def type_ok(self, value: Any) -> bool:
        return _is_int(value)

    def value_error(self, value: Any) -> str | None:
        if self.low is not None and value < self.low:
            return f"must be >= {self.low}, got {int(value)}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high}, got {int(value)}"
        return None

    def convert(self, value: Any) -> int:
        return int(value)

    def describe(self) -> str:
        parts = [f">= {self.low}"] if self.low is not None else []
        parts += [f"<= {self.high}"] if self.high is not None else []
        return "an integer" + (" " + " and ".join(parts) if parts else "")

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        out: list[tuple[Any, type[Exception]]] = [
            (1.5, TypeError),
            (True, TypeError),
            ("3", TypeError),
        ]
        if self.low is not None:
            out.append((self.low - 1, ValueError))
        if self.high is not None:
            out.append((self.high + 1, ValueError))
        return out


class Resamples(Integral):
    """A number of resamples: 0 (none) or at least 2 (one resample gives no spread).

    Examples:
        >>> Resamples().value_error(1)
        'must be 0 (no standard errors) or at least 2, got 1'
    """

    def __init__(self) -> None:
        super().__init__(0, None)

    def value_error(self, value: Any) -> str | None:
        if value == 1:
            return "must be 0 (no standard errors) or at least 2, got 1"
        return super().value_error(value)

    def describe(self) -> str:
        return "0 or an integer >= 2"

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return super().invalid_values() + [(1, ValueError)]


class Real(Constraint):
    """A finite real number (not bool) in an interval.

    Args:
        low: Lower end, ``None`` for none.
        high: Upper end, ``None`` for none.
        closed: Which ends belong to the interval: ``"both"``, ``"left"``, ``"right"`` or
            ``"neither"``.

    Examples:
        >>> c = Real(0, None, closed="neither")
        >>> c.value_error(0.0), c.value_error(1e-9), c.value_error(float("nan"))
        ('must be > 0, got 0.0', None, 'must be a finite number, got nan')
    """

    expected = "a real number"

    def __init__(
        self, low: float | None = None, high: float | None = None, *, closed: str = "both"
    ) -> None:
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be one of both, left, right, neither; got {closed!r}")
        self.low, self.high, self.closed = low, high, closed

    def type_ok(self, value: Any) -> bool:
        return _is_real(value)

    def _bounds(self) -> tuple[str | None, str | None]:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        lo = None if self.low is None else (">= " if left else "> ") + f"{self.low}"
        hi = None if self.high is None else ("<= " if right else "< ") + f"{self.high}"
        return lo, hi

    def value_error(self, value: Any) -> str | None:
        v = float(value)
        if not math.isfinite(v):
            return f"must be a finite number, got {v}"
        lo, hi = self._bounds()
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (v < self.low or (v == self.low and not left)):
            return f"must be {lo}, got {v}"
        if self.high is not None and (v > self.high or (v == self.high and not right)):
            return f"must be {hi}, got {v}"
        return None

    def convert(self, value: Any) -> float:
        return float(value)

    def describe(self) -> str:
        parts = [b for b in self._bounds() if b is not None]
        return "a finite real number" + (" " + " and ".join(parts) if parts else "")

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        out: list[tuple[Any, type[Exception]]] = [
            (float("nan"), ValueError),
            (float("inf"), ValueError),
            ("0.5", TypeError),
            (True, TypeError),
        ]
        if self.low is not None:
            left = self.closed in ("both", "left")
            out.append((math.nextafter(self.low, -math.inf) if left else self.low, ValueError))
        if self.high is not None:
            right = self.closed in ("both", "right")
            out.append((math.nextafter(self.high, math.inf) if right else self.high, ValueError))
        return out


class Options(Constraint):
    """One of a fixed set of values, strings by default.

    Args:
        options: The allowed values; the order given is the order messages list them in.
        type: Their type (a value of another type is a :class:`TypeError`).
    """

    def __init__(self, options: Iterable[Any], type: type = str) -> None:  # noqa: A002
        self.options = tuple(options)
        self.type = type
        self.expected = f"one of {self._listing()}"

    def _listing(self) -> str:
        return ", ".join(repr(o) for o in self.options)

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, self.type) and not (
            self.type is not bool and isinstance(value, bool)
        )

    def value_error(self, value: Any) -> str | None:
        if value in self.options:
            return None
        return f"must be one of {self._listing()}; got {value!r}"

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        bad = "no-such-option" if self.type is str else None
        out: list[tuple[Any, type[Exception]]] = [(object(), TypeError)]
        if bad is not None:
            out.append((bad, ValueError))
        return out


class Boolean(Constraint):
    """``True`` or ``False`` (numpy bools included)."""

    expected = "True or False"

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def alternatives(self) -> tuple[str, ...]:
        return ("True", "False")

    def convert(self, value: Any) -> bool:
        return bool(value)

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [("yes", TypeError), (2, TypeError)]


class Seed(Constraint):
    """A non-negative integer, a :class:`numpy.random.Generator` or a :class:`torch.Generator`.

    ``None`` (fresh entropy) is accepted only where the parameter also lists :data:`NoneOK`.
    """

    expected = "an int, a numpy Generator or a torch.Generator"

    def type_ok(self, value: Any) -> bool:
        return _is_int(value) or isinstance(value, (np.random.Generator, torch.Generator))

    def value_error(self, value: Any) -> str | None:
        if _is_int(value) and value < 0:
            return f"must be non-negative, got {int(value)}"
        return None

    def convert(self, value: Any) -> Any:
        return int(value) if _is_int(value) else value

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [(-1, ValueError), (1.5, TypeError), ("0", TypeError)]


_DEVICE_TYPES = ("auto", "cpu", "cuda", "mps")


class Device(Constraint):
    """A device name or a :class:`torch.device`.

    Names: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<index>"``, ``"mps"``; or a
    :class:`torch.device`. Whether this machine has the device is checked where it is resolved
    (:func:`manifold._backend.resolve_device`).
    """

    expected = "a str or a torch.device (auto, cpu, cuda, cuda:<index>, mps)"

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, (str, torch.device))

    def value_error(self, value: Any) -> str | None:
        if isinstance(value, torch.device):
            return None
        name = value.strip().lower()
        if name == "auto":
            return None
        try:
            dev = torch.device(name)
        except RuntimeError:
            dev = None
        if dev is None or dev.type not in _DEVICE_TYPES:
            return (
                f"names an unknown device {value!r}; expected auto, cpu, cuda, cuda:<index>, mps "
                "or a torch.device"
            )
        return None

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [("gpu0", ValueError), (3.0, TypeError)]


class Callable(Constraint):
    """Any callable."""

    expected = "callable"

    def type_ok(self, value: Any) -> bool:
        return callable(value)

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [(3.0, TypeError)]


class Names(Constraint):
    """A name (``str``) or an iterable of names; a bare string is one name, not its letters.

    A list, tuple or set is checked item by item (a non-string item is a type error); other
    iterables are not consumed here.
    """

    expected = "a name (str) or an iterable of names"

    def type_ok(self, value: Any) -> bool:
        if isinstance(value, str):
            return True
        if isinstance(value, (list, tuple, set, frozenset)):
            return all(isinstance(v, str) for v in value)
        return isinstance(value, Iterable) and not isinstance(value, (bytes, torch.Tensor))

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [(3, TypeError), ([1, 2], TypeError)]


class InstanceOf(Constraint):
    """An instance of one of the given classes."""

    def __init__(self, *types: type, name: str | None = None) -> None:
        self.types = types
        self.expected = name or " or ".join(f"a {t.__name__}" for t in types)

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [(object(), TypeError)]


class HasMethod(Constraint):
    """An object with a callable method of this name (duck typing, e.g. a splitter's ``split``).

    Any object is of the kind this constraint speaks about, so one without the method is a
    wrong value (:class:`ValueError`), not a wrong type.
    """

    def __init__(self, method: str, name: str | None = None) -> None:
        self.method = method
        self.expected = name or f"an object with a .{method}() method"

    def type_ok(self, value: Any) -> bool:
        return value is not None

    def value_error(self, value: Any) -> str | None:
        if not isinstance(value, (str, bool)) and callable(getattr(value, self.method, None)):
            return None
        return f"must be {self.expected}; {value!r} has no .{self.method}() method"

    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        return [("loo", ValueError), (object(), ValueError)]


def _public_name(func: _CallableABC[..., Any]) -> str:
    qual = func.__qualname__.rpartition("<locals>.")[2]
    return qual[: -len(".__init__")] if qual.endswith(".__init__") else qual


def _check(fname: str, pname: str, value: Any, constraints: list[Constraint]) -> Any:
    """The value as the body receives it, or an error naming ``fname`` and ``pname``."""
    value_errors = []
    for c in constraints:
        if c.type_ok(value):
            why = c.value_error(value)
            if why is None:
                return c.convert(value)
            value_errors.append(why)
    if value_errors:
        raise ValueError(f"{fname}: {pname} {value_errors[0]}")
    parts = [part for c in constraints for part in c.alternatives()]
    expected = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    shown = repr(value) if isinstance(value, (str, numbers.Number)) else type(value).__name__
    raise TypeError(f"{fname}: {pname} must be {expected}, got {shown}")


# The wrapper's frame sits between a user's call and the function body, where warnings are
# raised with a ``stacklevel`` that counts frames up to the user's line. CPython's warnings skip
# frames whose file name contains both "importlib" and "_bootstrap" when counting (the import
# machinery's own frames), so the wrapper is compiled under such a name: a warning raised in a
# validated function still points at the line that called it, as it did before validation.
_WRAPPER_FILE = "<manifold._validation wrapper: importlib._bootstrap-style frame>"
_WRAPPER_CODE = compile(
    """
def wrapper(*args, **kwargs):
    if len(args) > _n_positional:  # extra positionals (*args): bind them to their names
        bound = _sig.bind(*args, **kwargs)
        arguments = bound.arguments
        for name, constraints in _declared.items():
            if name in arguments:
                arguments[name] = _check(_fname, name, arguments[name], constraints)
        return _func(*bound.args, **bound.kwargs)
    # the usual call: each declared parameter is a keyword or sits at its position
    new_args = new_kwargs = None
    for name, constraints, position in _plan:
        if name in kwargs:
            value = kwargs[name]
        elif position < len(args):
            value = args[position]
        else:
            continue  # the default: the function's own value
        new = _check(_fname, name, value, constraints)
        if new is not value and type(new) is not type(value):
            if name in kwargs:
                new_kwargs = dict(kwargs) if new_kwargs is None else new_kwargs
                new_kwargs[name] = new
            else:
                new_args = list(args) if new_args is None else new_args
                new_args[position] = new
    if new_args is not None or new_kwargs is not None:
        args = args if new_args is None else tuple(new_args)
        kwargs = kwargs if new_kwargs is None else new_kwargs
    return _func(*args, **kwargs)
""",
    _WRAPPER_FILE,
    "exec",
)


def validate_params(constraints: dict[str, list[Constraint]]) -> _CallableABC[[F], F]:
    """Decorate a function so that every call checks its parameters against ``constraints``.

    Args:
        constraints: For each parameter name, the constraints of which any one must accept the
            value. Parameters left out are not checked here.

    Returns:
        A decorator; the decorated function keeps the original's name, docstring and signature
        (:func:`functools.wraps`), records the declaration in ``__wrapped_constraints__`` and in
        :data:`REGISTRY`.

    Raises:
        TypeError: at decoration time, when a declared name is not a parameter of the function.

    Examples:
        >>> @validate_params({"k": [Integral(1, None)]})
        ... def top(k=1):
        ...     return k
        >>> top(3), top(np.int64(2))
        (3, 2)
        >>> top(0)
        Traceback (most recent call last):
        ...
        ValueError: top: k must be >= 1, got 0
    """

    def decorate(func: F) -> F:
        sig = inspect.signature(func)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"{func.__qualname__} has no parameter(s) {sorted(unknown)}")
        empty = sorted(name for name, cs in constraints.items() if not cs)
        if empty:
            raise TypeError(f"{func.__qualname__}: no constraint given for {empty}")
        fname = _public_name(func)
        declared = {name: list(cs) for name, cs in constraints.items()}

        params = list(sig.parameters.values())
        positional = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
        huge = 1 << 30  # keyword-only: never at a position
        plan = [
            (name, cs, positional.index(name) if name in positional else huge)
            for name, cs in declared.items()
        ]
        namespace = {
            "_n_positional": len(positional) if has_varargs else huge,
            "_plan": plan,
            "_sig": sig,
            "_declared": declared,
            "_func": func,
            "_fname": fname,
            "_check": _check,
            "_MISSING": _MISSING,
        }
        exec(_WRAPPER_CODE, namespace)  # noqa: S102 - fixed code, compiled once at import
        wrapper = functools.wraps(func)(namespace["wrapper"])

        wrapper.__wrapped_constraints__ = declared  # type: ignore[attr-defined]
        REGISTRY[f"{func.__module__}.{func.__qualname__}"] = wrapper
        return wrapper  # type: ignore[return-value]

    return decorate


def constraints_table() -> str:
    """The registered declarations as a Markdown table, one row per parameter (for the docs).

    Lists the functions registered so far: import the modules first.
    """
    rows = ["| Function | Parameter | Accepts |", "| --- | --- | --- |"]
    for key in sorted(k for k in REGISTRY if k.startswith("manifold.")):
        declared = REGISTRY[key].__wrapped_constraints__  # type: ignore[attr-defined]
        module = key[: -len(REGISTRY[key].__qualname__) - 1]
        name = _public_name(REGISTRY[key])
        for param, constraints in declared.items():
            accepts = " or ".join(c.describe() for c in constraints)
            accepts = accepts.replace("<", "&lt;").replace("|", "\\|")
            rows.append(f"| `{module}.{name}` | `{param}` | {accepts} |")
    return "\n".join(rows) + "\n"


def constraints_of(func: Any) -> dict[str, list[Constraint]] | None:
    """The declared constraints of a function or a class (its ``__init__``), if any."""
    target = func.__init__ if inspect.isclass(func) else func
    return getattr(target, "__wrapped_constraints__", None)
