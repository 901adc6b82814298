"""The batched RandomResizedCrop sampler: same parameters as kornia, same views as per image."""

import kornia.augmentation as K
import numpy as np
import pytest
import scipy.stats
import torch

from manifold import augment
from manifold.augment import (
    _ResizedCropSampler,
    _Stage,
    draw_views,
    draw_views_with_params,
    get_family,
)


def _kornia_params(module, seed, n_views, shape):
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
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
@pytest.mark.parametrize("n_views", [1, 3, 8])
def test_batched_crop_parameters_equal_kornias(kind, shape, options, n_views):
    if kind == "family":
        module = get_family("crop", image_size=shape[1:], channels=shape[0])
    else:
        options = dict(options)
        size = options.pop("size", shape[1:])
        module = K.RandomResizedCrop(size, p=1.0, **options)
    assert _ResizedCropSampler.supports(module)
    seeds = np.random.default_rng(n_views).integers(0, 2**63, size=12, dtype=np.uint64)
    batch = _ResizedCropSampler(module).batch(seeds, n_views, shape)
    assert batch["forward_input_shape"].tolist() == [12 * n_views, *shape]
    for j, seed in enumerate(seeds):
        ref = _kornia_params(module, seed, n_views, shape)
        assert set(ref) == set(batch)
        for key, value in ref.items():
            if key == "forward_input_shape":
                continue
            mine = batch[key][j * n_views : (j + 1) * n_views]
            assert mine.dtype == value.dtype, key
            assert torch.equal(mine, value), key


def test_fallback_crop_is_exercised():
    # on a 10 x 60 image most candidates are too tall, so kornia's fallback (full height, width
    # round(10 * 4/3) = 13) must appear; the equality test above covers it only if it does
    module = K.RandomResizedCrop((10, 60), p=1.0)
    seeds = np.arange(200, dtype=np.uint64)
    src = _ResizedCropSampler(module).batch(seeds, 4, (3, 10, 60))["src"]
    widths = src[:, 1, 0] - src[:, 0, 0] + 1
    heights = src[:, 2, 1] - src[:, 1, 1] + 1
    assert ((widths == 13) & (heights == 10)).any()


def test_crop_scale_and_ratio_match_kornias_distribution():
    n_images, n_views, side = 500, 8, 64
    module = get_family("crop", image_size=side)
    seeds = np.random.default_rng(0).integers(0, 2**63, size=n_images, dtype=np.uint64)
    ours = _ResizedCropSampler(module).batch(seeds, n_views, (3, side, side))["src"]
    # kornia's own sampling of one large batch from a seeded global generator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        theirs = module.forward_parameters((n_images * n_views, 3, side, side))["src"]

    def scale_ratio(src):
        w = src[:, 1, 0] - src[:, 0, 0] + 1
        h = src[:, 2, 1] - src[:, 1, 1] + 1
        return (w * h / side**2).numpy(), (w / h).numpy(), src

    scale, ratio, src = scale_ratio(ours)
    # integer sides round the area and the ratio a little around the nominal ranges
    assert scale.min() >= 0.2 * 0.9 and scale.max() <= 1.0
    assert ratio.min() >= 0.75 * 0.93 and ratio.max() <= (4 / 3) / 0.93
    assert (src[:, 0] >= 0).all() and (src[:, 2] <= side - 1).all()
    scale_k, ratio_k, _ = scale_ratio(theirs)
    assert scipy.stats.ks_2samp(scale, scale_k).pvalue > 1e-3
    assert scipy.stats.ks_2samp(ratio, ratio_k).pvalue > 1e-3
    # log ratio roughly uniform on [log 3/4, log 4/3] among the crops that fit (mean near 0)
    assert abs(np.log(ratio).mean()) < 0.02


def test_unsupported_crops_use_the_generic_path():
    assert not _ResizedCropSampler.supports(K.RandomResizedCrop((32, 32), p=0.5))
    assert not _ResizedCropSampler.supports(K.RandomResizedCrop((32, 32), same_on_batch=True))
    assert not _ResizedCropSampler.supports(K.RandomHorizontalFlip())
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    aug = K.RandomResizedCrop((32, 32), p=0.5)
    assert torch.equal(
        draw_views(x, aug, n_views=3, seed=0, batch_size=2), draw_views(x, aug, n_views=3, seed=0)
    )


@pytest.mark.parametrize("family", ["crop", "ssl"])
def test_fast_path_gives_the_per_image_views(family, monkeypatch):
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(9, 3, 32, 32, generator=gen)
    fast, fast_params = draw_views_with_params(x, family, n_views=4, seed=7, batch_size=4)

    class Generic(_Stage):
        def __init__(self, module):
            super().__init__(module)
            self.sampler = None

    monkeypatch.setattr(augment, "_Stage", Generic)
    slow, slow_params = draw_views_with_params(x, family, n_views=4, seed=7, batch_size=4)
    assert torch.equal(fast, slow)
    for a, b in zip(fast_params, slow_params, strict=True):
        assert a.keys() == b.keys()
        for stage in a:
            assert a[stage].keys() == b[stage].keys()
            for key in a[stage]:
                assert torch.equal(a[stage][key], b[stage][key]), (stage, key)


def test_replay_of_crop_parameters():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    v, params = draw_views_with_params(x, "crop", n_views=4, seed=2)
    aug = get_family("crop", image_size=32)
    replay = aug(x[2:3].repeat(4, 1, 1, 1), params=params[2]["0_RandomResizedCrop"])
    assert torch.equal(replay, v[2])
