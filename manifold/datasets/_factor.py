"""Factor-controlled MNIST: real digits rendered with independent colour, pose and position."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from manifold._checks import check_choice, check_int
from manifold.datasets._images import load_mnist

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FACTOR_RANGES", "load_factor_mnist"]

#: Range of every rendered factor (each drawn uniformly and independently per image).
FACTOR_RANGES: dict[str, tuple[float, float]] = {
    "hue": (0.0, 1.0),  # fraction of the colour circle (HSV hue, saturation 1, value 1)
    "rotation": (-45.0, 45.0),  # degrees, counter-clockwise
    "scale": (0.6, 1.0),  # side of the 28 px MNIST box relative to the canvas side
    "x": (-0.3, 0.3),  # offset of the digit centre, in half-widths of the canvas (right > 0)
    "y": (-0.3, 0.3),  # offset of the digit centre, in half-heights of the canvas (down > 0)
}
#: Grey level of the background.
BACKGROUND = 0.15
_SPLIT_SALT = {"train": 0, "test": 1}


def _hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """``(N,)`` hues in [0, 1) -> ``(N, 3)`` fully saturated, full-value RGB (HSV to RGB)."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0
    return 1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def _render(digits: torch.Tensor, factors: dict[str, np.ndarray], size: int) -> torch.Tensor:
    """Warp ``(N, 1, 28, 28)`` digit masks onto ``size``-pixel canvases and colour them."""
    n = len(digits)
    angle = torch.as_tensor(np.deg2rad(factors["rotation"]), dtype=torch.float32)
    scale = torch.as_tensor(factors["scale"], dtype=torch.float32)
    shift = torch.as_tensor(np.stack([factors["x"], factors["y"]], 1), dtype=torch.float32)
    # affine_grid maps output coordinates p (canvas, [-1, 1]) to input coordinates
    # q = R(-angle) (p - shift) / scale, so the digit is scaled, rotated counter-clockwise on
    # screen (image y points down), then moved to ``shift``.
    cos, sin = torch.cos(angle), torch.sin(angle)
    inverse = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    inverse = inverse / scale[:, None, None]
    offset = -(inverse @ shift[:, :, None])
    theta = torch.cat([inverse, offset], 2)
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    mask = F.grid_sample(digits, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mask = mask.clamp_(0.0, 1.0)
    colour = _hue_to_rgb(torch.as_tensor(factors["hue"], dtype=torch.float32))
    return (BACKGROUND * (1.0 - mask) + colour[:, :, None, None] * mask).contiguous()


def load_factor_mnist(
    split: str = "train", n: int | None = None, seed: int = 0, size: int = 32
) -> tuple[torch.Tensor, pd.DataFrame]:
    """Real MNIST digits rendered on an RGB canvas with independently drawn factors.

    Every image takes one source digit from :func:`load_mnist` (``split="train"``: the 4000
    train digits; ``"test"``: the 1000 disjoint test digits) and draws, independently and
    uniformly (ranges in :data:`FACTOR_RANGES`):

    * ``hue``: foreground colour, anywhere on the colour circle (saturation 1, value 1);
    * ``rotation``: -45 to 45 degrees;
    * ``scale``: the 28 px digit box covers 0.6 to 1.0 of the canvas side;
    * ``x``, ``y``: the digit centre moves by up to 0.3 half-widths in each direction.

    The background is a constant dark grey (0.15). Pixels are ``background * (1 - m) +
    colour * m`` with ``m`` the bilinearly warped MNIST intensity.

    How the factors relate to the augmentation families of :mod:`manifold.augment`: ``color``
    jitters hue by up to ±0.1 of the circle and turns 20 % of views grey, so it hides part of
    the hue; ``rotation`` rotates by ±30°, two thirds of the rotation range; ``crop`` keeps 20 % to
    100 % of the area and resizes it, which moves and rescales the digit by more than the
    ``x``, ``y`` and ``scale`` ranges; ``blur`` touches no factor.

    Args:
        split: ``"train"`` or ``"test"``; the two draw from disjoint source digits.
        n: Number of images. ``None`` renders every source digit once, in order (4000 or 1000).
            A larger ``n`` reuses source digits (a seeded permutation, repeated) with fresh
            factors.
        seed: Seed of the source order and the factors (train and test streams differ).
        size: Canvas side in pixels.

    Returns:
        ``(images, factors)``: float32 ``(N, 3, size, size)`` in ``[0, 1]``, and a
        :class:`pandas.DataFrame` with one row per image and the columns ``digit``,
        ``source`` (index into ``load_mnist(split)``), ``hue``, ``rotation``, ``scale``, ``x``
        and ``y``.

    Examples:
        >>> x, factors = load_factor_mnist("test", n=8)
        >>> tuple(x.shape), list(factors.columns)
        ((8, 3, 32, 32), ['digit', 'source', 'hue', 'rotation', 'scale', 'x', 'y'])
    """
    import pandas as pd

    check_choice(split, "split", ("train", "test"))
    size = check_int(size, "size", minimum=8)
    seed = check_int(seed, "seed", minimum=0)
    digits, labels = load_mnist(split)
    n_sources = len(digits)
    n = n_sources if n is None else check_int(n, "n", minimum=1)
    rng = np.random.default_rng([seed, _SPLIT_SALT[split]])
    repeats = math.ceil(n / n_sources)
    if n == n_sources:
        source = np.arange(n_sources)
    else:
        source = np.concatenate([rng.permutation(n_sources) for _ in range(repeats)])[:n]
    factors = {name: rng.uniform(low, high, n) for name, (low, high) in FACTOR_RANGES.items()}
    images = _render(digits[torch.as_tensor(source)], factors, size)
    table = pd.DataFrame({"digit": labels.numpy()[source], "source": source, **factors})
    return images, table
