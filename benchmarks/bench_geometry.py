"""Benchmark the geometry metrics against scikit-dimension and GraphRicciCurvature.

Run from the repository root with the project's venv; the peers run in their own venvs in the
same run (subprocesses), on the same data:

    python benchmarks/bench_geometry.py --part dimension --n 100000 --dim 128 --peer-n 20000
    python benchmarks/bench_geometry.py --part ricci --n 20000 --peer-n 2000
    python benchmarks/bench_geometry.py --part accuracy

Peers: benchmarks/.venv-skdim (pip install scikit-dimension) and benchmarks/.venv-grc
(pip install GraphRicciCurvature). Where a peer is too slow at full size it is timed on the
first --peer-n points (or a --peer-n-node graph) and extrapolated, as printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "_data"
SKDIM = ROOT / ".venv-skdim" / "bin" / "python"
GRC = ROOT / ".venv-grc" / "bin" / "python"

SKDIM_CODE = """
import sys, time, json, numpy as np, skdim
x = np.load(sys.argv[1])
out = {}
t = time.perf_counter(); out["twonn"] = float(skdim.id.TwoNN().fit(x).dimension_)
out["twonn_s"] = time.perf_counter() - t
t = time.perf_counter(); out["mle"] = float(skdim.id.MLE().fit(x).dimension_)
out["mle_s"] = time.perf_counter() - t
print(json.dumps(out))
"""

SKDIM_ACCURACY = """
import json, numpy as np, skdim
bm = skdim.datasets.BenchmarkManifolds(random_state=0)
data = bm.generate(n=2500)
out = {}
for name, x in data.items():
    np.save(f"{sys.argv[1]}/bm_{name}.npy", x)
    out[name] = {"true": int(bm.truth.loc[name, "Intrinsic Dimension"]),
                 "twonn": float(skdim.id.TwoNN().fit(x).dimension_),
                 "mle": float(skdim.id.MLE().fit(x).dimension_)}
print(json.dumps(out))
"""

GRC_CODE = """
import sys, time, json, numpy as np, networkx as nx
from GraphRicciCurvature.OllivierRicci import OllivierRicci
e = np.load(sys.argv[1])
g = nx.Graph()
g.add_weighted_edges_from((int(a), int(b), float(w)) for a, b, w in e)
t = time.perf_counter()
orc = OllivierRicci(g, proc=2, verbose="ERROR")
orc.compute_ricci_curvature()
dt = time.perf_counter() - t
np.save(sys.argv[2], np.array([orc.G[int(a)][int(b)]["ricciCurvature"] for a, b, _ in e]))
print(json.dumps({"seconds": dt, "edges": len(e)}))
"""


def _peer(python: Path, code: str, *args: str) -> dict:
    run = subprocess.run(
        [str(python), "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _data(n: int, dim: int, intrinsic: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.random((n, intrinsic))
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (np.pad(latent, ((0, 0), (0, dim - intrinsic))) @ q.T).astype(np.float32)


def bench_dimension(n: int, dim: int, peer_n: int) -> None:
    from manifold.graphs import knn_graph
    from manifold.metrics import mle_dimension, twonn_dimension

    x = _data(n, dim)
    t = time.perf_counter()
    graph = knn_graph(x, k=20)  # one exact graph, shared by both estimators
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    twonn = twonn_dimension(graph)
    t_twonn = time.perf_counter() - t
    t = time.perf_counter()
    mle = mle_dimension(graph)
    t_mle = time.perf_counter() - t
    print(
        f"ours  N={n} D={dim}: knn_graph(k=20) {t_graph:.1f} s; given the graph: "
        f"twonn={twonn:.4f} ({t_twonn * 1e3:.1f} ms) mle={mle:.4f} ({t_mle * 1e3:.1f} ms)"
    )
    t_twonn += t_graph
    t_mle += t_graph
    sub = x[:peer_n]
    path = DATA / "dim_sub.npy"
    np.save(path, sub)
    peer = _peer(SKDIM, SKDIM_CODE, str(path))
    ours_sub = (twonn_dimension(sub), mle_dimension(knn_graph(sub, k=20)))
    print(
        f"skdim N={peer_n}: twonn={peer['twonn']:.6f} ({peer['twonn_s']:.2f} s) "
        f"mle={peer['mle']:.6f} ({peer['mle_s']:.2f} s); ours on the same points: "
        f"twonn={ours_sub[0]:.6f} mle={ours_sub[1]:.6f}"
    )
    # skdim's TwoNN in D > 25 sorts full distance rows (O(N^2)); its MLE is a kNN search plus
    # a per-point Python loop (~O(N log N)). Extrapolate accordingly.
    scale2 = (n / peer_n) ** 2
    scale1 = n / peer_n
    est_twonn = peer["twonn_s"] * scale2
    est_mle = peer["mle_s"] * scale1
    print(
        f"skdim extrapolated to N={n}: twonn ~{est_twonn:.0f} s (x{scale2:.0f}, quadratic), "
        f"mle ~{est_mle:.0f} s (x{scale1:.0f}, linear)"
    )
    print(
        f"speed-up counting our graph build in each: twonn {est_twonn / t_twonn:.1f}x, "
        f"mle {est_mle / t_mle:.1f}x; both from one graph: "
        f"{(est_twonn + est_mle) / (t_graph + t_twonn + t_mle - 2 * t_graph):.1f}x"
    )


def bench_ricci(n: int, peer_n: int, k: int) -> None:
    from manifold.graphs import knn_graph
    from manifold.metrics import ollivier_ricci

    for size in sorted({peer_n, n}):
        x = _data(size, 3, intrinsic=2, seed=1).astype(np.float64) * 10
        graph = knn_graph(x, k=k)
        ollivier_ricci(knn_graph(x[:50], k=3))  # warm-up: imports POT once
        t = time.perf_counter()
        g = ollivier_ricci(graph)
        dt = time.perf_counter() - t
        edges = np.array([(a, b, d["weight"]) for a, b, d in g.edges(data=True)])
        ours = np.array([d["ricci_curvature"] for _, _, d in g.edges(data=True)])
        print(
            f"ours  {size} nodes, {len(edges)} edges: {dt:.2f} s "
            f"({dt / len(edges) * 1e6:.0f} us/edge)"
        )
        if size == peer_n:
            path, out = DATA / "ricci_edges.npy", DATA / "ricci_grc.npy"
            np.save(path, edges)
            peer = _peer(GRC, GRC_CODE, str(path), str(out))
            diff = np.abs(np.load(out) - ours).max()
            per_edge = peer["seconds"] / peer["edges"]
            print(f"GRC   {size} nodes: {peer['seconds']:.2f} s (proc=2); max |dk| = {diff:.2e}")
            print(f"speed-up at {size} nodes: {peer['seconds'] / dt:.1f}x")
        else:
            est = per_edge * len(edges)
            print(
                f"GRC extrapolated per edge to {len(edges)} edges: ~{est:.0f} s; "
                f"speed-up {est / dt:.1f}x"
            )


def bench_accuracy() -> None:
    from manifold.metrics import mle_dimension, twonn_dimension

    peer = _peer(SKDIM, SKDIM_ACCURACY.replace("import json", "import sys, json"), str(DATA))
    rel = {"twonn": [], "mle": [], "skdim_twonn": [], "skdim_mle": []}
    for name, row in peer.items():
        x = np.load(DATA / f"bm_{name}.npy")
        d = row["true"]
        rel["twonn"].append(abs(twonn_dimension(x) - d) / d)
        rel["mle"].append(abs(mle_dimension(x) - d) / d)
        rel["skdim_twonn"].append(abs(row["twonn"] - d) / d)
        rel["skdim_mle"].append(abs(row["mle"] - d) / d)
    for key, values in rel.items():
        print(f"{key:12s} mean relative error over {len(values)} manifolds: {np.mean(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["dimension", "ricci", "accuracy"], required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--peer-n", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    print(f"python {sys.version.split()[0]}; 2 shared CPU cores")
    if args.part == "dimension":
        bench_dimension(args.n, args.dim, args.peer_n)
    elif args.part == "ricci":
        bench_ricci(args.n, args.peer_n, args.k)
    else:
        bench_accuracy()


if __name__ == "__main__":
    main()
