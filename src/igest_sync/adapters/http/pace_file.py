"""The pace file: what an earlier run spent of the current second, handed to the next run."""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from pathlib import Path

from igest_sync.adapters.http.pacing import Clock

UNFINISHED = "unfinished"  # PaceFile.read(): a run that is still going or was killed


class PaceFile:
    """When one service's latest requests reached it, in a file next to the state file.

    A new process cannot learn from the server how much of the current second an earlier run
    spent (iGEST sends no rate-limit headers; Jumpseller's come with its first answer). A run
    marks the file unfinished before its first request, and on closing writes when each of its
    requests still inside the window was answered (the server had counted it by then). A run
    started right after (a cron chain, ``invoice && sync-stock``) counts exactly those; after a
    run that was killed, or is still going, it assumes the worst. Two writes per process, none
    between a request's pacing and its sending. Pacing advice only: a file that cannot be read
    or written is treated as absent and never fails a run.

    Two processes on one state file (cron's ``invoice`` beside ``serve``) share the budget at
    the run lock, which only one of them holds at a time: the holder publishes its last
    second before it lets the lock go (``publish``) and the next holder reads it as soon as it
    has the lock (``HttpService.catch_up``), so neither sends into the other's second.
    """

    KEEP = 1.1  # seconds: the one-second windows, with the gate's slack

    def __init__(self, path: Path, *, wall_clock: Clock = time.time) -> None:
        self.path = path
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._answered: collections.deque[float] = collections.deque()  # the window's, in order
        self._marked = False
        self._writer = f"{os.getpid()}-{id(self):x}"  # which process (and client) wrote it

    def read(self) -> list[float] | str | None:
        """Wall times of an earlier run's requests still in the window, ``UNFINISHED``, or
        None without a usable file."""
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
            if content.get("writer") == self._writer:
                return []  # our own, published at our last turn: the gate counts those
            if content.get("unfinished"):
                return UNFINISHED
            times = [float(t) for t in content["sent"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
        now = self._wall_clock()
        recent = sorted(t for t in times if now - self.KEEP < t <= now + self.KEEP)
        with self._lock:  # carried into what we write, for a run that follows us at once
            self._answered.extend(recent)
        return recent

    def sending(self) -> None:
        """A request is about to go out: before the first, mark the file unfinished."""
        with self._lock:
            if not self._marked:
                self._marked = True
                self._write({"unfinished": True})

    def answered(self) -> None:
        """A request's answer (or failure) is in: the server counted it by now."""
        with self._lock:
            now = self._wall_clock()
            self._answered.append(now)
            while self._answered and self._answered[0] <= now - self.KEEP:
                self._answered.popleft()

    def close(self) -> None:
        """Write when this run's (and any earlier run's) requests in the window were answered."""
        self.publish()

    def publish(self) -> None:
        """Write the window's answered requests now (the end of a run, or of ``serve``'s turn
        under the run lock); the next request marks the file unfinished again."""
        with self._lock:
            if not self._marked:
                return  # sent nothing: the file still says what it said
            self._marked = False
            cut = self._wall_clock() - self.KEEP
            self._write({"sent": sorted(round(t, 3) for t in self._answered if t > cut)})

    def _write(self, content: dict[str, object]) -> None:
        content = {**content, "writer": self._writer}
        partial = self.path.with_name(self.path.name + ".tmp")
        try:
            partial.write_text(json.dumps(content), encoding="utf-8")
            os.replace(partial, self.path)  # a reader never sees half a file
        except OSError:
            pass
