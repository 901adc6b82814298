"""Every deprecated name or argument still works for one release: it warns and gives the result
of the name that replaces it, number for number."""

import networkx as nx
import numpy as np
import pytest
import torch

import manifold
from manifold import augment, graphs, metrics


@pytest.fixture(scope="module")
def z():
    return np.random.default_rng(5).normal(size=(60, 4))


@pytest.fixture(scope="module")
def images():
    return torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(2))


def _same_edges(a, b):
    assert a.name == b.name and a.nodes == b.nodes
    for field in ("u", "v", "length", "values"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def _same_graph(a, b):
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))


def test_mle_dimension_per_point_warns_and_equals_the_new_functions(z):
    with pytest.warns(DeprecationWarning, match="mle_dimension_pointwise"):
        old = metrics.mle_dimension(z, k=8, per_point=True)
    new = metrics.mle_dimension_pointwise(z, k=8)
    assert old.name == new.name == "mle_dimension"
    np.testing.assert_array_equal(old.values, new.values)
    with pytest.warns(DeprecationWarning, match="per_point=False"):
        assert metrics.mle_dimension(z, 8, False) == metrics.mle_dimension(z, k=8)
    # positional, as the old signature allowed
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(metrics.mle_dimension(z, 8, True).values, new.values)


@pytest.mark.parametrize(
    "old, new",
    [
        (metrics.ollivier_ricci, metrics.ollivier_ricci_edges),
        (metrics.forman_ricci, metrics.forman_ricci_edges),
    ],
    ids=["ollivier", "forman"],
)
def test_ricci_output_warns_and_equals_the_new_functions(z, old, new):
    graph = graphs.nnk_graph(z, k=6)
    with pytest.warns(DeprecationWarning, match=f"{new.__name__}"):
        edges = old(graph, scale="knn", output="edges")
    _same_edges(edges, new(graph, scale="knn"))
    with pytest.warns(DeprecationWarning, match="without output="):
        as_graph = old(graph, scale="knn", output="graph")
    _same_graph(as_graph, old(graph, scale="knn"))
    with pytest.raises(ValueError, match="output"):
        old(graph, output="arrays")


def test_the_deprecation_warning_points_at_the_callers_line(z):
    with pytest.warns(DeprecationWarning) as caught:
        metrics.forman_ricci(nx.cycle_graph(4), output="edges")
    assert caught[0].filename == __file__


def test_views_and_iter_views_warn_and_equal_the_new_functions(images):
    with pytest.warns(DeprecationWarning, match="draw_views"):
        old = augment.views(images, "ssl", n_views=3, seed=4, batch_size=2)
    assert torch.equal(old, augment.draw_views(images, "ssl", n_views=3, seed=4))
    with pytest.warns(DeprecationWarning, match="draw_views"):
        assert torch.equal(
            manifold.views(images, "flip", 2, 1), manifold.draw_views(images, "flip", 2, 1)
        )

    with pytest.warns(DeprecationWarning, match="draw_views_with_params"):
        old, old_params = augment.views(images, "crop", n_views=2, seed=0, return_params=True)
    new, new_params = augment.draw_views_with_params(images, "crop", n_views=2, seed=0)
    assert torch.equal(old, new) and len(old_params) == len(new_params) == 5
    for a, b in zip(old_params, new_params, strict=True):
        assert a.keys() == b.keys() == {"0_RandomResizedCrop"}
        for key, value in a["0_RandomResizedCrop"].items():
            assert torch.equal(value, b["0_RandomResizedCrop"][key]), key

    with pytest.warns(DeprecationWarning, match="draw_view_chunks"):
        chunks = list(augment.iter_views(images, "rotation", n_views=2, seed=3, batch_size=2))
    new_chunks = list(augment.draw_view_chunks(images, "rotation", n_views=2, seed=3, batch_size=2))
    assert (
        [c[0] for c in chunks]
        == [c[0] for c in new_chunks]
        == [slice(0, 2), slice(2, 4), slice(4, 5)]
    )
    assert all(torch.equal(a[1], b[1]) for a, b in zip(chunks, new_chunks, strict=True))
    with pytest.warns(DeprecationWarning):
        with_params = list(augment.iter_views(images, "flip", 2, 0, 4, return_params=True))
    assert [len(item) for item in with_params] == [3, 3] and len(with_params[0][2]) == 4


def test_is_graph_warns_and_answers_as_before(z):
    knn = graphs.knn_graph(z, k=3)
    with pytest.warns(DeprecationWarning, match=r"isinstance\(obj, manifold.graphs.Graph\)"):
        assert graphs.is_graph(knn) and not graphs.is_graph(z)


class _OwnGraph:
    """A graph of one's own with the five calls, not derived from manifold.graphs.Graph."""

    n_nodes, k = 6, 2

    def neighbors(self, i):
        return np.array([(i + 1) % 6, (i - 1) % 6])

    def to_scipy(self, weight="distance"):
        return nx.to_scipy_sparse_array(self.to_networkx(), format="csr")

    def to_networkx(self):
        return nx.cycle_graph(6)


@pytest.mark.parametrize("function", [metrics.ollivier_ricci_edges, metrics.forman_ricci_edges])
def test_a_duck_typed_graph_still_reaches_the_curvature_with_a_warning(function):
    with pytest.warns(DeprecationWarning, match="manifold.graphs.Graph") as caught:
        got = function(_OwnGraph())
    assert caught[0].filename == __file__
    _same_edges(got, function(nx.cycle_graph(6)))


def test_profile_is_still_importable_from_the_driver():
    from manifold.profiling import Profile
    from manifold.results import Profile as BaseProfile

    assert Profile is BaseProfile is manifold.Profile


@pytest.mark.parametrize("relative, scale", [(True, "within"), (False, None)])
def test_lidar_delta_relative_warns_and_equals_scale(relative, scale):
    v = np.random.default_rng(1).normal(size=(30, 4, 6)) * 50.0
    with pytest.warns(DeprecationWarning, match=f"scale={scale!r}".replace("'", '"')):
        old = manifold.lidar(v, delta_relative=relative)
    assert old == manifold.lidar(v, scale=scale)
    with pytest.raises(TypeError, match="scale= alone"), pytest.warns(DeprecationWarning):
        manifold.lidar(v, delta_relative=relative, scale="within")


def test_lidar_scale_takes_none_or_within_only():
    v = np.random.default_rng(1).normal(size=(30, 4, 6))
    for bad in ("knn", 2.0, True):
        with pytest.raises(ValueError, match='scale must be None or "within"'):
            manifold.lidar(v, scale=bad)


def test_the_changes_page_lists_every_deprecated_spelling():
    """docs/changes.md names each function and argument a deprecation warning is raised for."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "changes.md").read_text()
    table = page.split("## Renamed", 1)[1].split("\n## ", 1)[0]
    old_column = " ".join(line.split("|")[1] for line in table.splitlines() if line.count("|") > 3)
    found = []
    for path in sorted((root / "manifold").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "warn_deprecated"
                and node.args
            ):
                continue
            first = node.args[0]
            parts = first.values if isinstance(first, ast.JoinedStr) else [first]
            text = "".join(p.value for p in parts if isinstance(p, ast.Constant))
            names = re.findall(r"[A-Za-z_.]+(?=\()|[a-z_]+(?==)", text)
            found.extend((path.name, name.rsplit(".", 1)[-1]) for name in names)
    assert len(found) >= 10  # the parse found the call sites (f-strings included)
    missing = sorted({f"{file}: {name}" for file, name in found if name not in old_column})
    assert missing == [], f"deprecated spellings missing from docs/changes.md: {missing}"
    # profile's views= warns through warnings.warn with its own message
    assert "views={...}" in old_column and "view_embeddings" in table
