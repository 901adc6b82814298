"""A PyTorch Lightning callback that runs a :class:`~manifold.Monitor` during ``Trainer.fit``.

Needs PyTorch Lightning: ``pip install manifold-geometry[lightning]``. The callback subclasses
the ``Callback`` of ``lightning.pytorch`` when that package is installed, else that of
``pytorch_lightning``; pass it to a ``Trainer`` of the same package. Without either, this module
still imports and making a :class:`MonitorCallback` raises an ``ImportError`` that names the
extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from torch import nn

from manifold._checks import check_choice
from manifold.monitor import Monitor

__all__ = ["MonitorCallback", "lightning_module"]


def _find_lightning() -> ModuleType | None:
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_LIGHTNING = _find_lightning()
#: The base class: the installed Lightning's ``Callback`` (``object`` without Lightning).
Callback = object if _LIGHTNING is None else _LIGHTNING.Callback


def lightning_module() -> ModuleType:
    """The Lightning package the callback is built on (``lightning.pytorch`` first).

    Raises:
        ImportError: neither ``lightning`` nor ``pytorch_lightning`` is installed (the message
            names the extra to install).
    """
    if _LIGHTNING is None:
        raise ImportError(
            "manifold needs the optional package 'pytorch_lightning' (or 'lightning') for the "
            "Lightning callback. Install it with `pip install manifold-geometry[lightning]`."
        )
    return _LIGHTNING


class MonitorCallback(Callback):
    """Call a :class:`~manifold.Monitor` from ``Trainer.fit`` and log its values.

    With ``on="epoch"`` the monitor is called at the end of every training epoch with
    ``step = trainer.current_epoch`` (0 for the first epoch); with ``on="batch"``, after every
    training batch with ``step = trainer.global_step`` (optimizer steps; a batch that does not
    step the optimizer, under gradient accumulation, is not measured again). The monitor's
    ``every`` picks which of these steps are recorded: ``Monitor(images, every=100)`` with
    ``on="batch"`` measures every 100 optimizer steps.

    It runs on the process of global rank 0 only (``trainer.is_global_zero``); the other
    processes skip it and wait for nothing. Each recorded value goes to every logger of the
    trainer (``logger.log_metrics``) as ``manifold/<manifold>/<metric>`` at
    ``trainer.global_step``; :attr:`monitor` keeps the history, the collapse flag and the
    failures.

    Args:
        monitor: The :class:`~manifold.Monitor` to call.
        on: ``"epoch"`` or ``"batch"``.
        module: What to embed the probe images with: ``None`` (the LightningModule's
            ``forward``), the name of a submodule (e.g. ``"encoder"``), or a callable
            ``f(pl_module) -> nn.Module``.
        log: Send the values to the trainer's loggers.

    Raises:
        ImportError: PyTorch Lightning is not installed.
        TypeError, ValueError: a bad monitor, ``on`` or ``module``.
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        on: str = "epoch",
        module: str | Callable[[Any], nn.Module] | None = None,
        log: bool = True,
    ) -> None:
        lightning_module()
        super().__init__()
        if not isinstance(monitor, Monitor):
            raise TypeError(f"monitor must be a manifold.Monitor, got {type(monitor).__name__}")
        if module is not None and not isinstance(module, str) and not callable(module):
            raise TypeError(
                "module must be None, a submodule name or a callable f(pl_module) -> nn.Module, "
                f"got {type(module).__name__}"
            )
        self.monitor = monitor
        self.on = check_choice(on, "on", ("epoch", "batch"))
        self.module = module
        self.log = bool(log)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Measure at ``trainer.global_step`` (``on="batch"``)."""
        if self.on == "batch":
            self._measure(trainer, pl_module, int(trainer.global_step))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Measure at ``trainer.current_epoch`` (``on="epoch"``)."""
        if self.on == "epoch":
            self._measure(trainer, pl_module, int(trainer.current_epoch))

    def _target(self, pl_module: Any) -> nn.Module:
        if self.module is None:
            return pl_module
        if isinstance(self.module, str):
            try:
                return pl_module.get_submodule(self.module)
            except AttributeError as err:
                raise ValueError(f"the LightningModule has no submodule {self.module!r}") from err
        target = self.module(pl_module)
        if not isinstance(target, nn.Module):
            raise TypeError(f"module(pl_module) returned {type(target).__name__}, not a Module")
        return target

    def _measure(self, trainer: Any, pl_module: Any, step: int) -> None:
        if not trainer.is_global_zero:
            return
        done = self.monitor.steps
        if done and step <= done[-1]:  # the same optimizer step, under gradient accumulation
            return
        rows = self.monitor(self._target(pl_module), step)
        if rows is None or not self.log or rows.empty:
            return
        values = {
            f"manifold/{manifold}/{metric}": float(value)
            for manifold, metric, value in rows[["manifold", "metric", "value"]].itertuples(
                index=False
            )
        }
        for logger in trainer.loggers:
            logger.log_metrics(values, step=int(trainer.global_step))
