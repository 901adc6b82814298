"""Griffe extension for the docs build: read ``Example:`` sections as doctest examples.

The package's Google-style docstrings title their doctest section ``Example:``. Griffe parses
only ``Examples:`` as an examples section (``>>>`` lines become code blocks); ``Example:`` is
read as an admonition whose ``>>>`` lines render as nested quotes. This extension renames the
section title before the docstring is parsed. Used by ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_TITLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSection(griffe.Extension):
    """Rename ``Example:`` to ``Examples:`` in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = _TITLE.sub(r"\1Examples:", obj.docstring.value)
