"""Train the zoo of small MNIST encoders shipped in manifold/data/zoo.

Every model shares the architecture ``manifold.datasets.ZooEncoder`` (3 conv layers, 64-d
representation) and is trained on the MNIST train split (``load_mnist("train")``, 4000 images)
from the same seed; only the method and one hyperparameter at a time change, so the zoo spans
different representation geometries. CPU only, deterministic (``torch.use_deterministic_algorithms``
and a fixed seed per model), 5.5 minutes on an idle 2-core machine (one thread).

    python examples/zoo/train_zoo.py            # train all, write weights + manifest
    python examples/zoo/train_zoo.py --only simclr_t0.5 --out /tmp/zoo   # one model elsewhere

Losses (written out below, each with its reference):
  * SimCLR NT-Xent (Chen et al., 2020, ICML, arXiv:2002.05709)
  * SimSiam negative cosine with stop-gradient (Chen & He, 2021, CVPR, arXiv:2011.10566)
  * Barlow Twins (Zbontar et al., 2021, ICML, arXiv:2103.03230)
  * VICReg (Bardes, Ponce & LeCun, 2022, ICLR, arXiv:2105.04906)
plus a supervised encoder (cross-entropy through a linear head) and an untrained encoder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from manifold.augment import draw_views
from manifold.datasets import ZooEncoder, load_mnist

ROOT = Path(__file__).resolve().parents[2]
ZOO_DIR = ROOT / "manifold" / "data" / "zoo"
BATCH = 256
SEED = 0
FINGERPRINT_MODEL = "simclr_t0.5"

# name -> settings; keys absent here take DEFAULTS.
DEFAULTS = {"width": 8, "dim": 64, "proj": 128, "strength": 1.0, "epochs": 12, "lr": 3e-3}
ZOO = {
    "random_init": {"method": "random", "epochs": 0},
    "supervised": {"method": "supervised", "strength": 0.5},
    "simclr_t0.1": {"method": "simclr", "temperature": 0.1},
    "simclr_t0.5": {"method": "simclr", "temperature": 0.5},
    "simclr_t1.0": {"method": "simclr", "temperature": 1.0},
    "simclr_aug0.5": {"method": "simclr", "temperature": 0.5, "strength": 0.5},
    "simclr_aug1.5": {"method": "simclr", "temperature": 0.5, "strength": 1.5},
    "simclr_proj16": {"method": "simclr", "temperature": 0.5, "proj": 16},
    "simclr_ep3": {"method": "simclr", "temperature": 0.5, "epochs": 3},
    "simsiam": {"method": "simsiam"},
    "barlow_l0.005": {"method": "barlow", "lambd": 0.005},
    "barlow_l0.05": {"method": "barlow", "lambd": 0.05},
    "barlow_l0.0005": {"method": "barlow", "lambd": 0.0005},
    "vicreg": {"method": "vicreg"},
    "vicreg_proj32": {"method": "vicreg", "proj": 32},
    "vicreg_ep3": {"method": "vicreg", "epochs": 3},
}


# ---------------------------------------------------------------- augmentations
def make_augment(strength: float) -> nn.Module:
    """The augmentation for 28x28 digits: one random affine warp (rotate, scale, shear, shift)
    and noise. Views are drawn from it by ``manifold.augment.draw_views`` (see ``epoch_views``).

    ``strength`` scales every range (0.5 weak, 1 default, 1.5 strong). A single warp keeps the
    cost to one resampling per view on 2 CPU cores.
    """
    import kornia.augmentation as K

    s = strength
    return K.AugmentationSequential(
        K.RandomAffine(
            degrees=20 * s,
            translate=(0.12 * s, 0.12 * s),
            scale=(1 - 0.3 * s, 1 + 0.1 * s),
            shear=12 * s,
        ),
        K.RandomGaussianNoise(std=0.15 * s, p=0.5),
    )


def epoch_views(images: torch.Tensor, augment: nn.Module, n_views: int, epoch: int) -> torch.Tensor:
    """``(N, n_views, 1, 28, 28)`` views of the whole training split for one epoch.

    Drawn by :func:`manifold.augment.draw_views`, so view ``v`` of image ``i`` in epoch ``e`` comes
    from the seed ``(1000 * SEED + e, i)`` alone: the same whatever the batch order, and the
    global RNG (which drives weight initialisation and batch order) is left untouched.
    """
    return draw_views(images, augment, n_views=n_views, seed=1000 * SEED + epoch).clamp_(0, 1)


# ---------------------------------------------------------------- losses
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross entropy over 2B views (Chen et al., 2020)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, target)


def simsiam_loss(p1, p2, z1, z2) -> torch.Tensor:
    """Symmetrised negative cosine with stop-gradient on the targets (Chen & He, 2021)."""
    return (
        -(F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean())
        / 2
    )


def barlow_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float) -> torch.Tensor:
    """Barlow Twins: cross-correlation of batch-standardised views pushed to I (Zbontar 2021)."""
    n = z1.shape[0]
    c = ((z1 - z1.mean(0)) / z1.std(0)).T @ ((z2 - z2.mean(0)) / z2.std(0)) / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lambd * off


def vicreg_loss(z1, z2, sim=25.0, var=25.0, cov=1.0) -> torch.Tensor:
    """VICReg: invariance + variance hinge + covariance penalty (Bardes et al., 2022)."""
    n, d = z1.shape
    invariance = F.mse_loss(z1, z2)
    variance, covariance = 0.0, 0.0
    for z in (z1, z2):
        z = z - z.mean(0)
        variance = variance + F.relu(1 - torch.sqrt(z.var(0) + 1e-4)).mean()
        c = z.T @ z / (n - 1)
        covariance = covariance + (c.pow(2).sum() - torch.diagonal(c).pow(2).sum()) / d
    return sim * invariance + var * variance + cov * covariance


def projector(dim: int, width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(dim, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True), nn.Linear(width, width)
    )


# ---------------------------------------------------------------- training
def train_one(name: str, cfg: dict, images: torch.Tensor, labels: torch.Tensor) -> tuple:
    torch.manual_seed(SEED)  # weight initialisation
    gen = torch.Generator().manual_seed(SEED)
    encoder = ZooEncoder(width=cfg["width"], dim=cfg["dim"])
    method = cfg["method"]
    heads = nn.ModuleDict()
    if method == "supervised":
        heads["head"] = nn.Linear(cfg["dim"], 10)
    elif method in ("simclr", "barlow", "vicreg", "simsiam"):
        heads["proj"] = projector(cfg["dim"], cfg["proj"])
        if method == "simsiam":
            hidden = max(cfg["proj"] // 4, 8)
            heads["pred"] = nn.Sequential(
                nn.Linear(cfg["proj"], hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, cfg["proj"]),
            )  # fmt: skip
    augment = make_augment(cfg["strength"])
    params = list(encoder.parameters()) + list(heads.parameters())
    opt = torch.optim.Adam(params, lr=cfg["lr"], weight_decay=1e-6)
    steps = cfg["epochs"] * (len(images) // BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    encoder.train()
    heads.train()
    start, last, curve = time.perf_counter(), float("nan"), []
    bar = tqdm(total=steps, desc=f"{name:>15}", leave=False)
    n_views = 1 if method == "supervised" else 2
    for epoch in range(cfg["epochs"]):
        order = torch.randperm(len(images), generator=gen)
        pairs = epoch_views(images, augment, n_views, epoch)
        epoch_loss = 0.0
        for b in range(len(images) // BATCH):
            idx = order[b * BATCH : (b + 1) * BATCH]
            if method == "supervised":
                loss = F.cross_entropy(heads["head"](encoder(pairs[idx, 0])), labels[idx])
            else:
                v1, v2 = pairs[idx, 0], pairs[idx, 1]
                z1, z2 = heads["proj"](encoder(v1)), heads["proj"](encoder(v2))
                if method == "simclr":
                    loss = nt_xent(z1, z2, cfg["temperature"])
                elif method == "simsiam":
                    loss = simsiam_loss(heads["pred"](z1), heads["pred"](z2), z1, z2)
                elif method == "barlow":
                    loss = barlow_loss(z1, z2, cfg["lambd"])
                else:
                    loss = vicreg_loss(z1, z2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            last = loss.item()
            epoch_loss += last
            bar.update()
            bar.set_postfix(loss=f"{last:.4f}")
        curve.append(epoch_loss / (len(images) // BATCH))
    bar.close()
    encoder.eval()
    return encoder, time.perf_counter() - start, last, curve


def fingerprint_batch() -> torch.Tensor:
    """The fixed batch whose embedding tests compare: the first 16 MNIST test images."""
    return load_mnist("test")[0][:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="train only these models")
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    # One thread: on a shared 2-core machine two torch threads ran 6x slower (oversubscribed).
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    images, labels = load_mnist("train")
    names = args.only or list(ZOO)
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for name in tqdm(names, desc="zoo"):
        cfg = {**DEFAULTS, **ZOO[name]}
        encoder, seconds, loss, curve = train_one(name, cfg, images, labels)
        path = args.out / f"{name}.pt"
        torch.save(encoder.state_dict(), path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        record = {"name": name, **cfg, "seed": SEED, "batch_size": BATCH,
                  "train_seconds": round(seconds, 1),
                  "final_loss": None if loss != loss else loss,
                  "epoch_losses": [round(v, 6) for v in curve],
                  "file": path.name, "sha256": digest}  # fmt: skip
        for key in ("temperature", "lambd"):
            record.setdefault(key, None)
        records.append(record)
        tqdm.write(f"{name:>15}: {cfg['method']:<10} loss {loss:9.4f}  {seconds:6.1f} s")
        if name == FINGERPRINT_MODEL:
            with torch.no_grad():
                emb = encoder(fingerprint_batch())
            fingerprint = {"model": name, "batch": "load_mnist('test')[0][:16]",
                           "embedding": emb.tolist()}  # fmt: skip
            (args.out / "fingerprint.json").write_text(json.dumps(fingerprint))
    manifest = args.out / "manifest.json"
    if args.only and manifest.exists():  # keep the other models' entries
        old = [r for r in json.loads(manifest.read_text()) if r["name"] not in names]
        order = {n: i for i, n in enumerate(ZOO)}
        records = sorted(old + records, key=lambda r: order.get(r["name"], len(order)))
    manifest.write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
