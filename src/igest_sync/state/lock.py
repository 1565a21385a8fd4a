"""The run lock: one igest-sync run per state file at a time, on Linux, macOS and Windows.

Two cron runs that overlap must not both invoice. The lock is taken before the state file is
opened, and the operating system releases it when the holder dies, so a lock left by a killed
run never blocks the next one. The locking primitive is filelock's (flock on POSIX, LockFileEx
on Windows): a well-kept library rather than our own per-OS calls, and nothing POSIX-only is
imported here.

A state file given through a link is locked beside the file itself (where a run given the file
meets it), and also beside the link, where versions before that put the lock: one of them
still running after an upgrade and this one never both run.

The holder writes its pid into the lock file so that the run it turns away can name it. On
Windows the lock covers byte 0 and other processes cannot read that byte, so the pid is written
after a leading newline, where a reader can still see it.

``serve`` holds the lock only per unit of work (a batch of webhook hints, a sweep) and marks
the file with its pid and "serve". A run that finds serve holding it waits (at most
``SERVE_WAIT_SECONDS``) instead of exiting 3: a person's ``credit`` is not refused because a
webhook is being worked. While it waits it keeps a "waiting" file fresh beside the lock, and
serve lets it in before its next unit of work. Two cron runs still turn each other away, after
looking again for ``SETTLE_SECONDS`` (the holder may be serve, which names itself just after it
takes the lock).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from igest_sync.errors import RunLocked, StateError

# Try to take the lock on an open descriptor without waiting: True when taken.
TryLock = Callable[[int], bool]
PID_OFFSET = 1  # the pid starts after byte 0, which a Windows lock makes unreadable to others
SERVE_TAG = "serve"  # written after serve's pid: a run that finds it waits rather than exits
# Longer than one unit of serve's work (a batch of hints at the rate limits), shorter than a
# cron interval.
SERVE_WAIT_SECONDS = 120.0
WAITING_FRESH_SECONDS = 3.0  # a "waiting" file older than this was left by a run that died
_POLL = 0.1
# A holder this old is named as such: longer than a unit of serve or a usual cron run (a first
# run's backlog may take longer, and the message says so).
LONG_HELD_SECONDS = 300.0
# A holder names itself just after taking the lock: until then the file still names the one
# before (a cron run that has ended). A run turned away by a holder that is not serve looks
# again for this long, so that serve taking the lock at that moment is waited for, not met
# with exit 3 (a loaded machine may pause serve between the two steps).
SETTLE_SECONDS = 0.3
_SETTLE_POLL = 0.02


def _filelock_try(fd: int) -> bool:
    return filelock.lock_descriptor(fd, blocking=False)


def _on_windows() -> bool:
    return sys.platform == "win32"


def beside_state(state_path: Path, suffix: str) -> Path:
    """A file kept beside the state file itself, not beside a link to it: every run given
    either reaches the same one (SQLite opens the same database through both)."""
    real = state_path.resolve()
    return real.with_name(real.name + suffix)


def lock_path(state_path: Path) -> Path:
    """The file the run lock lives in."""
    return beside_state(state_path, ".lock")


def _link_lock_path(state_path: Path) -> Path | None:
    """Where versions before the lock followed links put it, when ``state_path`` is a link:
    next to the link. Held too, so that one of them still running beside this one (a serve not
    yet restarted after an upgrade) and this one never both hold "the" lock."""
    given = state_path.absolute()
    beside = given.with_name(given.name + ".lock")
    # The same file in other words (a linked folder, a ".." in the path) is no second lock:
    # locking it again would refuse this very run.
    return None if beside.resolve() == lock_path(state_path) else beside


def waiting_path(state_path: Path) -> Path:
    """The file a run waiting for serve's lock keeps fresh."""
    return beside_state(state_path, ".lock-waiting")


def someone_waits(state_path: Path) -> bool:
    """Whether a run is waiting for the lock now (serve lets it in before its next unit)."""
    try:
        age = time.time() - waiting_path(state_path).stat().st_mtime
    except OSError:
        return False
    # Touched "in the future": by a clock that has stepped back since, not by a run waiting now
    # (which touches it again every _POLL); serve would make way for nobody until it caught up.
    return 0 <= age < WAITING_FRESH_SECONDS


@contextlib.contextmanager
def run_lock(
    state_path: Path,
    *,
    try_lock: TryLock = _filelock_try,
    serve: bool = False,
    wait_for_serve: float = SERVE_WAIT_SECONDS,
) -> Iterator[None]:
    """Hold an exclusive lock for the run, or raise RunLocked.

    Taken before the state file is opened, so that two runs started together never even race
    to create or migrate it. The OS releases the lock when the holder dies, so a lock left by a
    killed run never blocks the next one; the pid in the file only names the holder.
    A lock held by ``serve`` is waited for, up to ``wait_for_serve`` seconds; any other holder
    turns this run away at once. ``serve=True`` marks the lock as serve's (serve itself never
    waits: it keeps its hints and tries again). ``try_lock`` is the primitive (injected by
    tests).
    """
    path = lock_path(state_path)
    try:
        state_path.absolute().parent.mkdir(parents=True, exist_ok=True)  # the folder given
        if not path.parent.is_dir():
            # A link into a disk or a share not mounted: never a new, empty state beneath it.
            raise StateError(
                f"State file {state_path} leads to {state_path.resolve()}, whose folder does "
                "not exist (a disk or share not mounted?); nothing was done.",
                hint="Mount it or fix the link, or pass --state PATH.",
            )
        # 0600 on POSIX; Windows ignores the mode (the file sits in the user's own profile).
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as exc:
        raise StateError(
            f"Cannot create the run lock {path}: {exc.strerror}.",
            hint="Check the directory's permissions, or pass --state PATH.",
        ) from None
    started = time.monotonic()
    deadline = started + (0 if serve else wait_for_serve)
    settled = started + (0 if serve else SETTLE_SECONDS)
    waited = False
    try:
        while not _try(fd, try_lock, state_path):
            pid, tag = _holder(fd)
            if tag != SERVE_TAG and time.monotonic() < settled:
                time.sleep(_SETTLE_POLL)  # it may be serve, not yet named
                continue
            if tag != SERVE_TAG or time.monotonic() >= deadline:
                who = "igest-sync serve" if tag == SERVE_TAG else "Another igest-sync run"
                spent = time.monotonic() - started
                waited_text = f" (waited {spent:.0f} s)" if waited else ""
                held = _held_for(fd)
                # serve does not stop: its work waits in the inbox until the lock is free.
                outcome = (
                    "serve's work waits for it."
                    if serve
                    else "this one stops without doing anything."
                )
                raise RunLocked(
                    f"{who} (pid {pid}) is using {state_path}{waited_text}; {outcome}"
                    + _long_held(held),
                    held_for=held,
                )
            waited = True
            _touch(waiting_path(state_path))
            time.sleep(_POLL)
        if waited:
            with contextlib.suppress(OSError):
                waiting_path(state_path).unlink()
        _write_pid(fd, SERVE_TAG if serve else "")
        with _link_lock(state_path, try_lock, serve):
            yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def _link_lock(state_path: Path, try_lock: TryLock, serve: bool) -> Iterator[None]:
    """The lock next to the link as well (``_link_lock_path``), taken at once or RunLocked."""
    beside = _link_lock_path(state_path)
    if beside is None:
        yield
        return
    binary = getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(beside, os.O_RDWR | os.O_CREAT | binary, 0o600)
    except OSError:
        try:  # one an older version made that this user may only read: a lock all the same
            fd = os.open(beside, os.O_RDONLY | binary)
        except OSError:
            yield  # none there, and none can be made: no older version locks there either
            return
    try:
        try:
            taken = try_lock(fd)
        except OSError:
            taken = True  # that folder's file system locks nothing: nor did the older version
        if not taken:
            pid, _ = _holder(fd)
            raise RunLocked(
                f"An older igest-sync (pid {pid}) is using {state_path}; this one stops without "
                "doing anything.",
                hint="Restart every igest-sync (serve above all) after an upgrade, so that all "
                "run the same version.",
            )
        _write_pid(fd, SERVE_TAG if serve else "")
        yield
    finally:
        os.close(fd)


def _try(fd: int, try_lock: TryLock, state_path: Path) -> bool:
    try:
        return try_lock(fd)
    except OSError as exc:
        raise StateError(
            f"Cannot lock {state_path}: {exc.strerror or exc}.",
            hint="Keep the state on a local disk (file locks may not work on network "
            "shares), or pass --state PATH.",
        ) from None


def _touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        pass  # serve then simply does not make room sooner; the wait still ends


def _holder(fd: int) -> tuple[str, str]:
    """The pid the holder wrote, or "unknown" (an old file, or a byte we may not read), and
    its tag ("serve", or "")."""
    try:
        # A Windows holder's lock makes byte 0 unreadable; on POSIX the whole file is readable
        # and an older igest-sync wrote the pid at offset 0.
        os.lseek(fd, PID_OFFSET if _on_windows() else 0, os.SEEK_SET)
        words = os.read(fd, 64).decode(errors="replace").split()
    except OSError:
        return "unknown", ""
    pid = words[0] if words and words[0].isdigit() else "unknown"
    return pid, words[1] if len(words) > 1 else ""


def _held_for(fd: int) -> float | None:
    """How long the holder has held the lock: it wrote its pid as it took it."""
    try:
        return max(0.0, time.time() - os.fstat(fd).st_mtime)
    except OSError:
        return None


def held_long(held_for: float | None, unreachable_minutes: int) -> bool:
    """The lock has been held for [alerts] unreachable_minutes (and never less than the few
    minutes no run should take): not an overlapping cron run but a command left at its
    question, or stopped, while nothing is invoiced. The one rule of cron's runs and serve's."""
    bound = max(unreachable_minutes * 60.0, LONG_HELD_SECONDS)
    return held_for is not None and held_for >= bound


def _long_held(held: float | None) -> str:
    if held is None or held < LONG_HELD_SECONDS:
        return ""
    return (
        f" It has held the lock for {held / 60:.0f} minutes (a first run's long backlog, a "
        "command waiting at its question, or one stopped with Ctrl-Z?): nothing else is "
        "invoiced until it ends."
    )


def _write_pid(fd: int, tag: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"\n{os.getpid()} {tag}".rstrip().encode())
    except OSError:
        pass  # the pid only names the holder in the next run's message
