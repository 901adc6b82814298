"""Public signatures name real types, and the Graph protocol agrees with the graph classes.

The API reference renders each parameter's annotation: ``Any`` there tells a reader nothing. The
walk below covers what the reference documents: every name in the ``__all__`` of the public
modules, and for a class its ``__init__``, methods, properties and fields (those of its bases
inside the package too).
"""

import dataclasses
import importlib
import inspect
import re

import networkx as nx
import numpy as np
import pytest
import torch

from manifold.graphs import AnchorNNK, anchor_knn, anchor_nnk, is_graph, knn_graph, nnk_graph
from manifold.graphs import Graph as GraphBase
from manifold.graphs.base import GRAPH_PROTOCOL
from manifold.typing import Graph

PUBLIC_MODULES = (
    "manifold",
    "manifold.spectral",
    "manifold.graphs",
    "manifold.metrics",
    "manifold.zoo",
    "manifold.datasets",
    "manifold.augment",
    "manifold.embed",
    "manifold.plot",
    "manifold.report",
    "manifold.runner",
    "manifold.large",
    "manifold.io",
    "manifold.engine",
    "manifold.results",
    "manifold.profiling",
    "manifold.typing",
    "manifold.cli",
)

# Where ``Any`` stays, and why: "<qualified name>:<parameter, field or 'return'>".
ALLOWED_ANY = {
    # a run's settings are JSON-ready values of many kinds (numbers, names, lists, nested
    # dicts), different for each driver
    "manifold.results.Profile:settings",
    "manifold.results.Profile.__init__:settings",
    # keyword arguments passed through to knn_graph / nnk_graph, whose signatures type them
    "manifold.graphs.resolve.as_graph:options",
    "manifold.metrics.local.nnk_degree:graph_options",
    "manifold.metrics.local.nnk_diameter:graph_options",
    "manifold.metrics.local.local_dimension:graph_options",
    "manifold.metrics.local.subspace_angles:graph_options",
}

_ANY = re.compile(r"\bAny\b")


def _text(annotation) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _members(cls):
    """``(name, function)`` of a class's public methods and properties, its bases' included."""
    seen = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("manifold"):
            continue
        for name, member in vars(base).items():
            if name in seen or (name.startswith("_") and name != "__init__"):
                continue
            seen.add(name)
            if isinstance(member, property):
                member = member.fget
            elif isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            # (a Protocol's __init__ comes from the typing module)
            if inspect.isfunction(member) and member.__module__.startswith("manifold"):
                yield name, member


def _fields(cls):
    """``(name, annotation)`` of a class's public annotated attributes (dataclass fields)."""
    for base in reversed(cls.__mro__):
        if not base.__module__.startswith("manifold"):
            continue
        for name, annotation in inspect.get_annotations(base).items():
            if not name.startswith("_"):
                yield name, annotation


def _public_callables():
    """``(qualified name, function or class)`` of the public API, each once."""
    seen = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            # functions and classes: not constants, nor type aliases (which are callable)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not obj.__module__.startswith("manifold"):
                continue
            key = f"{obj.__module__}.{obj.__qualname__}"
            if key not in seen:
                seen.add(key)
                yield key, obj


def _annotations():
    """``(where, annotation text or None)`` for every public parameter, return and field."""
    for key, obj in _public_callables():
        functions = [(key, obj)]
        if inspect.isclass(obj):
            functions = [(f"{key}.{name}", fn) for name, fn in _members(obj)]
            for name, annotation in _fields(obj):
                yield f"{key}:{name}", _text(annotation)
        for where, fn in functions:
            signature = inspect.signature(fn)
            for p in signature.parameters.values():
                if p.name in ("self", "cls"):
                    continue
                empty = p.annotation is inspect.Parameter.empty
                yield f"{where}:{p.name}", None if empty else _text(p.annotation)
            empty = signature.return_annotation is inspect.Signature.empty
            yield f"{where}:return", None if empty else _text(signature.return_annotation)


def test_the_walk_sees_the_public_api():
    places = dict(_annotations())
    assert "manifold.spectral.rank.rankme:z" in places
    assert "manifold.graphs.knn.KNNGraph.to_scipy:return" in places
    assert "manifold.graphs.nnk.NNKGraph.neighbors:i" in places  # from its base class
    assert "manifold.results.Profile:settings" in places  # a dataclass field
    assert "manifold.engine.ModelContext.knn:return" in places  # a property
    assert len(places) > 500


def test_public_signatures_name_no_any():
    found = sorted(
        f"{where}: {text}"
        for where, text in _annotations()
        if text is not None and _ANY.search(text) and where not in ALLOWED_ANY
    )
    assert found == [], "public signatures that say Any:\n" + "\n".join(found)


def test_every_allowed_any_is_still_there():
    places = dict(_annotations())
    stale = sorted(w for w in ALLOWED_ANY if not _ANY.search(places.get(w) or ""))
    assert stale == [], f"no longer Any (remove from ALLOWED_ANY): {stale}"


def test_public_signatures_are_annotated():
    missing = sorted(where for where, text in _annotations() if text is None)
    # *args and **kwargs count too: each says what it takes
    assert missing == [], "unannotated: " + ", ".join(missing)


@pytest.fixture(scope="module")
def graphs():
    z = np.random.default_rng(0).normal(size=(40, 3))
    knn = knn_graph(z, k=5)
    rows = np.arange(0, 40, 4)
    return {
        "knn": knn,
        "nnk": nnk_graph(knn),
        "nnk_directed": nnk_graph(z, k=5, symmetrize=False),
        "anchor": anchor_nnk(z, anchor_knn(z, rows, k=5), rows),
    }


@pytest.mark.parametrize("kind", ["knn", "nnk", "nnk_directed", "anchor"])
def test_graph_protocol_accepts_every_graph_type(graphs, kind):
    g = graphs[kind]
    assert isinstance(g, Graph)
    assert isinstance(g, GraphBase)
    assert isinstance(graphs["anchor"], AnchorNNK)


@dataclasses.dataclass
class _Duck:
    n_nodes: int = 0
    k: int = 0

    def neighbors(self, i):
        return np.array([], dtype=np.int64)

    def to_scipy(self, weight="distance"):
        return None

    def to_networkx(self):
        return nx.Graph()


@pytest.mark.parametrize(
    "obj",
    [
        np.eye(4),
        torch.eye(4),
        [[0.0, 1.0], [1.0, 0.0]],
        nx.path_graph(3),
        None,
        "graph",
        _Duck(),
        object(),
        knn_graph(np.eye(4), k=2),
    ],
    ids=["ndarray", "tensor", "list", "networkx", "none", "str", "duck", "object", "knn"],
)
def test_graph_protocol_agrees_with_the_deprecated_is_graph(obj):
    with pytest.warns(DeprecationWarning, match="isinstance"):
        answer = is_graph(obj)
    assert isinstance(obj, Graph) == answer
    # the package's graphs are instances of both; a duck answers the protocol only
    assert isinstance(obj, GraphBase) == (isinstance(obj, Graph) and not isinstance(obj, _Duck))


def test_graph_protocol_refuses_arrays_and_networkx_graphs():
    assert not isinstance(np.eye(4), Graph)
    assert not isinstance(nx.path_graph(3), Graph)
    assert isinstance(_Duck(), Graph)  # the protocol is structural
    assert not isinstance(_Duck(), GraphBase)  # the base class is not


def test_graph_protocol_lists_the_five_calls():
    members = {name for name in vars(Graph) if not name.startswith("_")}
    assert members == set(GRAPH_PROTOCOL)
