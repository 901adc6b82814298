import kornia.augmentation as K
import numpy as np
import pytest
import torch

from manifold.augment import (
    FAMILIES,
    blur_kernel_size,
    describe_family,
    draw_view_chunks,
    draw_views,
    draw_views_with_params,
    get_family,
)


@pytest.fixture(scope="module")
def rgb():
    # smooth, non-symmetric images so that every transformation changes them
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    gen = torch.Generator().manual_seed(0)
    base = torch.stack([xx, yy, xx * yy])[None]
    noise = torch.rand(9, 3, 32, 32, generator=gen)
    return (0.7 * base + 0.3 * noise).clamp(0, 1)


@pytest.fixture(scope="module")
def gray():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(10, 1, 28, 28, generator=gen)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_rgb_and_gray(family, rgb, gray):
    for images in (rgb, gray):
        v = draw_views(images, family, n_views=3, seed=0)
        n, c, h, w = images.shape
        assert v.shape == (n, 3, c, h, w)
        assert v.dtype == torch.float32
        assert torch.isfinite(v).all()
        assert float(v.min()) >= -1e-5 and float(v.max()) <= 1 + 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_independent_of_batch_size_and_rng_untouched(family, rgb):
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    ref = draw_views(rgb, family, n_views=4, seed=3, batch_size=64)
    for batch_size in (1, 7):
        assert torch.equal(draw_views(rgb, family, n_views=4, seed=3, batch_size=batch_size), ref)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]


def test_image_views_depend_only_on_its_index(rgb):
    full = draw_views(rgb, "ssl", n_views=3, seed=11)
    # image 4 alone, at index 4 of a different batch: same views
    other = rgb.clone()
    other[:4] = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    assert torch.equal(draw_views(other, "ssl", n_views=3, seed=11)[4], full[4])


def test_crop_parameters_are_per_sample(rgb):
    v, params = draw_views_with_params(rgb, "crop", n_views=5, seed=0)
    assert len(params) == rgb.shape[0]
    boxes = torch.stack([p["0_RandomResizedCrop"]["src"] for p in params])  # (N, K, 4, 2)
    flat = boxes.reshape(-1, 8)
    # every view its own crop (integer boxes may coincide by chance, rarely)
    assert torch.unique(flat, dim=0).shape[0] >= 0.9 * flat.shape[0]
    for i in range(rgb.shape[0]):
        for a in range(5):
            for b in range(a + 1, 5):
                assert not torch.equal(v[i, a], v[i, b])
    # the same view index differs across images in its crop
    assert not torch.equal(boxes[0, 0], boxes[1, 0])


def test_params_replay_gives_the_views(rgb):
    v, params = draw_views_with_params(rgb[:2], "rotation", n_views=3, seed=2)
    aug = get_family("rotation", image_size=32)
    p = params[1]["0_RandomRotation"]
    x = rgb[1:2].repeat(3, 1, 1, 1)
    assert torch.allclose(aug(x, params=p), v[1], atol=1e-6)
    degrees = p["degrees"]
    assert float(degrees.abs().max()) <= 30.0 and len(torch.unique(degrees)) == 3


def test_different_seeds_differ(rgb):
    a = draw_views(rgb, "crop", n_views=2, seed=0)
    b = draw_views(rgb, "crop", n_views=2, seed=1)
    assert not torch.equal(a, b)


def test_seed_generators_accepted(rgb):
    a = draw_views(rgb, "blur", n_views=2, seed=np.random.default_rng(5))
    b = draw_views(rgb, "blur", n_views=2, seed=np.random.default_rng(5))
    c = draw_views(rgb, "blur", n_views=2, seed=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert c.shape == a.shape


def test_flip_is_identity_or_mirror(rgb):
    v = draw_views(rgb, "flip", n_views=8, seed=0)
    mirrored = rgb.flip(-1)
    n_flipped = 0
    for i in range(rgb.shape[0]):
        for k in range(8):
            same = torch.equal(v[i, k], rgb[i])
            mirror = torch.equal(v[i, k], mirrored[i])
            assert same or mirror
            n_flipped += mirror
    total = rgb.shape[0] * 8
    assert 0.25 * total < n_flipped < 0.75 * total  # p = 0.5


def test_gray_color_changes_only_intensity(gray):
    v = draw_views(gray, "color", n_views=4, seed=0)
    assert v.shape == (10, 4, 1, 28, 28)
    assert not torch.equal(v[:, 0], gray)
    # brightness and contrast only: each view is a monotone function of the pixel intensity
    order = torch.argsort(gray.reshape(10, -1), dim=1)
    for k in range(4):
        out = torch.gather(v[:, k].reshape(10, -1), 1, order)
        assert (out.diff(dim=1) >= -1e-6).all()
    _, params = draw_views_with_params(gray, "color", n_views=4, seed=0)
    jitter = params[0]["0_ColorJitter"]
    assert torch.all(jitter["saturation_factor"] == 1) and torch.all(jitter["hue_factor"] == 0)


def test_custom_kornia_augmentation_and_callable(rgb):
    aug = K.RandomAffine(degrees=10, translate=(0.1, 0.1), p=1.0)
    a = draw_views(rgb, aug, n_views=3, seed=0, batch_size=2)
    b = draw_views(rgb, aug, n_views=3, seed=0, batch_size=64)
    assert a.shape == (9, 3, 3, 32, 32) and torch.equal(a, b)

    def add_noise(images, generator):
        noise = torch.randn(images.shape, generator=generator, device=images.device)
        return (images + 0.05 * noise).clamp(0, 1)

    c = draw_views(rgb, add_noise, n_views=2, seed=4, batch_size=1)
    d = draw_views(rgb, add_noise, n_views=2, seed=4, batch_size=5)
    assert torch.equal(c, d)
    assert not torch.equal(c[:, 0], c[:, 1])

    opaque = K.AugmentationSequential(
        K.RandomHorizontalFlip(), K.RandomVerticalFlip(), random_apply=1
    )
    e = draw_views(rgb, opaque, n_views=2, seed=0, batch_size=1)
    assert torch.equal(e, draw_views(rgb, opaque, n_views=2, seed=0, batch_size=4))


def test_draw_view_chunks_streams_in_chunks(rgb):
    chunks = list(draw_view_chunks(rgb, "ssl", n_views=2, seed=0, batch_size=4))
    assert [c[0] for c in chunks] == [slice(0, 4), slice(4, 8), slice(8, 9)]
    assert torch.equal(torch.cat([c[1] for c in chunks]), draw_views(rgb, "ssl", n_views=2, seed=0))


def test_numpy_input(rgb):
    v = draw_views(rgb.numpy(), "crop", n_views=2, seed=0)
    assert torch.equal(v, draw_views(rgb, "crop", n_views=2, seed=0))


def test_family_definitions():
    assert blur_kernel_size(224, 224) == 23
    assert blur_kernel_size(28, 28) == 3
    assert blur_kernel_size(64, 64) == 7
    crop = get_family("crop", image_size=(40, 50))
    assert isinstance(crop, K.RandomResizedCrop) and not crop.same_on_batch
    ssl = get_family("ssl", image_size=64)
    names = [type(m).__name__ for m in ssl.children()]
    assert names == [
        "RandomResizedCrop",
        "RandomHorizontalFlip",
        "ColorJitter",
        "RandomGrayscale",
        "RandomGaussianBlur",
    ]
    assert describe_family("crop", 32, 3) != describe_family("crop", 64, 3)
    assert describe_family("crop", 32, 3) == describe_family("crop", 32, 3)


def test_bad_input_errors(rgb):
    with pytest.raises(ValueError, match="unknown augmentation family 'zoom'"):
        draw_views(rgb, "zoom")
    with pytest.raises(TypeError, match="divide by 255"):
        draw_views((rgb * 255).to(torch.uint8), "crop")
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        draw_views(rgb * 2 - 1, "crop")
    with pytest.raises(ValueError, match="1 \\(grayscale\\) or 3 \\(RGB\\) channels"):
        draw_views(torch.rand(2, 4, 8, 8), "crop")
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        draw_views(torch.rand(3, 8, 8), "crop")
    bad = rgb.clone()
    bad[2, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        draw_views(bad, "crop")
    with pytest.raises(ValueError, match="n_views must be >= 1"):
        draw_views(rgb, "crop", n_views=0)

    def wrong(images, generator):
        return images[:1]

    with pytest.raises(ValueError, match="must map images"):
        draw_views(rgb, wrong, n_views=2)
