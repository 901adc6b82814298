"""The package's layering: no import cycles, no private names across modules, light imports.

Every ``import`` statement under ``manifold/`` counts, including the ones inside functions (a
lazy import still ties two modules together); imports under ``if TYPE_CHECKING:`` do not run and
are left out.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "manifold"


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


def _imports(path: Path):
    """Yield ``(imported module, imported names)`` for each import statement of ``path``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
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


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module import graph inside ``manifold`` and the private names imported across modules."""
    edges: dict[str, set[str]] = {}
    private: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        out = edges.setdefault(source, set())
        for target, names in _imports(path):
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
    edges, _ = _graph()
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
