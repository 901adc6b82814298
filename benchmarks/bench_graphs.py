"""Benchmark kNN and NNK graph construction against bare faiss, scikit-learn and scipy.

Run from the repository root (each part can be run alone):

    python benchmarks/bench_graphs.py knn      # 50,000 x 512, k = 10: vs faiss.knn and sklearn
    python benchmarks/bench_graphs.py nnk      # 20,000 x 512, k = 30: vs a scipy nnls loop
    python benchmarks/bench_graphs.py scaling  # N = 10k .. 100k: knn_graph + nnk_graph time
    python benchmarks/bench_graphs.py ivf      # IVF time and recall@k against nprobe
    python benchmarks/bench_graphs.py ivf --data cube --n 100000 --dim 128 --k 20

Options: --threads (default 2), --n, --dim, --k, --loop-nodes (scipy loop subsample),
--data (ivf only: the Gaussian mixture or a 10-D cube).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import scipy.optimize
import torch

from manifold.graphs import knn_graph, nnk_graph
from manifold.graphs.nnk import RIDGE


def embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Gaussian mixture on an 8-D latent space, mapped linearly to ``dim`` with small noise."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(32, 8)) * 3
    latent = centers[rng.integers(0, 32, n)] + rng.normal(size=(n, 8))
    z = latent @ rng.normal(size=(8, dim)) / np.sqrt(8) + 0.3 * rng.normal(size=(n, dim))
    return z.astype(np.float32)


def cube(n: int, dim: int, intrinsic: int = 10, seed: int = 0) -> np.ndarray:
    """Uniform points of a 10-D cube rotated into ``dim`` dimensions (no clusters)."""
    rng = np.random.default_rng(seed)
    latent = rng.random((n, intrinsic))
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (np.pad(latent, ((0, 0), (0, dim - intrinsic))) @ q.T).astype(np.float32)


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_knn(n: int, dim: int, k: int) -> None:
    import faiss
    from sklearn.neighbors import NearestNeighbors

    z = embeddings(n, dim)
    print(f"kNN: N = {n}, D = {dim}, k = {k}, float32, {torch.get_num_threads()} threads")
    t_faiss, (_, idx_faiss) = timed(lambda: faiss.knn(z, z, k + 1))
    t_ours, graph = timed(lambda: knn_graph(z, k))
    t_sk, (_, idx_sk) = timed(
        lambda: (
            NearestNeighbors(n_neighbors=k + 1, algorithm="brute", n_jobs=1).fit(z).kneighbors(z)
        )
    )
    same = np.mean(
        [len(set(a) & set(b[1:])) / k for a, b in zip(graph.indices, idx_sk, strict=True)]
    )
    print(f"  faiss.knn (k+1)         {t_faiss:8.2f} s")
    print(f"  knn_graph (flat)        {t_ours:8.2f} s   overhead x{t_ours / t_faiss:.2f}")
    print(f"  sklearn brute           {t_sk:8.2f} s   knn_graph is x{t_sk / t_ours:.2f} faster")
    print(f"  agreement with sklearn  {same:.4f}")
    t_ivf, approx = timed(lambda: knn_graph(z, k, index="ivf"))
    recall = np.mean(
        [len(set(a) & set(b)) / k for a, b in zip(graph.indices, approx.indices, strict=True)]
    )
    print(
        f"  knn_graph (ivf)         {t_ivf:8.2f} s   x{t_ours / t_ivf:.2f} vs flat, "
        f"recall@{k} = {recall:.4f}"
    )


def scipy_loop(z: np.ndarray, graph, nodes: np.ndarray) -> tuple[float, np.ndarray]:
    """Per-node NNK with scipy.optimize.nnls: kernel block, Cholesky, NNLS, as a user would."""
    z = z.astype(np.float64)
    out = np.zeros((len(nodes), graph.knn.k))
    start = time.perf_counter()
    for row, i in enumerate(nodes):
        cand = graph.knn.indices[i]
        y = z[cand] - z[i]
        gram = y @ y.T
        sq = np.diag(gram)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0)
        np.fill_diagonal(d2, 0)
        k_ss = np.exp(-d2 / (2 * graph.sigma**2)) + RIDGE * np.eye(len(cand))
        k_si = np.exp(-sq / (2 * graph.sigma**2))
        upper = np.linalg.cholesky(k_ss).T
        theta, _ = scipy.optimize.nnls(
            upper, scipy.linalg.solve_triangular(upper.T, k_si, lower=True)
        )
        theta[theta <= graph.tol] = 0
        out[row] = theta
    return time.perf_counter() - start, out


def bench_nnk(n: int, dim: int, k: int, loop_nodes: int) -> None:
    z = embeddings(n, dim)
    print(f"NNK: N = {n}, D = {dim}, k = {k}, float32, {torch.get_num_threads()} threads")
    t_knn, knn = timed(lambda: knn_graph(z, k))
    t_nnk, graph = timed(lambda: nnk_graph(knn))
    nodes = np.random.default_rng(1).choice(n, loop_nodes, replace=False)
    t_loop, theta = scipy_loop(z, graph, nodes)
    per_node = t_loop / loop_nodes
    print(f"  knn_graph               {t_knn:8.2f} s")
    print(f"  nnk_graph (batched)     {t_nnk:8.2f} s   mean degree {graph.degree.mean():.2f}")
    print(
        f"  scipy nnls loop         {per_node * 1e3:8.3f} ms/node on {loop_nodes} nodes -> "
        f"{per_node * n:.1f} s extrapolated to N = {n}"
    )
    print(f"  speed-up                x{per_node * n / t_nnk:.1f}")
    print(f"  max |dtheta|            {np.abs(theta - graph.weights[nodes]).max():.2e}")


def bench_scaling(dim: int, k: int) -> None:
    print(f"Scaling: D = {dim}, k = {k}, float32, {torch.get_num_threads()} threads")
    for n in (10_000, 30_000, 100_000):
        z = embeddings(n, dim)
        t_knn, knn = timed(lambda z=z: knn_graph(z, k))
        t_nnk, _ = timed(lambda knn=knn: nnk_graph(knn))
        print(f"  N = {n:7d}: knn_graph {t_knn:8.2f} s   nnk_graph (on that kNN) {t_nnk:8.2f} s")


def bench_ivf(n: int, dim: int, k: int, data: str) -> None:
    """IVF against the exact flat graph: time and recall@k for several nprobe values."""
    z = embeddings(n, dim) if data == "mixture" else cube(n, dim)
    print(
        f"IVF: {data} data, N = {n}, D = {dim}, k = {k}, float32, {torch.get_num_threads()} threads"
    )
    t_flat, exact = timed(lambda: knn_graph(z, k))
    print(f"  flat (exact)             {t_flat:8.2f} s")
    nlist = max(1, min(round(4 * np.sqrt(n)), n // 39))
    for nprobe in (None, 4, 8, 16, 32, 64, nlist // 8):
        t_ivf, approx = timed(lambda nprobe=nprobe: knn_graph(z, k, index="ivf", nprobe=nprobe))
        recall = np.mean(
            [len(set(a) & set(b)) / k for a, b in zip(exact.indices, approx.indices, strict=True)]
        )
        label = "default" if nprobe is None else str(nprobe)
        print(
            f"  ivf nlist={nlist} nprobe={label:>7} {t_ivf:8.2f} s   "
            f"x{t_flat / t_ivf:5.2f} vs flat, "
            f"recall@{k} = {recall:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["knn", "nnk", "scaling", "ivf"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=None)
    parser.add_argument("--loop-nodes", type=int, default=500)
    parser.add_argument("--data", choices=["mixture", "cube"], default="mixture")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass
    if args.part == "knn":
        bench_knn(args.n or 50_000, args.dim, args.k or 10)
    elif args.part == "nnk":
        bench_nnk(args.n or 20_000, args.dim, args.k or 30, args.loop_nodes)
    elif args.part == "ivf":
        bench_ivf(args.n or 50_000, args.dim, args.k or 10, args.data)
    else:
        bench_scaling(args.dim, args.k or 10)


if __name__ == "__main__":
    main()
