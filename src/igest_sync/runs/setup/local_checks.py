"""``check``'s look at this machine: can a run write its state file and its log?

A read-only home would otherwise pass ``check`` (exit 0) and fail the first ``invoice`` (exit
4). Nothing is created here: a folder that does not exist yet is judged by the nearest one
that does, which the run would create it in.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from igest_sync.errors import ExitCode
from igest_sync.runs.setup.service_checks import CheckResult

# Less free space than this on the disk is a failed check: a folder may be writable and its disk
# full, and then every line of the log is lost and the state file cannot record a document.
LOW_SPACE = 1_000_000


def local_checks(state_file: Path, log_dir: Path) -> list[CheckResult]:
    return [_state_file(state_file), _folder("Log folder", log_dir, "--verbose shows the log")]


def _state_file(path: Path) -> CheckResult:
    name = "State file"
    if path.is_dir():
        return _failed(
            name,
            f"{path} is a directory, not a file",
            f"pass --state with a file's path (e.g. {path / 'state.db'})",
        )
    if path.exists():
        if os.access(path, os.R_OK | os.W_OK):
            # The path itself only when something is wrong: `status` and the log name it, and
            # a temporary folder's long path would not fit the table at 80 columns.
            full = _full_disk(name, path, path.parent, "or pass --state PATH")
            return full or CheckResult(name, True, "readable and writable")
        return _failed(
            name,
            f"{path} is not readable and writable by this user",
            f"fix its owner or mode (chmod 600 {path}), or pass --state PATH",
        )
    return _folder(name, path.parent, "or pass --state PATH", creates=path.name)


def _folder(name: str, folder: Path, other: str, *, creates: str | None = None) -> CheckResult:
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    what = f"{folder / creates}" if creates else str(folder)
    if not existing.is_dir():
        return _failed(name, f"{what}: {existing} is not a directory", f"move it away, {other}")
    if not os.access(existing, os.W_OK | os.X_OK):
        return _failed(
            name,
            f"{what}: {existing} is not writable by this user",
            f"make it writable (or set IGEST_SYNC_HOME to a folder that is), {other}",
        )
    later = "" if folder.exists() else " (created by the first run)"
    return _full_disk(name, what, existing, other) or CheckResult(name, True, f"writable{later}")


def _full_disk(name: str, what: object, folder: Path, other: str) -> CheckResult | None:
    free = shutil.disk_usage(folder).free
    if free >= LOW_SPACE:
        return None
    return _failed(
        name, f"{what}: only {free // 1024} KB free on its disk", f"free some space, {other}"
    )


def _failed(name: str, detail: str, hint: str) -> CheckResult:
    return CheckResult(name, False, detail, hint=hint, exit_code=ExitCode.STATE)
