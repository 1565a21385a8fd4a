"""The alerts outbox: one row per event and channel (schema 6), a store of ``Ledger``.

An alert is recorded here before it is sent and marked sent after, so a channel that failed
is retried by the next run and a message is never sent twice for the same event. The two
channels have their own rows: each fails and succeeds on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from igest_sync.state.database import Params, Store, stamp

# Sent rows older than this are forgotten (the reminder rule needs only the latest per key).
KEEP_SENT = timedelta(days=60)


@dataclass(frozen=True)
class AlertRow:
    id: int
    event_key: str
    base_key: str
    channel: str
    kind: str
    payload: str
    created_at: str
    sent_at: str | None
    attempts: int
    last_error: str | None


class AlertsStore(Store):
    """The outbox and the queries of alerts and the digest, on the ledger's database."""

    def last_alert_at(self, base_key: str) -> datetime | None:
        """When an event about ``base_key`` was last recorded (sent or not), if ever."""
        rows = self._rows("SELECT max(created_at) AS at FROM alerts WHERE base_key=?", (base_key,))
        value = rows[0]["at"] if rows else None
        return datetime.fromisoformat(value) if value else None

    def record_alerts(self, rows: Iterable[AlertRow]) -> None:
        """Record new events (one row per channel) in one transaction; a row already there
        (same event and channel) is kept as it is."""
        statements: list[tuple[str, Params]] = [
            (
                (
                    "INSERT OR IGNORE INTO alerts(event_key, base_key, channel, kind, payload, "
                    "created_at, sent_at, attempts, last_error) VALUES(?,?,?,?,?,?,?,?,?)"
                ),
                (
                    r.event_key,
                    r.base_key,
                    r.channel,
                    r.kind,
                    r.payload,
                    r.created_at,
                    r.sent_at,
                    r.attempts,
                    r.last_error,
                ),
            )
            for r in rows
        ]
        if statements:
            self._write_many(*statements)

    def unsent_alerts(self, channel: str) -> list[AlertRow]:
        return [
            _alert(r)
            for r in self._rows(
                "SELECT * FROM alerts WHERE channel=? AND sent_at IS NULL ORDER BY id", (channel,)
            )
        ]

    def unsent_base_keys(self, channel: str) -> set[str]:
        rows = self._rows(
            "SELECT DISTINCT base_key FROM alerts WHERE channel=? AND sent_at IS NULL", (channel,)
        )
        return {r["base_key"] for r in rows}

    def alert_rows(self, event_key: str) -> list[AlertRow]:
        return [
            _alert(r)
            for r in self._rows("SELECT * FROM alerts WHERE event_key=? ORDER BY id", (event_key,))
        ]

    def mark_alerts_sent(self, ids: Iterable[int], at: datetime) -> None:
        sent_at = stamp(at)
        stale = stamp(at - KEEP_SENT)
        self._write_many(
            *[
                (
                    "UPDATE alerts SET sent_at=?, attempts=attempts+1, last_error=NULL WHERE id=?",
                    (sent_at, i),
                )
                for i in ids
            ],
            ("DELETE FROM alerts WHERE sent_at IS NOT NULL AND sent_at < ?", (stale,)),
        )

    def mark_alerts_failed(self, ids: Iterable[int], error: str) -> None:
        self._write_many(
            *[
                ("UPDATE alerts SET attempts=attempts+1, last_error=? WHERE id=?", (error, i))
                for i in ids
            ]
        )

    # -- what the alerts and the digest report ---------------------------------------------

    def paid_without_invoice(self, paid_before: datetime) -> list[sqlite3.Row]:
        """Orders paid before ``paid_before`` whose invoice is planned but not final (oldest
        first): order_id, paid_at, total, customer, the invoice work's state and error. An
        order skipped on purpose (the till's, before start_date) has no invoice work."""
        rows = self._rows(
            """SELECT o.order_id, o.paid_at, o.total, o.customer, w.state, w.error, w.transient
               FROM orders o JOIN work w ON w.order_id=o.order_id AND w.kind='invoice'
               WHERE o.status='paid' AND o.paid_at IS NOT NULL AND w.state != 'final'"""
        )
        # paid_at keeps the offset Jumpseller gave: compare moments, not strings.
        late = [r for r in rows if _moment(r["paid_at"]) < paid_before]
        return sorted(late, key=lambda r: (_moment(r["paid_at"]), r["order_id"]))

    def documents_issued_between(self, start: datetime, end: datetime) -> list[sqlite3.Row]:
        """Documents recorded in [start, end): kind, number, order_id, gross_total, status."""
        return self._rows(
            """SELECT kind, number, order_id, gross_total, status, customer, document_id
               FROM documents
               WHERE issued_at >= ? AND issued_at < ? ORDER BY issued_at, document_id""",
            (stamp(start), stamp(end)),
        )


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _alert(r: sqlite3.Row) -> AlertRow:
    return AlertRow(
        r["id"],
        r["event_key"],
        r["base_key"],
        r["channel"],
        r["kind"],
        r["payload"],
        r["created_at"],
        r["sent_at"],
        r["attempts"],
        r["last_error"],
    )
