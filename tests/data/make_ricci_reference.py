"""Store GraphRicciCurvature's Ollivier–Ricci and Forman–Ricci values as test references.

Run with GraphRicciCurvature installed (kept out of the project's environment):

    python -m venv benchmarks/.venv-grc
    benchmarks/.venv-grc/bin/pip install GraphRicciCurvature==0.6.1   # pulls networkit, POT
    benchmarks/.venv-grc/bin/python tests/data/make_ricci_reference.py

Writes tests/data/ricci_reference.npz with, for each graph ``<name>`` in ``karate`` (unit
lengths), ``karate_weighted`` (lengths uniform in [0.5, 2]) and ``knn`` (the symmetrised 8-NN
graph of 500 points of a noisy 2-D surface in R^3, lengths = Euclidean distances, scaled so
that the exp(-d^2) neighbour weights are far from uniform):
``<name>_edges`` (E, 2) int, ``<name>_length`` (E,), ``<name>_ollivier`` (E,) from
``OllivierRicci(G, alpha=0.5, method="OTD")``, ``<name>_ollivier_a0`` / ``_a09`` with alpha 0
and 0.9, ``<name>_forman`` (E,) from ``FormanRicci(G)`` (augmented), and
``<name>_ollivier_nodes`` (N,) node curvatures. ``knn_points`` holds the 500 points.
"""

from pathlib import Path

import networkx as nx
import numpy as np
from GraphRicciCurvature import __version__
from GraphRicciCurvature.FormanRicci import FormanRicci
from GraphRicciCurvature.OllivierRicci import OllivierRicci
from scipy.spatial import cKDTree


def knn_points(rng):
    uv = rng.random((500, 2)) * 6.0
    height = np.sin(uv[:, 0]) * np.cos(uv[:, 1]) + 0.05 * rng.standard_normal(500)
    return np.column_stack([uv, height])


def knn_edge_graph(points, k):
    dist, idx = cKDTree(points).query(points, k=k + 1)
    g = nx.Graph()
    g.add_nodes_from(range(len(points)))
    for i in range(len(points)):
        for d, j in zip(dist[i, 1:], idx[i, 1:], strict=True):
            g.add_edge(i, int(j), weight=float(d))
    return g


def main():
    rng = np.random.default_rng(7)
    karate = nx.karate_club_graph()
    for _, _, d in karate.edges(data=True):
        d.clear()  # unit lengths: GraphRicciCurvature then sets weight = 1
    weighted = nx.karate_club_graph()
    for _, _, d in weighted.edges(data=True):
        d["weight"] = float(rng.uniform(0.5, 2.0))
    points = knn_points(rng)
    graphs = {"karate": karate, "karate_weighted": weighted, "knn": knn_edge_graph(points, 8)}
    out = {"knn_points": points, "grc_version": np.array(__version__)}
    for name, g in graphs.items():
        edges = np.array(list(g.edges()), dtype=np.int64)
        out[f"{name}_edges"] = edges
        out[f"{name}_length"] = np.array([g[a][b].get("weight", 1.0) for a, b in edges])
        for key, alpha in [("ollivier", 0.5), ("ollivier_a0", 0.0), ("ollivier_a09", 0.9)]:
            orc = OllivierRicci(g, alpha=alpha, method="OTD", proc=1, verbose="ERROR")
            orc.compute_ricci_curvature()
            out[f"{name}_{key}"] = np.array(
                [orc.G[a][b]["ricciCurvature"] for a, b in edges], dtype=np.float64
            )
            if key == "ollivier":
                out[f"{name}_ollivier_nodes"] = np.array(
                    [orc.G.nodes[i]["ricciCurvature"] for i in range(g.number_of_nodes())]
                )
        frc = FormanRicci(g)
        frc.compute_ricci_curvature()
        out[f"{name}_forman"] = np.array([frc.G[a][b]["formanCurvature"] for a, b in edges])
        print(name, g.number_of_nodes(), len(edges), out[f"{name}_ollivier"][:4])
    np.savez_compressed(Path(__file__).with_name("ricci_reference.npz"), **out)


if __name__ == "__main__":
    main()
