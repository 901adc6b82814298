"""The docstrings' examples are real doctests, collected with the tests (--doctest-modules)."""

import doctest
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docstring_examples_are_doctests_that_pytest_collects():
    config = (ROOT / "pyproject.toml").read_text()
    assert 'testpaths = ["tests", "manifold"]' in config and "--doctest-modules" in config
    finder = doctest.DocTestFinder()
    count = 0
    for path in sorted((ROOT / "manifold").rglob("*.py")):
        text = path.read_text()
        # an example under any other section title would never run
        assert "    Example:\n" not in text, f"{path.name}: use 'Examples:' so the doctest runs"
        if ">>>" not in text or path.name == "__main__.py":
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        count += sum(bool(t.examples) for t in finder.find(importlib.import_module(name)))
    assert count >= 30
