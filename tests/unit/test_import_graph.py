"""The packages' layers, read from their source: no import cycles, and each layer imports only
what the architecture allows (docs/architecture.md).

Every import counts: at module level, inside a function, and under ``TYPE_CHECKING``. A deferred
or type-only import creates no cycle at import time, but two modules that name each other are
still one design split in two files, which is what this test is about.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
# The client and, beside it in the same distribution, the emulators behind `demo` and `sandbox`.
PACKAGES = ("igest_sync", "igest_sandbox")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for top in PACKAGES for p in (SRC / top).rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module this one imports, anywhere in its source (ours and third parties')."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                for alias in inner.names:
                    candidate = f"{inner.module}.{alias.name}"
                    found.add(candidate if candidate in MODULES else inner.module)
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Who imports whom among our modules; built when a test first asks (not at collection,
    which every test worker does)."""
    return {
        name: {m for m in imports_of(path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert len(import_graph()) > 40
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_the_reader_sees_type_checking_and_deferred_imports(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from igest_sync.runs.credits.credit import Credits\n"
        "def f():\n    from igest_sync.state import ledger\n"
    )
    found = imports_of(source)
    assert {"igest_sync.runs.credits.credit", "igest_sync.state.ledger"} <= found


def inside(name: str, top: str) -> bool:
    return name == top or name.startswith(f"{top}.")


# What a package must not import, one rule a line: (the importer, what it must not import).
RULES = [
    # The sandbox is an independent check of the client: its own tables and money code.
    ("igest_sandbox", ("igest_sync",)),
    # The fiscal rules are pure: no service, state or run.
    ("igest_sync.fiscal", ("igest_sync.adapters", "igest_sync.state", "igest_sync.runs")),
    # Data flows down: the runs never print nor serve, the adapters and the ledger know no run.
    ("igest_sync.runs", ("igest_sync.cli", "igest_sync.render", "igest_sync.serve")),
    ("igest_sync.adapters", ("igest_sync.runs", "igest_sync.state", "igest_sync.cli")),
    ("igest_sync.state", ("igest_sync.adapters", "igest_sync.runs", "igest_sync.cli")),
]


def broken_rules(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    broken: dict[str, set[str]] = {}
    for importer, banned in RULES:
        for name in (m for m in graph if inside(m, importer)):
            bad = {m for m in graph[name] if any(inside(m, top) for top in banned)}
            if bad:
                broken.setdefault(name, set()).update(bad)
    return broken


def test_each_package_imports_only_what_the_architecture_allows() -> None:
    assert any(inside(m, "igest_sandbox") for m in import_graph())
    assert broken_rules(import_graph()) == {}


def test_only_the_sandbox_command_and_demo_start_the_emulators() -> None:
    importers = {
        name
        for name, found in import_graph().items()
        if inside(name, "igest_sync") and any(inside(m, "igest_sandbox") for m in found)
    }
    assert importers == {"igest_sync.cli.sandbox", "igest_sync.demo"}


def test_the_rule_checker_finds_a_broken_rule() -> None:
    graph = {"igest_sandbox.vies.app": {"igest_sync.fiscal.rules"}, "igest_sync.fiscal.x": set()}
    assert broken_rules(graph) == {"igest_sandbox.vies.app": {"igest_sync.fiscal.rules"}}


def test_only_the_command_line_layer_imports_typer_or_rich() -> None:
    # The command line and its rendering are packages: one module per command family.
    layer = ("igest_sync.cli", "igest_sync.render", "igest_sync.demo", "igest_sandbox")
    assert {"igest_sync.cli.session", "igest_sync.render.console"} <= MODULES.keys()
    for name, path in MODULES.items():
        if any(inside(name, top) for top in layer):
            continue
        third = {m.split(".")[0] for m in imports_of(path)}
        assert not third & {"typer", "rich", "click"}, name


def test_every_folder_of_modules_is_a_package() -> None:
    # setuptools' packages.find leaves a folder without __init__.py out of the wheel: `demo`
    # from a pipx install would then miss the emulators, and no test run from the tree would see.
    folders = {path.parent for top in PACKAGES for path in (SRC / top).rglob("*.py")}
    assert (
        sorted(f.relative_to(SRC).as_posix() for f in folders if not (f / "__init__.py").exists())
        == []
    )
