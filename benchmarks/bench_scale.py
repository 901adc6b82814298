"""Time and peak memory of profile_large on N x 2048 float32 memmaps (N up to 10**6).

Run each stage in its own process under ``/usr/bin/time -v`` so that "Maximum resident set
size" is that stage's peak:

    python benchmarks/bench_scale.py make  --n 100000 --path /tmp/z_1e5.npy
    /usr/bin/time -v python benchmarks/bench_scale.py large --path /tmp/z_1e5.npy --anchors 2000
    /usr/bin/time -v python benchmarks/bench_scale.py spectrum --path /tmp/z_1e5.npy
    /usr/bin/time -v python benchmarks/bench_scale.py full --path /tmp/z_1e4.npy

Stages:
  make      write a seeded low-rank-plus-noise memmap in chunks (rank-64 signal with power-law
            singular values, isotropic noise at 10% of the signal's scale).
  large     manifold.large.profile_large on the memmap (file reads, one streaming pass).
  spectrum  manifold.spectral.spectrum called on the memmap itself (reads through the mapping).
  recall    exact against IVF anchor search on the same anchors (time, recall@k).
  full      the peer: manifold.profile on the whole array loaded in memory (exact full graph),
            for the N where that fits; prints the anchor estimates' deviation from it.

Besides the process peak, a sampler thread records the peaks of RssAnon (private memory) and
RssFile (file pages mapped into the process, which the kernel can drop at any time).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np

DIM = 2048
RANK = 64


class RssSampler(threading.Thread):
    """Peaks of RssAnon and RssFile (MiB) from /proc/self/status, sampled every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = {"RssAnon": 0.0, "RssFile": 0.0}
        self._halt = threading.Event()

    def sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in self.peak:
                self.peak[key] = max(self.peak[key], int(line.split()[1]) / 1024.0)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            time.sleep(0.05)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        self.sample()
        return {k: round(v, 1) for k, v in self.peak.items()}


def make(n: int, path: str, seed: int = 0, chunk: int = 16384) -> None:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((DIM, RANK)))[0].T.astype(np.float32)
    scales = (np.arange(1, RANK + 1) ** -0.5).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        latent = rng.standard_normal((hi - lo, RANK), dtype=np.float32) * scales
        noise = rng.standard_normal((hi - lo, DIM), dtype=np.float32)
        out[lo:hi] = latent @ basis + (0.1 / np.sqrt(DIM)) * noise
    out.flush()
    del out


def stage_large(args: argparse.Namespace) -> dict:
    from manifold.large import profile_large

    z = np.load(args.path, mmap_mode="r")
    p = profile_large(
        z,
        n_anchors=args.anchors,
        k=args.k,
        index=args.index,
        nlist=args.nlist,
        nprobe=args.nprobe,
        seed=0,
    )
    settings = p.settings["model"]
    t = p.table
    values = {
        f"{r.metric}/{r.statistic}": round(float(r.value), 5)
        for r in t.itertuples()
        if r.statistic in ("value", "mean", "se")
    }
    return {"stages": settings["stages"], "seconds": settings["seconds"], "values": values}


def stage_spectrum(args: argparse.Namespace) -> dict:
    from manifold.spectral import spectrum

    start = time.perf_counter()
    s = spectrum(np.load(args.path, mmap_mode="r"))
    return {"seconds": round(time.perf_counter() - start, 3), "stable_rank": s.stable_rank()}


def stage_full(args: argparse.Namespace) -> dict:
    from manifold import profile

    z = np.load(args.path)
    start = time.perf_counter()
    p = profile(z, k=args.k, families=None, progress=False)
    seconds = time.perf_counter() - start
    values = {
        f"{r.metric}/{r.statistic}": round(float(r.value), 5)
        for r in p.table.itertuples()
        if r.statistic in ("value", "mean")
    }
    return {"seconds": round(seconds, 3), "values": values}


def stage_recall(args: argparse.Namespace) -> dict:
    """Exact against IVF anchor search on the same anchors: time and recall@k."""
    from manifold.graphs import anchor_knn
    from manifold.io import RowReader

    reader = RowReader(np.load(args.path, mmap_mode="r"))
    rows = np.sort(np.random.default_rng(0).choice(reader.n, args.anchors, replace=False))
    start = time.perf_counter()
    flat = anchor_knn(reader, rows, k=args.k)
    t_flat = time.perf_counter() - start
    start = time.perf_counter()
    ivf = anchor_knn(reader, rows, k=args.k, index="ivf", nlist=args.nlist, nprobe=args.nprobe)
    t_ivf = time.perf_counter() - start
    hits = sum(len(np.intersect1d(a, b)) for a, b in zip(flat.indices, ivf.indices, strict=True))
    return {
        "flat_seconds": round(t_flat, 3),
        "ivf_seconds": round(t_ivf, 3),
        "recall": hits / flat.indices.size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["make", "large", "spectrum", "full", "recall"])
    parser.add_argument("--path", required=True)
    parser.add_argument("--n", type=int, default=10_000, help="rows (make)")
    parser.add_argument("--anchors", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--index", default="flat", choices=["flat", "ivf"])
    parser.add_argument("--nlist", type=int, default=None)
    parser.add_argument("--nprobe", type=int, default=None)
    args = parser.parse_args()
    if args.stage == "make":
        start = time.perf_counter()
        make(args.n, args.path)
        print(json.dumps({"stage": "make", "n": args.n, "seconds": time.perf_counter() - start}))
        return
    sampler = RssSampler()
    sampler.start()
    stages = {
        "large": stage_large,
        "spectrum": stage_spectrum,
        "full": stage_full,
        "recall": stage_recall,
    }
    result = stages[args.stage](args)
    n = np.load(args.path, mmap_mode="r").shape[0]
    out = {"stage": args.stage, "n": n, "anchors": args.anchors, "index": args.index}
    out.update(result)
    out["rss_peaks_mib"] = sampler.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
