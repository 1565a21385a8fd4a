"""The webhook inbox: deliveries `serve` has verified and answered, not yet worked on.

A delivery is a hint ("look at order 10452 now"), never the truth: only what it is about is
kept (the order or product id, the event, when Jumpseller says it fired and when it arrived),
never the body's customer data. The receiver records a hint in one short transaction before
it answers 2xx, without waiting for the run lock, so a SIGKILL after the answer loses nothing:
the worker (this run or the next start) takes the hints, reads the order again from the API,
and deletes the hints only once the order's outcome is recorded in the ledger.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from igest_sync.state.database import Store, moment
from igest_sync.timeutil import lisbon_minute

ORDER = "order"
PRODUCT = "product"
LAST_WEBHOOK = "serve_last_webhook_at"
LAST_SWEEP = "serve_last_sweep_at"
SERVE_STOPPED = "serve_stopped_at"  # meta: when serve last stopped cleanly (a signal)
# meta: when serve last started: started again after a stop, it is running, though its first
# sweep may not end for a while (Jumpseller down, a run holding the lock).
SERVE_STARTED = "serve_started_at"
REALTIME = "serve_realtime"  # meta: real time degraded (JSON, serve/watch.py); "" when not
# meta: the last degradation a delivery healed, and when (JSON, serve/watch.py)
REALTIME_HEALED = "serve_realtime_healed"


@dataclass(frozen=True)
class Degraded:
    """Real time is off since ``since``: ``reason`` says how it was seen (with the orders, for
    ``status``, the log and the alert); ``public`` says it without them (``/healthz``)."""

    since: str  # ISO time
    reason: str
    public: str
    # When it was last found lost (ISO time; "": at ``since``): lost again soon after a heal,
    # it keeps its first ``since``, and only a delivery after this moment heals it.
    lost_at: str = ""

    def to_json(self) -> dict[str, str]:
        found = {"lost_at": self.lost_at} if self.lost_at else {}
        return {"since": self.since, "reason": self.reason, "public": self.public, **found}


SWEEP_MINUTES = 10  # [serve] sweep_minutes' default: a status without its config assumes it
# A sweep waits for a run's lock, and a long run holds it: silent past two sweeps and this.
SWEEP_SLACK = timedelta(minutes=5)
STOPPED = "serve stopped"  # serve_down's public reason for a clean stop (on purpose)


def serve_down(
    get_meta: Callable[[str], str | None], now: datetime, sweep_minutes: int
) -> Degraded | None:
    """Whether a ``serve`` that worked on this state file has stopped (a clean stop it
    recorded), or seems to have (no sweep for two of its intervals and more: killed, the
    machine restarted, stuck); None when serve never ran here or still sweeps."""
    last = moment(get_meta(LAST_SWEEP))
    stopped = moment(get_meta(SERVE_STOPPED))
    started = moment(get_meta(SERVE_STARTED))
    if started is not None and (last is None or started > last):
        last = started  # nothing swept since it started: its start is its last sign of life
    if stopped is not None and (last is None or stopped >= last):
        since = stopped.isoformat(timespec="seconds")
        reason = (
            f"serve stopped at {lisbon_minute(stopped)} (a signal: its service stopped, or "
            "Ctrl-C); paid orders "
            "wait for the next `igest-sync invoice` run, or for serve to start again"
        )
        return Degraded(since, reason, STOPPED)
    if last is None or now - last <= 2 * timedelta(minutes=sweep_minutes) + SWEEP_SLACK:
        return None
    since = last.isoformat(timespec="seconds")
    reason = (
        f"no sweep since {lisbon_minute(last)}, and serve sweeps every {sweep_minutes} "
        f"minute{'' if sweep_minutes == 1 else 's'}: it is not "
        "running (killed? the machine restarted?) or is stuck; paid orders wait for the next "
        "`igest-sync invoice` run. Start it again (its service manager restarts it: see the "
        "README's systemd and launchd units)"
    )
    return Degraded(since, reason, "serve is not sweeping")


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

    def waiting_hints(
        self, now: datetime, limit: int, *, latest: datetime | None = None
    ) -> list[Hint]:
        """Up to ``limit`` subjects with deliveries due (oldest first), each delivery once.
        ``latest``: a delivery postponed beyond it is due too (postponed by a clock that has
        stepped back since)."""
        due = now.astimezone(UTC).isoformat(timespec="milliseconds")
        beyond = (latest or datetime.max.replace(tzinfo=UTC)).astimezone(UTC)
        rows = self._rows(
            "SELECT id, subject, subject_id, event, attempts FROM inbox "
            "WHERE not_before IS NULL OR not_before <= ? OR not_before > ? ORDER BY id",
            (due, beyond.isoformat(timespec="milliseconds")),
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

    def realtime_degraded(self) -> Degraded | None:
        """What ``serve`` recorded when webhooks stopped reaching it, while they still do not."""
        raw = self.get_meta(REALTIME)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return Degraded(
                str(data["since"]),
                str(data["reason"]),
                str(data.get("public", "")),
                str(data.get("lost_at", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

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

    def paid_between(self, after: datetime, until: datetime) -> list[int]:
        """Orders the ledger knows were paid in (``after``, ``until``] (serve's watch: were
        they announced by a webhook?)."""
        if until <= after:
            return []
        # paid_at keeps the offset Jumpseller gave: a day's margin on the text, then moments.
        floor = (after - timedelta(days=1)).astimezone(UTC).isoformat()
        rows = self._rows(
            "SELECT order_id, paid_at FROM orders WHERE paid_at IS NOT NULL AND paid_at >= ?",
            (floor,),
        )
        found = []
        for row in rows:
            try:
                paid = datetime.fromisoformat(row["paid_at"])
            except ValueError:
                continue
            paid = paid if paid.tzinfo else paid.replace(tzinfo=UTC)
            if after < paid <= until:
                found.append(int(row["order_id"]))
        return sorted(found)
