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
import json, resource, sys, time
import numpy as np, torch
import manifold
case, files, repeats = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
arrays = [np.load(f) for f in files]
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    if case == "pair":
        values = [manifold.similarity(arrays[0], arrays[1]).value]
    else:
        res = manifold.similarity_matrix({str(i): a for i, a in enumerate(arrays)})
        values = res.matrix.to_numpy().ravel().tolist()
    best = min(best, time.perf_counter() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"time": best, "values": values, "rss_mib": rss,
                  "threads": torch.get_num_threads()}))
"""

PEER_SCRIPT = r"""
import json, resource, sys, time
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
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"time": best, "values": values, "rss_mib": rss,
                  "threads": torch.get_num_threads()}))
"""


def make_related(n: int, dims: list[int], seed: int) -> list[np.ndarray]:
    """Matrices sharing an 8-dimensional signal with different noise levels (CKA in (0, 1))."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 8))
    out = []
    for i, d in enumerate(dims):
        noise = 0.5 + 2.0 * i / max(1, len(dims) - 1)
        z = signal @ rng.normal(size=(8, d)) + noise * rng.normal(size=(n, d)) + 0.1 * i
        out.append(z.astype(np.float32))
    return out


def run(python: Path, script: str, case: str, files: list[Path], repeats: int) -> dict:
    result = subprocess.run(
        [str(python), "-c", script, case, ",".join(map(str, files)), str(repeats)],
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
    args = parser.parse_args()
    if not PEER_PYTHON.exists():
        raise SystemExit(f"no peer venv at {PEER_PYTHON}; see benchmarks/similarity.md")

    n = args.n or (5000 if args.case == "pair" else 2000)
    dims = [args.da, args.db] if args.case == "pair" else [args.d] * args.models
    data = HERE / "_data"
    data.mkdir(exist_ok=True)
    files = [data / f"similarity_{args.case}_{n}_{i}_{d}_{args.seed}.npy"
             for i, d in enumerate(dims)]  # fmt: skip
    if not all(f.exists() for f in files):
        for f, z in zip(files, make_related(n, dims, args.seed), strict=True):
            np.save(f, z)
    what = (f"one pair, {n} x {args.da} and {n} x {args.db}" if args.case == "pair" else
            f"every pair of {args.models} models, {n} x {args.d} each")  # fmt: skip
    print(f"debiased linear CKA, {what}, float32 files; best of {args.repeats}")

    ours = run(Path(sys.executable), MANIFOLD_SCRIPT, args.case, files, args.repeats)
    peer = run(PEER_PYTHON, PEER_SCRIPT, args.case, files, args.repeats)
    a, b = np.array(ours["values"]), np.array(peer["values"])
    print(f"torch threads: manifold {ours['threads']}, pytorch-cka {peer['threads']}")
    print(f"manifold     {ours['time']:8.3f} s   peak RSS {ours['rss_mib']:8.0f} MiB")
    print(f"pytorch-cka  {peer['time']:8.3f} s   peak RSS {peer['rss_mib']:8.0f} MiB")
    print(f"ratio (pytorch-cka / manifold): {peer['time'] / ours['time']:.1f}x")
    print(f"values: manifold {a[:3].round(6).tolist()} ..., pytorch-cka {b[:3].round(6).tolist()}"
          f" ...; max |difference| {np.abs(a - b).max():.2e} over {a.size}")  # fmt: skip


if __name__ == "__main__":
    main()
