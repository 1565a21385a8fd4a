"""Request counters shared by the emulators (what ``sb.stats()`` and ``/_sandbox/stats`` show)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable


def _fresh() -> dict:
    return {"requests": 0, "by_route": {}, "by_status": {}, "429": 0, "faults": {}}


class Stats:
    """Per service: ``requests``, ``by_route`` ("GET /v1/orders/{id}.json": n), ``by_status``
    ("200": n; "dropped" for connections closed without a response), ``429`` (every 429
    answered, rate limit or injected) and ``faults`` (injected faults by kind)."""

    def __init__(self, services: Iterable[str] = ("jumpseller", "igest")) -> None:
        self._lock = threading.Lock()
        self._services = tuple(services)
        self._data = {s: _fresh() for s in self._services}

    def record(self, service: str, route: str, status: int) -> None:
        with self._lock:
            # VIES is counted from its first request, so the usual snapshot keeps its shape.
            data = self._data.setdefault(service, _fresh())
            data["requests"] += 1
            data["by_route"][route] = data["by_route"].get(route, 0) + 1
            key = str(status) if status else "dropped"
            data["by_status"][key] = data["by_status"].get(key, 0) + 1
            if status == 429:
                data["429"] += 1

    def record_fault(self, service: str, kind: str) -> None:
        with self._lock:
            faults = self._data.setdefault(service, _fresh())["faults"]
            faults[kind] = faults.get(kind, 0) + 1

    def snapshot(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._data)

    def reset(self) -> None:
        with self._lock:
            self._data = {s: _fresh() for s in self._services}
