"""profile_zoo: equality with profile(), failure isolation, kill -9 resume, and Dask."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import manifold
from manifold.datasets import load_mnist, load_zoo
from manifold.runner import load_model, profile_zoo

FAMILIES = ("flip", "crop")
SETTINGS = dict(families=FAMILIES, n_views=3, k=5, seed=0, progress=False)

SLOW_MODEL = '''
import time
import torch
from torch import nn


class Slow(nn.Module):
    """A small fixed conv net that sleeps in every forward pass, so a run can be killed."""

    def __init__(self, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, 4, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.zero_()

    def forward(self, x):
        time.sleep(0.15)
        return torch.relu(self.conv(x)).mean((2, 3))


def one():
    return Slow(1)


def two():
    return Slow(2)


def three():
    return Slow(3)
'''


@pytest.fixture(scope="module")
def images():
    x, _ = load_mnist("test")
    return x[:40]


@pytest.fixture(scope="module")
def specs():
    return {"random_init": "zoo:random_init", "simsiam": "zoo:simsiam"}


@pytest.fixture(scope="module")
def sequential(images, specs):
    return profile_zoo(specs, images, **SETTINGS)


def _sorted(table):
    return table.sort_values(["model", "manifold", "metric", "statistic"]).reset_index(drop=True)


def test_equals_profile_of_each_model(sequential, images, specs):
    models, _ = load_zoo(list(specs), zoo="mnist")
    direct = manifold.Profile.concat(
        manifold.profile(models[n], images, name=n, **SETTINGS) for n in specs
    )
    pd.testing.assert_frame_equal(_sorted(sequential.table), _sorted(direct.table))
    assert sequential.models == list(specs)
    # the spectra the report draws are those the spectral metrics were read from
    assert list(sequential.spectra) == list(specs)
    for n in specs:
        np.testing.assert_array_equal(
            sequential.spectra[n].eigenvalues, direct.spectra[n].eigenvalues
        )


def test_a_resumed_run_reads_the_spectrum_back_from_its_checkpoint(
    images, specs, tmp_path, monkeypatch
):
    first = profile_zoo(specs, images, checkpoint_dir=tmp_path, **SETTINGS)

    def no_model(*args, **kwargs):
        raise AssertionError("every part is checkpointed: no model should be loaded")

    monkeypatch.setattr("manifold.runner.load_model", no_model)
    again = profile_zoo(specs, images, checkpoint_dir=tmp_path, **SETTINGS)  # all from disk
    for n in specs:
        np.testing.assert_array_equal(
            again.spectra[n].singular_values, first.spectra[n].singular_values
        )
        assert again.spectra[n].rankme() == first.value("rankme", model=n)


def test_failing_models_are_reported_and_the_others_finish(images, tmp_path):
    class WrongInput(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.linear(x.flatten(1), torch.ones(3, 5))  # needs 5 inputs

    prof = profile_zoo(
        {"good": "zoo:random_init", "missing": "zoo:no_such_model", "broken": WrongInput()},
        images,
        checkpoint_dir=tmp_path,
        **SETTINGS,
    )
    assert prof.models == ["good"]
    reasons = {f["model"]: f["error"] for f in prof.failures if f["metric"] == "model"}
    assert set(reasons) == {"missing", "broken"}
    assert "no_such_model" in reasons["missing"]
    assert "shape" in reasons["broken"] or "size" in reasons["broken"]
    with pytest.raises(RuntimeError, match="every model failed"):
        profile_zoo({"missing": "zoo:no_such_model"}, images, **SETTINGS)


def test_load_model_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        load_model("not-a-model")
    with pytest.raises(ValueError, match="does not exist"):
        load_model(str(tmp_path / "m.py") + ":factory")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript archive")
    with pytest.raises(ValueError, match="TorchScript"):
        load_model(str(bad))


def test_kill_and_resume_recomputes_nothing_finished(images, tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_MODEL)
    torch.save(images, tmp_path / "images.pt")
    ckpt = tmp_path / "ckpt"
    specs = {n: f"{tmp_path / 'slow.py'}:{n}" for n in ("one", "two", "three")}
    script = textwrap.dedent(f"""
        import torch
        from manifold.runner import profile_zoo
        images = torch.load({str(tmp_path / "images.pt")!r})
        profile_zoo({specs!r}, images, checkpoint_dir={str(ckpt)!r}, families={FAMILIES!r},
                    n_views=3, k=5, seed=0, progress=False)
    """)
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while time.time() < deadline and len(list(ckpt.glob("*.json"))) < 2:
        time.sleep(0.05)
    assert child.poll() is None, "the run finished before it could be interrupted"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    finished = {p: p.stat().st_mtime_ns for p in ckpt.glob("*.json")}
    assert 2 <= len(finished) < 9  # 3 models x (semantic + 2 families)

    resumed = profile_zoo(specs, images, checkpoint_dir=ckpt, **SETTINGS)
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} was recomputed"
    assert len(list(ckpt.glob("*.json"))) == 9
    fresh = profile_zoo(specs, images, **SETTINGS)
    pd.testing.assert_frame_equal(_sorted(resumed.table), _sorted(fresh.table))

    # other settings do not reuse those checkpoints
    other = profile_zoo({"one": specs["one"]}, images, checkpoint_dir=ckpt,
                        **{**SETTINGS, "seed": 1})  # fmt: skip
    assert len(list(ckpt.glob("*.json"))) == 9  # same files, rewritten for seed 1
    assert not other.table.empty


def test_dask_local_cluster_equals_sequential(sequential, images, specs):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        prof = profile_zoo(specs, images, executor=client.get_executor(), **SETTINGS)
    pd.testing.assert_frame_equal(_sorted(prof.table), _sorted(sequential.table))


def test_bad_arguments(images):
    with pytest.raises(ValueError, match="empty"):
        profile_zoo({}, images)
    with pytest.raises(TypeError, match="Executor"):
        profile_zoo({"a": "zoo:random_init"}, images, executor=object())
    with pytest.raises(ValueError, match="images"):
        profile_zoo({"a": "zoo:random_init"}, images[0])


def test_checkpoint_files_are_complete_pairs(images, tmp_path):
    profile_zoo({"a": "zoo:random_init"}, images, checkpoint_dir=tmp_path, **SETTINGS)
    csvs = {p.stem for p in Path(tmp_path).glob("*.csv")}
    jsons = {p.stem for p in Path(tmp_path).glob("*.json")}
    assert csvs == jsons and len(csvs) == 1 + len(FAMILIES)
    assert not list(Path(tmp_path).glob(".*.tmp"))


def test_bootstrap_errors_equal_profile(images):
    import manifold

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 12))
    torch.manual_seed(0)
    torch.nn.init.normal_(model[1].weight)
    zoo = profile_zoo({"m": model}, images, families=("flip",), n_views=3, k=5,
                      n_bootstrap=4, progress=False)  # fmt: skip
    one = manifold.profile(model, images, families=("flip",), n_views=3, k=5, name="m",
                           n_bootstrap=4, progress=False)  # fmt: skip
    se = zoo.table[zoo.table["statistic"] == "se"]
    assert len(se) > 10 and (se["value"] >= 0).all()
    pd.testing.assert_frame_equal(_sorted(zoo.table), _sorted(one.table))
    with pytest.raises(ValueError, match="at least 2"):
        profile_zoo({"m": model}, images, n_bootstrap=1)


def test_checkpoints_of_an_earlier_metrics_version_are_recomputed(images, tmp_path, monkeypatch):
    from manifold.engine import METRICS_VERSION

    with monkeypatch.context() as m:
        m.setattr("manifold.runner.METRICS_VERSION", METRICS_VERSION - 1)
        old = profile_zoo({"a": "zoo:random_init"}, images, checkpoint_dir=tmp_path, **SETTINGS)
    assert old.settings["a"]["metrics_version"] == METRICS_VERSION - 1
    written = {p: p.read_text() for p in tmp_path.glob("*.json")}

    def no_model(*args, **kwargs):
        raise AssertionError("every part is checkpointed: no model should be loaded")

    new = profile_zoo({"a": "zoo:random_init"}, images, checkpoint_dir=tmp_path, **SETTINGS)
    assert new.settings["a"]["metrics_version"] == METRICS_VERSION
    for path, text in written.items():  # every part rewritten under the current version
        assert path.read_text() != text
    # ... and read back, unchanged, by a third run of the same version
    monkeypatch.setattr("manifold.runner.load_model", no_model)
    again = profile_zoo({"a": "zoo:random_init"}, images, checkpoint_dir=tmp_path, **SETTINGS)
    pd.testing.assert_frame_equal(again.table, new.table)


def test_a_checkpoint_with_a_malformed_spectrum_is_computed_again(images, tmp_path):
    import json

    first = profile_zoo({"a": "zoo:random_init"}, images, checkpoint_dir=tmp_path, **SETTINGS)
    (meta_path,) = [p for p in tmp_path.glob("*semantic*.json")]
    meta = json.loads(meta_path.read_text())
    meta["spectrum"] = {"eigenvalues": [1.0]}  # no singular values
    meta_path.write_text(json.dumps(meta))
    again = profile_zoo({"a": "zoo:random_init"}, images, checkpoint_dir=tmp_path, **SETTINGS)
    pd.testing.assert_frame_equal(again.table, first.table)
    assert "singular_values" in json.loads(meta_path.read_text())["spectrum"]  # rewritten
