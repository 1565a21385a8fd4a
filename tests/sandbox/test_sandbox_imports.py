"""The sandbox's modules all import, and import each other without cycles (read from the source
with ``ast``, lazy imports inside functions too). That it imports nothing of the client
(``igest_sync``) is a rule of tests/unit/test_import_graph.py."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import igest_sandbox

PACKAGE = "igest_sandbox"
ROOT = Path(igest_sandbox.__file__).parent


def _modules() -> dict[str, Path]:
    # A folder per service (igest/, jumpseller/, vies/) beside the shared modules.
    found = {PACKAGE: ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix=f"{PACKAGE}."):
        relative = Path(*info.name.split(".")[1:])
        found[info.name] = (
            ROOT / relative / "__init__.py" if info.ispkg else ROOT / relative.with_suffix(".py")
        )
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Every igest_sync module ``module`` imports, anywhere in its source."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            # ``from igest_sandbox import data`` imports the module ``data``.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in {"igest_sync", PACKAGE}}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {n for n in _imports(name, path) if n in modules and n != name}
        for name, path in modules.items()
    }


def test_every_sandbox_module_imports() -> None:
    for name in _modules():
        importlib.import_module(name)


def test_the_walk_sees_every_service_folder() -> None:
    assert {
        f"{PACKAGE}.igest.app",
        f"{PACKAGE}.jumpseller.app",
        f"{PACKAGE}.vies.app",
    } <= _modules().keys()


def test_the_sandbox_module_graph_has_no_cycle() -> None:
    graph = _graph()
    # The package imports its modules; a module importing the package itself would close a
    # cycle through __init__, so that edge counts too.
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_graph_reader_sees_lazy_and_package_imports(tmp_path: Path) -> None:
    # The checks above are only as good as the reader: it must see an import inside a
    # function and ``from package import module``.
    source = tmp_path / "x.py"
    source.write_text(
        "from igest_sandbox import data\n"
        "def f():\n    from igest_sync.fiscal.rules import EXEMPTION_CODES\n"
        "from .store import Product\n"
    )
    found = _imports(f"{PACKAGE}.x", source)
    assert f"{PACKAGE}.data" in found
    assert "igest_sync.fiscal.rules" in found
    assert f"{PACKAGE}.store" in found
