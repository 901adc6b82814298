"""Documented constants checked against their derivations: chance levels, thresholds."""

import math

import numpy as np
import pytest

import manifold
from manifold.graphs import nnk_graph
from manifold.metrics import same_source_rate
from manifold.spectral import spectrum


def test_count_same_source_rate_chance_level_on_unstructured_views():
    """Views drawn independently of their image: E[c_u | graph] = d_u (K-1)/(NK-1)."""
    n, k_views = 100, 4
    got, chance, old_doc = [], [], (k_views - 1) / (n * k_views - 1)
    for seed in range(12):
        v = np.random.default_rng(seed).normal(size=(n, k_views, 6))
        graph = nnk_graph(v.reshape(n * k_views, 6), k=10)
        degree = graph.mask.sum(axis=1)
        got.append(same_source_rate(v, weighting="count", graph=graph).summary.mean)
        chance.append(np.mean(np.maximum(degree, k_views - 1)) / (n * k_views - 1))
    # about 12 * 400 * 8 * 3/399 = 290 same-image hits in all: relative sd about 6 %
    assert np.mean(got) == pytest.approx(np.mean(chance), rel=0.2)
    assert np.mean(chance) > 2 * old_doc  # NNK degrees exceed K - 1 here
    assert np.mean(got) > 1.5 * old_doc


def test_weighted_same_source_rate_chance_level():
    n, k_views = 100, 4
    got = [
        same_source_rate(np.random.default_rng(seed).normal(size=(n, k_views, 6))).summary.mean
        for seed in range(12)
    ]
    assert np.mean(got) == pytest.approx((k_views - 1) / (n * k_views - 1), rel=0.3)


@pytest.mark.parametrize(("n", "dim"), [(1000, 100), (3000, 200)])
def test_spectrum_zero_threshold_is_the_documented_one(n, dim):
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(n, dim)))
    v, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    threshold = math.sqrt(4 * (dim + math.sqrt(n)) * np.finfo(np.float64).eps)
    s = np.zeros(dim)
    s[:3] = [1.0, 2.0 * threshold, 0.5 * threshold]
    sv = spectrum((u * s) @ v.T).singular_values
    assert sv[0] == pytest.approx(1.0, rel=1e-12)
    assert sv[1] == pytest.approx(2.0 * threshold, rel=0.05)
    assert sv[2] == 0.0
    assert 2e-7 < threshold < 2e-6


def test_alpha_r2_is_a_fit_quality_not_a_power_law_test():
    """An exponentially decaying spectrum is no power law, yet its fit over 6..100 scores high."""
    rng = np.random.default_rng(0)
    scales = np.exp(-0.01 * np.arange(1, 129))
    z = rng.normal(size=(6000, 128)) * scales
    fit = manifold.alpha(z)
    assert fit.r2 > 0.8
