"""Benchmark the geometry metrics against scikit-dimension and GraphRicciCurvature.

Run from the repository root with the project's venv; the peers run in their own venvs in the
same run (subprocesses), on the same data:

    python benchmarks/bench_geometry.py --part dimension --n 100000 --dim 128 --peer-n 5000
    python benchmarks/bench_geometry.py --part ricci --n 20000 --peer-n 2000
    python benchmarks/bench_geometry.py --part accuracy

Peers: benchmarks/.venv-skdim (pip install scikit-dimension) and benchmarks/.venv-grc
(pip install GraphRicciCurvature). Where a peer is too slow at full size it is timed on the
first --peer-n points (or a --peer-n-node graph) and extrapolated, as printed; scikit-dimension's
MLE always runs at full size.
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
if "twonn" in sys.argv[2:]:
    t = time.perf_counter(); out["twonn"] = float(skdim.id.TwoNN().fit(x).dimension_)
    out["twonn_s"] = time.perf_counter() - t
if "mle" in sys.argv[2:]:
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
    """Both sides on the same 10-D cube rotated into ``dim`` dimensions.

    scikit-dimension's ``MLE`` runs at full size (its kNN search is scikit-learn's
    ``NearestNeighbors``, which picks brute force for D > 15). Its ``TwoNN`` sorts every row of
    the full distance matrix in D > 25, O(N^2 log N): it is timed at ``peer_n`` and ``2 peer_n``
    and extrapolated with the exponent fitted between the two.
    """
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
        f"twonn={twonn:.6f} ({t_twonn * 1e3:.1f} ms) mle={mle:.6f} ({t_mle * 1e3:.1f} ms)"
    )
    t = time.perf_counter()
    two = knn_graph(x, k=2)
    twonn_alone = twonn_dimension(two)
    t_twonn_alone = time.perf_counter() - t
    print(
        f"ours  twonn_dimension on a k=2 graph, graph included: {t_twonn_alone:.1f} s "
        f"(twonn={twonn_alone:.6f})"
    )

    path = DATA / "dim_full.npy"
    np.save(path, x)
    peer = _peer(SKDIM, SKDIM_CODE, str(path), "mle")
    print(
        f"skdim MLE  N={n}: {peer['mle_s']:.1f} s, mle={peer['mle']:.6f} "
        f"(ours {mle:.6f}, |diff| {abs(peer['mle'] - mle):.1e})"
    )
    times = {}
    for size in (peer_n, 2 * peer_n):
        sub_path = DATA / f"dim_sub{size}.npy"
        np.save(sub_path, x[:size])
        sub = _peer(SKDIM, SKDIM_CODE, str(sub_path), "twonn")
        times[size] = sub["twonn_s"]
        ours_sub = twonn_dimension(x[:size])
        print(
            f"skdim TwoNN N={size}: {sub['twonn_s']:.2f} s, twonn={sub['twonn']:.6f} "
            f"(ours {ours_sub:.6f})"
        )
    slope = np.log(times[2 * peer_n] / times[peer_n]) / np.log(2.0)
    est_twonn = times[2 * peer_n] * (n / (2 * peer_n)) ** slope
    print(
        f"skdim TwoNN extrapolated to N={n} with the fitted exponent {slope:.2f}: "
        f"~{est_twonn:.0f} s"
    )
    print(
        "speed-up end to end (our graph build included): "
        f"MLE {peer['mle_s'] / (t_graph + t_mle):.1f}x, "
        f"TwoNN {est_twonn / t_twonn_alone:.1f}x (k=2 graph), both from one k=20 graph "
        f"{(est_twonn + peer['mle_s']) / (t_graph + t_twonn + t_mle):.1f}x"
    )
    print(
        f"speed-up given the graph: MLE {peer['mle_s'] / t_mle:.0f}x, "
        f"TwoNN {est_twonn / t_twonn:.0f}x"
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
