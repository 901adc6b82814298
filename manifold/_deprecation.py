"""One warning for every deprecated name or argument, kept for one release.

Each old spelling keeps working and gives the same result as the new one, with a
:class:`DeprecationWarning` that names its replacement, and is removed in the next release.
"""

from __future__ import annotations

import warnings

__all__ = ["warn_deprecated"]


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (a :class:`DeprecationWarning`).

    Args:
        old: The deprecated call or argument, as the user wrote it (``"views(...)"``).
        new: What to write instead.
        stacklevel: Frames up to the user's call (3: the caller of the function that warns).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_deprecated("f(flag=True)", "g()", stacklevel=1)
        >>> caught[0].category.__name__, str(caught[0].message)
        ('DeprecationWarning', 'f(flag=True) is deprecated and will be removed in the next release; use g() instead')
    """  # noqa: E501
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new} instead",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
