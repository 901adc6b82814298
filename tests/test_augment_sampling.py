"""Crops are sampled by kornia's public API, per image, and the drawn views stay those of before."""

import kornia.augmentation as K
import numpy as np
import pytest
import torch

from manifold.augment import draw_views, draw_views_with_params, get_family


def _image_seed(seed, i, stage=0):
    """The documented per-image seed: stream ``stage`` of ``SeedSequence(seed, spawn_key=(i,))``."""
    return int(
        np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(stage + 1, np.uint64)[stage]
    )


def _kornia_params(module, seed, n_views, shape):
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        return module.forward_parameters((n_views, *shape))


CASES = [
    ("family", (3, 64, 64), {}),
    ("family", (3, 40, 50), {}),
    ("family", (1, 28, 28), {}),
    ("kornia", (3, 10, 60), {}),  # wider than max ratio: kornia's fallback crop is used
    ("kornia", (3, 60, 10), {}),  # narrower than min ratio
    ("kornia", (3, 32, 32), {"scale": (0.9, 1.0), "ratio": (2.0, 3.0)}),
    ("kornia", (3, 64, 48), {"scale": (0.08, 1.0), "size": (24, 40)}),
]


@pytest.mark.parametrize(("kind", "shape", "options"), CASES)
@pytest.mark.parametrize("n_views", [1, 3])
def test_crops_are_kornias_per_image_parameters_and_views(kind, shape, options, n_views):
    if kind == "family":
        module = get_family("crop", image_size=shape[1:], channels=shape[0])
    else:
        options = dict(options)
        size = options.pop("size", shape[1:])
        module = K.RandomResizedCrop(size, p=1.0, **options)
    x = torch.rand(5, *shape, generator=torch.Generator().manual_seed(n_views))
    views, params = draw_views_with_params(x, module, n_views=n_views, seed=11, batch_size=2)
    for i in range(len(x)):
        ref = _kornia_params(module, _image_seed(11, i), n_views, shape)
        got = params[i]["0_RandomResizedCrop"]
        assert got.keys() == ref.keys()
        for key, value in ref.items():
            assert got[key].dtype == value.dtype and torch.equal(got[key], value), key
        # kornia applying image i's own parameters to its K copies gives its views
        replay = module(x[i : i + 1].repeat(n_views, 1, 1, 1), params=ref)
        assert torch.equal(replay, views[i])


def test_fallback_crop_is_exercised():
    # on a 10 x 60 image most candidates are too tall, so kornia's fallback (full height, width
    # round(10 * 4/3) = 13) must appear; the equality test above covers it only if it does
    x = torch.rand(60, 3, 10, 60, generator=torch.Generator().manual_seed(0))
    _, params = draw_views_with_params(x, K.RandomResizedCrop((10, 60), p=1.0), n_views=4)
    src = torch.cat([p["0_RandomResizedCrop"]["src"] for p in params])
    widths = src[:, 1, 0] - src[:, 0, 0] + 1
    heights = src[:, 2, 1] - src[:, 1, 1] + 1
    assert ((widths == 13) & (heights == 10)).any()


# Crop boxes [x0, y0, x1, y1] of each view, drawn at commit fd49a84 by the batched sampler that
# copied kornia's crop generator (and equalled kornia's forward_parameters bit for bit): the
# views behind the docs' cached profiles. torch.rand(3, 3, 32, 24) seeded 0, two views each.
PINNED_BOXES = {
    0: [
        [[2, 0, 21, 24], [0, 4, 22, 27]],
        [[0, 0, 23, 30], [1, 6, 23, 25]],
        [[0, 5, 23, 30], [8, 10, 22, 23]],
    ],
    7: [
        [[1, 4, 23, 29], [2, 6, 23, 30]],
        [[0, 3, 22, 22], [6, 4, 22, 26]],
        [[0, 16, 17, 31], [6, 11, 23, 31]],
    ],
}


@pytest.mark.parametrize("seed", sorted(PINNED_BOXES))
def test_crop_boxes_are_those_drawn_before(seed):
    x = torch.rand(3, 3, 32, 24, generator=torch.Generator().manual_seed(0))
    _, params = draw_views_with_params(x, "crop", n_views=2, seed=seed)
    boxes = [
        p["0_RandomResizedCrop"]["src"][:, [0, 2]].reshape(2, 4).int().tolist() for p in params
    ]
    assert boxes == PINNED_BOXES[seed]


def test_crops_with_a_probability_or_shared_parameters_keep_the_batch_rule():
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for aug in (
        K.RandomResizedCrop((32, 32), p=0.5),
        K.RandomResizedCrop((32, 32), same_on_batch=True),
    ):
        assert torch.equal(
            draw_views(x, aug, n_views=3, seed=0, batch_size=2),
            draw_views(x, aug, n_views=3, seed=0),
        )


def test_replay_of_crop_parameters():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    v, params = draw_views_with_params(x, "crop", n_views=4, seed=2)
    aug = get_family("crop", image_size=32)
    replay = aug(x[2:3].repeat(4, 1, 1, 1), params=params[2]["0_RandomResizedCrop"])
    assert torch.equal(replay, v[2])
