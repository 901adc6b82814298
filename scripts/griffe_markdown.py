r"""Griffe extension for the docs build: read the package's docstrings as Markdown.

The doctest sections are titled ``Examples:`` (griffe renders them as code blocks and pytest
runs them), but one thing in the package's Google-style docstrings does not render as intended
by default:

* Sphinx roles (``:class:`~manifold.Profile```, ``:math:`\hat m```) and ``.. math::`` blocks,
  which Markdown shows literally.

This extension rewrites each docstring before it is parsed: a role becomes inline code of its
target (the last dotted part with ``~``), a ``:math:`` role becomes ``\( ... \)`` and a
``.. math::`` block (or a formula on the directive's line) becomes ``\[ ... \]``, which
pymdownx.arithmatex marks and MathJax renders (shipped with the site, see
``scripts/mkdocs_mathjax.py``).
Used by ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|obj|exc):`(~?)([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _math_blocks(text: str) -> str:
    r"""Each ``.. math::`` directive and its indented formula as a ``\[ ... \]`` block."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent, formula = match.group(1), [match.group(2).strip()]
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            formula.append(lines[i].strip())
            i += 1
        body = " ".join(f for f in formula if f)
        out.extend(["", f"{indent}\\[ {body} \\]", ""])
    return "\n".join(out)


def to_markdown(text: str) -> str:
    """The docstring ``text`` with the rewrites above."""
    text = _MATH_ROLE.sub(lambda m: f"\\({m.group(1)}\\)", text)
    text = _ROLE.sub(_role, text)
    return _math_blocks(text)


class MarkdownDocstrings(griffe.Extension):
    """Rewrite every docstring with :func:`to_markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
