"""Every public function fed the same catalogue of bad inputs.

Each (function, argument) pair in ``ENTRIES`` is called with every applicable case of ``CASES``.
A case either

* must work (``"equal"``): integer, float16/bfloat16, duplicate rows, non-contiguous or
  transposed arrays, tensors requiring grad, memmaps, huge values. The result must then equal
  the result on a reference input holding the same numbers (for huge values: the reference
  scaled by the entry's homogeneity), and hold no NaN;
* must fail (``"error"``): NaN/Inf, empty, wrong rank, bool/complex/string dtypes, meta tensors.
  The error must be a ValueError/TypeError naming the argument, raised from manifold's own code
  (the last traceback frame lies in the package), not from inside numpy/scipy/torch/faiss;
* may do either (``"either"``): one row, N <= k. A result must be finite, an error must be
  named and ours;
* must return (``"collapse"``): all-identical rows, as a collapsed model gives, and for views
  also views that coincide within each image (an invariant model) or everywhere (every view
  one point). Collapse is a result, not an error (a sweep over checkpoints must not die at the
  collapsed one): no exception; a number the metric cannot define is NaN, and then a
  :class:`~manifold.DegenerateWarning` says why. A profile keeps its table NaN-free and lists
  the undefined metrics in its failures.

Huge values use the scale 2**100 (about 1.3e30): a power of two scales floating-point numbers
exactly, so a correct implementation gives exactly the rescaled answer and any difference is a
defect rather than rounding.
"""

from __future__ import annotations

import dataclasses
import math
import re
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
import torch

import manifold
from manifold import graphs, metrics, spectral
from manifold.augment import draw_views
from manifold.embed import Embedder
from manifold.graphs import KNNGraph, NNKGraph, knn_graph, nnk_graph
from manifold.profiling import Profile
from manifold.profiling import profile as run_profile
from manifold.spectral import PowerLawFit, Spectrum

PACKAGE_DIR = Path(manifold.__file__).resolve().parent
N, D, K = 24, 6, 4
HUGE = 2.0**100


def _base(kind: str) -> np.ndarray:
    """Clean float32 data of each kind: Gaussian points, views around them, images."""
    rng = np.random.default_rng(7)
    z = rng.standard_normal((N, D)).astype(np.float32)
    if kind == "z":
        return z
    if kind == "views":
        noise = 0.3 * rng.standard_normal((N, K, D))
        return (z[:, None, :] + noise).astype(np.float32)
    return rng.random((6, 3, 8, 8)).astype(np.float32)  # images


def _partner_z(n: int) -> np.ndarray:
    return np.random.default_rng(11).standard_normal((n, D)).astype(np.float32)


def _partner_views(n: int) -> np.ndarray:
    z = _partner_z(n)
    noise = 0.3 * np.random.default_rng(12).standard_normal((n, K, D))
    return (z[:, None, :] + noise).astype(np.float32)


def _rows(x: Any) -> int:
    """Rows of a (possibly bad) argument, for building a matching partner argument."""
    shape = tuple(getattr(x, "shape", ()))
    return shape[0] if len(shape) >= 2 and shape[0] > 0 else N


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.ReLU())


def _monitor_values(images: Any) -> torch.Tensor:
    """The values of one Monitor call on ``images`` (its probe batch), by manifold and metric."""
    rows = manifold.Monitor(images, k=2, families="flip", n_views=2)(_tiny_model(), 0)
    return torch.as_tensor(rows.sort_values(["manifold", "metric"])["value"].to_numpy())


@dataclasses.dataclass(frozen=True)
class Entry:
    """A public function and the argument of it that receives the bad input."""

    name: str
    kind: str  # "z" (N, D), "views" (N, K, D) or "images" (N, C, H, W)
    call: Callable[[Any], Any]
    arg: tuple[str, ...]  # names an error message may use for the argument
    homogeneity: dict[str, int] | None = None  # key -> power of the scale; None: not checked
    rtol: float = 1e-6


def _e(name, kind, call, arg=None, homogeneity=None, rtol=1e-6):
    if arg is None:
        # with a partner argument built to match the bad one's N, a too-small N is a fault of
        # both, and the error may name either
        arg = ("z", "views") if "/" in name else (kind,)
    return Entry(name, kind, call, arg, homogeneity, rtol)


INV: dict[str, int] = {}  # scale invariant: every output unchanged


def _accumulate(x: Any) -> Any:
    acc = spectral.GramAccumulator()
    acc.update(x)
    return acc.compute()


def _anchor_nnk(x: Any) -> Any:
    rows = np.arange(len(x))
    return graphs.anchor_nnk(x, graphs.anchor_knn(x, rows, k=6), rows)


ENTRIES = [
    # spectral (manifold.spectral.*)
    _e("rankme", "z", lambda x: spectral.rankme(x), homogeneity=INV),
    _e("effective_rank", "z", lambda x: spectral.effective_rank(x), homogeneity=INV),
    _e("stable_rank", "z", lambda x: spectral.stable_rank(x), homogeneity=INV),
    _e("participation_ratio", "z", lambda x: spectral.participation_ratio(x), homogeneity=INV),
    _e("nesum", "z", lambda x: spectral.nesum(x), homogeneity=INV),
    _e("alpha", "z", lambda x: spectral.alpha(x, fit_range=(1, 5)), homogeneity=INV),
    _e(
        "spectrum",
        "z",
        lambda x: spectral.spectrum(x),
        homogeneity={"singular_values": 1, "eigenvalues": 2},
    ),
    _e(
        "GramAccumulator",
        "z",
        lambda x: _accumulate(x),
        homogeneity={"singular_values": 1, "eigenvalues": 2},
    ),
    # LiDAR's ridge delta is absolute, so it is scale invariant only up to delta / variance
    _e("lidar", "views", lambda v: spectral.lidar(v), homogeneity=INV, rtol=1e-2),
    # without the ridge or without eps, collapse leaves LiDAR undefined (NaN), never an error
    _e("lidar(delta=0)", "views", lambda v: spectral.lidar(v, delta=0.0), homogeneity=INV),
    _e("lidar(eps=0)", "views", lambda v: spectral.lidar(v, eps=0.0), homogeneity=INV, rtol=1e-2),
    # graphs (manifold.graphs.*)
    _e("knn_graph", "z", lambda x: knn_graph(x, k=5), homogeneity={"distances": 1}),
    _e("knn_graph(base=)", "z", lambda x: knn_graph(_partner_z(7), k=3, base=x), ("base",)),
    _e("nnk_graph", "z", lambda x: nnk_graph(x, k=6), homogeneity={"distances": 1}),
    _e("as_graph", "z", lambda x: graphs.as_graph(x, "knn", k=5), homogeneity={"distances": 1}),
    _e("as_graph(nnk)", "z", lambda x: graphs.as_graph(x, "nnk", k=6)),
    _e(
        "anchor_knn",
        "z",
        lambda x: graphs.anchor_knn(x, np.arange(len(x)), k=5),
        homogeneity={"distances": 1},
    ),
    _e("anchor_nnk", "z", lambda x: _anchor_nnk(x), homogeneity={"diameter": 1, "degree": 0}),
    # geometry metrics (manifold.metrics.*)
    _e("twonn_dimension", "z", lambda x: metrics.twonn_dimension(x), homogeneity=INV),
    _e("mle_dimension", "z", lambda x: metrics.mle_dimension(x, k=8), homogeneity=INV),
    _e(
        "mle_dimension_pointwise",
        "z",
        lambda x: metrics.mle_dimension_pointwise(x, k=8),
        homogeneity=INV,
    ),
    _e("nnk_degree", "z", lambda x: metrics.nnk_degree(x, k=6), homogeneity=INV),
    _e("nnk_diameter", "z", lambda x: metrics.nnk_diameter(x, k=6), homogeneity={"values": 1}),
    _e("local_dimension", "z", lambda x: metrics.local_dimension(x, k=6), homogeneity=INV),
    _e("subspace_angles", "z", lambda x: metrics.subspace_angles(x, k=6), homogeneity=INV),
    # invariance metrics: each array argument in turn, the other one clean and matching
    _e("spread_ratio/z", "z", lambda x: metrics.spread_ratio(x, _partner_views(_rows(x)), k=5)),
    _e(
        "spread_ratio/views",
        "views",
        lambda v: metrics.spread_ratio(_partner_z(_rows(v)), v, k=5),
    ),
    _e(
        "augmentation_diameter_ratio/z",
        "z",
        lambda x: metrics.augmentation_diameter_ratio(x, _partner_views(_rows(x)), k=5),
    ),
    _e(
        "augmentation_diameter_ratio/views",
        "views",
        lambda v: metrics.augmentation_diameter_ratio(_partner_z(_rows(v)), v, k=5),
    ),
    _e(
        "tangent_alignment/z",
        "z",
        lambda x: metrics.tangent_alignment(x, _partner_views(_rows(x)), k=5),
    ),
    _e(
        "tangent_alignment/views",
        "views",
        lambda v: metrics.tangent_alignment(_partner_z(_rows(v)), v, k=5),
    ),
    _e("same_source_rate", "views", lambda v: metrics.same_source_rate(v), homogeneity=INV),
    _e(
        "augmentation_dimension",
        "views",
        lambda v: metrics.augmentation_dimension(v),
        homogeneity=INV,
    ),
    _e("alignment", "views", lambda v: metrics.alignment(v), homogeneity=INV),
    # direct similarity: each argument in turn, the other one clean and matching; every measure
    # is invariant to scaling one side
    _e(
        "similarity/a",
        "z",
        lambda x: metrics.similarity(x, _partner_z(_rows(x))).value,
        ("a", "b"),
        homogeneity=INV,
    ),  # fmt: skip
    _e(
        "similarity/b",
        "z",
        lambda x: metrics.similarity(_partner_z(_rows(x)), x).value,
        ("a", "b"),
        homogeneity=INV,
    ),  # fmt: skip
    _e(
        "similarity(classic)/a",
        "z",
        lambda x: metrics.similarity(x, _partner_z(_rows(x)), debiased=False).value,
        ("a", "b"),
        homogeneity=INV,
    ),
    _e(
        "similarity(mutual_knn)/a",
        "z",
        lambda x: metrics.similarity(x, _partner_z(_rows(x)), "mutual_knn", k=5).value,
        ("a", "b"),
        homogeneity=INV,
    ),
    _e(
        "similarity(procrustes)/b",
        "z",
        lambda x: metrics.similarity(_partner_z(_rows(x)), x, "procrustes").value,
        ("a", "b"),
        homogeneity=INV,
    ),
    _e(
        "linear_cka",
        "z",
        lambda x: metrics.linear_cka(x, _partner_z(_rows(x))),
        ("a", "b"),
        homogeneity=INV,
    ),  # fmt: skip
    _e(
        "mutual_knn",
        "z",
        lambda x: metrics.mutual_knn(x, _partner_z(_rows(x)), k=5),
        ("a", "b"),
        homogeneity=INV,
    ),  # fmt: skip
    _e(
        "procrustes_distance",
        "z",
        lambda x: metrics.procrustes_distance(x, _partner_z(_rows(x))),
        ("a", "b"),
        homogeneity=INV,
    ),
    _e(
        "similarity_matrix",
        "z",
        lambda x: float(
            manifold.similarity_matrix({"x": x, "p": _partner_z(_rows(x))}).matrix.iloc[0, 1]
        ),
        ("x", "p"),
        homogeneity=INV,
    ),
    # profile, augmentation views and the Embedder
    _e(
        "profile",
        "z",
        lambda x: run_profile(
            x, view_embeddings={"crop": _partner_views(_rows(x))}, k=5, progress=False
        ),
        ("embeddings", "z"),
    ),
    _e(
        "profile_large",
        "z",
        lambda x: manifold.profile_large(x, n_anchors=len(x), k=5),
        ("z",),
    ),
    _e("draw_views", "images", lambda im: draw_views(im, "flip", n_views=2), ("images",)),
    _e(
        "Embedder.embed",
        "images",
        lambda im: Embedder(_tiny_model(), progress=False).embed(im),
        ("images",),
    ),
    _e("Monitor", "images", lambda im: _monitor_values(im), ("images",)),
]

# Metrics whose scale behaviour is known also for the invariance metrics that need a partner
# argument: scaling one argument alone changes them, so huge values are only checked for a
# finite answer or a named error there (the property tests scale both arguments together).


# --------------------------------------------------------------------------- the cases


@dataclasses.dataclass(frozen=True)
class Case:
    """A bad input built from clean data of an entry's kind.

    ``build(x, tmp_path)`` returns ``(input, reference, scale)``: the reference (for mode
    ``"equal"``) is an input with the same numbers in a plain layout and ``scale`` the factor
    between them.
    """

    name: str
    mode: str  # "error", "either" or "equal"
    build: Callable[[np.ndarray, Path], tuple[Any, Any, float]]
    kinds: tuple[str, ...] = ("z", "views", "images")


def _set(x: np.ndarray, value: float) -> np.ndarray:
    y = x.copy()
    y.flat[7] = value
    return y


def _empty_rows(x):
    return x[:0], None, 1.0


def _empty_last(x):
    return x[..., :0], None, 1.0


def _one_row(x):
    return x[:1], None, 1.0


def _few_rows(x):
    return x[:5], None, 1.0


def _lower_rank(x):
    return x[0], None, 1.0


def _higher_rank(x):
    return x[None], None, 1.0


def _ints(x):
    y = np.round(x * 100).astype(np.int64)
    return y, y.astype(np.float64), 1.0


def _low_precision_numpy(x):
    y = x.astype(np.float16)
    return y, y.astype(np.float32), 1.0


def _bfloat16(x):
    y = torch.from_numpy(x).to(torch.bfloat16)
    return y, y.float(), 1.0


def _huge(x):
    return x * np.float32(HUGE), x, HUGE


def _identical(x):
    return np.broadcast_to(x[:1], x.shape).copy(), None, 1.0


def _still_views(x):
    return np.broadcast_to(x[:, :1], x.shape).copy(), None, 1.0


def _one_point(x):
    return np.broadcast_to(x[:1, :1], x.shape).copy(), None, 1.0


def _duplicates(x):
    y = x.copy()
    y[-4:] = y[:4]  # four exact duplicate rows (images/views: four duplicate items)
    return y, y, 1.0


def _noncontiguous(x):
    wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2], x, 1.0


def _transposed(x):
    y = np.asfortranarray(x)  # stored transposed: the memory of x.T, C-ordered
    return y, x, 1.0


def _transposed_torch(x):
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, 0, -1))).movedim(-1, 0)
    return t, torch.from_numpy(x), 1.0


def _meta(x):
    return torch.empty(x.shape, device="meta"), None, 1.0


def _requires_grad(x):
    return torch.tensor(x, requires_grad=True), torch.from_numpy(x), 1.0


def _memmap(x, tmp_path):
    path = tmp_path / "x.dat"
    m = np.memmap(path, dtype=x.dtype, mode="w+", shape=x.shape)
    m[:] = x
    m.flush()
    return np.memmap(path, dtype=x.dtype, mode="r", shape=x.shape), x, 1.0


def _plain(f):
    return lambda x, tmp_path: f(x)


ARRAYS = ("z", "views")
CASES = [
    Case("nan", "error", _plain(lambda x: (_set(x, np.nan), None, 1.0))),
    Case("+inf", "error", _plain(lambda x: (_set(x, np.inf), None, 1.0))),
    Case("-inf", "error", _plain(lambda x: (_set(x, -np.inf), None, 1.0))),
    Case("empty rows", "error", _plain(_empty_rows)),
    Case("empty last axis", "error", _plain(_empty_last)),
    Case("one row", "either", _plain(_one_row)),
    Case("N <= k", "either", _plain(_few_rows), ARRAYS),
    Case("rank too low", "error", _plain(_lower_rank)),
    Case("rank too high", "error", _plain(_higher_rank)),
    Case("int64", "equal", _plain(_ints), ARRAYS),
    Case("bool", "error", _plain(lambda x: (x > 0, None, 1.0))),
    Case("complex", "error", _plain(lambda x: (x.astype(np.complex64), None, 1.0))),
    Case("strings", "error", _plain(lambda x: (x.astype(str), None, 1.0))),
    Case("object", "error", _plain(lambda x: (x.astype(object), None, 1.0))),
    Case("float16", "equal", _plain(_low_precision_numpy)),
    Case("bfloat16", "equal", _plain(_bfloat16)),
    Case("huge (2**100)", "equal", _plain(_huge), ARRAYS),
    Case("identical rows", "collapse", _plain(_identical)),
    Case("coinciding views", "collapse", _plain(_still_views), ("views",)),
    Case("every view one point", "collapse", _plain(_one_point), ("views",)),
    Case("duplicate rows", "equal", _plain(_duplicates)),
    Case("non-contiguous", "equal", _plain(_noncontiguous)),
    Case("transposed (F order)", "equal", _plain(_transposed)),
    Case("transposed torch", "equal", _plain(_transposed_torch)),
    Case("meta tensor", "error", _plain(_meta)),
    Case("requires grad", "equal", _plain(_requires_grad)),
    Case("memmap", "equal", _memmap),
]


# --------------------------------------------------------------------------- result handling


def _flatten(result: Any) -> dict[str, np.ndarray]:
    """The numbers of a result, by name, as float64 arrays."""
    if isinstance(result, (float, int, np.floating, np.integer)):
        return {"value": np.array([float(result)])}
    if isinstance(result, manifold.PointMetric):
        return {"values": np.asarray(result.values, dtype=np.float64)}
    if isinstance(result, PowerLawFit):
        return {
            "alpha": np.array([result.alpha]),
            "r2": np.array([result.r2]),
            "fit_range": np.array(result.fit_range, dtype=np.float64),
        }
    if isinstance(result, Spectrum):
        return {"singular_values": result.singular_values, "eigenvalues": result.eigenvalues}
    if isinstance(result, NNKGraph):
        return {
            "indices": result.knn.indices.astype(np.float64),
            "distances": result.knn.distances,
            "weights": result.weights,
            "error": result.error,
        }
    if isinstance(result, KNNGraph):
        return {"indices": result.indices.astype(np.float64), "distances": result.distances}
    if isinstance(result, graphs.AnchorNNK):
        return {
            "weights": result.weights,
            "degree": result.degree.astype(np.float64),
            "diameter": result.diameter,
            "local_dimension": result.local_dimension,
        }
    if isinstance(result, metrics.EdgeCurvature):
        return {result.name: result.values}
    if isinstance(result, Profile):
        table = result.table.sort_values(["manifold", "metric", "statistic"])
        return {"table": table["value"].to_numpy(dtype=np.float64)}
    if isinstance(result, nx.Graph):
        return {
            key: np.array([d[key] for _, _, d in sorted(result.edges(data=True))], dtype=float)
            for key in ("ricci_curvature", "forman_curvature")
            if any(key in d for _, _, d in result.edges(data=True))
        }
    if isinstance(result, torch.Tensor):
        assert not result.requires_grad and result.grad_fn is None, "gradient leaked"
        return {"tensor": result.detach().float().cpu().numpy().astype(np.float64)}
    raise AssertionError(f"unhandled result type {type(result).__name__}")


def _call(entry: Entry, x: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # documented warnings (duplicates dropped, ...)
        return entry.call(x)


def _assert_finite(entry: Entry, result: Any) -> dict[str, np.ndarray]:
    flat = _flatten(result)
    if isinstance(result, Profile):
        # a metric that cannot be computed is a recorded failure, never a NaN row
        assert not result.table["value"].isna().any(), f"{entry.name}: NaN in the table"
    for key, value in flat.items():
        assert np.all(np.isfinite(value)), f"{entry.name}: non-finite {key}: {value}"
    return flat


def _assert_our_error(entry: Entry, err: BaseException) -> None:
    frames = traceback.extract_tb(err.__traceback__)
    last = Path(frames[-1].filename).resolve()
    where = f"{last}:{frames[-1].lineno}"
    assert isinstance(err, (ValueError, TypeError)), (
        f"{entry.name}: {type(err).__name__} from {where}: {err}"
    )
    assert PACKAGE_DIR in last.parents, (
        f"{entry.name}: raised inside a dependency at {where}: {err}"
    )
    message = str(err)
    assert "\n" not in message.strip(), f"{entry.name}: multi-line message {message!r}"
    names = "|".join(re.escape(a) for a in entry.arg)
    assert re.search(rf"(?<![A-Za-z_])({names})(?![A-Za-z_])", message), (
        f"{entry.name}: message does not name {entry.arg}: {message!r}"
    )


def _params():
    for entry in ENTRIES:
        for case in CASES:
            if entry.kind in case.kinds:
                yield pytest.param(entry, case, id=f"{entry.name}-{case.name}")


@pytest.mark.parametrize(("entry", "case"), list(_params()))
def test_bad_input(entry: Entry, case: Case, tmp_path: Path) -> None:
    x, reference, scale = case.build(_base(entry.kind), tmp_path)
    if case.mode == "collapse":
        _check_collapse(entry, x)
        return
    try:
        result = _call(entry, x)
    except Exception as err:  # noqa: BLE001 - every exception is inspected here
        if case.mode == "equal":
            raise AssertionError(f"{entry.name} must accept {case.name} input") from err
        _assert_our_error(entry, err)
        return
    assert case.mode != "error", f"{entry.name} accepted {case.name} input: {result!r}"
    flat = _assert_finite(entry, result)
    if case.mode != "equal":
        return
    if isinstance(x, torch.Tensor) and x.requires_grad:
        assert x.grad is None
    if scale != 1.0 and entry.homogeneity is None:
        return
    expected = _flatten(_call(entry, reference))
    assert flat.keys() == expected.keys()
    for key, value in flat.items():
        power = (entry.homogeneity or {}).get(key, 0)
        want = expected[key] * scale**power
        np.testing.assert_allclose(
            value, want, rtol=entry.rtol, atol=1e-12 * scale**power, err_msg=f"{key}"
        )


def _check_collapse(entry: Entry, x: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = entry.call(x)  # no exception at all
    flat = _flatten(result)
    if isinstance(result, Profile):
        assert not result.table["value"].isna().any(), f"{entry.name}: NaN in the table"
    degenerate = [w for w in caught if issubclass(w.category, manifold.DegenerateWarning)]
    for key, value in flat.items():
        assert not np.isinf(value).any(), f"{entry.name}: infinite {key}: {value}"
        if np.isnan(value).any():
            assert degenerate, f"{entry.name}: NaN {key} without a DegenerateWarning"


# --------------------------------------------------------------------------- graphs


def _line_graph() -> nx.Graph:
    g = nx.path_graph(5)
    for u, v in g.edges():
        g[u][v]["weight"] = 1.0 + 0.1 * u
    return g


def _directed():
    return nx.DiGraph(_line_graph())


def _multi():
    return nx.MultiGraph(_line_graph())


def _knn_of_duplicates():
    z = _base("z").astype(np.float64)
    z[-4:] = z[:4]
    return knn_graph(z, k=4)


GRAPH_CASES = {
    "nan weight": ("error", lambda: _weighted(np.nan)),
    "+inf weight": ("error", lambda: _weighted(np.inf)),
    "negative weight": ("error", lambda: _weighted(-1.0)),
    "string weight": ("error", lambda: _weighted("far")),
    "complex weight": ("error", lambda: _weighted(1 + 1j)),
    "directed": ("error", _directed),
    "multigraph": ("error", _multi),
    "array": ("error", lambda: np.ones((4, 4))),
    "empty graph": ("either", nx.Graph),
    "one node": ("either", lambda: nx.empty_graph(1)),
    "no edges": ("either", lambda: nx.empty_graph(4)),
    "self loop": ("either", lambda: nx.Graph([(0, 0, {"weight": 1.0}), (0, 1, {"weight": 2.0})])),
    "kNN graph with duplicates": ("either", _knn_of_duplicates),
    "NNK graph with duplicates": ("either", lambda: nnk_graph(_knn_of_duplicates())),
}


def _weighted(value: Any) -> nx.Graph:
    g = _line_graph()
    g[1][2]["weight"] = value
    return g


GRAPH_ENTRIES = [
    _e("ollivier_ricci", "graph", metrics.ollivier_ricci, ("graph", "weight")),
    _e("forman_ricci", "graph", metrics.forman_ricci, ("graph", "weight")),
    _e("ollivier_ricci_edges", "graph", metrics.ollivier_ricci_edges, ("graph", "weight")),
    _e("forman_ricci_edges", "graph", metrics.forman_ricci_edges, ("graph", "weight")),
]


@pytest.mark.parametrize("entry", GRAPH_ENTRIES, ids=lambda e: e.name)
@pytest.mark.parametrize("case", list(GRAPH_CASES))
def test_bad_graph(entry: Entry, case: str) -> None:
    mode, build = GRAPH_CASES[case]
    try:
        result = _call(entry, build())
    except Exception as err:  # noqa: BLE001 - every exception is inspected here
        _assert_our_error(entry, err)
        return
    assert mode != "error", f"{entry.name} accepted a graph with {case}"
    _assert_finite(entry, result)


def _knn_with(distances: np.ndarray) -> KNNGraph:
    good = knn_graph(_base("z"), k=8)
    return KNNGraph(
        indices=good.indices, distances=distances, metric="euclidean", points=good.points
    )


PREBUILT_CASES = {
    "NaN distance": lambda d: np.where(np.arange(d.size).reshape(d.shape) == 3, np.nan, d),
    "inf distance": lambda d: np.where(np.arange(d.size).reshape(d.shape) == 3, np.inf, d),
    "negative distance": lambda d: -d,
}


@pytest.mark.parametrize(
    "call",
    [metrics.twonn_dimension, metrics.mle_dimension, metrics.ollivier_ricci],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize("case", list(PREBUILT_CASES))
def test_prebuilt_graph_with_bad_distances(call: Callable, case: str) -> None:
    graph = _knn_with(PREBUILT_CASES[case](knn_graph(_base("z"), k=8).distances))
    entry = _e(call.__name__, "graph", call, ("graph", "distances", "distance"))
    try:
        result = _call(entry, graph)
    except Exception as err:  # noqa: BLE001 - every exception is inspected here
        _assert_our_error(entry, err)
        return
    raise AssertionError(f"{call.__name__} accepted a graph with {case}: {result!r}")


def test_catalogue_covers_every_public_array_function() -> None:
    """Each public function taking arrays appears in the catalogue (a new one must be added)."""
    covered = {e.name.split("/")[0].split("(")[0] for e in ENTRIES + GRAPH_ENTRIES}
    covered |= {"Embedder"}
    not_array_functions = {
        "DegenerateWarning",
        "KNNGraph",
        "NNKGraph",
        "PointMetric",
        "PowerLawFit",
        "Profile",
        "Spectrum",
        "Summary",
        "__version__",
        "is_graph",  # a yes/no question about any object (deprecated)
        "Graph",  # the base class of the graphs (catalogued through knn_graph and nnk_graph)
        "views",  # deprecated name of draw_views (catalogued through it)
        # result types and the streaming search behind anchor_knn (catalogued through it)
        "AnchorNNK",
        "AnchorSearch",
        "EdgeCurvature",
        "SimilarityResult",
    }
    # these take profile tables and model-level score matrices, not embeddings (their bad-input
    # handling is tested with the zoo)
    not_array_functions |= {
        "ClusterResult",
        "TransferEvaluation",
        "TransferPredictor",
        "cluster_models",
        "metric_correlations",
        "profile_zoo",
        "select",  # ranks the rows of a profile table (bad input: tests/test_select.py)
    }
    public = set(manifold.__all__) | set(spectral.__all__) | set(graphs.__all__)
    public |= set(metrics.__all__)
    missing = public - covered - not_array_functions
    assert not missing, f"public functions missing from the catalogue: {sorted(missing)}"
    assert math.isfinite(HUGE)
