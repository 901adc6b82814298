"""The report gives numbers with their meaning (issue 17): verdicts, units, settings, version.

Each test failed on the report before the fix.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import manifold
from manifold import profile
from manifold.profiling import Profile
from manifold.report import METRIC_GUIDE, write_report


def _one_model(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((60, 8))
    views = z[:, None, :] + 0.2 * rng.standard_normal((60, 3, 8))
    prof = profile(z, views={"crop": views}, k=5, name="mine", progress=False)
    return prof, write_report(prof, tmp_path / "report.html").read_text()


def _section(page: str, section: str) -> str:
    start = page.index(f'id="{section}"')
    nxt = page.find("<h2", start)
    return page[start : nxt if nxt > 0 else len(page)]


def test_no_one_by_one_heat_map_for_one_model(tmp_path):
    _, page = _one_model(tmp_path)
    invariance = _section(page, "invariance")
    # before: a 1x1 heat map per metric for one model and one family
    assert "<img" not in invariance
    assert "<table" in invariance and "spread ratio" in invariance


def test_invariance_verdict(tmp_path):
    _, page = _one_model(tmp_path)
    # before: heat maps without a sentence saying what they mean
    assert re.search(r"<b>Verdict.</b> Spread ratio \(lower = more invariant.*crop: mine",
                     _section(page, "invariance"))  # fmt: skip


def test_units_and_direction_of_every_metric(tmp_path):
    prof, page = _one_model(tmp_path)
    # before: no unit or direction anywhere (higher is better? degrees?)
    assert set(prof.table["metric"]) <= set(METRIC_GUIDE)
    assert "degrees (0..90)" in page and "lower: more invariant" in page


def test_settings_are_a_table_with_the_version(tmp_path):
    _, page = _one_model(tmp_path)
    settings = _section(page, "settings")
    # before: settings as prose ("mode=embeddings, n_images=60, ..."), no package version
    assert "<table" in settings and "n_images=" not in settings
    assert f"manifold {manifold.__version__}" in page


def test_poor_alpha_fit_is_flagged(tmp_path):
    table = pd.DataFrame(
        [["a", "semantic", "alpha", "value", 1.3], ["a", "semantic", "alpha_r2", "value", 0.42]],
        columns=["model", "manifold", "metric", "statistic", "value"],
    )
    page = write_report(Profile(table, {"a": {}}), tmp_path / "r.html").read_text()
    # before: alpha = 1.3 shown as a result with nothing said about its R² of 0.42
    assert "fits the eigenspectrum poorly for a (R² = 0.42)" in page


def test_value_of_an_unknown_metric_lists_the_valid_names(tmp_path):
    import pytest

    prof, _ = _one_model(tmp_path)
    # before: KeyError "expected one row ... found 0", with no valid names
    with pytest.raises(KeyError, match=r"no metric 'rank_me' in this profile; valid: .*'rankme'"):
        prof.value("rank_me")
    with pytest.raises(KeyError, match=r"no manifold 'blur'.*valid: \['crop', 'semantic'\]"):
        prof.value("spread_ratio", manifold="blur")


def test_docstring_math_becomes_arithmatex_delimiters():
    import importlib.util
    from pathlib import Path

    # the docs build's extension: griffe comes with the docs extra (CI installs it), not with
    # the test extra the README's test command installs
    pytest.importorskip("griffe")

    path = Path(__file__).parents[1] / "scripts" / "griffe_markdown.py"
    spec = importlib.util.spec_from_file_location("griffe_markdown", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "With :math:`\\hat m` and\n\n    .. math::\n        a_i = b_i\n\n    done"
    out = module.to_markdown(text)
    # before: the role became inline code and the block a code block (raw LaTeX on the page)
    assert "\\(\\hat m\\)" in out
    assert "    \\[ a_i = b_i \\]" in out and out.rstrip().endswith("done")
