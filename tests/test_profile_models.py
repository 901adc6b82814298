"""profile() end to end on constructed models with known invariances, and on a real network."""

import numpy as np
import pytest
import torch
from torch import nn

import manifold
from manifold.datasets import load_photos


@pytest.fixture(scope="module")
def photos():
    images, _ = load_photos(size=16, n_crops=60)
    return images


def _gap():
    # per-channel global average pooling: a flip only permutes pixels, so it is exactly
    # invariant to `flip` (up to float32 summation order)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _pixels():
    return nn.Flatten()


def _random_conv():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
    )


@pytest.fixture(scope="module")
def profiles(photos):
    out = {}
    for name, model in (("gap", _gap()), ("pixels", _pixels()), ("conv", _random_conv())):
        out[name] = manifold.profile(
            model, photos, families=("flip", "crop"), n_views=4, k=5, name=name, progress=False
        )
    return out


def test_flip_invariant_model_has_zero_spread_and_maximal_same_source_rate(profiles):
    gap = profiles["gap"]
    assert gap.value("spread_ratio", "flip") < 1e-5
    assert gap.value("same_source_rate", "flip") == pytest.approx(1.0, abs=1e-6)


def test_identity_on_pixels_is_far_from_invariant(profiles):
    pixels = profiles["pixels"]
    # raw pixels move with every crop and flip by a sizeable fraction of the distance between
    # neighbouring images (both ~0.3 here); an invariant model would give 0
    assert pixels.value("spread_ratio", "crop") > 0.1
    assert pixels.value("spread_ratio", "flip") > 0.1


def test_random_conv_sits_between(profiles):
    gap = profiles["gap"].value("spread_ratio", "flip")
    conv = profiles["conv"].value("spread_ratio", "flip")
    pixels = profiles["pixels"].value("spread_ratio", "flip")
    assert gap < conv < pixels


def test_real_model_end_to_end(photos):
    from manifold.datasets import efficientnet_lite0

    net = efficientnet_lite0()
    prof = manifold.profile(
        net,
        photos[:40],
        families=("crop", "flip"),
        n_views=3,
        k=5,
        name="efficientnet-lite0",
        progress=False,
    )
    t = prof.table
    assert np.isfinite(t["value"]).all()
    assert prof.settings["efficientnet-lite0"]["dim"] == 1280
    # a pretrained ImageNet network is far more invariant to flips than raw pixels are
    assert prof.value("spread_ratio", "flip") < 0.5 * prof.value("spread_ratio", "crop") + 1.0
    assert 1.0 <= prof.value("rankme") <= 40.0
