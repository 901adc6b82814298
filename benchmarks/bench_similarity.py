"""Time manifold's debiased linear CKA against pytorch-cka on the same embeddings.

pytorch-cka 1.1.3 (``cka.cka_from_features``) computes the same estimator (Song et al.'s
unbiased HSIC, as in Nguyen et al. 2021) from the N x N Gram matrices; manifold computes it from
feature-space sums (float64, chunked, no N x N matrix). Two cases:

* ``pair``: one pair of matrices, N x D_a and N x D_b;
* ``zoo``: every pair of M models of one dimension D, from the peer's batched form (its Gram
  matrices stacked, M x N x N) against ``manifold.similarity_matrix``.

Each side runs in its own subprocess on the same ``.npy`` files (the peer in its own venv,
benchmarks/.venv-cka, see benchmarks/similarity.md), so that each process's peak resident
memory is its own. Values are compared in float64 (the peer computes in its input's dtype).

    python benchmarks/bench_similarity.py pair [--n 5000] [--da 256] [--db 512] [--repeats 3]
    python benchmarks/bench_similarity.py zoo [--n 2000] [--models 20] [--d 64] [--repeats 3]
    python benchmarks/bench_similarity.py pair --n 1000000 --mmap --no-peer --repeats 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PYTHON = HERE / ".venv-cka" / "bin" / "python"

# Each script prints one JSON line: the best time over the repeats, the values, the peak RSS.
MANIFOLD_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
import manifold
case, files, repeats = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
mmap = "r" if len(sys.argv) > 4 and sys.argv[4] == "mmap" else None
arrays = [np.load(f, mmap_mode=mmap) for f in files]
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    if case == "pair":
        values = [manifold.similarity(arrays[0], arrays[1]).value]
    else:
        res = manifold.similarity_matrix({str(i): a for i, a in enumerate(arrays)})
        values = res.matrix.to_numpy().ravel().tolist()
    best = min(best, time.perf_counter() - t0)
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across the exec)
status = open("/proc/self/status").read().split("VmHWM:")[1]
rss = int(status.split()[0]) / 1024
print(json.dumps({"time": best, "values": values, "rss_mib": rss,
                  "threads": torch.get_num_threads()}))
"""

PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from cka import cka_from_features
case, files, repeats = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
arrays = [torch.from_numpy(np.load(f)).double() for f in files]
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    if case == "pair":
        values = cka_from_features(arrays[0], arrays[1]).ravel().tolist()
    else:
        stacked = torch.stack(arrays)
        values = cka_from_features(stacked, stacked).ravel().tolist()
    best = min(best, time.perf_counter() - t0)
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across the exec)
status = open("/proc/self/status").read().split("VmHWM:")[1]
rss = int(status.split()[0]) / 1024
print(json.dumps({"time": best, "values": values, "rss_mib": rss,
                  "threads": torch.get_num_threads()}))
"""


def write_related(files: list[Path], n: int, dims: list[int], seed: int) -> None:
    """float32 matrices sharing an 8-dimensional signal, each with its own noise level (CKA in
    (0, 1)), written to ``.npy`` files in chunks of rows (a million rows never sit in memory)."""
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(seed)
    mixes = [rng.normal(size=(8, d)) for d in dims]
    noise = [0.5 + 2.0 * i / max(1, len(dims) - 1) for i in range(len(dims))]
    outs = [open_memmap(f, mode="w+", dtype=np.float32, shape=(n, d))
            for f, d in zip(files, dims, strict=True)]  # fmt: skip
    step = 100_000
    for lo in range(0, n, step):
        m = min(n, lo + step) - lo
        signal = rng.normal(size=(m, 8))
        for i, (out, mix, d) in enumerate(zip(outs, mixes, dims, strict=True)):
            out[lo : lo + m] = signal @ mix + noise[i] * rng.normal(size=(m, d)) + 0.1 * i
    for out in outs:
        out.flush()


def run(
    python: Path, script: str, case: str, files: list[Path], repeats: int, mmap: bool = False
) -> dict:
    argv = [str(python), "-c", script, case, ",".join(map(str, files)), str(repeats)]
    result = subprocess.run(
        [*argv, "mmap" if mmap else "load"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0:
        raise SystemExit(f"{python} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=("pair", "zoo"))
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--da", type=int, default=256)
    parser.add_argument("--db", type=int, default=512)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mmap", action="store_true",
                        help="manifold reads the files as memmaps, streamed")  # fmt: skip
    parser.add_argument("--no-peer", action="store_true",
                        help="manifold only (when N x N Gram matrices do not fit)")  # fmt: skip
    args = parser.parse_args()
    if not args.no_peer and not PEER_PYTHON.exists():
        raise SystemExit(f"no peer venv at {PEER_PYTHON}; see benchmarks/similarity.md")

    n = args.n or (5000 if args.case == "pair" else 2000)
    dims = [args.da, args.db] if args.case == "pair" else [args.d] * args.models
    data = HERE / "_data"
    data.mkdir(exist_ok=True)
    files = [data / f"similarity_{args.case}_{n}_{i}_{d}_{args.seed}.npy"
             for i, d in enumerate(dims)]  # fmt: skip
    if not all(f.exists() for f in files):
        write_related(files, n, dims, args.seed)
    what = (f"one pair, {n} x {args.da} and {n} x {args.db}" if args.case == "pair" else
            f"every pair of {args.models} models, {n} x {args.d} each")  # fmt: skip
    print(f"debiased linear CKA, {what}, float32 files; best of {args.repeats}")

    ours = run(Path(sys.executable), MANIFOLD_SCRIPT, args.case, files, args.repeats, args.mmap)
    print(f"manifold     {ours['time']:8.3f} s   peak RSS {ours['rss_mib']:8.0f} MiB"
          f"{' (memmaps)' if args.mmap else ''}, {ours['threads']} torch threads")  # fmt: skip
    if args.no_peer:
        print(f"values: manifold {np.array(ours['values'])[:3].round(6).tolist()}")
        return
    peer = run(PEER_PYTHON, PEER_SCRIPT, args.case, files, args.repeats)
    a, b = np.array(ours["values"]), np.array(peer["values"])
    print(f"pytorch-cka  {peer['time']:8.3f} s   peak RSS {peer['rss_mib']:8.0f} MiB, "
          f"{peer['threads']} torch threads")  # fmt: skip
    print(f"ratio (pytorch-cka / manifold): {peer['time'] / ours['time']:.1f}x")
    print(f"values: manifold {a[:3].round(6).tolist()} ..., pytorch-cka {b[:3].round(6).tolist()}"
          f" ...; max |difference| {np.abs(a - b).max():.2e} over {a.size}")  # fmt: skip


if __name__ == "__main__":
    main()
