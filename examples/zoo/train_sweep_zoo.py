"""Train the sweep zoo shipped in manifold/data/sweep_zoo (``load_zoo(zoo="sweep")``).

The question it makes testable is the everyday one: *which of my checkpoints and settings of
one recipe should I use?* The factor zoo's code, encoder and data (``train_factor_zoo.py``),
with, per **group** (a recipe and an objective), 5 settings of the objective's main
hyperparameter × 4 checkpoints:

* recipes ``none``, ``crop``, ``color+crop`` and all four families;
* SimCLR, temperature 0.05, 0.1, 0.2, 0.5 (the factor zoo's) and 1.0;
* VICReg, variance weight 25 (the factor zoo's), 5, 1, 0.2 and 0, with the invariance (25) and
  covariance (1) weights fixed: without the variance term nothing stops the embeddings from
  collapsing, and between the two the representation degrades;
* checkpoints after epochs 1, 3, 7 and 15 (the factor zoo trains 15).

160 candidates in 8 groups of 20, one seed. Each run records a :class:`manifold.Monitor`
history after every epoch (RankMe, effective rank, alpha and the crop spread ratio of 500
probe images from the training set), kept in ``history.csv`` with the epoch's mean loss.
Weights are stored in float16 (``load_zoo`` upcasts them); ``--probe`` then writes the linear-probe
accuracy of every checkpoint on the factor zoo's six tasks (``transfer.csv``, the protocol of
``factor_transfer.py``), read from the float16 files as shipped.

Runs of one recipe share their views (drawn once per epoch, seed 0), as in the factor zoo. CPU
only, one thread per process, deterministic algorithms: two runs write identical files.

    python examples/zoo/train_sweep_zoo.py --workers 2            # train, write weights + history
    python examples/zoo/train_sweep_zoo.py --probe --workers 2    # probe every checkpoint
    python examples/zoo/train_sweep_zoo.py --only vicreg_crop_var0 --out /tmp/sz --epochs 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from manifold import Monitor
from manifold.augment import draw_views
from manifold.datasets import ZooEncoder, load_factor_mnist

try:  # run as a script (the folder is on sys.path) or imported by the tests
    from train_factor_zoo import BATCH, DEFAULTS, FULL, recipe_augmentation
    from train_zoo import nt_xent, projector, vicreg_loss
except ImportError:  # pragma: no cover - imported as examples.zoo.train_sweep_zoo
    from .train_factor_zoo import BATCH, DEFAULTS, FULL, recipe_augmentation
    from .train_zoo import nt_xent, projector, vicreg_loss

ROOT = Path(__file__).resolve().parents[2]
ZOO_DIR = ROOT / "manifold" / "data" / "sweep_zoo"
RECIPES = ("none", "crop", "color+crop", FULL)
#: The setting swept per objective: (name in the model name, hyperparameter, values).
SETTINGS = {
    "simclr": ("t", "temperature", (0.05, 0.1, 0.2, 0.5, 1.0)),
    "vicreg": ("var", "variance_weight", (25.0, 5.0, 1.0, 0.2, 0.0)),
}
#: The factor zoo's setting of each objective (the "default" a user would start from).
DEFAULT_SETTING = {"simclr": 0.5, "vicreg": 25.0}
CHECKPOINTS = (1, 3, 7, 15)
SEED = 0
PROBE_IMAGES = 500


def _value(v: float) -> str:
    return f"{v:g}"


def run_name(method: str, recipe: str, value: float) -> str:
    """``<method>_<recipe>_<t|var><value>``: one training run (its checkpoints add ``_e<E>``)."""
    return f"{method}_{recipe}_{SETTINGS[method][0]}{_value(value)}"


def build_runs() -> dict[str, dict]:
    """Run name -> settings of every training run (40)."""
    runs = {}
    for recipe in RECIPES:
        for method, (_, param, values) in SETTINGS.items():
            for value in values:
                runs[run_name(method, recipe, value)] = {
                    **DEFAULTS, "method": method, "recipe": recipe, "seed": SEED,
                    "setting": param, "value": value, "temperature": None,
                    "variance_weight": None, param: value,
                }  # fmt: skip
    return runs


RUNS = build_runs()


class _Run:
    """One encoder being trained, with its monitor and the checkpoints it has written."""

    def __init__(self, name: str, cfg: dict, steps_per_epoch: int, probe: torch.Tensor) -> None:
        self.name, self.cfg = name, cfg
        torch.manual_seed(cfg["seed"])
        self.encoder = ZooEncoder(cfg["width"], cfg["dim"], cfg["in_channels"])
        self.head = projector(cfg["dim"], cfg["proj"])
        params = list(self.encoder.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg["lr"], weight_decay=1e-6)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, cfg["epochs"] * steps_per_epoch)  # fmt: skip
        self.gen = torch.Generator().manual_seed(cfg["seed"])
        self.monitor = Monitor(probe, every=1, families="crop", n_views=4, k=10, seed=SEED,
                               n_images=None)  # fmt: skip
        self.curve: list[float] = []
        self.seconds = 0.0
        self.checkpoints: dict[int, dict] = {}

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.head(self.encoder(v1)), self.head(self.encoder(v2))
        if self.cfg["method"] == "simclr":
            return nt_xent(z1, z2, self.cfg["temperature"])
        return vicreg_loss(z1, z2, sim=25.0, var=self.cfg["variance_weight"], cov=1.0)

    def epoch(self, pairs: torch.Tensor, epoch: int) -> None:
        start = time.perf_counter()
        self.encoder.train()
        self.head.train()
        order = torch.randperm(len(pairs), generator=self.gen)
        n_batches = len(pairs) // BATCH
        total = 0.0
        for b in range(n_batches):
            idx = order[b * BATCH : (b + 1) * BATCH]
            loss = self.loss(pairs[idx, 0], pairs[idx, -1])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += loss.item()
        self.curve.append(total / n_batches)
        self.seconds += time.perf_counter() - start
        self.monitor(self.encoder, step=epoch)
        if epoch in CHECKPOINTS:
            self.checkpoints[epoch] = {k: v.detach().clone().half()
                                       for k, v in self.encoder.state_dict().items()}  # fmt: skip


def train_recipe(
    names: list[str], epochs: int | None = None, n: int | None = None, n_probe: int = PROBE_IMAGES
) -> list[tuple]:
    """Train the runs of one recipe in lock step (one draw of views per epoch).

    ``n`` and ``n_probe`` shrink the training set and the monitor's probe batch (tests).

    Returns ``(name, cfg, checkpoints, seconds, epoch_losses, history, first_collapse)`` per run.
    """
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfgs = {name: dict(RUNS[name]) for name in names}
    if epochs is not None:
        for cfg in cfgs.values():
            cfg["epochs"] = min(cfg["epochs"], epochs)
    (recipe,) = {c["recipe"] for c in cfgs.values()}
    images, _ = load_factor_mnist("train", n=n)
    probe, _ = load_factor_mnist("train", n=n_probe, seed=SEED)
    runs = [_Run(name, cfg, len(images) // BATCH, probe) for name, cfg in cfgs.items()]
    augment = recipe_augmentation(recipe)
    for epoch in range(1, max(c["epochs"] for c in cfgs.values()) + 1):
        if augment is None:
            pairs = images[:, None]
        else:
            epoch_seed = 1000 * SEED + epoch - 1
            pairs = draw_views(images, augment, n_views=2, seed=epoch_seed).clamp_(0, 1)
        for run in runs:
            if epoch <= run.cfg["epochs"]:
                run.epoch(pairs, epoch)
    out = []
    for run in runs:
        history = run.monitor.history.assign(run=run.name)
        losses = pd.DataFrame({"step": range(1, len(run.curve) + 1), "manifold": "training",
                               "metric": "loss", "value": run.curve, "se": float("nan"),
                               "run": run.name})  # fmt: skip
        history = pd.concat([history, losses], ignore_index=True)
        out.append((run.name, run.cfg, run.checkpoints, run.seconds, run.curve, history,
                    run.monitor.first_collapse))  # fmt: skip
    return out


def train(names: list[str], out: Path, workers: int, epochs: int | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    by_recipe: dict[str, list[str]] = {}
    for name in names:
        by_recipe.setdefault(RUNS[name]["recipe"], []).append(name)
    records, histories = [], []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(train_recipe, group, epochs) for group in by_recipe.values()]
        for future in futures:
            for name, cfg, ckpts, seconds, curve, history, collapse in future.result():
                histories.append(history)
                for epoch, state in ckpts.items():
                    model = f"{name}_e{epoch}"
                    path = out / f"{model}.pt"
                    torch.save(state, path)
                    group = f"{cfg['method']}_{cfg['recipe']}"
                    records.append({
                        "name": model, **cfg, "run": name, "group": group,
                        "epoch": epoch, "batch_size": BATCH, "train_seconds": round(seconds, 1),
                        "loss": round(curve[epoch - 1], 6), "first_collapse": collapse,
                        "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    })  # fmt: skip
                print(f"{name:>40}: loss {curve[-1]:10.4f}  {seconds:6.1f} s  collapse at "
                      f"{collapse}", flush=True)  # fmt: skip
    print(f"trained {len(names)} runs in {time.perf_counter() - start:.0f} s")
    order = {n: i for i, n in enumerate(RUNS)}
    records.sort(key=lambda r: (order[r["run"]], r["epoch"]))
    (out / "manifest.json").write_text(json.dumps(records, indent=1) + "\n")
    history = pd.concat(histories, ignore_index=True)
    history["order"] = history["run"].map(order)
    history = history.sort_values(["order", "step", "manifold", "metric"]).drop(columns="order")
    history[["run", "step", "manifold", "metric", "value", "se"]].to_csv(
        out / "history.csv", index=False, float_format="%.6g")  # fmt: skip


def _probe_one(path: str) -> tuple[str, dict[str, float], float]:
    try:
        from factor_transfer import evaluate
    except ImportError:  # pragma: no cover
        from .factor_transfer import evaluate
    torch.set_num_threads(1)
    start = time.perf_counter()
    state = {k: v.float() for k, v in torch.load(path, weights_only=True).items()}
    model = ZooEncoder(DEFAULTS["width"], DEFAULTS["dim"], DEFAULTS["in_channels"])
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        scores = {t: round(v, 2) for t, v in evaluate(model).items()}
    return Path(path).stem, scores, time.perf_counter() - start


def probe(out: Path, workers: int) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    paths = [str(out / r["file"]) for r in manifest]
    rows = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for name, scores, seconds in pool.map(_probe_one, paths):
            rows[name] = scores
            print(f"{name:>40}: {scores}  ({seconds:.1f} s)", flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    table.to_csv(out / "transfer.csv")
    print(f"wrote {out / 'transfer.csv'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="train only these runs")
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    parser.add_argument("--epochs", type=int, help="cap the epochs (smoke tests)")
    parser.add_argument("--probe", action="store_true", help="probe the trained checkpoints")
    args = parser.parse_args()
    if args.probe:
        probe(args.out, args.workers)
        return
    names = args.only or list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        parser.error(f"unknown runs {unknown}; known: {list(RUNS)}")
    train(names, args.out, args.workers, args.epochs)


if __name__ == "__main__":
    main()
