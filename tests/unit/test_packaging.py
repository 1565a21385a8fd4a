"""What users install is what the tests run: no test dependency may hold back a runtime
dependency below what pyproject lets users get (pytest-httpx pins httpx, for one)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


def _runtime() -> dict[str, SpecifierSet]:
    reqs = (Requirement(r) for r in PYPROJECT["project"]["dependencies"])
    return {canonicalize_name(r.name): r.specifier for r in reqs}


def _above(spec: Specifier) -> Version | None:
    """The first version ``spec`` refuses above what it allows, if it has a ceiling."""
    if spec.operator == "==" and spec.version.endswith(".*"):
        parts = [int(p) for p in spec.version[:-2].split(".")]
        parts[-1] += 1
        return Version(".".join(map(str, parts)))
    if spec.operator == "<":
        return Version(spec.version)
    if spec.operator in ("<=", "=="):
        return Version(spec.version + ".post9999")
    if spec.operator == "~=":
        parts = [int(p) for p in spec.version.split(".")][:-1]
        parts[-1] += 1
        return Version(".".join(map(str, parts)))
    return None


def test_no_test_dependency_caps_a_runtime_dependency_below_the_projects_bound():
    runtime = _runtime()
    problems = []
    for line in PYPROJECT["project"]["optional-dependencies"]["test"]:
        name = Requirement(line).name
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None or canonicalize_name(req.name) not in runtime:
                continue
            ours = runtime[canonicalize_name(req.name)]
            for spec in req.specifier:
                ceiling = _above(spec)
                if ceiling is not None and ours.contains(ceiling, prereleases=True):
                    problems.append(
                        f"{name} requires {req}, but pyproject lets users install "
                        f"{req.name} {ceiling}: bound {req.name} in [project] dependencies"
                    )
    assert problems == []


def test_the_installed_runtime_dependencies_are_within_the_projects_bounds():
    for name, spec in _runtime().items():
        assert spec.contains(metadata.version(name), prereleases=True), name


def test_lisbon_is_found_on_a_system_without_a_time_zone_database(tmp_path):
    # As on Windows, or a slim container: the system's database is empty; the tzdata
    # dependency must still give Lisbon its summer hour (a UTC stand-in would date a payment at
    # 23:30 UTC in July on the wrong day).
    import os
    import subprocess
    import sys

    code = (
        "from datetime import UTC, datetime\n"
        "from igest_sync.timeutil import lisbon_date\n"
        "print(lisbon_date(datetime(2026, 7, 14, 23, 30, tzinfo=UTC)))\n"
    )
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "2026-07-15"
