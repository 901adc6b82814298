"""Every driver's table, pinned: the numbers of profile, its layer sweep, profile_zoo,
profile_large and Monitor on small seeded inputs, against the tables stored in
``tests/data/pins.csv`` (and their failures in ``tests/data/pins_failures.json``).

The stored tables are a regression reference, not a statement of correctness: that each
number is right is checked elsewhere, against closed forms and reference implementations
(tests/test_harness.py compares every driver and every public function on one input). These
pins say that restructuring the drivers changes no number, no row, no row order and no
failure. ``tests/data/make_pins.py`` wrote them (with the code of the commit that added them);
rerun it only when a number is meant to change, and then bump
:data:`manifold.engine.METRICS_VERSION`.

The models run in float32 and the augmentations draw float32 views, so a platform whose
float32 kernels round differently (another CPU vector unit, another BLAS) gives other inputs
to the metrics. The pins store a checksum of each run's embeddings; where the inputs are not
those the pins were written from, the model runs are skipped with that reason (the embeddings
run, float64 from numpy's seeded generator, is compared everywhere).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

DATA = Path(__file__).parent / "data"
PINS = DATA / "pins.csv"
FAILURES = DATA / "pins_failures.json"
INPUTS = DATA / "pins_inputs.json"
RTOL = ATOL = 1e-12
PIN_COLUMNS = ["run", "model", "layer", "manifold", "metric", "statistic", "value"]

# small inputs that still reach every branch: RankMe capped below N (semantic and views),
# bootstrap standard errors, curvature, several families, two layers, two models
N_IMAGES, K, N_VIEWS, SEED = 36, 5, 3, 2
MAX_SAMPLES = 30
FAMILIES = ("crop", "flip", "color")
LAYERS = ["features.0", "features.2"]


class Net(nn.Module):
    """A small seeded conv net (3 channels in, 9 features out)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3), nn.Tanh(), nn.Conv2d(8, 9, 3), nn.Tanh()
            )

    def forward(self, x):
        return self.features(x - 0.5).mean((2, 3))


def images() -> torch.Tensor:
    return torch.rand(N_IMAGES, 3, 10, 10, generator=torch.Generator().manual_seed(11))


def embeddings() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    z = rng.normal(size=(60, 10)) @ np.diag(np.linspace(2.0, 0.2, 10))
    along = z[:, None, :] + 0.3 * rng.normal(size=(60, 4, 1)) * z[:, None, :]
    noise = z[:, None, :] + 0.2 * rng.normal(size=(60, 4, 10))
    # "still": every view is the image's embedding (the tangent alignment is undefined there)
    still = np.repeat(z[:, None, :], 4, axis=1)
    return z, {"along": along, "noise": noise, "still": still}


def large_input() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = rng.random((400, 3))
    feats = np.hstack([t, np.sin(3 * t), t[:, :1] * t[:, 1:2]])
    return (feats @ rng.normal(size=(7, 8)) + 0.01 * rng.normal(size=(400, 8))).astype(np.float32)


COMMON = dict(n_views=N_VIEWS, k=K, seed=SEED, max_samples=MAX_SAMPLES, progress=False)


def _profile_model(tmp: Path) -> Any:
    import manifold

    return manifold.profile(Net(0), images(), FAMILIES, name="net", n_bootstrap=3,
                            curvature=True, **COMMON)  # fmt: skip


def _profile_embeddings(tmp: Path) -> Any:
    import manifold

    z, views = embeddings()
    return manifold.profile(z, view_embeddings=views, k=6, seed=1, max_samples=50, n_bootstrap=3,
                            curvature=True, name="emb", progress=False)  # fmt: skip


def _profile_layers(tmp: Path) -> Any:
    import manifold

    return manifold.profile(Net(0), images(), FAMILIES[:2], name="net", layers=LAYERS,
                            n_bootstrap=2, curvature=True, **COMMON)  # fmt: skip


def _zoo(tmp: Path, **options: Any) -> Any:
    import manifold

    models = {"a": Net(0), "b": Net(1)}
    kwargs = dict(families=FAMILIES[:2], n_bootstrap=2, curvature=True, **COMMON, **options)
    first = manifold.profile_zoo(models, images(), checkpoint_dir=tmp / "ckpt", **kwargs)
    # read back from the checkpoints: the same table
    again = manifold.profile_zoo(models, images(), checkpoint_dir=tmp / "ckpt", **kwargs)
    pd.testing.assert_frame_equal(again.table, first.table)
    return first


def _profile_zoo(tmp: Path) -> Any:
    return _zoo(tmp)


def _profile_zoo_layers(tmp: Path) -> Any:
    return _zoo(tmp, layers=LAYERS)


def _profile_large(tmp: Path) -> Any:
    from manifold import profile_large

    path = tmp / "z.npy"
    np.save(path, large_input())
    return profile_large(np.load(path, mmap_mode="r"), n_anchors=120, k=6, seed=3,
                         chunk_rows=64, max_samples=300, name="large")  # fmt: skip


def _monitor(tmp: Path) -> Any:
    from manifold import Monitor

    metrics = ("rankme", "effective_rank", "alpha", "spread_ratio", "lidar", "nnk_degree",
               "same_source_rate", "twonn_dimension")  # fmt: skip
    monitor = Monitor(images(), metrics=metrics, families=FAMILIES[:2], n_views=N_VIEWS, k=K,
                      seed=4, n_images=30, max_samples=20, n_bootstrap=2)  # fmt: skip
    for step, seed in enumerate((0, 1)):
        monitor(Net(seed), step)
    return monitor


RUNS: dict[str, Callable[[Path], Any]] = {
    "profile_model": _profile_model,
    "profile_embeddings": _profile_embeddings,
    "profile_layers": _profile_layers,
    "profile_zoo": _profile_zoo,
    "profile_zoo_layers": _profile_zoo_layers,
    "profile_large": _profile_large,
    "monitor": _monitor,
}
# the runs whose inputs come from a float32 model and float32 augmentations
MODEL_RUNS = {"profile_model", "profile_layers", "profile_zoo", "profile_zoo_layers", "monitor"}


def pinned_table(run: str, result: Any) -> pd.DataFrame:
    """A run's rows in the pins' columns (a Monitor's history: value and se per step)."""
    if run == "monitor":
        h = result.history
        value = h.assign(statistic="value")
        se = h.assign(statistic="se", value=h["se"]).dropna(subset=["value"])
        both = pd.concat([value, se]).sort_index(kind="stable")
        t = both.assign(model="step " + both["step"].astype(str))
    else:
        t = result.table
    t = t.assign(run=run)
    if "layer" not in t.columns:
        t = t.assign(layer="")
    return t[PIN_COLUMNS].reset_index(drop=True)


def failures_of(run: str, result: Any) -> list[dict[str, Any]]:
    return [{k: (str(v) if k != "step" else v) for k, v in f.items()} for f in result.failures]


def input_checksum() -> str:
    """A checksum of the float32 embeddings and views the model runs read."""
    from manifold.augment import views
    from manifold.embed import Embedder

    h = hashlib.sha256()
    x = images()
    for seed in (0, 1):
        emb = Embedder(Net(seed), progress=False)
        h.update(emb.embed(x).numpy().tobytes())
        for fam in FAMILIES:
            h.update(views(x, fam, N_VIEWS, SEED).numpy().tobytes())
    return h.hexdigest()[:16]


def compute(run: str, tmp: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the failures are compared, not their warnings
        result = RUNS[run](tmp)
    return pinned_table(run, result), failures_of(run, result)


@pytest.fixture(scope="module")
def stored() -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    table = pd.read_csv(PINS, dtype={"model": str, "layer": str}, keep_default_na=False)
    table["value"] = table["value"].astype(np.float64)
    return table, json.loads(FAILURES.read_text()), json.loads(INPUTS.read_text())


@pytest.fixture(scope="module")
def same_inputs(stored) -> bool:
    return input_checksum() == stored[2]["checksum"]


@pytest.mark.parametrize("run", list(RUNS))
def test_driver_tables_equal_the_pinned_tables(run, stored, same_inputs, tmp_path):
    if run in MODEL_RUNS and not same_inputs:
        pytest.skip("this platform's float32 embeddings or views differ from the pins' inputs")
    pins, failures, _ = stored
    want = pins[pins["run"] == run].reset_index(drop=True)
    assert len(want) > 20, "the pins hold this run"
    got, got_failures = compute(run, tmp_path)
    got = got.assign(layer=got["layer"].fillna("").astype(str))
    # the same rows in the same order, and the same numbers to 1e-12
    pd.testing.assert_frame_equal(
        got.drop(columns="value"), want.drop(columns="value"), check_dtype=False
    )
    np.testing.assert_allclose(got["value"], want["value"], rtol=RTOL, atol=ATOL)
    assert got_failures == failures[run]


def test_the_pins_reach_every_branch(stored):
    pins, failures, _ = stored
    assert failures["profile_embeddings"], "a failure is pinned too"
    stats = set(pins["statistic"])
    assert {"value", "mean", "se", "q95"} <= stats
    metrics = set(pins["metric"])
    assert {"ollivier_ricci", "forman_ricci", "lidar", "alpha_r2"} <= metrics
    assert set(pins.loc[pins["run"] == "profile_layers", "layer"]) == set(LAYERS)
    assert set(pins.loc[pins["run"] == "profile_zoo", "model"]) == {"a", "b"}
    assert set(pins.loc[pins["run"] == "monitor", "model"]) == {"step 0", "step 1"}
    assert MAX_SAMPLES < N_IMAGES < N_IMAGES * N_VIEWS  # RankMe capped, semantic and views
