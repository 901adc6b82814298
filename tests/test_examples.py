"""The example scripts run (quick settings) and write what they promise."""

import subprocess
import sys
from pathlib import Path

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
