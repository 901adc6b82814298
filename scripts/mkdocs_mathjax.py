"""MkDocs hook: ship MathJax with the site, so formulas render offline (no CDN).

MathJax 3 comes from the ``django-static-mathjax`` package (in the ``docs`` extra; it has no
dependencies and its ``mathjax`` module is only static files). After the build, its CommonHTML
bundle ``tex-chtml.js`` and the woff-v2 fonts are copied to ``<site>/mathjax/``, where
``docs/javascripts/mathjax.js`` points. Used by ``mkdocs.yml``.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.manifold_mathjax")


def mathjax_root() -> Path | None:
    """The ``static/mathjax/es5`` folder of the installed package, or None."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    return root if (root / "tex-chtml.js").is_file() else None


def on_post_build(config: Any, **kwargs: Any) -> None:
    """Copy MathJax's CommonHTML bundle and fonts into the built site."""
    root = mathjax_root()
    if root is None:
        log.warning(
            "MathJax not found: formulas stay raw LaTeX. Install the docs extra "
            "(pip install manifold-geometry[docs], which brings django-static-mathjax)"
        )
        return
    target = Path(config["site_dir"]) / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "tex-chtml.js", target / "tex-chtml.js")
    fonts = root / "output" / "chtml" / "fonts" / "woff-v2"
    shutil.copytree(fonts, target / "fonts", dirs_exist_ok=True)
