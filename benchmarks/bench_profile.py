"""Where the time of ``manifold.profile`` goes: augmentation, forward passes, graphs, metrics.

Run from the repository root:

    python benchmarks/bench_profile.py                      # 1,000 photo crops, K = 8, 1 thread
    python benchmarks/bench_profile.py --threads 2
    python benchmarks/bench_profile.py --data mnist         # MNIST upsampled to 64 px
    python benchmarks/bench_profile.py --n 200 --check      # quick run + end-to-end check

The stages are run one after the other with the same code paths as
``profile(model, images, families, n_views=K)``:

- **augmentation**: ``manifold.augment.draw_view_chunks`` for each family, in the chunks that
  ``Embedder.embed_views`` uses (``batch_size // K`` images per chunk);
- **forward**: the model on the same views, batch by batch inside the Embedder's session
  (``Embedder._forward``), plus the semantic pass ``Embedder.embed(images)``;
- **graphs** and **metrics**: ``profile(z, view_embeddings=...)`` on those embeddings (the very
  code that ``profile`` runs after embedding), with ``manifold.graphs.knn_graph`` and
  ``nnk_graph`` wrapped by timers; graphs = the time inside those two functions, metrics = the rest.

``--check`` also runs ``Embedder.embed_views`` on the first images and checks that it returns the
embeddings computed here (so the split measures the work ``profile`` does), and times the full
``profile(model, images, ...)`` end to end for comparison with the sum of the stages.

The peers measured in the same run: one plain kornia call per chunk (``module(x)`` on the
repeated images, batch-level random parameters, not reproducible per image): the floor for the
augmentation stage; and the cost of ``torch.random.fork_rng`` and of kornia's
``RandomResizedCrop.forward_parameters`` per call.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections import defaultdict

import numpy as np
import torch

FAMILIES = ("crop", "color", "rotation", "flip", "blur")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def load_images(data: str, n: int) -> tuple[torch.Tensor, str]:
    from manifold.datasets import load_mnist, load_photos

    if data == "photos":
        x, _ = load_photos(size=64, stride=32, n_crops=n)
        return x, "64x64 RGB photo crops (load_photos(size=64, stride=32, n_crops=N))"
    x, _ = load_mnist("train")
    x = torch.nn.functional.interpolate(x[:n], size=64, mode="bilinear", align_corners=False)
    return x.clamp(0, 1), "MNIST upsampled bilinearly to 64x64 (1 channel, repeated to RGB)"


class GraphTimer:
    """Wraps ``manifold.graphs.knn_graph`` / ``nnk_graph`` and sums the time spent inside."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls: dict[str, int] = defaultdict(int)
        self._depth = 0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            self.calls[fn.__name__] += 1
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._depth -= 1

        return timed

    @contextlib.contextmanager
    def installed(self):
        import manifold.graphs as graphs

        saved = graphs.knn_graph, graphs.nnk_graph
        graphs.knn_graph, graphs.nnk_graph = self.wrap(saved[0]), self.wrap(saved[1])
        try:
            yield self
        finally:
            graphs.knn_graph, graphs.nnk_graph = saved


def bench_fork_rng(repeat: int = 2000) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(1)
    return (time.perf_counter() - start) / repeat


def bench_kornia_crop_params(k: int, repeat: int = 200) -> float:
    from manifold.augment import get_family

    crop = get_family("crop", image_size=64)
    crop.forward_parameters((k, 3, 64, 64))
    start = time.perf_counter()
    for _ in range(repeat):
        crop.forward_parameters((k, 3, 64, 64))
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("photos", "mnist"), default="photos")
    parser.add_argument("--n", type=int, default=1000, help="images")
    parser.add_argument("--views", type=int, default=8, help="K, views per image")
    parser.add_argument("--k", type=int, default=10, help="graph neighbours")
    parser.add_argument("--batch-size", type=int, default=256, help="Embedder batch size")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--check", action="store_true", help="equality + end-to-end checks")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass

    from manifold import profile
    from manifold.augment import draw_view_chunks, get_family
    from manifold.datasets import efficientnet_lite0
    from manifold.embed import Embedder

    load_before = load_average()
    x, described = load_images(args.data, args.n)
    n, k_views = x.shape[0], args.views
    model = efficientnet_lite0()
    embedder = Embedder(model, batch_size=args.batch_size, progress=False)
    per_chunk = max(1, args.batch_size // k_views)
    print(f"images: {n} x {tuple(x.shape[1:])}, {described}")
    print(
        f"model: EfficientNet-Lite0 head (1280-d), K = {k_views}, k = {args.k}, "
        f"families = {args.families}, batch {args.batch_size} views ({per_chunk} images/chunk)"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    print(f"load average before: {load_before}")

    # warm-up (imports, kernels, first-call costs) outside the timings
    with embedder._session():
        embedder._forward(x[:2])
    for fam in args.families:
        for _ in draw_view_chunks(x[:2], fam, k_views, 0, per_chunk):
            pass

    t_aug: dict[str, float] = {}
    t_plain: dict[str, float] = {}
    t_fwd: dict[str, float] = {}
    start = time.perf_counter()
    z = embedder.embed(x)
    t_fwd["semantic"] = time.perf_counter() - start
    family_views: dict[str, torch.Tensor] = {}
    for fam in args.families:
        chunks = []
        start = time.perf_counter()
        for index, chunk in draw_view_chunks(x, fam, k_views, 0, per_chunk):
            chunks.append((index, chunk))
        t_aug[fam] = time.perf_counter() - start

        module = get_family(fam, image_size=tuple(x.shape[-2:]), channels=x.shape[1])
        start = time.perf_counter()
        with torch.no_grad():
            for s in range(0, n, per_chunk):
                module(x[s : s + per_chunk].repeat_interleave(k_views, dim=0))
        t_plain[fam] = time.perf_counter() - start

        out = torch.empty((n, k_views, z.shape[1]))
        start = time.perf_counter()
        with embedder._session():
            for index, chunk in chunks:
                b = chunk.shape[0]
                flat = chunk.reshape(b * k_views, *chunk.shape[2:])
                feats = torch.cat(
                    [
                        embedder._forward(flat[i : i + args.batch_size])
                        for i in range(0, flat.shape[0], args.batch_size)
                    ]
                )
                out[index] = feats.reshape(b, k_views, -1)
        t_fwd[fam] = time.perf_counter() - start
        family_views[fam] = out
        del chunks
        print(
            f"  {fam:9s} augmentation {t_aug[fam]:7.2f} s ({1e3 * t_aug[fam] / n:6.2f} ms/image; "
            f"plain kornia {t_plain[fam]:6.2f} s, x{t_aug[fam] / t_plain[fam]:.2f})  "
            f"forward {t_fwd[fam]:7.2f} s"
        )

    timer = GraphTimer()
    start = time.perf_counter()
    with timer.installed():
        prof = profile(
            z, view_embeddings=family_views, k=args.k, seed=0, max_samples=25600, progress=False
        )
    t_after = time.perf_counter() - start
    t_graphs = timer.seconds
    t_metrics = t_after - t_graphs
    if prof.failures:
        print(f"  failures: {prof.failures}")
    load_after = load_average()

    aug, fwd = sum(t_aug.values()), sum(t_fwd.values())
    total = aug + fwd + t_graphs + t_metrics
    print(f"\nload average after: {load_after}")
    print(f"graph builds: {dict(timer.calls)}")
    print("| stage | time | share |")
    print("| --- | --- | --- |")
    for name, t in (
        ("augmentation (draw_view_chunks, 5 families)", aug),
        ("forward passes (semantic + views)", fwd),
        ("graphs (knn_graph, nnk_graph)", t_graphs),
        ("metrics (everything else in profile)", t_metrics),
        ("total", total),
    ):
        print(f"| {name} | {t:.2f} s | {100 * t / total:.1f} % |")
    print(f"non-forward share: {100 * (total - fwd) / total:.1f} % (target <= 25 %)")
    plain = sum(t_plain.values())
    print(f"plain kornia (batch-level parameters) for the same views: {plain:.1f} s")
    print(f"forward per view: {1e3 * fwd / (n * (1 + k_views * len(args.families))):.2f} ms")
    print(f"fork_rng + manual_seed per call: {1e6 * bench_fork_rng():.1f} us")
    crop_params = bench_kornia_crop_params(k_views)
    print(
        f"kornia RandomResizedCrop.forward_parameters(({k_views}, 3, 64, 64)): "
        f"{1e3 * crop_params:.3f} ms per call"
    )

    if args.check:
        m = min(n, 2 * per_chunk + 3)
        ref = embedder.embed_views(x[:m], args.families[0], n_views=k_views, seed=0)
        same = torch.equal(ref, family_views[args.families[0]][:m])
        print(f"check: embed_views == staged embeddings on {m} images: {same}")
        start = time.perf_counter()
        end_to_end = profile(
            model,
            x,
            families=args.families,
            n_views=k_views,
            k=args.k,
            seed=0,
            batch_size=args.batch_size,
            progress=False,
        )
        t_e2e = time.perf_counter() - start
        a = end_to_end.table.set_index(["manifold", "metric", "statistic"])["value"]
        b = prof.table.set_index(["manifold", "metric", "statistic"])["value"]
        print(
            f"check: profile(model, images) end to end {t_e2e:.1f} s vs sum of stages "
            f"{total:.1f} s; max |table difference| {np.nanmax(np.abs(a - b.reindex(a.index))):.3g}"
        )


if __name__ == "__main__":
    main()
