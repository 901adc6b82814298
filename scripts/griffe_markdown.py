r"""Griffe extension for the docs build: read the package's docstrings as Markdown.

The doctest sections are titled ``Examples:`` (griffe renders them as code blocks and pytest
runs them), but one thing in the package's Google-style docstrings does not render as intended
by default:

* Sphinx roles (``:class:`~manifold.Profile```, ``:math:`\hat m```) and ``.. math::`` blocks,
  which Markdown shows literally.

This extension rewrites each docstring before it is parsed: a role becomes inline code of its
target (the last dotted part with ``~``), and a ``.. math::`` line is dropped so that its
indented formula renders as a code block (a formula on the same line is moved to an indented
line of its own).
Used by ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|obj|exc|math):`(~?)([^`]+)`")
_MATH_BLOCK = re.compile(r"^\s*\.\. math::\s*$", re.MULTILINE)
_MATH_LINE = re.compile(r"^(\s*)\.\. math::\s*(\S.*)$", re.MULTILINE)


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def to_markdown(text: str) -> str:
    """The docstring ``text`` with the rewrites above."""
    text = _ROLE.sub(_role, text)
    text = _MATH_LINE.sub(lambda m: f"\n{m.group(1)}    {m.group(2)}\n", text)
    return _MATH_BLOCK.sub("", text)


class MarkdownDocstrings(griffe.Extension):
    """Rewrite every docstring with :func:`to_markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
