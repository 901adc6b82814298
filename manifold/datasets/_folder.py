"""A folder of one's own images as a tensor: the ImageFolder layout, read in a fixed order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from manifold._checks import check_int

__all__ = ["IMAGE_SUFFIXES", "load_image_folder", "resize_images"]

#: File suffixes read by :func:`load_image_folder` (lower case; matched case-insensitively).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: PIL modes read as one channel when ``channels`` is None.
_GREY_MODES = ("L", "I", "I;16", "F", "1", "LA")


def load_image_folder(
    path: str | os.PathLike,
    channels: int | None = None,
    size: int | tuple[int, int] | None = None,
) -> tuple[torch.Tensor, list[str]]:
    """Read every image of a folder and its subfolders into one ``(N, C, H, W)`` tensor.

    The layout of torchvision's ``ImageFolder`` (one subfolder per class) works, and so does a
    flat folder. Files whose suffix is in :data:`IMAGE_SUFFIXES` are read in sorted order of
    their path; hidden files and folders (names starting with ``.``) are skipped. Pixels are
    divided by 255 (8-bit images), so values lie in ``[0, 1]``.

    With ``size``, each image is resized to ``(H, W)`` as it is read (bilinear, with
    antialiasing when shrinking, as :func:`torch.nn.functional.interpolate` with
    ``antialias=True``), so a folder of mixed sizes can be read; without it every image must
    have the same size.

    Args:
        path: The folder.
        channels: 1 (grey, ITU-R 601 luma as PIL's ``convert("L")``) or 3 (RGB); ``None``: 1
            when every image is grey, else 3.
        size: ``H`` (square) or ``(H, W)``; ``None`` keeps the images' own size.

    Returns:
        ``(images, files)``: float32 ``(N, C, H, W)`` in ``[0, 1]``, and each image's path
        relative to ``path`` (its class is the first folder of that path in the ImageFolder
        layout).

    Raises:
        ValueError: no such folder, no image in it, an unreadable image (named), ``channels``
            other than 1 or 3, or images of different sizes without ``size``.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "cats").mkdir()
        >>> Image.new("L", (8, 6)).save(root / "cats" / "a.png")
        >>> Image.new("RGB", (4, 4), "red").save(root / "b.png")
        >>> images, files = load_image_folder(root, size=(6, 8))
        >>> tuple(images.shape), files
        ((2, 3, 6, 8), ['b.png', 'cats/a.png'])
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist or is not a folder")
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey), 3 (RGB) or None, got {channels!r}")
    target = _size(size)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise ValueError(f"no {'/'.join(IMAGE_SUFFIXES)} images in folder {root} or its subfolders")
    opened = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                opened.append(im.copy())
        except (OSError, UnidentifiedImageError) as err:
            raise ValueError(f"cannot read image {f} ({err}); remove it from the folder") from err
    if channels is None:
        channels = 1 if all(im.mode in _GREY_MODES for im in opened) else 3
    mode = "L" if channels == 1 else "RGB"
    tensors = []
    for im in opened:
        array = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
        array = array[..., None] if array.ndim == 2 else array
        tensors.append(torch.from_numpy(array).permute(2, 0, 1))
    if target is not None:
        tensors = [_resize(t, target) for t in tensors]
    shapes = sorted({tuple(t.shape[1:]) for t in tensors})
    if len(shapes) != 1:
        raise ValueError(
            f"images in {root} have {len(shapes)} different sizes (e.g. {shapes[:3]}, as "
            "(H, W)); pass size=(H, W) to resize them as they are read"
        )
    names = [f.relative_to(root).as_posix() for f in files]
    return torch.stack(tensors).contiguous(), names


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"size must be H or (H, W), got {size!r}")
        return check_int(size[0], "size[0]", minimum=1), check_int(size[1], "size[1]", minimum=1)
    side = check_int(size, "size", minimum=1)
    return side, side


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One ``(C, H, W)`` image to ``size`` (bilinear, antialiased), clamped to ``[0, 1]``."""
    if tuple(image.shape[1:]) == size:
        return image
    out = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False,
                        antialias=True)  # fmt: skip
    return out[0].clamp_(0.0, 1.0)


def resize_images(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a batch ``(N, C, H, W)`` as :func:`load_image_folder` resizes each image."""
    target = _size(size)
    if tuple(images.shape[2:]) == target:
        return images
    out = F.interpolate(images, size=target, mode="bilinear", align_corners=False,
                        antialias=True)  # fmt: skip
    return out.clamp_(0.0, 1.0)
