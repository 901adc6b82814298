"""The Python example in the README runs as written."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no Python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "semantic/rankme" in out  # the profile matrix was printed


def test_analysis_page_example_runs(capsys):
    """The first example of docs/analysis.md (clustering and transfer) runs as written."""
    text = (ROOT / "docs" / "analysis.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    exec(compile(code, "docs/analysis.md", "exec"), {"__name__": "analysis"})
    out = capsys.readouterr().out
    assert "directed_rankme_spearman" in out and "crop/m0" in out


def test_selection_page_example_runs(capsys):
    """The checkpoint-selection example of docs/selection.md runs as written."""
    text = (ROOT / "docs" / "selection.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    exec(compile(code, "docs/selection.md", "exec"), {"__name__": "selection"})
    out = capsys.readouterr().out
    assert "simclr_color+crop_t0.2_e15" in out and "rank" in out
