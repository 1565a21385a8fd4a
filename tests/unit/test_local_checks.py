"""`check` looks at where a run writes: the state file and the log folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from igest_sync.errors import ExitCode
from igest_sync.runs.setup.local_checks import local_checks
from igest_sync.runs.setup.service_checks import checks_exit_code


def test_a_fresh_home_passes_and_nothing_is_created(tmp_path: Path) -> None:
    state, logs = tmp_path / "home" / "state.db", tmp_path / "home" / "logs"
    results = local_checks(state, logs)
    assert [r.ok for r in results] == [True, True]
    assert all("created by the first run" in r.detail for r in results)
    assert not (tmp_path / "home").exists()
    assert checks_exit_code(results) == ExitCode.OK


def test_a_state_path_that_is_a_directory_fails_with_exit_4(tmp_path: Path) -> None:
    results = local_checks(tmp_path, tmp_path / "logs")
    state = results[0]
    assert not state.ok and "is a directory, not a file" in state.detail
    assert "--state" in (state.hint or "")
    assert checks_exit_code(results) == ExitCode.STATE


def test_a_folder_that_cannot_be_made_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    results = local_checks(blocker / "state.db", blocker / "logs")
    assert [r.ok for r in results] == [False, False]
    assert all(f"{blocker} is not a directory" in r.detail for r in results)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_home_fails(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    try:
        results = local_checks(home / "state.db", home / "logs")
    finally:
        home.chmod(0o700)
    assert [r.ok for r in results] == [False, False]
    assert all("is not writable by this user" in r.detail for r in results)
    assert checks_exit_code(results) == ExitCode.STATE


def test_a_full_disk_fails_though_its_folders_are_writable(tmp_path: Path, monkeypatch) -> None:
    # A writable folder on a full disk loses every line of the log and cannot record a document.
    import shutil

    (tmp_path / "state.db").write_bytes(b"")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=200 * 1024))
    results = local_checks(tmp_path / "state.db", tmp_path / "logs")
    assert [r.ok for r in results] == [False, False]
    assert all("only 200 KB free on its disk" in r.detail for r in results)
    assert checks_exit_code(results) == ExitCode.STATE
