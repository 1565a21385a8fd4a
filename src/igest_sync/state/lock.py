"""The run lock: one igest-sync run per state file at a time.

Two cron runs that overlap must not both invoice. The lock is taken before the state file is
opened, and the operating system releases it when the holder dies, so a lock left by a killed
run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from igest_sync.errors import RunLocked, StateError


@contextlib.contextmanager
def run_lock(state_path: Path) -> Iterator[None]:
    """Hold an exclusive lock for the run, or raise RunLocked at once.

    Taken before the state file is opened, so that two runs started together never even race
    to create or migrate it. flock is released by the kernel when the holder dies, so a lock
    left by a killed run never blocks the next one; the pid in the file only names the holder.
    """
    try:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(state_path.with_name(state_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(
            f"Cannot create the run lock next to {state_path}: {exc.strerror}.",
            hint="Check the directory's permissions, or pass --state PATH.",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StateError(
                    f"Cannot lock {state_path}: {exc.strerror}.",
                    hint="Keep the state on a local disk (file locks may not work on network "
                    "shares), or pass --state PATH.",
                ) from None
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(
                f"Another igest-sync run (pid {holder}) is using {state_path}; "
                "this one stops without doing anything.",
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass  # the pid only names the holder in the next run's message
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
