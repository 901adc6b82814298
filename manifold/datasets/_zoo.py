"""The zoos of small encoders trained with self-supervised losses (shipped package data).

Three zoos ship:

* ``"factor"`` (the default): 71 encoders of factor-controlled MNIST
  (:func:`~manifold.datasets.load_factor_mnist`), one per augmentation recipe (every subset of
  crop, color, rotation, blur) x objective (SimCLR, VICReg) x seed, a SimCLR temperature sweep,
  and untrained and supervised controls; made by ``examples/zoo/train_factor_zoo.py``.
* ``"sweep"``: 160 checkpoints of factor-MNIST encoders for choosing *within* a recipe: 4
  recipes x 2 objectives (the groups) x 5 settings of the objective's main hyperparameter x
  epochs 1, 3, 7, 15, with each run's monitor history; made by
  ``examples/zoo/train_sweep_zoo.py`` (weights stored in float16).
* ``"mnist"``: the earlier 16 encoders of grey 28 px MNIST that vary the objective and one
  hyperparameter at a time under one recipe; made by ``examples/zoo/train_zoo.py``.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from manifold._backend import resolve_device
from manifold._checks import check_choice, check_int, check_names
from manifold.typing import DeviceLike

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ZOOS",
    "ZooEncoder",
    "load_sweep_history",
    "load_transfer",
    "load_zoo",
    "zoo_dir",
    "zoo_of",
]

#: Shipped zoos: name -> folder under ``manifold/data``.
ZOOS = {"factor": "factor_zoo", "sweep": "sweep_zoo", "mnist": "zoo"}


class ZooEncoder(nn.Module):
    """The fixed convolutional encoder shared by every zoo model.

    Three 3x3 convolutions (``width``, ``2 width``, ``dim`` channels), each followed by batch
    norm and ReLU, with 2x2 max pooling after the first two (28 -> 14 -> 7), then global average
    pooling: ``(N, C, H, W)`` in ``[0, 1]`` -> ``(N, dim)`` representations (non-negative,
    taken after the last ReLU, as in ResNet backbones). Self-supervised projectors are not part
    of it.

    Args:
        width: Channels of the first convolution.
        dim: Representation size (channels of the last convolution).
        in_channels: Image channels: 1 for the MNIST zoo, 3 for the factor zoo.

    Examples:
        >>> ZooEncoder()(torch.rand(5, 1, 28, 28)).shape
        torch.Size([5, 64])
    """

    def __init__(self, width: int = 16, dim: int = 64, in_channels: int = 1) -> None:
        super().__init__()
        self.width = check_int(width, "width", minimum=1)
        self.dim = check_int(dim, "dim", minimum=1)
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]  # fmt: skip

        self.features = nn.Sequential(
            *block(self.in_channels, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, C, H, W)`` images in ``[0, 1]`` to ``(N, dim)`` representations."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected images of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return self.features(x).mean((2, 3))


def zoo_dir(zoo: str = "factor") -> Path:
    """Folder of a shipped zoo's weights, ``manifest.json`` and ``transfer.csv``.

    Args:
        zoo: ``"factor"``, ``"sweep"`` or ``"mnist"`` (see :data:`ZOOS`).
    """
    check_choice(zoo, "zoo", tuple(ZOOS))
    return Path(str(resources.files("manifold") / "data" / ZOOS[zoo]))


def zoo_names(zoo: str = "factor") -> list[str]:
    """Model names of a shipped zoo, in manifest order."""
    return [r["name"] for r in json.loads((zoo_dir(zoo) / "manifest.json").read_text())]


def zoo_of(name: str) -> str:
    """Which shipped zoo holds the model ``name`` (the zoos share no name).

    Raises:
        ValueError: no zoo has it; the message lists every zoo's models.
    """
    listing = {zoo: zoo_names(zoo) for zoo in ZOOS}
    for zoo, names in listing.items():
        if name in names:
            return zoo
    available = "; ".join(f"{zoo} zoo: {', '.join(names)}" for zoo, names in listing.items())
    raise ValueError(f"unknown zoo model {name!r}; available: {available}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_zoo(
    names: str | list[str] | None = None,
    device: DeviceLike = None,
    verify: bool = True,
    *,
    zoo: str = "factor",
) -> tuple[dict[str, ZooEncoder], pd.DataFrame]:
    """Load a shipped zoo of encoders and its manifest.

    Every weight file's SHA-256 is checked against the manifest before loading. Weights are
    float32 state dicts (a float16 file would be upcast to float32 on load).

    Args:
        names: Models to load: a list of names, or one name (``None``: all, in manifest
            order).
        device: Where to put the models (``None``: CPU).
        verify: Check checksums (leave on unless you edit the files on purpose).
        zoo: ``"factor"`` (default: 71 encoders of factor-controlled MNIST, ``(N, 3, 32, 32)``
            images from :func:`~manifold.datasets.load_factor_mnist`), ``"sweep"`` (160
            checkpoints of factor-MNIST encoders, the same images) or ``"mnist"`` (16
            encoders of grey MNIST, ``(N, 1, 28, 28)`` images from
            :func:`~manifold.datasets.load_mnist`).

    Returns:
        ``(models, manifest)``: a dict name -> :class:`ZooEncoder` in eval mode; and a
        :class:`pandas.DataFrame` indexed by name with columns ``name``, ``method``
        (``simclr``, ``vicreg``, ..., ``supervised``, ``random``), ``recipe`` (factor zoo:
        sorted augmentation families joined by ``+``, or ``"none"``), ``seed``, the
        hyperparameters, ``epochs``, ``train_seconds``, ``final_loss``, ``epoch_losses`` (mean
        loss per epoch), ``file`` and ``sha256``. The sweep zoo's manifest has, instead of the
        loss curve, ``run`` (the training run), ``group`` (``<method>_<recipe>``), ``setting``
        (the swept hyperparameter: ``temperature`` or ``variance_weight``), ``value``,
        ``epoch`` (of the checkpoint), ``loss`` (that epoch's mean loss) and ``first_collapse``
        (the first epoch the run's monitor flagged as collapsed, or missing).

    Raises:
        ValueError: an unknown name, or a weight file whose checksum does not match.

    Examples:
        >>> models, manifest = load_zoo(["simclr_color_s0"])
        >>> models["simclr_color_s0"](torch.rand(3, 3, 32, 32)).shape
        torch.Size([3, 64])
        >>> row = manifest.loc["simclr_color_s0"]
        >>> (row["method"], row["recipe"], int(row["seed"]))
        ('simclr', 'color', 0)
    """
    import pandas as pd

    root = zoo_dir(zoo)
    records = json.loads((root / "manifest.json").read_text())
    manifest = pd.DataFrame(records).set_index("name", drop=False)
    names = list(manifest.index) if names is None else check_names(names, "names")
    unknown = [n for n in names if n not in manifest.index]
    if unknown:
        raise ValueError(f"unknown zoo models {unknown}; available: {list(manifest.index)}")
    dev = resolve_device(device)
    models = {}
    for name in names:
        row = manifest.loc[name]
        path = root / row["file"]
        if verify:
            digest = _sha256(path)
            if digest != row["sha256"]:
                raise ValueError(
                    f"zoo weight file {path} has SHA-256 {digest}, but the manifest expects "
                    f"{row['sha256']}; the file is corrupt or was changed"
                )
        state = torch.load(path, map_location="cpu", weights_only=True)
        in_channels = int(row["in_channels"]) if "in_channels" in row.index else 1
        model = ZooEncoder(width=int(row["width"]), dim=int(row["dim"]), in_channels=in_channels)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})  # fmt: skip
        model.eval().requires_grad_(False)
        models[name] = model.to(dev)
    return models, manifest.loc[names]


def load_sweep_history() -> pd.DataFrame:
    """The sweep zoo's training histories: a :class:`manifold.Monitor` record after every epoch.

    Returns:
        A :class:`pandas.DataFrame` with columns ``run`` (a training run of
        :func:`load_zoo` ``(zoo="sweep")``'s ``run`` column), ``step`` (the epoch, 1-15),
        ``manifold``, ``metric``, ``value`` and ``se``: the monitor's metrics on 500 training
        images (semantic RankMe, effective rank, alpha and its R², crop spread ratio and RankMe)
        and the epoch's mean training loss (manifold ``"training"``, metric ``"loss"``).
    """
    import pandas as pd

    return pd.read_csv(zoo_dir("sweep") / "history.csv")


def load_transfer(zoo: str = "factor") -> pd.DataFrame:
    """Linear-probe accuracies (percent) of every zoo model on each transfer task.

    The factor zoo's table is made by ``examples/zoo/factor_transfer.py`` (tasks ``digit``,
    ``digit_fewshot``, ``hue``, ``rotation``, ``position``, ``scale``); the MNIST zoo's by
    ``examples/zoo/transfer.py``; the sweep zoo's by ``examples/zoo/train_sweep_zoo.py --probe``
    (the factor zoo's tasks and protocol). See docs/zoo.md for the tasks and the protocol.

    Args:
        zoo: ``"factor"``, ``"sweep"`` or ``"mnist"``.

    Returns:
        A :class:`pandas.DataFrame` indexed by model name, one column per task.
    """
    import pandas as pd

    return pd.read_csv(zoo_dir(zoo) / "transfer.csv", index_col="model")
