"""Watch the geometry of a model while it trains: a plain PyTorch loop with ``manifold.Monitor``.

The model is the factor zoo's SimCLR crop encoder (``ZooEncoder``, shipped with the package)
with a fresh two-layer head (64 -> 64 -> 32, no batch norm), trained with VICReg on crops of
factor-MNIST (``load_factor_mnist("train")``). Two runs start from the same weights and see the
same batches:

* ``vicreg``: VICReg as published, coefficients 25 / 25 / 1;
* ``no_variance``: the variance term's weight set to 0. Without it the invariance and covariance
  terms are both minimised by a constant output, and the representation collapses.

A :class:`manifold.Monitor` on 500 held-out test images measures the model's output every
``--every`` steps with its default metrics (RankMe, effective rank, alpha; the spread ratio and
RankMe of 4 crop views per image), appends its history to ``<out>/monitor_<run>.csv`` after
each measurement, and flags the first step at which the representation collapsed. The loss of
every step goes to ``<out>/loss_<run>.csv`` and a figure of both runs to
``<out>/monitor_training.png``.

    python examples/monitor_training.py                  # 2.5 min on 2 busy cores (load 4-5)
    python examples/monitor_training.py --quick --out /tmp/monitor
    python examples/monitor_training.py --tensorboard runs/   # also to TensorBoard, if installed
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

import manifold
from manifold.augment import draw_views
from manifold.datasets import load_factor_mnist, load_zoo

sys.path.insert(0, str(Path(__file__).resolve().parent / "zoo"))
from train_zoo import vicreg_loss  # noqa: E402 - the zoo's VICReg loss, one definition

ENCODER = "simclr_crop_s0"
#: (invariance, variance, covariance) weights of each run.
RUNS = {"vicreg": (25.0, 25.0, 1.0), "no_variance": (25.0, 0.0, 1.0)}


def make_model(seed: int = 0) -> nn.Module:
    """The shipped encoder with a fresh head (its weights drawn from ``seed``), trainable."""
    encoder = load_zoo([ENCODER])[0][ENCODER]
    with torch.random.fork_rng(devices=[]):  # the caller's RNG state is left as it was
        torch.manual_seed(seed)
        head = nn.Sequential(nn.Linear(encoder.dim, 64), nn.ReLU(), nn.Linear(64, 32))
    model = nn.Sequential(encoder, head)
    model.requires_grad_(True)
    return model.train()


def train(
    weights: tuple[float, float, float],
    steps: int,
    monitor: manifold.Monitor | None = None,
    *,
    batch: int = 128,
    n_train: int = 1024,
    lr: float = 1e-2,
    seed: int = 0,
    size: int = 32,
    csv: Path | None = None,
) -> dict:
    """Train a fresh :func:`make_model` for ``steps`` steps; measure it with ``monitor``.

    Each pass over the ``n_train`` training images draws one pair of crop views per image
    (``manifold.draw_views``, seeded by the pass), so both runs see the same views and batches.
    The monitor is called before the first step (step 0) and after every step ``s``
    (step ``s``); its ``every`` decides which steps it records.

    Returns:
        ``{"model": ..., "loss": [loss of steps 1..steps], "train_seconds": ...,
        "monitor_seconds": ...}``.
    """
    sim, var, cov = weights
    images, _ = load_factor_mnist("train", n=n_train, size=size)
    model = make_model(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    train_seconds = monitor_seconds = 0.0

    def measure(step: int) -> None:
        nonlocal monitor_seconds
        if monitor is None:
            return
        start = time.perf_counter()
        if monitor(model, step) is not None and csv is not None:
            monitor.to_csv(csv)
        monitor_seconds += time.perf_counter() - start

    measure(0)
    per_pass = n_train // batch
    for step in range(1, steps + 1):
        start = time.perf_counter()
        if (step - 1) % per_pass == 0:
            pairs = draw_views(images, "crop", n_views=2, seed=1000 * seed + (step - 1) // per_pass)
            perm = torch.randperm(n_train, generator=order)
        idx = perm[((step - 1) % per_pass) * batch :][:batch]
        z1, z2 = model(pairs[idx, 0]), model(pairs[idx, 1])
        loss = vicreg_loss(z1, z2, sim=sim, var=var, cov=cov)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        train_seconds += time.perf_counter() - start
        measure(step)
    return {"model": model, "loss": losses, "train_seconds": train_seconds,
            "monitor_seconds": monitor_seconds}  # fmt: skip


def figure(results: dict[str, dict], monitors: dict[str, manifold.Monitor]):
    import matplotlib.pyplot as plt

    panels = [("semantic", "rankme"), ("crop", "spread_ratio")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for run, monitor in monitors.items():
        history = monitor.history
        for ax, (manifold_name, metric) in zip(axes[1:], panels, strict=True):
            rows = history[(history["metric"] == metric) & (history["manifold"] == manifold_name)]
            (line,) = ax.plot(rows["step"], rows["value"], marker=".", label=run)
            if monitor.first_collapse is not None:
                ax.axvline(monitor.first_collapse, color=line.get_color(), linestyle="--")
        loss = results[run]["loss"]
        axes[0].plot(range(1, len(loss) + 1), loss, label=run)
    axes[0].set_yscale("log")
    axes[0].set_title("VICReg loss")
    axes[1].set_title("RankMe of the output (monitor)")
    axes[2].set_title("crop spread ratio (monitor)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("monitor_training"))
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--every", type=int, default=2, help="monitor every this many steps")
    parser.add_argument("--probe", type=int, default=500, help="probe images")
    parser.add_argument("--train", type=int, default=1024, help="training images")
    parser.add_argument("--batch", type=int, default=128, help="images per training step")
    parser.add_argument("--quick", action="store_true", help="4 small steps, 100 probe images")
    parser.add_argument("--tensorboard", type=Path, help="also write TensorBoard events here")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.every, args.probe, args.train, args.batch = 4, 2, 100, 64, 32
    args.out.mkdir(parents=True, exist_ok=True)
    probe, _ = load_factor_mnist("test", n=args.probe)
    results, monitors = {}, {}
    for run, weights in RUNS.items():
        writer = None
        if args.tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("tensorboard is not installed: no TensorBoard events written")
                args.tensorboard = None
            else:
                writer = SummaryWriter(str(args.tensorboard / run))
        monitor = manifold.Monitor(probe, every=args.every, n_views=4, writer=writer)
        csv = args.out / f"monitor_{run}.csv"
        csv.unlink(missing_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", manifold.DegenerateWarning)
            results[run] = train(
                weights, args.steps, monitor, batch=args.batch, n_train=args.train, csv=csv
            )
        for w in caught:
            if issubclass(w.category, manifold.DegenerateWarning):
                print(f"{run}: DegenerateWarning: {w.message}")
        if writer is not None:
            writer.close()
        monitors[run] = monitor
        loss = results[run]["loss"]
        (args.out / f"loss_{run}.csv").write_text(
            "step,loss\n" + "".join(f"{s},{v!r}\n" for s, v in enumerate(loss, start=1))
        )
        rankme = monitor.history.query("manifold == 'semantic' and metric == 'rankme'")
        calls = len(monitor.steps)
        print(
            f"{run}: loss {loss[0]:.4g} -> {loss[-1]:.4g}; RankMe "
            f"{rankme['value'].iloc[0]:.3g} -> {rankme['value'].iloc[-1]:.3g}; first collapse: "
            f"{monitor.first_collapse}; {results[run]['train_seconds'] / len(loss):.3f} s per "
            f"training step, {results[run]['monitor_seconds'] / calls:.3f} s per monitor call"
        )
        first_failures: dict[tuple[str, str], dict] = {}
        for failure in monitor.failures:
            first_failures.setdefault((failure["manifold"], failure["metric"]), failure)
        for (part, metric), failure in first_failures.items():
            print(f"{run}: {part}/{metric} undefined from step {failure['step']}: "
                  f"{failure['error']}")  # fmt: skip
    fig = figure(results, monitors)
    fig.savefig(args.out / "monitor_training.png", dpi=110)
    print(f"wrote {args.out}/monitor_*.csv, loss_*.csv and monitor_training.png")


if __name__ == "__main__":
    main()
