"""Ollivier–Ricci curvature on sampled surfaces of curvature +1, 0 and -1 has the right sign.

Theory (Ollivier 2009, Example 7; van der Hoorn et al. 2021 for random geometric graphs): with
m_x the uniform measure on the geodesic eps-ball of x in a d-dimensional Riemannian manifold and
y close to x in direction v, kappa(x, y) = eps^2 Ric(v, v) / (2 (d + 2)) + O(eps^3 + eps^2 d(x, y)).
For surfaces (d = 2) of constant Gaussian curvature K, Ric = K: kappa ~ K eps^2 / 8.

Discrete counterpart: points sampled uniformly w.r.t. area on a geodesic disc of the unit sphere
(K = +1), of the plane (K = 0) and of the hyperbolic plane (K = -1), joined when their geodesic
distance is <= eps, with that distance as the edge length (so the graph is a geometric graph of
the surface itself, not of an embedding: the hyperboloid in Euclidean R^3 carries a different
metric, so its Minkowski distance arccosh(<p, q>) is used). ``ollivier_ricci(alpha=0,
exp_power=0)`` then uses exactly the uniform measure on each eps-ball, and graph shortest paths
approximate geodesic distances. Only edges near the centre of each disc are scored, so that
every node and path the transport can use (within 2 eps of an endpoint) lies inside the disc.

Sampling: a Vogel (sunflower) spiral, area-uniform in geodesic polar coordinates — the same
construction in all three geometries. Independent uniform samples give the same means but a
per-edge spread of ~0.15 at degree 100 (five times the signal), which would need thousands of
edges from far-apart places to average out; the spiral's spread is ~0.04.

At finite degree n the graph adds offsets that do not depend on K: each endpoint lies in the
other's neighbourhood (+1/n_x + 1/n_y) and shortest paths are longer than geodesics (negative).
They are the same on the three surfaces at the same density, so the curvature effect is read as
the difference to the plane, compared with +-eps^2/8; the plane itself must be near 0 on the
scale eps^2/8.
"""

import networkx as nx
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from manifold.metrics import ollivier_ricci

EPS = 0.5  # neighbourhood radius (geodesic)
DEGREE = 100  # expected points in an eps-ball: density DEGREE / (pi EPS^2)
CORE = 0.25  # scored edges: both endpoints within CORE of the disc's centre
RADIUS = CORE + 2 * EPS + 0.1  # sampled geodesic disc
GOLDEN_ANGLE = np.pi * (3 - np.sqrt(5))


def _disc_area(curvature, r):
    return {1: 2 * np.pi * (1 - np.cos(r)), 0: np.pi * r**2, -1: 2 * np.pi * (np.cosh(r) - 1)}[
        curvature
    ]


def _spiral_disc(curvature, n):
    """n area-uniform points of the geodesic disc of radius RADIUS, and their centre distances."""
    s = (np.arange(n) + 0.5) / n  # area fraction inside radius r
    if curvature == 1:
        r = np.arccos(1 - s * (1 - np.cos(RADIUS)))
        sin_r, height = np.sin(r), np.cos(r)
    elif curvature == 0:
        r = RADIUS * np.sqrt(s)
        sin_r, height = r, np.zeros(n)
    else:
        r = np.arccosh(1 + s * (np.cosh(RADIUS) - 1))
        sin_r, height = np.sinh(r), np.cosh(r)
    t = GOLDEN_ANGLE * np.arange(n)
    return np.column_stack([sin_r * np.cos(t), sin_r * np.sin(t), height]), r


def _geodesic(curvature, p):
    if curvature == 1:  # unit sphere in R^3
        return np.arccos(np.clip(p @ p.T, -1.0, 1.0))
    if curvature == 0:  # plane z = 0
        return cdist(p, p)
    # hyperboloid z^2 - x^2 - y^2 = 1: cosh d = z z' - x x' - y y' (Minkowski product)
    return np.arccosh(np.maximum(np.outer(p[:, 2], p[:, 2]) - p[:, :2] @ p[:, :2].T, 1.0))


def _mean_core_curvature(curvature):
    density = DEGREE / (np.pi * EPS**2)
    points, r = _spiral_disc(curvature, int(density * _disc_area(curvature, RADIUS)))
    dist = _geodesic(curvature, points)
    iu, ju = np.nonzero(np.triu(dist <= EPS, 1))
    g = nx.Graph()
    g.add_nodes_from(range(len(points)))
    g.add_weighted_edges_from(zip(iu.tolist(), ju.tolist(), dist[iu, ju].tolist(), strict=True))
    core = (r[iu] < CORE) & (r[ju] < CORE)
    edges = list(zip(iu[core].tolist(), ju[core].tolist(), strict=True))
    assert len(edges) > 100
    out = ollivier_ricci(g, alpha=0.0, exp_power=0.0, edges=edges)
    return float(np.mean([out[a][b]["ricci_curvature"] for a, b in edges]))


@pytest.fixture(scope="module")
def mean_curvature():
    return {k: _mean_core_curvature(k) for k in (1, 0, -1)}


def test_sign_sphere_plane_hyperbolic(mean_curvature):
    scale = EPS**2 / 8  # |K| eps^2 / (2 (d + 2)) with |K| = 1, d = 2
    assert mean_curvature[1] > 0 > mean_curvature[-1]
    assert abs(mean_curvature[0]) < scale / 2


@pytest.mark.parametrize("curvature", [1, -1])
def test_magnitude_against_plane(mean_curvature, curvature):
    expected = curvature * EPS**2 / 8
    ratio = (mean_curvature[curvature] - mean_curvature[0]) / expected
    assert 0.5 < ratio < 2.0
