"""The package's layering: imports point down the layers, no cycles, no private names across
modules, light imports.

Every ``import`` statement under ``manifold/`` counts, including the ones inside functions (a
lazy import still ties two modules together). Imports under ``if TYPE_CHECKING:`` do not run:
they are left out of the cycle check, but count for the layers (a lower layer that names a
higher layer's types in its signatures depends on it all the same).

:data:`LAYERS` declares the layer of every module, as the README's Layout table does.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "manifold"

#: The layers, bottom first: a module imports only from its own layer and the layers below.
ORDER = ("base", "compute", "engine", "drivers", "analysis", "app")

#: The layer of every module (a package's entry covers its submodules), as in the README.
LAYERS = {
    # result types, validation, devices and seeds, I/O: under everything
    "manifold._backend": "base",
    "manifold._cache": "base",
    "manifold._checks": "base",
    "manifold._deprecation": "base",
    "manifold._spectrum": "base",
    "manifold._summary": "base",
    "manifold.io": "base",
    "manifold.results": "base",
    "manifold.settings": "base",
    "manifold.typing": "base",
    "manifold._validation": "base",
    # metrics on arrays and graphs; images -> views -> embeddings
    "manifold.augment": "compute",
    "manifold.datasets": "compute",
    "manifold.embed": "compute",
    "manifold.graphs": "compute",
    "manifold.metrics": "compute",
    "manifold.spectral": "compute",
    # the metric registry and the per-model context
    "manifold._bootstrap": "engine",
    "manifold.engine": "engine",
    # one profiling job, run in process, over a zoo, streaming, during training
    "manifold.large": "drivers",
    "manifold.monitor": "drivers",
    "manifold.profiling": "drivers",
    "manifold.runner": "drivers",
    # reads Profiles only
    "manifold.zoo": "analysis",
    # what a person runs or reads; the package namespace re-exports every layer lazily
    "manifold": "app",
    "manifold.__main__": "app",
    "manifold.cli": "app",
    "manifold.integrations": "app",
    "manifold.plot": "app",
    "manifold.report": "app",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(name: str) -> bool:
    return (ROOT.joinpath(*name.split(".")) / "__init__.py").is_file()


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for inner in node.body:
                skip.update(id(n) for n in ast.walk(inner))
    return skip


def _imports(path: Path, type_checking: bool = False):
    """Yield ``(imported module, imported names)`` for each import statement of ``path``.

    Imports under ``if TYPE_CHECKING:`` are included only with ``type_checking``.
    """
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = set() if type_checking else _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names]


def _graph(type_checking: bool = False) -> tuple[dict[str, set[str]], list[str]]:
    """Module import graph inside ``manifold`` and the private names imported across modules.

    With ``type_checking``, the imports under ``if TYPE_CHECKING:`` are edges too.
    """
    edges: dict[str, set[str]] = {}
    private: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        out = edges.setdefault(source, set())
        for target, names in _imports(path, type_checking):
            if target != "manifold" and not target.startswith("manifold."):
                continue
            targets = []
            for alias in names:
                if _is_module(f"{target}.{alias}"):
                    targets.append(f"{target}.{alias}")
                else:
                    targets.append(target)
                if alias.startswith("_") and not alias.startswith("__"):
                    private.append(f"{source} imports {alias} from {target}")
            for t in targets or [target]:
                # importing a.b.c runs the __init__ of a.b first (unless a.b contains the importer)
                parts = t.split(".")
                for i in range(2, len(parts) + 1):
                    candidate = ".".join(parts[:i])
                    if candidate == source or source.startswith(candidate + "."):
                        continue
                    if i < len(parts) and not _is_package(candidate):
                        continue
                    out.add(candidate)
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_graph_sees_the_package():
    edges, _ = _graph()
    assert "manifold.spectral.rank" in edges
    assert "manifold.graphs.knn" in edges["manifold.graphs.nnk"]
    # the check itself can fail: a made-up cycle is found
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_inside_manifold():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_typing_imports_no_other_module_of_the_package():
    # not even for type checkers: typing -> graphs -> _backend -> typing would be a circle
    edges, _ = _graph(type_checking=True)
    assert edges["manifold.typing"] == set()


def test_no_private_name_imported_from_another_module():
    _, private = _graph()
    assert private == []


@pytest.mark.parametrize(
    "module, absent",
    [
        ("manifold.spectral", ("manifold.large", "manifold.graphs", "resource", "scipy.sparse")),
        ("manifold.io", ("manifold.large", "manifold.graphs", "manifold.spectral")),
        ("manifold.graphs", ("manifold.large", "manifold.metrics", "manifold.profiling")),
        # the type aliases sit under every layer: numpy, torch and the standard library only
        (
            "manifold.typing",
            ("manifold.graphs", "manifold.metrics", "pandas", "matplotlib", "scipy", "networkx"),
        ),
    ],
)
def test_import_loads_only_lower_layers(module, absent):
    code = (
        f"import sys, {module}\n"
        f"print(','.join(m for m in {list(absent)!r} if m in sys.modules))\n"
        f"import numpy as np\n"
    )
    if module == "manifold.spectral":
        code += "manifold.spectral.rankme(np.eye(4))\n"
        code += f"print(','.join(m for m in {list(absent)!r} if m in sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines and all(line == "" for line in lines), f"{module} loaded {out.split()}"


def _layer(module: str) -> str | None:
    """The layer of ``module``: that of the longest declared prefix (``None`` if undeclared)."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:i]))
        if layer is not None:
            return layer
    return None


def _upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer's module, as "importer (layer) -> imported (layer)"."""
    found = []
    for source in sorted(edges):
        for target in sorted(edges[source]):
            low, high = _layer(source), _layer(target)
            if ORDER.index(high) > ORDER.index(low):
                found.append(f"{source} ({low}) -> {target} ({high})")
    return found


def _defining_module(module: str, name: str) -> str:
    """The module that defines ``name``, following ``from ... import name`` re-exports."""
    path = ROOT.joinpath(*module.split("."))
    path = path / "__init__.py" if (path / "__init__.py").is_file() else path.with_suffix(".py")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) != name:
                    continue
                target = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                if target.startswith("manifold") and _is_module(target):
                    return _defining_module(target, alias.name)
    return module


def _borrowed() -> list[str]:
    """Names a module takes from a module of another layer than the one that defines them.

    A package may re-export its own modules' names (``manifold.spectral`` re-exports
    ``Spectrum`` from the base layer as part of its API); every other import takes a name from
    the layer that defines it, so that nothing depends on a driver to read a ``Profile``.
    """
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        for target, names in _imports(path):
            if not target.startswith("manifold."):
                continue
            if target.split(".")[:2] == source.split(".")[:2]:
                continue  # inside one package
            for name in names:
                if _is_module(f"{target}.{name}"):
                    continue
                home = _defining_module(target, name)
                if _layer(home) != _layer(target):
                    found.append(f"{source} takes {name} from {target} ({_layer(target)}), "
                                 f"defined in {home} ({_layer(home)})")  # fmt: skip
    return found


def test_every_module_has_a_declared_layer():
    edges, _ = _graph(type_checking=True)
    modules = set(edges) | {t for targets in edges.values() for t in targets}
    assert sorted(m for m in modules if _layer(m) is None) == []
    assert set(LAYERS.values()) == set(ORDER)


def test_the_layer_check_can_fail():
    # a made-up compute module that imports a driver, and one that imports base: one violation
    made_up = {"manifold.metrics.x": {"manifold.profiling", "manifold.io"}}
    assert _upward(made_up) == ["manifold.metrics.x (compute) -> manifold.profiling (drivers)"]
    assert _layer("manifold.graphs.knn") == "compute" and _layer("manifold") == "app"


def test_no_module_imports_a_higher_layer():
    # lazy imports inside functions count, and so do imports for type checkers only
    edges, _ = _graph(type_checking=True)
    assert _upward(edges) == []


def test_names_are_taken_from_the_layer_that_defines_them():
    assert _defining_module("manifold.profiling", "Profile") == "manifold.results"
    assert _borrowed() == []


def test_the_readme_layout_table_agrees_with_the_declared_layers():
    table = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in ORDER:
            for module in cells[1].replace("`", "").split(","):
                table[module.strip()] = cells[0]
    assert table, "no Layout table in the README"
    wrong = {m: (layer, _layer(m)) for m, layer in table.items() if _layer(m) != layer}
    assert wrong == {}, "README layer vs LAYERS: " + repr(wrong)
