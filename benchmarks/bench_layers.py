"""A layer sweep against one profile per layer: time and peak memory.

Run from the repository root:

    PYTHONPATH=. python benchmarks/bench_layers.py                  # 16 blocks, 248 crops
    PYTHONPATH=. python benchmarks/bench_layers.py --n 60 --views 2 # quick

EfficientNet-Lite0 (ImageNet weights) on photo crops, its L MBConv blocks (``layers="all"``,
L = 16), augmentation families crop and flip with K views each. Each measurement runs in its own
subprocess (``--child``), so that its peak resident memory (``ru_maxrss``) is its own:

- **sweep**: ``profile(model, images, layers=...)``, one call;
- **separate**: ``profile(model, images, layer=name)`` for each of the L layers, one after the
  other in one process (the reference: what a user did by hand before);
- **embed sweep** / **embed separate**: the same two without the metrics (``Embedder.embed`` and
  ``embed_views`` of both families), to show the forward passes apart from the graphs and
  metrics, which a sweep computes once per layer like separate profiles do.

Each child also reports its resident memory after loading the model and images and a warm-up
profile of 16 images (the baseline: libraries imported) and the peak. The driver first reports
the bytes of every layer's full-resolution output over all images and views (what keeping all
activations would cost) against the pooled features a sweep keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

FAMILIES = ["crop", "flip"]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> None:
    from manifold import profile
    from manifold.datasets import efficientnet_lite0, load_photos
    from manifold.embed import Embedder, select_layers

    torch.set_num_threads(args.threads)
    images, _ = load_photos(size=args.size, n_crops=args.n)
    model = efficientnet_lite0()
    layers = select_layers(model, "all")[: args.layers]
    common = dict(families=FAMILIES, n_views=args.views, k=10, seed=0, progress=False)
    # warm-up on 16 images, so that the baseline includes the lazily imported libraries
    profile(model, images[:16], layer=layers[0], **{**common, "n_views": 2, "k": 5})
    baseline = rss_mib()
    start = time.perf_counter()
    if args.child == "sweep":
        profile(model, images, layers=layers, **common)
    elif args.child == "separate":
        for layer in layers:
            profile(model, images, layer=layer, **common)
    elif args.child == "embed-sweep":
        emb = Embedder(model, layers=layers, progress=False)
        emb.embed(images)
        for fam in FAMILIES:
            emb.embed_views(images, fam, n_views=args.views, seed=0)
    elif args.child == "embed-separate":
        for layer in layers:
            emb = Embedder(model, layer=layer, progress=False)
            emb.embed(images)
            for fam in FAMILIES:
                emb.embed_views(images, fam, n_views=args.views, seed=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": args.child, "seconds": seconds, "baseline_mib": baseline,
                      "peak_mib": peak, "layers": len(layers)}))  # fmt: skip


def activation_bytes(args: argparse.Namespace) -> tuple[int, int]:
    """Bytes of all layers' full outputs over the sweep's images and views, and pooled bytes."""
    from manifold.datasets import efficientnet_lite0, load_photos
    from manifold.embed import select_layers

    images, _ = load_photos(size=args.size, n_crops=args.n)
    model = efficientnet_lite0()
    layers = select_layers(model, "all")[: args.layers]
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(module, inputs, output) -> None:  # returns None: the output is left as it is
            shapes.setdefault(name, tuple(output.shape[1:]))

        return hook

    hooks = [model.get_submodule(name).register_forward_hook(record(name)) for name in layers]
    with torch.no_grad():
        model(images[:1])
    for hook in hooks:
        hook.remove()
    rows = images.shape[0] * (1 + len(FAMILIES) * args.views)
    full = sum(rows * 4 * int(torch.tensor(s).prod()) for s in shapes.values())
    pooled = sum(rows * 4 * s[0] for s in shapes.values())
    return full, pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=248, help="photo crops")
    parser.add_argument("--size", type=int, default=64, help="crop side in pixels")
    parser.add_argument("--views", type=int, default=4, help="views per image and family (K)")
    parser.add_argument("--layers", type=int, default=16, help="the first L blocks")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    full, pooled = activation_bytes(args)
    print(f"N = {args.n} crops of {args.size} px, K = {args.views} x {FAMILIES}, "
          f"{args.layers} layers, {args.threads} thread(s)")  # fmt: skip
    print(f"all layers' full outputs over every image and view: {full / 2**20:.0f} MiB; "
          f"pooled features kept by a sweep: {pooled / 2**20:.1f} MiB")  # fmt: skip
    results = {}
    for mode in ("embed-sweep", "embed-separate", "sweep", "separate"):
        cmd = [sys.executable, __file__, "--child", mode, "--n", str(args.n), "--size",
               str(args.size), "--views", str(args.views), "--layers", str(args.layers),
               "--threads", str(args.threads)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[mode]
        print(f"{mode:15s} {r['seconds']:8.1f} s   RSS after setup {r['baseline_mib']:6.0f} MiB, "
              f"peak {r['peak_mib']:6.0f} MiB")  # fmt: skip
    for what, a, b in (("embedding", "embed-sweep", "embed-separate"),
                       ("profile", "sweep", "separate")):  # fmt: skip
        ratio = results[b]["seconds"] / results[a]["seconds"]
        print(f"{what}: sweep {results[a]['seconds']:.1f} s vs {args.layers} separate "
              f"{results[b]['seconds']:.1f} s: {ratio:.2f}x faster; the sweep takes "
              f"{results[a]['seconds'] / results[b]['seconds'] * args.layers:.2f}x the time of "
              "one average separate run")  # fmt: skip
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
