"""The run lock on each platform: the POSIX path for real, the Windows path with the platform
simulated (the primitive underneath is filelock's, which is flock on this machine)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from igest_sync.errors import RunLocked, StateError
from igest_sync.state import lock as lock_module
from igest_sync.state.lock import lock_path, run_lock

SRC = Path(__file__).resolve().parents[2] / "src" / "igest_sync"


@pytest.fixture(params=["linux", "win32"])
def platform(request, monkeypatch) -> str:
    monkeypatch.setattr(sys, "platform", request.param)
    return request.param


def test_a_second_run_is_refused_at_once_naming_the_holder(tmp_path: Path, platform: str) -> None:
    state = tmp_path / "state.sqlite3"
    with run_lock(state):
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}\\) is using"), run_lock(state):
            pass
        assert not state.exists()  # taken before the state file is opened
    with run_lock(state):  # released when the first run ended
        pass


def test_the_pid_sits_after_byte_zero_which_a_windows_lock_hides(
    tmp_path: Path, platform: str
) -> None:
    state = tmp_path / "state.sqlite3"
    with run_lock(state):
        raw = lock_path(state).read_bytes()
    assert raw == b"\n" + str(os.getpid()).encode()


def test_the_windows_reader_skips_the_locked_byte(tmp_path: Path, monkeypatch) -> None:
    # A holder on Windows: byte 0 cannot be read by others, so the reader starts after it.
    state = tmp_path / "state.sqlite3"
    lock_path(state).write_bytes(b"?4242")  # "?": whatever the unreadable byte holds
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(RunLocked, match=r"pid 4242\)"), run_lock(state, try_lock=lambda fd: False):
        pass
    monkeypatch.setattr(sys, "platform", "linux")
    with (
        pytest.raises(RunLocked, match=r"pid unknown\)"),
        run_lock(state, try_lock=lambda fd: False),
    ):  # "?4242" is no pid at offset 0
        pass


def test_a_holder_that_wrote_no_pid_is_unknown(tmp_path: Path, platform: str) -> None:
    state = tmp_path / "state.sqlite3"
    with (
        pytest.raises(RunLocked, match=r"pid unknown\)"),
        run_lock(state, try_lock=lambda fd: False),
    ):
        pass


def test_a_lock_primitive_that_fails_is_a_state_error(tmp_path: Path) -> None:
    def refuse(fd: int) -> bool:
        raise OSError(38, "Function not implemented")

    with (
        pytest.raises(StateError, match="Function not implemented") as caught,
        run_lock(tmp_path / "state.sqlite3", try_lock=refuse),
    ):
        pass
    assert not isinstance(caught.value, RunLocked)
    assert "network shares" in (caught.value.hint or "")


def test_an_unwritable_directory_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with (
        pytest.raises(StateError, match="Cannot create the run lock"),
        run_lock(blocker / "state.sqlite3"),
    ):
        pass


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_lock_file_is_private_on_posix(tmp_path: Path) -> None:
    with run_lock(tmp_path / "state.sqlite3"):
        pass
    assert lock_path(tmp_path / "state.sqlite3").stat().st_mode & 0o777 == 0o600


def test_the_package_imports_where_posix_only_modules_do_not_exist() -> None:
    # As on Windows: fcntl, termios, pwd, grp and resource are missing. Every module of the
    # package (but __main__, which runs the CLI) must still import.
    script = (
        "import importlib, pkgutil, sys\n"
        "for name in ('fcntl', 'termios', 'pwd', 'grp', 'resource'):\n"
        "    sys.modules[name] = None\n"
        "import igest_sync\n"
        "for m in pkgutil.walk_packages(igest_sync.__path__, 'igest_sync.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print('imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "imported", done.stderr


POSIX_ONLY = re.compile(
    r"\bimport fcntl\b|\bfcntl\.|os\.(pread|pwrite|getuid|geteuid|getgid|fork|setsid|killpg)\b"
    r"|signal\.SIG(KILL|HUP|USR1|USR2|ALRM|CHLD|PIPE|QUIT)\b"
)


def test_no_posix_only_call_in_the_package() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if POSIX_ONLY.search(line)
    ]
    assert offenders == []


def test_the_module_itself_names_no_posix_primitive() -> None:
    assert not hasattr(lock_module, "fcntl")


# -- serve's lock: held per unit of work, waited for by the other commands ------------------------


def test_a_run_waits_for_serve_which_sees_it_waiting_and_lets_it_in(tmp_path: Path) -> None:
    import threading

    from igest_sync.state.lock import someone_waits

    state = tmp_path / "state.sqlite3"
    held, saw_waiter = threading.Event(), threading.Event()

    def serve_unit() -> None:
        with run_lock(state, serve=True):
            held.set()
            while not someone_waits(state):  # serve checks this between two units
                threading.Event().wait(0.01)
            saw_waiter.set()

    holder = threading.Thread(target=serve_unit)
    holder.start()
    held.wait()
    assert lock_path(state).read_bytes() == f"\n{os.getpid()} serve".encode()
    with run_lock(state, wait_for_serve=60):  # a cron `credit`: waits instead of exiting 3
        assert saw_waiter.is_set()
        assert not someone_waits(state)  # the waiting mark is gone once it holds the lock
    holder.join()


def test_serve_itself_never_waits_and_a_wait_that_runs_out_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    lock_path(state).write_bytes(b"\n4242 serve")
    with (
        pytest.raises(RunLocked, match=r"igest-sync serve \(pid 4242\) is using"),
        run_lock(state, serve=True, try_lock=lambda fd: False),
    ):
        pass
    with (
        pytest.raises(RunLocked, match=r"serve \(pid 4242\) is using .* \(waited 0 s\)"),
        run_lock(state, wait_for_serve=0.2, try_lock=lambda fd: False),
    ):
        pass


def test_a_cron_holder_still_turns_a_run_away_without_waiting_for_serve(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    lock_path(state).write_bytes(b"\n4242")
    tries = []

    def busy(fd: int) -> bool:
        tries.append(fd)
        return False

    started = time.monotonic()
    with (
        pytest.raises(RunLocked, match=r"Another igest-sync run \(pid 4242\)"),
        run_lock(state, wait_for_serve=60, try_lock=busy),
    ):
        pass
    # It looked again while a holder that just took the lock could still name itself, then
    # stopped: not after serve's 60 s.
    assert len(tries) > 1 and time.monotonic() - started < 30


def test_serve_that_has_taken_the_lock_but_not_yet_named_itself_is_waited_for(
    tmp_path: Path,
) -> None:
    # The file still names the cron run before; serve names itself a moment later (a loaded
    # machine paused it between taking the lock and writing): the run waits, no exit 3.
    state = tmp_path / "state.sqlite3"
    lock_path(state).write_bytes(b"\n4242")
    tries = []

    def busy_then_serve(fd: int) -> bool:
        tries.append(fd)
        if len(tries) == 3:
            lock_path(state).write_bytes(b"\n4243 serve")
        return len(tries) > 6  # serve's unit ends: the lock is free

    with run_lock(state, wait_for_serve=60, try_lock=busy_then_serve):
        pass
    assert len(tries) == 7


def test_a_state_file_given_through_a_link_meets_the_same_lock(tmp_path: Path) -> None:
    # SQLite opens the same database through the link: two runs must not both hold "the" lock.
    state = tmp_path / "state.sqlite3"
    state.write_bytes(b"")
    link = tmp_path / "link.sqlite3"
    link.symlink_to(state)
    with run_lock(state), pytest.raises(RunLocked), run_lock(link):
        pass
    assert lock_path(link) == lock_path(state)


def test_the_wait_for_serve_says_how_long_it_really_waited(tmp_path: Path) -> None:
    # serve let go and a person's command took the lock first: this run stops then, after a
    # moment, not after the 60 s it would have waited for serve.
    state = tmp_path / "state.sqlite3"
    lock_path(state).write_bytes(b"\n4242 serve")
    tries = []

    def serve_then_another(fd: int) -> bool:
        tries.append(fd)
        if len(tries) == 5:
            lock_path(state).write_bytes(b"\n4243")
        return False

    with (
        pytest.raises(RunLocked, match=r"\(pid 4243\) .* \(waited \d+ s\)") as caught,
        run_lock(state, wait_for_serve=60, try_lock=serve_then_another),
    ):
        pass
    waited = int(re.search(r"waited (\d+) s", str(caught.value))[1])
    assert waited < 60  # however busy the machine: not the 60 s it would have waited for serve


def test_a_lock_held_for_long_says_for_how_long_and_what_it_may_be(tmp_path: Path) -> None:
    # The holder wrote its pid as it took the lock: the file's time says since when.
    state = tmp_path / "state.sqlite3"
    lock_path(state).write_bytes(b"\n4242")
    taken = time.time() - 25 * 60
    os.utime(lock_path(state), (taken, taken))
    with pytest.raises(RunLocked) as caught, run_lock(state, try_lock=lambda fd: False):
        pass
    assert caught.value.held_for is not None and 25 * 60 <= caught.value.held_for < 26 * 60
    assert "held the lock for 25 minutes" in str(caught.value)
    assert "a command waiting at its question" in str(caught.value)
    os.utime(lock_path(state))  # just taken: an overlapping run, nothing more to say
    with pytest.raises(RunLocked) as caught, run_lock(state, try_lock=lambda fd: False):
        pass
    assert "held the lock" not in str(caught.value)


def test_a_run_given_a_link_also_meets_an_older_versions_lock_beside_the_link(
    tmp_path: Path,
) -> None:
    # Versions before the lock followed links locked next to the path given: one still running
    # after an upgrade (serve, not yet restarted) holds "link.sqlite3.lock", not the file's.
    import filelock

    folder = tmp_path / "real"
    folder.mkdir()
    state = folder / "state.sqlite3"
    state.write_bytes(b"")
    link = tmp_path / "link.sqlite3"
    link.symlink_to(state)
    older = os.open(tmp_path / "link.sqlite3.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(older, b"\n4242 serve")
        assert filelock.lock_descriptor(older, blocking=False)
        with (
            pytest.raises(RunLocked, match=r"older igest-sync \(pid 4242\)") as caught,
            run_lock(link),
        ):
            pass
        assert "Restart every igest-sync" in (caught.value.hint or "")
        with run_lock(state):  # given the file itself: the file's lock only, as before
            pass
    finally:
        os.close(older)
    with run_lock(link):  # the older one gone: both taken
        pass


@pytest.mark.parametrize("how", ["a linked folder", "a '..' in the path"])
def test_a_path_naming_the_state_file_in_other_words_takes_its_one_lock(
    tmp_path: Path, how: str
) -> None:
    # Not a link to the file: the same lock file in other words. Taken twice, the run refused
    # itself ("an older igest-sync is using ...") on every run.
    folder = tmp_path / "real"
    folder.mkdir()
    if how == "a linked folder":
        (tmp_path / "linked").symlink_to(folder)
        given = tmp_path / "linked" / "state.sqlite3"
    else:
        (folder / "x").mkdir()
        given = folder / "x" / ".." / "state.sqlite3"
    with run_lock(given):
        pass
    with run_lock(folder / "state.sqlite3"), pytest.raises(RunLocked), run_lock(given):
        pass


def test_a_link_into_a_folder_not_there_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    # A state kept on a disk or share not mounted yet: never a new, empty state beneath the
    # mount point (the runs would start again from nothing while the real one waits).
    mount = tmp_path / "mnt" / "nas"
    link = tmp_path / "home" / "state.sqlite3"
    link.parent.mkdir()
    link.symlink_to(mount / "igest" / "state.sqlite3")
    with pytest.raises(StateError, match="whose folder does not exist"), run_lock(link):
        pass
    assert not (tmp_path / "mnt").exists()
