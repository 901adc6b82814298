"""The example scripts run (quick settings) and write what they promise."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZOO_SCRIPTS = ROOT / "examples" / "zoo"


def _zoo_script(name: str):
    """Import ``examples/zoo/<name>.py`` (its folder on sys.path, as when run as a script)."""
    import importlib.util

    sys.path.insert(0, str(ZOO_SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(name, ZOO_SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ZOO_SCRIPTS))
    return module


def test_profile_invariance_example_quick(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "profile_invariance.py"), "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    assert (tmp_path / "invariance_efficientnet.png").stat().st_size > 10_000
    assert "flip/spread_ratio" in out.stdout


def test_monitor_training_example_quick(tmp_path):
    import pandas as pd

    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "monitor_training.py"), "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    for run in ("vicreg", "no_variance"):
        history = pd.read_csv(tmp_path / f"monitor_{run}.csv")
        assert list(history.columns) == ["step", "manifold", "metric", "value", "se"]
        assert list(history["step"].unique()) == [0, 2, 4]  # --quick: 4 steps, every 2
        loss = pd.read_csv(tmp_path / f"loss_{run}.csv")
        assert list(loss["step"]) == [1, 2, 3, 4] and loss["loss"].notna().all()
        assert f"{run}: loss" in out.stdout
    assert (tmp_path / "monitor_training.png").stat().st_size > 10_000


def test_zoo_figures_example(tmp_path):
    # the zoo page's figures come from shipped files only (manifest losses, transfer table)
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "zoo" / "figures.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert (tmp_path / "zoo_training.png").stat().st_size > 10_000
    assert (tmp_path / "zoo_transfer.png").stat().st_size > 10_000


def test_factor_retest_reliability_against_scipy():
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    module = _zoo_script("factor_retest")
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


def test_cached_zoo_profile_keeps_the_spectra_of_reused_models(tmp_path, capsys):
    import numpy as np
    import pandas as pd
    import torch

    from manifold.profiling import Profile

    pages = _zoo_script("pages")
    torch.manual_seed(0)
    models = {
        name: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, dim))
        for name, dim in (("a", 6), ("b", 5))
    }
    images = torch.rand(40, 1, 8, 8)
    manifest = pd.DataFrame(
        {"sha256": ["1" * 64, "2" * 64], "method": ["x", "y"]}, index=["a", "b"]
    )
    cache = tmp_path / "zoo.csv"
    options = dict(families="flip", n_views=2, k=4)
    first = pages.cached_zoo_profile({"a": models["a"]}, manifest, images, cache, **options)
    assert list(first.spectra) == ["a"]
    # the second run reuses a from the cache and profiles b only
    both = pages.cached_zoo_profile(models, manifest, images, cache, **options)
    out = capsys.readouterr().out
    assert out.count("profiled a") == 1 and out.count("profiled b") == 1
    assert list(both.spectra) == ["a", "b"]
    assert (both.spectra["a"].dim, both.spectra["b"].dim) == (6, 5)
    np.testing.assert_array_equal(both.spectra["a"].eigenvalues, first.spectra["a"].eigenvalues)
    # the rewritten cache keeps a's spectrum beside b's, and a third run reads both back
    assert list(Profile.load(cache).spectra) == ["a", "b"]
    again = pages.cached_zoo_profile(models, manifest, images, cache, **options)
    assert "profiled" not in capsys.readouterr().out
    assert list(again.spectra) == ["a", "b"]
    # a model left out of the call is left out of what is returned
    only_b = pages.cached_zoo_profile({"b": models["b"]}, manifest, images, cache, **options)
    assert only_b.models == ["b"] == list(only_b.spectra) == list(only_b.settings)


def test_bootstrap_check_calibration_by_hand():
    import numpy as np
    import pandas as pd

    module = _zoo_script("factor_bootstrap_check")
    rng = np.random.default_rng(1)
    models = [f"m{i}" for i in range(400)]
    truth = rng.normal(size=400)
    se = pd.DataFrame({"right": np.full(400, 0.5), "small": np.full(400, 0.25)}, index=models)
    # two draws, each with error 0.5: the "right" errors are calibrated, the "small" half as big
    first = pd.DataFrame({c: truth + 0.5 * rng.normal(size=400) for c in se}, index=models)
    second = pd.DataFrame({c: truth + 0.5 * rng.normal(size=400) for c in se}, index=models)
    cal = module.calibration(first, second, se)
    d = (first["small"] - second["small"]) / np.sqrt(2)
    assert cal.loc["small", "calibration"] == pytest.approx(np.sqrt(np.mean(d**2)) / 0.25)
    assert cal.loc["small", "z_within_2"] == pytest.approx(np.mean(np.abs(d) <= 0.5))
    assert 0.9 < cal.loc["right", "calibration"] < 1.1 and 1.8 < cal.loc["small", "calibration"]
    assert 0.92 < cal.loc["right", "z_within_2"] < 0.98
