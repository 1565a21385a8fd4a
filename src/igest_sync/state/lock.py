"""The run lock: one igest-sync run per state file at a time, on Linux, macOS and Windows.

Two cron runs that overlap must not both invoice. The lock is taken before the state file is
opened, and the operating system releases it when the holder dies, so a lock left by a killed
run never blocks the next one. The locking primitive is filelock's (flock on POSIX, LockFileEx
on Windows): a well-kept library rather than our own per-OS calls, and nothing POSIX-only is
imported here.

The holder writes its pid into the lock file so that the run it turns away can name it. On
Windows the lock covers byte 0 and other processes cannot read that byte, so the pid is written
after a leading newline, where a reader can still see it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from igest_sync.errors import RunLocked, StateError

# Try to take the lock on an open descriptor without waiting: True when taken.
TryLock = Callable[[int], bool]
PID_OFFSET = 1  # the pid starts after byte 0, which a Windows lock makes unreadable to others


def _filelock_try(fd: int) -> bool:
    return filelock.lock_descriptor(fd, blocking=False)


def _on_windows() -> bool:
    return sys.platform == "win32"


def lock_path(state_path: Path) -> Path:
    """The file the run lock lives in, next to the state file."""
    return state_path.with_name(state_path.name + ".lock")


@contextlib.contextmanager
def run_lock(state_path: Path, *, try_lock: TryLock = _filelock_try) -> Iterator[None]:
    """Hold an exclusive lock for the run, or raise RunLocked at once.

    Taken before the state file is opened, so that two runs started together never even race
    to create or migrate it. The OS releases the lock when the holder dies, so a lock left by a
    killed run never blocks the next one; the pid in the file only names the holder.
    ``try_lock`` is the primitive (injected by tests).
    """
    path = lock_path(state_path)
    try:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 on POSIX; Windows ignores the mode (the file sits in the user's own profile).
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as exc:
        raise StateError(
            f"Cannot create the run lock next to {state_path}: {exc.strerror}.",
            hint="Check the directory's permissions, or pass --state PATH.",
        ) from None
    try:
        try:
            taken = try_lock(fd)
        except OSError as exc:
            raise StateError(
                f"Cannot lock {state_path}: {exc.strerror or exc}.",
                hint="Keep the state on a local disk (file locks may not work on network "
                "shares), or pass --state PATH.",
            ) from None
        if not taken:
            raise RunLocked(
                f"Another igest-sync run (pid {_holder(fd)}) is using {state_path}; "
                "this one stops without doing anything.",
            )
        _write_pid(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    """The pid the holder wrote, or "unknown" (an old file, or a byte we may not read)."""
    try:
        # A Windows holder's lock makes byte 0 unreadable; on POSIX the whole file is readable
        # and an older igest-sync wrote the pid at offset 0.
        os.lseek(fd, PID_OFFSET if _on_windows() else 0, os.SEEK_SET)
        text = os.read(fd, 64).decode(errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def _write_pid(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"\n" + str(os.getpid()).encode())
    except OSError:
        pass  # the pid only names the holder in the next run's message
