"""Time manifold's spectral metrics against reptrix on the same matrix.

manifold computes RankMe + alpha + stable rank + participation ratio from one ``spectrum``;
reptrix computes ``get_rankme`` + ``get_alpha``. reptrix lives in its own venv
(benchmarks/.venv-reptrix, see benchmarks/spectral.md), so it runs in a subprocess that loads
the same .npy file and prints its time.

    python benchmarks/bench_spectral.py [--n 25600] [--d 2048] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import manifold

HERE = Path(__file__).resolve().parent
REPTRIX_PYTHON = HERE / ".venv-reptrix" / "bin" / "python"

REPTRIX_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from reptrix.alpha import get_alpha
from reptrix.rankme import get_rankme
z = torch.from_numpy(np.load(sys.argv[1]))
repeats = int(sys.argv[2])
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    rank = get_rankme(z)
    alpha = get_alpha(z)[0]
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"time": best, "rankme": float(rank), "alpha": float(alpha),
                  "threads": torch.get_num_threads()}))
"""


def make_matrix(n: int, d: int, decay: float, seed: int) -> np.ndarray:
    """Gaussian rows whose covariance has eigenvalues n^-decay in a random basis, plus a mean."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    scale = torch.arange(1, d + 1, dtype=torch.float64) ** (-decay / 2)
    z = (torch.randn(n, d, generator=g, dtype=torch.float64) * scale) @ basis.T
    z += 0.05 * torch.randn(d, generator=g, dtype=torch.float64)
    return z.float().numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=25600)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--decay", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data_dir = HERE / "_data"
    data_dir.mkdir(exist_ok=True)
    path = data_dir / f"spectral_{args.n}x{args.d}_{args.decay}.npy"
    if not path.exists():
        np.save(path, make_matrix(args.n, args.d, args.decay, args.seed))
    z = np.load(path)
    print(f"matrix {z.shape[0]} x {z.shape[1]} {z.dtype}, covariance spectrum ~ n^-{args.decay}")
    print(f"torch threads: {torch.get_num_threads()}")

    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        s = manifold.spectrum(z)
        values = {
            "rankme": s.rankme(),
            "alpha": s.alpha().alpha,
            "stable_rank": s.stable_rank(),
            "participation_ratio": s.participation_ratio(),
        }
        best = min(best, time.perf_counter() - t0)
    print(f"manifold (spectrum + rankme + alpha + stable rank + PR): {best:.2f} s  {values}")

    if not REPTRIX_PYTHON.exists():
        print(f"reptrix venv missing ({REPTRIX_PYTHON}); see benchmarks/spectral.md")
        return
    out = subprocess.run(
        [str(REPTRIX_PYTHON), "-c", REPTRIX_SCRIPT, str(path), str(args.repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"reptrix (get_rankme + get_alpha): {ref['time']:.2f} s  "
        f"rankme={ref['rankme']:.1f} alpha={ref['alpha']:.4f} (torch threads {ref['threads']})"
    )
    print(f"speed-up: {ref['time'] / best:.1f}x  (manifold: 4 metrics, reptrix: 2)")
    print(
        f"RankMe on the same matrix: manifold {values['rankme']:.1f} (uncentered singular values)"
        f", reptrix {ref['rankme']:.1f} (centered covariance eigenvalues)"
    )


if __name__ == "__main__":
    sys.exit(main())
