"""The webhook inbox: deliveries `serve` has verified and answered, not yet worked on.

A delivery is a hint ("look at order 10452 now"), never the truth: only what it is about is
kept (the order or product id, the event, when Jumpseller says it fired and when it arrived),
never the body's customer data. The receiver records a hint in one short transaction before
it answers 2xx, without waiting for the run lock, so a SIGKILL after the answer loses nothing:
the worker (this run or the next start) takes the hints, reads the order again from the API,
and deletes the hints only once the order's outcome is recorded in the ledger.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from igest_sync.state.base import Store

ORDER = "order"
PRODUCT = "product"
LAST_WEBHOOK = "serve_last_webhook_at"
LAST_SWEEP = "serve_last_sweep_at"


@dataclass(frozen=True)
class Hint:
    """Every waiting delivery about one order (or product), as one piece of work."""

    subject: str  # ORDER or PRODUCT
    subject_id: int
    events: tuple[str, ...]  # oldest first
    row_ids: tuple[int, ...]  # the inbox rows it stands for
    attempts: int  # how many times working on it failed before


class InboxStore(Store):
    """The inbox (schema 5), on the ledger's database (``serve``'s receiver: its own)."""

    def record_hint(
        self,
        subject: str,
        subject_id: int,
        event: str,
        *,
        triggered_at: str | None,
        received_at: datetime,
    ) -> None:
        """Keep one verified delivery, and when the last one came (``status``, /healthz)."""
        received = received_at.astimezone(UTC).isoformat(timespec="milliseconds")
        self._write_many(
            (
                (
                    "INSERT INTO inbox(subject, subject_id, event, triggered_at, received_at) "
                    "VALUES(?, ?, ?, ?, ?)"
                ),
                (subject, subject_id, event, triggered_at, received),
            ),
            (
                (
                    "INSERT INTO meta(key, value) VALUES(?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value"
                ),
                (LAST_WEBHOOK, received),
            ),
        )

    def waiting_hints(self, now: datetime, limit: int) -> list[Hint]:
        """Up to ``limit`` subjects with deliveries due (oldest first), each delivery once."""
        due = now.astimezone(UTC).isoformat(timespec="milliseconds")
        rows = self._rows(
            "SELECT id, subject, subject_id, event, attempts FROM inbox "
            "WHERE not_before IS NULL OR not_before <= ? ORDER BY id",
            (due,),
        )
        grouped: dict[tuple[str, int], list[sqlite3.Row]] = {}
        for row in rows:
            key = (row["subject"], row["subject_id"])
            if key not in grouped and len(grouped) >= limit:
                continue
            grouped.setdefault(key, []).append(row)
        return [
            Hint(
                subject=subject,
                subject_id=subject_id,
                events=tuple(dict.fromkeys(r["event"] for r in group)),
                row_ids=tuple(r["id"] for r in group),
                attempts=max(r["attempts"] for r in group),
            )
            for (subject, subject_id), group in grouped.items()
        ]

    def hints_count(self) -> int:
        return int(self._rows("SELECT count(*) AS n FROM inbox")[0]["n"])

    def next_hint_due(self) -> datetime | None:
        """When the earliest postponed delivery is due again (None: nothing postponed)."""
        value = self._rows("SELECT min(not_before) AS due FROM inbox")[0]["due"]
        return datetime.fromisoformat(value) if value else None

    def finish_hints(self, row_ids: tuple[int, ...]) -> None:
        """The order's outcome is in the ledger: these deliveries are done."""
        if row_ids:
            marks = ", ".join("?" * len(row_ids))
            self._write_many((f"DELETE FROM inbox WHERE id IN ({marks})", row_ids))

    def postpone_hints(self, row_ids: tuple[int, ...], until: datetime) -> None:
        """Working on them failed before anything was recorded: try again at ``until``."""
        if row_ids:
            marks = ", ".join("?" * len(row_ids))
            self._write_many(
                (
                    f"UPDATE inbox SET attempts=attempts+1, not_before=? WHERE id IN ({marks})",
                    (until.astimezone(UTC).isoformat(timespec="milliseconds"), *row_ids),
                )
            )
