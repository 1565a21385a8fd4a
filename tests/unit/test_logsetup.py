"""The log file's handler: private at every rotation, quiet when the disk refuses a line."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from igest_sync.logsetup import PrivateRotatingFile

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")


def _record(text: str) -> logging.LogRecord:
    return logging.LogRecord("igest_sync", logging.INFO, __file__, 1, text, None, None)


@posix_only
def test_every_file_the_rotation_makes_is_private(tmp_path):
    # serve runs for months: the file a rotation opens must be as private as the first (the
    # log holds customers' VAT numbers), whatever the umask.
    old = os.umask(0o022)
    try:
        handler = PrivateRotatingFile(tmp_path / "x.log", maxBytes=200, backupCount=2)
        for n in range(20):
            handler.emit(_record(f"line {n} " + "x" * 40))
        handler.close()
    finally:
        os.umask(old)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["x.log", "x.log.1", "x.log.2"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_a_disk_that_refuses_lines_gives_one_warning_not_a_traceback_each(tmp_path, capsys):
    handler = PrivateRotatingFile(tmp_path / "x.log", maxBytes=0, backupCount=1)

    class Full:
        def write(self, text: str) -> None:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            raise OSError(28, "No space left on device")

    handler.stream.close()
    handler.stream = Full()  # type: ignore[assignment]
    for n in range(3):
        handler.emit(_record(f"line {n}"))
    handler.stream = None  # type: ignore[assignment]
    handler.close()
    err = capsys.readouterr().err
    assert err.count("warning: cannot write the log file") == 1, err
    assert "No space left on device" in err and "Traceback" not in err


def test_a_bad_log_call_is_shown_as_a_bug_not_taken_for_the_disk(tmp_path, capsys):
    handler = PrivateRotatingFile(tmp_path / "x.log", maxBytes=0, backupCount=1)
    bad = logging.LogRecord("igest_sync", logging.INFO, __file__, 1, "%d orders", ("many",), None)
    handler.emit(bad)
    handler.emit(_record("fine"))
    handler.close()
    err = capsys.readouterr().err
    assert "cannot write the log file" not in err and "Logging error" in err
    assert "fine" in (tmp_path / "x.log").read_text()
