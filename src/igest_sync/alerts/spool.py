"""Alerts about a state file that cannot be used: kept in a small JSON file beside it.

When the ledger cannot be opened there is nowhere else to record that an alert was made and
sent; the spool (``<state>.alerts-spool``, mode 0600, written whole) holds the same rows as the
ledger's outbox. The next run that opens the ledger takes the rows in and removes the spool.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from igest_sync.state.alerts import AlertRow

if TYPE_CHECKING:
    from igest_sync.state.ledger import Ledger

log = logging.getLogger("igest_sync.alerts")


def path_for(state_path: Path) -> Path:
    return state_path.with_name(f"{state_path.name}.alerts-spool")


def _load(path: Path) -> list[AlertRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [AlertRow(**row) for row in data]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError):
        log.warning("The alerts spool %s cannot be read; it is set aside", path)
        path.replace(path.with_suffix(".unreadable"))
        return []


class SpoolOutbox:
    """The outbox interface of ``dispatch`` over the spool file."""

    def __init__(self, path: Path, *, store_name: str | None = None) -> None:
        self.path = path
        self.rows = _load(path)
        self._store_name = store_name

    def store_name(self) -> str | None:
        """As the caller knows it: a run without the state file does not (the spool stands
        in for it); serve, which holds the state file open while a lock keeps it waiting,
        does."""
        return self._store_name

    def last_alert_at(self, base_key: str) -> datetime | None:
        times = [r.created_at for r in self.rows if r.base_key == base_key]
        return datetime.fromisoformat(max(times)) if times else None

    def record(self, rows: list[AlertRow]) -> None:
        known = {(r.event_key, r.channel) for r in self.rows}
        next_id = max((r.id for r in self.rows), default=0) + 1
        for row in rows:
            if (row.event_key, row.channel) in known:
                continue
            self.rows.append(replace(row, id=next_id))
            next_id += 1
        self.save()  # recorded before anything is sent

    def unsent(self, channel: str) -> list[AlertRow]:
        return [r for r in self.rows if r.channel == channel and r.sent_at is None]

    def sent(self, ids: list[int], at: datetime) -> None:
        stamp = at.isoformat(timespec="seconds")
        self._update(ids, lambda r: replace(r, sent_at=stamp, attempts=r.attempts + 1))

    def failed(self, ids: list[int], error: str) -> None:
        self._update(ids, lambda r: replace(r, attempts=r.attempts + 1, last_error=error))

    def _update(self, ids: list[int], change: Callable[[AlertRow], AlertRow]) -> None:
        wanted = set(ids)
        self.rows = [change(r) if r.id in wanted else r for r in self.rows]
        self.save()

    def save(self) -> None:
        text = json.dumps([asdict(r) for r in self.rows], ensure_ascii=False, indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
                handle.write(text)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("The alerts spool %s cannot be written: %s", self.path, exc.strerror)


def take_into(ledger: Ledger, path: Path) -> None:
    """Move the spool's rows into the ledger's outbox (their sent state with them)."""
    rows = _load(path)
    if not rows:
        return
    ledger.record_alerts(rows)
    path.unlink(missing_ok=True)
    log.info("Took %d alert row(s) from %s into the state file", len(rows), path)
