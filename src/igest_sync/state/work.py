"""The ledger's orders and work: what we know of each order, and each piece of work (an invoice
or a credit note) through its states (see the lifecycle in ``state/ledger.py``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from igest_sync.models import (
    IN_FLIGHT,
    EmailState,
    IssuedDocument,
    Kind,
    Phase,
    WorkState,
)
from igest_sync.state.database import Params, Store, stamp
from igest_sync.state.documents import DOCUMENT_COLUMNS, DOCUMENT_MARKS, document_values


@dataclass(frozen=True)
class WorkRecord:
    order_id: int
    kind: str
    state: str
    phase: str | None
    external_reference: str
    document_id: str | None
    error: str | None
    transient: bool
    attempts: int
    updated_at: str
    reported_at: str | None = None  # when this failure was last printed for a person
    seq: int = 1  # the n-th credit note of the order; 1 for an invoice
    request: str | None = None  # a partial credit's request (JSON), as it was asked


@dataclass(frozen=True)
class OrderRecord:
    order_id: int
    status: str
    created_at: str | None
    paid_at: str | None
    total: Decimal | None
    customer: str | None
    email: str | None
    note: str | None
    updated_at: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _cents(value: str | None) -> Decimal | None:
    """An order's total as a person reads it (83.30, not Jumpseller's 83.3): the orders are
    in euros, so this only adds the zeros, whatever an older state file kept."""
    return Decimal(value).quantize(Decimal("0.01")) if value is not None else None


def work_record(r: sqlite3.Row) -> WorkRecord:
    return WorkRecord(
        r["order_id"],
        r["kind"],
        r["state"],
        r["phase"],
        r["external_reference"],
        r["document_id"],
        r["error"],
        bool(r["transient"]),
        r["attempts"],
        r["updated_at"],
        r["reported_at"],
        r["seq"],
        r["request"],
    )


def order_record(r: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        r["order_id"],
        r["status"],
        r["created_at"],
        r["paid_at"],
        _cents(r["total"]),
        r["customer"],
        r["email"],
        r["note"],
        r["updated_at"],
    )


class WorkStore(Store):
    """Orders and work, on the ledger's database."""

    # -- orders -----------------------------------------------------------------------------

    def record_order(
        self,
        order_id: int,
        status: str,
        *,
        created_at: datetime | None,
        paid_at: datetime | None,
        total: Decimal | None,
        customer: str | None,
        email: str | None = None,
        note: str | None = None,
    ) -> None:
        self._write(
            """INSERT INTO orders(order_id, status, created_at, paid_at, total, customer, email,
                                  note, updated_at)
               VALUES(?,?,?,?,?,?,?,?,?)
               ON CONFLICT(order_id) DO UPDATE SET status=excluded.status,
                 created_at=excluded.created_at, paid_at=excluded.paid_at, total=excluded.total,
                 customer=excluded.customer, email=excluded.email, note=excluded.note,
                 updated_at=excluded.updated_at""",
            (
                order_id,
                status,
                _iso(created_at),
                _iso(paid_at),
                None if total is None else str(total),
                customer,
                email,
                note,
                self._now(),
            ),
        )

    def order(self, order_id: int) -> OrderRecord | None:
        rows = self._rows("SELECT * FROM orders WHERE order_id=?", (order_id,))
        return order_record(rows[0]) if rows else None

    def open_orders(self) -> list[OrderRecord]:
        """Orders waiting for payment, oldest first."""
        rows = self._rows("SELECT * FROM orders WHERE status='pending_payment' ORDER BY order_id")
        return [order_record(r) for r in rows]

    def skipped_orders(self) -> list[OrderRecord]:
        """Paid orders recorded with the reason igest-sync does not invoice them (a till's
        sale, paid before the start date) and no invoice work, oldest first."""
        rows = self._rows(
            "SELECT * FROM orders WHERE status='paid' AND note IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM work WHERE work.order_id=orders.order_id AND work.kind='invoice') "
            "ORDER BY order_id"
        )
        return [order_record(r) for r in rows]

    def recent_orders(self, status: str, since: datetime) -> list[OrderRecord]:
        """Orders last seen in ``status``, created at or after ``since``, oldest first."""
        rows = self._rows(
            "SELECT * FROM orders WHERE status=? AND created_at >= ? ORDER BY order_id",
            (status, _utc(since)),
        )
        return [order_record(r) for r in rows]

    def unsettled_created_between(
        self, since: datetime, until: datetime, paid_from: datetime, paid_to: datetime
    ) -> list[OrderRecord]:
        """Orders created from ``since`` to before ``until`` that the ledger last saw open
        (waiting for payment, an abandoned checkout), or paid around ``paid_from`` ..
        ``paid_to`` (a day either side: payment times keep Jumpseller's offset), oldest
        first."""
        margin = timedelta(days=1)
        rows = self._rows(
            "SELECT * FROM orders WHERE created_at >= ? AND created_at < ? AND (status IN "
            "('pending_payment', 'abandoned') OR (status='paid' AND paid_at >= ? AND "
            "paid_at < ?)) ORDER BY order_id",
            # A day past ``until`` too (created times keep Jumpseller's offset): one the
            # caller's listing holds already is left out there.
            (_utc(since), _utc(until + margin), _utc(paid_from - margin), _utc(paid_to + margin)),
        )
        return [order_record(r) for r in rows]

    def statuses(self, order_ids: list[int]) -> dict[int, str]:
        """The status the ledger holds for each of these orders (those it knows)."""
        found: dict[int, str] = {}
        for start in range(0, len(order_ids), 500):  # SQLite's limit on parameters
            chunk = order_ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            for r in self._rows(
                f"SELECT order_id, status FROM orders WHERE order_id IN ({marks})", tuple(chunk)
            ):
                found[r["order_id"]] = r["status"]
        return found

    # Creation times are kept as Jumpseller gives them, in UTC (``2026-11-20T14:03:11+00:00``),
    # so they compare as text in time order: these queries run on every run over the whole
    # history, and a comparison of text is what SQLite does fastest.

    def count_cancelled_since(self, moment: datetime) -> int:
        """Orders the ledger holds as cancelled that were created at or after ``moment``: one
        aggregate, however long the history (the cancellation pass's expected count)."""
        rows = self._rows(
            "SELECT COUNT(*) FROM orders WHERE status='canceled' AND created_at >= ?",
            (_utc(moment),),
        )
        return int(rows[0][0])

    def cancelled_created_since(
        self, moment: datetime, until: datetime | None = None
    ) -> list[tuple[int, datetime]]:
        """(order id, creation time) of the orders held as cancelled created since ``moment``
        (and before ``until``)."""
        sql = "SELECT order_id, created_at FROM orders WHERE status='canceled' AND created_at >= ?"
        params: tuple[object, ...] = (_utc(moment),)
        if until is not None:
            sql += " AND created_at < ?"
            params += (_utc(until),)
        return [
            (r["order_id"], datetime.fromisoformat(r["created_at"]))
            for r in self._rows(sql, params)
        ]

    def nth_cancelled_since(self, moment: datetime, nth: int) -> datetime | None:
        """The creation time of the ``nth`` (1 = first) order held as cancelled created since
        ``moment``, in time order; None when there are fewer."""
        rows = self._rows(
            "SELECT created_at FROM orders WHERE status='canceled' AND created_at >= ? "
            "ORDER BY created_at LIMIT 1 OFFSET ?",
            (_utc(moment), nth - 1),
        )
        return datetime.fromisoformat(rows[0]["created_at"]) if rows else None

    def first_invoiced_order(self, after: int = 0) -> tuple[datetime | None, str | None, int]:
        """Among the final invoices recorded after document row ``after``: the earliest creation
        time of their orders, and the earliest date of those whose order's creation the ledger
        lacks (an adopted document); with the last document row, to ask from next time (the
        rows after it only: a quiet run reads none)."""
        rows = self._rows(
            """SELECT
                 (SELECT MIN(o.created_at) FROM documents d JOIN orders o USING(order_id)
                   WHERE d.rowid > :after AND d.kind='invoice' AND d.status='final'),
                 (SELECT MIN(COALESCE(d.date, substr(d.issued_at, 1, 10))) FROM documents d
                   LEFT JOIN orders o USING(order_id)
                   WHERE d.rowid > :after AND d.kind='invoice' AND d.status='final'
                     AND o.created_at IS NULL),
                 (SELECT MAX(rowid) FROM documents)""",
            {"after": after},
        )
        created, dated, last = rows[0][0], rows[0][1], rows[0][2]
        return (datetime.fromisoformat(created) if created else None), dated, int(last or 0)

    def gaps_found_between(self, start: datetime, end: datetime) -> list[int]:
        """The orders the gap check found paid without a document from ``start`` to ``end``."""
        found = []
        for r in self._rows("SELECT key, value FROM meta WHERE key LIKE 'gap_found:%'"):
            if start <= datetime.fromisoformat(r["value"]) < end:
                found.append(int(r["key"].split(":", 1)[1]))
        return sorted(found)

    # -- work -------------------------------------------------------------------------------

    # Every work method takes ``seq``: an order has one invoice (seq 1) but may have several
    # credit notes (seq 1, 2 ...), each its own piece of work with its own reference.

    def work(self, order_id: int, kind: str = Kind.INVOICE, seq: int = 1) -> WorkRecord | None:
        rows = self._rows(
            "SELECT * FROM work WHERE order_id=? AND kind=? AND seq=?", (order_id, kind, seq)
        )
        return work_record(rows[0]) if rows else None

    def ensure_work(
        self,
        order_id: int,
        kind: str,
        external_reference: str,
        *,
        unverified: bool = False,
        seq: int = 1,
        request: str | None = None,
    ) -> WorkRecord:
        """Create the work item as pending unless it exists; return its current record.

        ``unverified``: created while the ledger knew nothing (first run, lost state file), so
        iGEST may already hold its document: it is looked up before anything is sent.
        ``request``: what a partial credit was asked for, recorded with the work before any
        call so that a resumed run issues the same credit note, not another.
        """
        record = self.work(order_id, kind, seq)
        if record is not None:  # created before (a run's discovery records each paid order)
            return record
        phase = Phase.UNVERIFIED if unverified else None
        self._write(
            *_new_work(order_id, kind, seq, phase, external_reference, request, self._now())
        )
        record = self.work(order_id, kind, seq)
        assert record is not None
        return record

    def credit_works(self, order_id: int) -> list[WorkRecord]:
        """The order's credit-note work, first to last."""
        rows = self._rows(
            "SELECT * FROM work WHERE order_id=? AND kind=? ORDER BY seq", (order_id, Kind.CREDIT)
        )
        return [work_record(r) for r in rows]

    def next_credit_seq(self, order_id: int) -> int:
        """The seq of the order's next credit note (1 for its first)."""
        rows = self._rows(
            "SELECT max(seq) AS top FROM work WHERE order_id=? AND kind=?", (order_id, Kind.CREDIT)
        )
        top = rows[0]["top"] if rows else None
        return 1 if top is None else int(top) + 1

    def unfinished_credit(self, order_id: int) -> WorkRecord | None:
        """Credit work of the order that is not final (pending, in flight or failed), if any:
        it is finished before another credit note is started."""
        unfinished = [w for w in self.credit_works(order_id) if w.state != "final"]
        return unfinished[0] if unfinished else None

    def restart_credit(self, order_id: int, seq: int, request: str) -> None:
        """Credit work that never reached iGEST (no phase) takes another request: pending
        again, its error cleared. Work that may have reached iGEST is never rewritten."""
        self._write(
            """UPDATE work SET request=?, state=?, error=NULL, transient=0, updated_at=?
               WHERE order_id=? AND kind=? AND seq=? AND phase IS NULL AND state<>?""",
            (request, WorkState.PENDING, self._now(), order_id, Kind.CREDIT, seq, WorkState.FINAL),
        )

    def mark(
        self,
        order_id: int,
        kind: str,
        state: str,
        *,
        document_id: str | None = None,
        seq: int = 1,
    ) -> None:
        """Record a step. In-flight states also raise ``phase`` so a crash is looked up later."""
        phase_sql = ", phase=?" if state in IN_FLIGHT else ""
        params: list[object] = [state, self._now()]
        if state in IN_FLIGHT:
            params.append(state)
        doc_sql = ", document_id=?" if document_id is not None else ""
        if document_id is not None:
            params.append(document_id)
        self._write(
            f"UPDATE work SET state=?, updated_at=?{phase_sql}{doc_sql}, "
            "attempts = attempts + (CASE WHEN ?='requested' THEN 1 ELSE 0 END) "
            "WHERE order_id=? AND kind=? AND seq=?",
            (*params, state, order_id, kind, seq),
        )

    def fail(self, order_id: int, kind: str, error: str, *, transient: bool, seq: int = 1) -> None:
        self._write(
            """UPDATE work SET state=?, error=?, transient=?, updated_at=?,
                 attempts = CASE WHEN attempts=0 THEN 1 ELSE attempts END
               WHERE order_id=? AND kind=? AND seq=?""",
            (WorkState.FAILED, error, int(transient), self._now(), order_id, kind, seq),
        )

    def mark_reported(self, order_id: int, kind: str, at: datetime) -> None:
        """This failure was printed for a person at ``at``: the next runs stay quiet about it
        until a reminder is due (``[invoice] remind_failed_hours``). Whatever its seq: an order
        has at most one unfinished credit note, and a second credit's failure is the one."""
        self._write(
            "UPDATE work SET reported_at=? WHERE order_id=? AND kind=? AND state=?",
            (stamp(at), order_id, kind, WorkState.FAILED),
        )

    def clear_phase(self, order_id: int, kind: str, seq: int = 1) -> None:
        """Lookup showed nothing of this work in iGEST: nothing is in flight any more."""
        self._write(
            "UPDATE work SET phase=NULL, document_id=NULL WHERE order_id=? AND kind=? AND seq=?",
            (order_id, kind, seq),
        )

    def drop_unsent_work(self, order_id: int, kind: str, seq: int = 1) -> None:
        """Forget work that never reached iGEST (no phase): the order no longer needs it."""
        self._write(
            "DELETE FROM work WHERE order_id=? AND kind=? AND seq=? AND phase IS NULL "
            "AND state IN ('pending', 'failed', 'review')",
            (order_id, kind, seq),
        )

    def work_in_states(self, *states: str, kind: str | None = None) -> list[WorkRecord]:
        marks = ",".join("?" for _ in states)
        sql = f"SELECT * FROM work WHERE state IN ({marks})"
        params: list[object] = list(states)
        if kind:
            sql += " AND kind=?"
            params.append(kind)
        return [work_record(r) for r in self._rows(sql + " ORDER BY order_id, seq", tuple(params))]

    def record_final(
        self,
        order_id: int,
        kind: str,
        doc: IssuedDocument,
        *,
        email: bool,
        adopted: bool = False,
        seq: int = 1,
        reference: str | None = None,
        request: str | None = None,
    ) -> None:
        """The outcome: the work is final and the document is kept, in one transaction.

        ``reference``: a document of ours found in iGEST that the ledger may hold no work for
        (a lost or older state file): its work (``request``, as ``ensure_work``'s) is created
        in that same transaction. As two writes, a kill between them left work that looked
        unfinished, and the next run "finished" that instead of what it was there to do."""
        now = self._now()
        statements: list[tuple[str, Params]] = []
        if reference is not None:
            statements.append(_new_work(order_id, kind, seq, None, reference, request, now))
        statements += [
            (
                f"""INSERT INTO documents({DOCUMENT_COLUMNS}, adopted)
                VALUES({DOCUMENT_MARKS},?)
                ON CONFLICT(document_id) DO UPDATE SET number=excluded.number,
                  atcud=excluded.atcud, status=excluded.status, pdf_url=excluded.pdf_url""",
                (
                    *document_values(
                        doc,
                        order_id,
                        kind,
                        now,
                        EmailState.PENDING if email else EmailState.NOT_SENT,
                    ),
                    int(adopted),
                ),
            ),
            (
                """UPDATE work SET state=?, document_id=?, error=NULL, transient=0,
                  reported_at=NULL, updated_at=? WHERE order_id=? AND kind=? AND seq=?""",
                (WorkState.FINAL, doc.id, now, order_id, kind, seq),
            ),
        ]
        self._write_many(*statements)


def _new_work(
    order_id: int,
    kind: str,
    seq: int,
    phase: str | None,
    reference: str,
    request: str | None,
    now: str,
) -> tuple[str, Params]:
    """The statement that creates a work item, pending, unless it exists."""
    return (
        """INSERT INTO work(order_id, kind, seq, state, phase, external_reference, request,
                            updated_at)
           VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(order_id, kind, seq) DO NOTHING""",
        (order_id, kind, seq, WorkState.PENDING, phase, reference, request, now),
    )


def _utc(moment: datetime) -> str:
    """A moment as the ledger keeps creation times (UTC ISO 8601), to compare as text."""
    return moment.astimezone(UTC).isoformat()
