"""The repository is all a user's machine has: no tracked file may name a path outside it.

A test or doc that reads a developer's folder (the team's shared references, a home directory)
passes on that developer's machine and fails on everyone else's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Built from parts so that this file does not match itself.
FORBIDDEN = re.compile(
    "|".join(
        [
            re.escape("/" + "work/"),  # the developers' workspace
            re.escape(".." + "/shared"),  # the team's reference folder beside the repository
            r"/home/[a-z_][\w.-]*/",  # a Linux home directory
            r"/Users/[A-Za-z][\w.-]*/",  # a macOS home directory
            r"[A-Za-z]:\\\\?Users\\\\?",  # a Windows home directory
            re.escape("/" + "root/"),  # root's home directory
        ]
    )
)
TEXT_SUFFIXES = {".py", ".md", ".toml", ".json", ".txt", ".cfg", ".ini", ".yml", ".yaml", ""}


def tracked_files() -> list[Path]:
    """Files git tracks (or, outside a git checkout, every file but caches and the venv)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout.decode()
        return [ROOT / name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def offending_lines(paths: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()[:120]}")
    return found


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 50, "the repository's files were not found"
    assert offending_lines(files) == []


def test_the_guard_catches_each_kind_of_outside_path(tmp_path: Path) -> None:
    samples = {
        "a.py": 'SPEC = "/' + 'work/shared/reference/spec.json"\n',
        "b.md": "see ../" + "shared/reference/pt-invoicing.md\n",
        "c.toml": 'state = "/home/' + 'maria/.local/state/x"\n',
        "d.json": '{"p": "C:\\\\' + 'Users\\\\joao\\\\x"}\n',
        "e.py": "ok = 'tests/data/jumpseller-openapi-subset.json'\n",
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    hits = offending_lines(sorted(tmp_path.iterdir()), root=tmp_path)
    assert [hit.split(":")[0] for hit in hits] == ["a.py", "b.md", "c.toml", "d.json"]
