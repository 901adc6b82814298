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
    prof = profile(z, view_embeddings={"crop": views}, k=5, name="mine", progress=False)
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


# -- the report tells the right thing (own checkpoints, tried as a new user would) ----------
def _thead_rows(table_html: str) -> int:
    head = table_html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return head.count("<tr")


def test_tables_have_one_header_row(tmp_path):
    _, page = _one_model(tmp_path)
    summary = _section(page, "summary")
    # before: an empty "model" row under the metric names
    assert _thead_rows(summary) == 1
    assert "<th>model</th>" in summary


def test_settings_keep_their_names_and_values(tmp_path):
    rng = np.random.default_rng(0)
    profs = [profile(rng.standard_normal((40, 6)), k=k, name=f"net_{k}", progress=False)
             for k in (5, 7)]  # fmt: skip
    page = write_report(Profile.concat(profs), tmp_path / "r.html").read_text()
    settings = _section(page, "settings")
    # before: model columns "net 5" (underscores stripped) and every cell "–"
    assert "<th>net_5</th>" in settings and "<th>net_7</th>" in settings
    assert re.search(r"<td>k</td>\s*<td>5</td>\s*<td>7</td>", settings)
    assert re.search(r"<td>n_images</td>\s*<td>40</td>", settings)


def test_header_shows_the_command_that_wrote_the_report(tmp_path):
    from manifold.cli import main

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        prof = profile(rng.standard_normal((40, 6)) * (i + 1), k=5, name=f"m{i}", progress=False)
        prof.settings[f"m{i}"]["command"] = "manifold profile --embeddings e.npy"
        paths.append(str(prof.save(tmp_path / f"p{i}.csv")))
    with _quiet():
        assert main(["cluster", *paths, "--out", str(tmp_path / "c")]) == 0
    page = (tmp_path / "c" / "report.html").read_text()
    header = page.split('id="version">', 1)[1].split("</p>", 1)[0]
    # before: the cluster report's header showed the profile's command
    assert "command: manifold cluster" in header and "manifold profile" not in header
    assert "profiles made by: manifold profile --embeddings e.npy" in page


class _quiet:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_model_map_labels_do_not_overlap():
    import matplotlib.pyplot as plt

    from manifold.zoo import cluster_models

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 5)) * 5
    rows = [centres[i % 3] + 0.01 * rng.standard_normal(5) for i in range(12)]
    matrix = pd.DataFrame(rows, index=[f"model_{i:02d}" for i in range(12)],
                          columns=[f"semantic/m{j}" for j in range(5)])  # fmt: skip
    result = cluster_models(matrix, n_clusters=3)
    fig = result.plot_map()
    fig.canvas.draw()
    ax = fig.axes[0]
    boxes = [t.get_window_extent() for t in ax.texts]
    assert len(boxes) == 12
    # before: four near-identical models per cluster wrote their names on top of each other
    overlaps = [(i, j) for i in range(12) for j in range(i) if boxes[i].overlaps(boxes[j])]
    assert overlaps == []
    plt.close(fig)


def _collapsed_and_normal():
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((60, 8))
    dead = np.ones((60, 8))
    near = 10.0 + 0.01 * rng.standard_normal((60, 8))  # one common offset, tiny variation
    views = {
        "normal": normal[:, None] + 0.3 * rng.standard_normal((60, 3, 8)),
        "near": near[:, None] + 1e-5 * rng.standard_normal((60, 3, 8)),
    }
    with _quiet():
        profs = [
            profile(
                normal,
                view_embeddings={"crop": views["normal"]},
                k=5,
                name="normal",
                progress=False,
            ),
            profile(
                near, view_embeddings={"crop": views["near"]}, k=5, name="near", progress=False
            ),
            profile(
                dead,
                view_embeddings={"crop": np.ones((60, 3, 8))},
                k=5,
                name="dead",
                progress=False,
            ),
        ]
    return Profile.concat(profs)


def test_a_collapsed_model_is_said_to_be_collapsed(tmp_path):
    prof = _collapsed_and_normal()
    with _quiet():
        page = write_report(prof, tmp_path / "r.html").read_text()
    spectra = _section(page, "spectra")
    # before: an empty line in the eigenspectrum figure, and nnk degree 10 shown as normal
    assert "dead" in spectra and "collapsed" in spectra
    summary = _section(page, "summary")
    row = summary.split("dead (collapsed)", 1)[1].split("</tr>", 1)[0]
    assert "<td>10</td>" not in row and "–" in row


def test_a_near_collapsed_model_is_not_named_most_invariant(tmp_path):
    prof = _collapsed_and_normal()
    near = prof.value("spread_ratio", "crop", model="near")
    assert near < prof.value("spread_ratio", "crop", model="normal")  # the trap
    with _quiet():
        page = write_report(prof, tmp_path / "r.html").read_text()
    verdict = _section(page, "invariance").split("<b>Verdict.</b>", 1)[1]
    # before: "crop: most invariant near (...)"
    assert "most invariant near" not in verdict
    assert "near" in verdict and "collapsed" in verdict
