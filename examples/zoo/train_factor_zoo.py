"""Train the factor zoo shipped in manifold/data/factor_zoo (the default of ``load_zoo``).

Every encoder is a ``manifold.datasets.ZooEncoder(width=16, dim=64, in_channels=3)`` trained on
``load_factor_mnist("train")`` (4000 real MNIST digits, each rendered with its own hue, rotation,
scale and position). What varies is the **augmentation recipe**: every subset of the four
families ``crop``, ``color``, ``rotation`` and ``blur`` of :mod:`manifold.augment` (16 recipes,
``"none"`` included), each with its documented strength and applied in the order crop,
rotation, color, blur. Each recipe is trained with two objectives and two seeds:

* SimCLR NT-Xent, temperature 0.5 (Chen et al., 2020, ICML, arXiv:2002.05709);
* VICReg, coefficients 25 / 25 / 1 (Bardes, Ponce & LeCun, 2022, ICLR, arXiv:2105.04906).

plus a temperature sweep of SimCLR (0.1, 0.2, 1.0, seed 0) on the full recipe, and controls:
two untrained encoders and two supervised ones (cross-entropy on the digit label through a
linear head, no augmentation). 71 encoders in all.

Views come from :func:`manifold.augment.draw_views`: view ``v`` of image ``i`` in epoch ``e`` of
seed ``s`` depends on ``(1000 * s + e, i)`` alone, so the two objectives of one recipe and seed
see the same views, and the global RNG (weight initialisation, batch order) is untouched. CPU
only, one thread per process, deterministic algorithms: two runs write identical files.

    python examples/zoo/train_factor_zoo.py                  # train all, write weights + manifest
    python examples/zoo/train_factor_zoo.py --workers 2      # two processes (2 cores)
    python examples/zoo/train_factor_zoo.py --only simclr_crop_s0 --out /tmp/fz --epochs 1
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from manifold.augment import draw_views, get_family
from manifold.datasets import ZooEncoder, load_factor_mnist

try:  # run as a script (the folder is on sys.path) or imported by the tests
    from train_zoo import nt_xent, projector, vicreg_loss
except ImportError:  # pragma: no cover - imported as examples.zoo.train_factor_zoo
    from .train_zoo import nt_xent, projector, vicreg_loss

ROOT = Path(__file__).resolve().parents[2]
ZOO_DIR = ROOT / "manifold" / "data" / "factor_zoo"
#: Families of the recipes, in the order a recipe applies them.
RECIPE_FAMILIES = ("crop", "rotation", "color", "blur")
SIZE = 32
BATCH = 256
DEFAULTS = {"width": 16, "dim": 64, "in_channels": 3, "proj": 128, "epochs": 15, "lr": 3e-3,
            "temperature": None}  # fmt: skip
FULL = "+".join(sorted(RECIPE_FAMILIES))
#: Strengths that differ from the families' defaults (see ``manifold.augment.get_family``):
#: the default colour jitter (hue +-0.1 of the circle) and rotation (+-30 degrees) leave most
#: of the rendered hue (whole circle) and rotation (+-45 degrees) factors intact, so a recipe
#: would not randomise the factor it is meant to hide.
RECIPE_STRENGTHS: dict[str, dict] = {"color": {"hue": 0.5}, "rotation": {"degrees": 45.0}}


def recipe_name(families: tuple[str, ...]) -> str:
    """Sorted family names joined by ``+``, or ``"none"``."""
    return "+".join(sorted(families)) or "none"


def all_recipes() -> list[str]:
    """The 16 recipes: every subset of :data:`RECIPE_FAMILIES`, smallest first."""
    subsets = []
    for r in range(len(RECIPE_FAMILIES) + 1):
        subsets += [recipe_name(c) for c in itertools.combinations(RECIPE_FAMILIES, r)]
    return subsets


def build_zoo() -> dict[str, dict]:
    """Name -> settings of every encoder (keys absent take :data:`DEFAULTS`)."""
    zoo: dict[str, dict] = {}
    for recipe in all_recipes():
        for method in ("simclr", "vicreg"):
            for seed in (0, 1):
                cfg = {"method": method, "recipe": recipe, "seed": seed}
                if method == "simclr":
                    cfg["temperature"] = 0.5
                zoo[f"{method}_{recipe}_s{seed}"] = cfg
    for t in (0.1, 0.2, 1.0):
        zoo[f"simclr_t{t}_{FULL}_s0"] = {"method": "simclr", "recipe": FULL, "seed": 0,
                                         "temperature": t}  # fmt: skip
    for seed in (0, 1):
        zoo[f"random_s{seed}"] = {"method": "random", "recipe": "none", "seed": seed, "epochs": 0}
        zoo[f"supervised_s{seed}"] = {"method": "supervised", "recipe": "none", "seed": seed}
    return {name: {**DEFAULTS, **cfg} for name, cfg in zoo.items()}


ZOO = build_zoo()


def recipe_augmentation(recipe: str) -> nn.Module | None:
    """One flat kornia pipeline of the recipe's families (``None`` for ``"none"``)."""
    import kornia.augmentation as K

    if recipe == "none":
        return None
    stages: list[nn.Module] = []
    for family in RECIPE_FAMILIES:
        if family in recipe.split("+"):
            params = RECIPE_STRENGTHS.get(family, {})
            module = get_family(family, image_size=SIZE, channels=3, **params)
            stages += list(module.children()) if isinstance(module, K.ImageSequential) else [module]
    return K.AugmentationSequential(*stages)


class _Run:
    """One encoder being trained: model, heads, optimiser, batch-order generator, loss curve."""

    def __init__(self, name: str, cfg: dict, steps_per_epoch: int) -> None:
        self.name, self.cfg = name, cfg
        torch.manual_seed(cfg["seed"])  # weight initialisation
        self.encoder = ZooEncoder(cfg["width"], cfg["dim"], cfg["in_channels"])
        if cfg["method"] == "supervised":
            self.head = nn.Linear(cfg["dim"], 10)
        else:
            self.head = projector(cfg["dim"], cfg["proj"])
        params = list(self.encoder.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg["lr"], weight_decay=1e-6)
        steps = max(cfg["epochs"] * steps_per_epoch, 1)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, steps)
        self.gen = torch.Generator().manual_seed(cfg["seed"])
        self.curve: list[float] = []
        self.seconds = 0.0

    def loss(self, v1: torch.Tensor, v2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        method = self.cfg["method"]
        if method == "supervised":
            return F.cross_entropy(self.head(self.encoder(v1)), labels)
        z1, z2 = self.head(self.encoder(v1)), self.head(self.encoder(v2))
        if method == "simclr":
            return nt_xent(z1, z2, self.cfg["temperature"])
        return vicreg_loss(z1, z2)

    def epoch(self, pairs: torch.Tensor, labels: torch.Tensor) -> None:
        start = time.perf_counter()
        self.encoder.train()
        self.head.train()
        order = torch.randperm(len(pairs), generator=self.gen)
        n_batches = len(pairs) // BATCH
        total = 0.0
        for b in range(n_batches):
            idx = order[b * BATCH : (b + 1) * BATCH]
            loss = self.loss(pairs[idx, 0], pairs[idx, -1], labels[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += loss.item()
        self.curve.append(total / n_batches)
        self.seconds += time.perf_counter() - start


def train_group(names: list[str], epochs: int | None = None, n: int | None = None) -> list[tuple]:
    """Train encoders that share a recipe and a seed in lock step.

    Each epoch's views are drawn once for the group. Returns ``(name, cfg, state_dict,
    seconds, epoch_losses)`` per encoder.
    """
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfgs = {name: dict(ZOO[name]) for name in names}
    if epochs is not None:
        for cfg in cfgs.values():
            cfg["epochs"] = min(cfg["epochs"], epochs)
    recipe, seed = {c["recipe"] for c in cfgs.values()}, {c["seed"] for c in cfgs.values()}
    if len(recipe) != 1 or len(seed) != 1:
        raise ValueError(f"a group shares one recipe and one seed, got {recipe} and {seed}")
    recipe, seed = recipe.pop(), seed.pop()
    images, factors = load_factor_mnist("train", n=n)
    labels = torch.as_tensor(factors["digit"].to_numpy().copy())
    runs = [_Run(name, cfg, len(images) // BATCH) for name, cfg in cfgs.items()]
    augment = recipe_augmentation(recipe)
    for epoch in range(max(cfg["epochs"] for cfg in cfgs.values())):
        if augment is None:
            pairs = images[:, None]
        else:
            pairs = draw_views(images, augment, n_views=2, seed=1000 * seed + epoch).clamp_(0, 1)
        for run in runs:
            if epoch < run.cfg["epochs"]:
                run.epoch(pairs, labels)
    out = []
    for run in runs:
        run.encoder.eval()
        out.append((run.name, run.cfg, run.encoder.state_dict(), run.seconds, run.curve))
    return out


def groups(names: list[str]) -> list[list[str]]:
    """Split names into lock-step groups (same recipe and seed), largest first."""
    by_key: dict[tuple, list[str]] = {}
    for name in names:
        by_key.setdefault((ZOO[name]["recipe"], ZOO[name]["seed"]), []).append(name)
    return sorted(by_key.values(), key=len, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="train only these encoders")
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    parser.add_argument("--epochs", type=int, help="cap the epochs (smoke tests)")
    args = parser.parse_args()
    names = args.only or list(ZOO)
    unknown = sorted(set(names) - set(ZOO))
    if unknown:
        parser.error(f"unknown encoders {unknown}")
    args.out.mkdir(parents=True, exist_ok=True)
    records_dir = args.out / "records"
    records_dir.mkdir(exist_ok=True)
    todo = [n for n in names if not (records_dir / f"{n}.json").exists()]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(train_group, g, args.epochs) for g in groups(todo)]
        for future in futures:
            for name, cfg, state, seconds, curve in future.result():
                path = args.out / f"{name}.pt"
                torch.save(state, path)
                record = {"name": name, **cfg, "batch_size": BATCH,
                          "train_seconds": round(seconds, 1),
                          "final_loss": curve[-1] if curve else None,
                          "epoch_losses": [round(v, 6) for v in curve],
                          "file": path.name,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}  # fmt: skip
                (records_dir / f"{name}.json").write_text(json.dumps(record))
                loss = "-" if not curve else f"{curve[-1]:.4f}"
                print(f"{name:>40}: loss {loss:>8}  {seconds:6.1f} s", flush=True)
    print(f"trained {len(todo)} encoders in {time.perf_counter() - start:.0f} s")
    order = {n: i for i, n in enumerate(ZOO)}
    manifest = args.out / "manifest.json"
    old = json.loads(manifest.read_text()) if manifest.exists() else []
    records = {r["name"]: r for r in old}
    for path in records_dir.glob("*.json"):
        record = json.loads(path.read_text())
        records[record["name"]] = record
    ordered = sorted(records.values(), key=lambda r: order.get(r["name"], len(order)))
    manifest.write_text(json.dumps(ordered, indent=1) + "\n")
    shutil.rmtree(records_dir)


if __name__ == "__main__":
    main()
