"""Stopping a long-running command (``serve``, ``sandbox``) on SIGTERM, SIGHUP, Ctrl-C or
CTRL_BREAK.

A Python signal handler runs in the main thread, between two of its bytecodes, whatever that
thread is doing. Setting a ``threading.Event`` there takes the Event's lock, which the main
thread may hold at that very instant (inside its own ``wait()`` or ``set()`` of the same
Event); the lock is not re-entrant, so the process would hang for good (seen: ``igest-sync
sandbox`` ignoring a SIGTERM, once in a few hundred). So the handler only records the signal,
and the main thread, which wakes often, acts on it in its own time.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Self

# SIGHUP too (a terminal closed under `serve`, `kill -HUP` meant as a reload): its default
# ended the process on the spot, with nothing in the log; there is nothing to reload, so it
# stops as SIGTERM does, finishing the documents in flight.
STOPPING = ("SIGTERM", "SIGINT", "SIGBREAK", "SIGHUP")


class StopSignals:
    """The stop signals this process received (none yet: falsy)."""

    def __init__(self) -> None:
        # Appended to by the handler: a list append takes no lock a thread could hold.
        self.received: list[int] = []

    def install(self, names: Sequence[str] = STOPPING) -> Self:
        """Record ``names`` (those this platform has; SIGBREAK is Windows' CTRL_BREAK) instead
        of their default action. Only the main thread can install handlers: elsewhere (a test
        calling the command in a thread) nothing is installed."""
        if threading.current_thread() is threading.main_thread():
            for name in names:
                if hasattr(signal, name) and (name != "SIGBREAK" or os.name == "nt"):
                    signal.signal(getattr(signal, name), self._handler)
        return self

    def _handler(self, signum: int, frame: object) -> None:
        self.received.append(signum)

    def __bool__(self) -> bool:
        return bool(self.received)

    def wait(self, step: float = 0.1) -> None:
        """Return once a stop signal has come (checked every ``step`` seconds)."""
        while not self.received:
            time.sleep(step)
