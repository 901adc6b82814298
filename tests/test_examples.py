"""The example scripts run (quick settings) and write what they promise."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_profile_invariance_example_quick(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "profile_invariance.py"), "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    assert (tmp_path / "invariance_efficientnet.png").stat().st_size > 10_000
    assert "flip/spread_ratio" in out.stdout


def test_zoo_figures_example(tmp_path):
    # the zoo page's figures come from shipped files only (manifest losses, transfer table)
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "zoo" / "figures.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert (tmp_path / "zoo_training.png").stat().st_size > 10_000
    assert (tmp_path / "zoo_transfer.png").stat().st_size > 10_000


def test_factor_retest_reliability_against_scipy():
    import importlib.util

    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    sys.path.insert(0, str(ROOT / "examples" / "zoo"))
    try:
        spec = importlib.util.spec_from_file_location(
            "factor_retest", ROOT / "examples" / "zoo" / "factor_retest.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "examples" / "zoo"))
    rng = np.random.default_rng(0)
    first = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    second = first + pd.DataFrame(rng.normal(size=(30, 3)) * [0.1, 1.0, 0.0], columns=first.columns)
    second["c"] = 5.0  # a column without spread on the second draw is still compared
    rel = module.reliability(first, second, n_bootstrap=200)
    for col in ("a", "b"):
        assert rel.loc[col, "retest_spearman"] == pytest.approx(
            spearmanr(first[col], second[col]).statistic, abs=1e-12
        )
        noise = np.sqrt(np.mean((first[col] - second[col]) ** 2) / 2) / np.std(first[col])
        assert rel.loc[col, "noise_ratio"] == pytest.approx(noise, rel=1e-12)
        assert rel.loc[col, "low"] <= rel.loc[col, "retest_spearman"] <= rel.loc[col, "high"]
    assert rel.loc["a", "retest_spearman"] > 0.95 > rel.loc["b", "retest_spearman"]
    assert np.isnan(rel.loc["c", ["retest_spearman", "low", "high"]].astype(float)).all()
