import importlib
import subprocess
import sys
import types

import manifold

SUBMODULES = [
    "manifold.augment",
    "manifold.cli",
    "manifold.datasets",
    "manifold.embed",
    "manifold.graphs",
    "manifold.graphs.anchor",
    "manifold.integrations",
    "manifold.integrations.lightning",
    "manifold.large",
    "manifold.metrics",
    "manifold.monitor",
    "manifold.plot",
    "manifold.profiling",
    "manifold.report",
    "manifold.runner",
    "manifold.spectral",
    "manifold.zoo",
]


def test_all_is_sorted_and_every_public_name_resolves_to_the_object_not_a_module():
    assert manifold.__all__ == sorted(manifold.__all__)
    # importing every submodule first is what exposes a submodule shadowing a public name
    for name in SUBMODULES:
        importlib.import_module(name)
    for name in manifold.__all__:
        value = getattr(manifold, name)
        assert not isinstance(value, types.ModuleType), f"manifold.{name} is a module"


def test_subpackages_have_sorted_all():
    for name in SUBMODULES:
        module = importlib.import_module(name)
        if hasattr(module, "__all__"):
            assert list(module.__all__) == sorted(module.__all__), name


def test_import_is_light():
    code = (
        "import sys, manifold; "
        "heavy = [m for m in ('faiss', 'kornia', 'matplotlib', 'networkx', 'sklearn') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
