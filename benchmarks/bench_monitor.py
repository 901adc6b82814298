"""What one ``manifold.Monitor`` call costs next to one training step of the same model.

Run from the repository root:

    PYTHONPATH=. python benchmarks/bench_monitor.py                  # defaults, torch's threads
    PYTHONPATH=. python benchmarks/bench_monitor.py --threads 1 --repeats 5

The model is the one of ``examples/monitor_training.py``: the factor zoo's SimCLR crop encoder
(``ZooEncoder(16, 64, 3)``, 32 x 32 RGB input) with a fresh 64 -> 64 -> 32 head.

- **training step**: one VICReg step on a batch of ``--batch`` images, two crop views each
  (``2 * batch`` images through forward and backward, then an Adam step); the views are drawn
  beforehand, as a data loader would hand them over, so the step is the model's work only.
- **monitor call**: ``Monitor(images)`` with its defaults on ``--n`` factor-MNIST test images:
  RankMe, effective rank and alpha of the N semantic embeddings; the spread ratio and RankMe of
  K = 4 crop views per image (views drawn once, when the monitor is made). That is N (1 + K)
  images through a forward pass without gradients, then the metrics. The call is split into
  the forward passes (``Embedder.embed`` and ``Embedder.embed_drawn_views`` on the same inputs,
  timed alone) and the rest (metrics and bookkeeping: the difference).

Each time is the median of ``--repeats`` runs after one warm-up (the minimum is printed too);
the load average before and after is printed, since other work on the machine inflates times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def example():
    """examples/monitor_training.py as a module (its model and loss)."""
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location(
        "monitor_training", ROOT / "examples" / "monitor_training.py"
    )
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="probe images")
    parser.add_argument("--batch", type=int, default=256, help="training batch (images)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import manifold
    from manifold.augment import draw_views
    from manifold.datasets import load_factor_mnist
    from manifold.embed import Embedder

    print(f"load average before: {load_average()}; torch threads: {torch.get_num_threads()}")
    module = example()
    model = module.make_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train, _ = load_factor_mnist("train", n=args.batch)
    pairs = draw_views(train, "crop", n_views=2, seed=0)

    def training_step() -> None:
        model.train()
        z1, z2 = model(pairs[:, 0]), model(pairs[:, 1])
        loss = module.vicreg_loss(z1, z2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    probe, _ = load_factor_mnist("test", n=args.n)
    start = time.perf_counter()
    monitor = manifold.Monitor(probe)
    made = time.perf_counter() - start
    steps = iter(range(10**9))

    def monitor_call() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", manifold.DegenerateWarning)
            monitor(model, next(steps))

    # the monitor's views, drawn again here (the same seed) to time their forward pass alone
    kept = [draw_views(monitor.images, f, monitor.n_views, monitor.seed) for f in monitor.families]

    def forward_only() -> None:
        embedder = Embedder(model, progress=False)
        embedder.embed(monitor.images)
        for v in kept:
            embedder.embed_drawn_views(v)

    step_median, step_min = timed(training_step, args.repeats)
    call_median, call_min = timed(monitor_call, args.repeats)
    forward_median, forward_min = timed(forward_only, args.repeats)
    families = list(monitor.families)
    forwards = args.n * (1 + len(families) * monitor.n_views)
    print(
        f"model: ZooEncoder(16, 64, 3) + head 64-64-32, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, 32x32 RGB input"
    )
    print(
        f"training step: VICReg, batch {args.batch} (x2 crop views = {2 * args.batch} images "
        f"forward + backward, Adam): median {step_median:.3f} s (min {step_min:.3f})"
    )
    print(
        f"monitor: N = {args.n} probe images, families {families}, K = {monitor.n_views}, "
        f"metrics {list(monitor.metrics)}: {forwards} images forward per call; made in "
        f"{made:.2f} s (views drawn once)"
    )
    print(
        f"monitor call: median {call_median:.3f} s (min {call_min:.3f}); forward passes alone "
        f"{forward_median:.3f} s ({100 * forward_median / call_median:.0f} %), metrics and "
        f"bookkeeping {call_median - forward_median:.3f} s"
    )
    print(f"one call = {call_median / step_median:.2f} training steps")
    per_epoch = 4000 // args.batch
    print(
        f"once per epoch of the factor zoo (4000 images, {per_epoch} steps of {args.batch}): "
        f"{100 * call_median / (per_epoch * step_median):.0f} % of the epoch's training time"
    )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
