"""The local state: checkpoint, what we know of each order, the documents issued, the run lock.

SQLite in the state directory, file mode 0600, one transaction per recorded step. The ledger is
a cache of intent and outcome, never the source of truth for "was this order invoiced": iGEST is
(see ``runs/invoice.py``), so a lost ledger costs a lookup, never a second invoice.

Lifecycle of one piece of work (an invoice or a credit note for one order), ``work.state``:

    pending ──▶ requested ──▶ draft ──▶ finalizing ──▶ final
       │            │           │            │
       └────────────┴───────────┴────────────┴──▶ failed (reason, transient?, attempts)

``phase`` keeps the furthest step that may have reached iGEST (requested, draft, finalizing),
or "unverified" for work recorded while the ledger was empty: work with a phase set is looked
up by its external reference before anything is sent again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Self

from igest_sync.errors import StateError
from igest_sync.models import (
    IN_FLIGHT,
    DocumentStatus,
    EmailState,
    IssuedDocument,
    Kind,
    Phase,
    ViesCheck,
    ViesStatus,
    WorkState,
)
from igest_sync.state.alerts import AlertsMixin
from igest_sync.state.lock import run_lock
from igest_sync.state.schema import SCHEMA_VERSION, migrate, transaction

# SQL parameters: positional or named.
Params = tuple[object, ...] | dict[str, object]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Busy(Exception):
    """Another process holds the state file for a moment."""


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
class DocumentRecord:
    document_id: str
    order_id: int
    kind: str
    type: str
    number: str | None
    atcud: str | None
    date: str | None
    customer: str | None
    gross_total: Decimal
    status: str
    pdf_url: str | None
    issued_at: str
    adopted: bool
    linked: bool
    link_error: str | None
    link_attempts: int
    emailed: int
    email_error: str | None


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


class Ledger(AlertsMixin):
    """One open state file. Thread-safe: every method takes the connection lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = self._open(path)

    # -- opening, schema --------------------------------------------------------------------

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        # Switching a new file to WAL takes an exclusive lock that SQLite's busy timeout does
        # not wait for: when another process (status during a first run) is just creating the
        # file, try again for a few seconds rather than fail.
        deadline = time.monotonic() + 10
        while True:
            try:
                return Ledger._open_once(path)
            except _Busy:
                if time.monotonic() > deadline:
                    raise StateError(
                        f"State file {path} is busy: another process holds it.",
                        hint="Try again in a moment; if it persists, look for a stuck "
                        "igest-sync process.",
                    ) from None
                time.sleep(0.05)

    @staticmethod
    def _open_once(path: Path) -> sqlite3.Connection:
        if str(path) == ":memory:":  # a dry run with no state file yet: write nothing to disk
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            memory.row_factory = sqlite3.Row
            migrate(memory, path)
            return memory
        db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # Create the file 0600 before SQLite touches it: it names customers and totals.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            elif not os.access(path, os.R_OK | os.W_OK):
                raise StateError(
                    f"State file {path} is not readable and writable by this user.",
                    hint=f"Fix its owner or mode (chmod 600 {path}), or pass --state PATH.",
                )
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            db.row_factory = sqlite3.Row
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, on creation
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if (
                version == 0
                and db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[
                    0
                ]
            ):
                raise StateError(
                    f"State file {path} has tables but no igest-sync schema version.",
                    hint="It is not an igest-sync state file; move it away or pass --state PATH.",
                )
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                if db is not None:
                    db.close()
                raise _Busy from None
            raise StateError(
                f"State file {path} cannot be used: {exc}.",
                hint="Check the file and its directory, or pass --state PATH.",
            ) from None
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"State file {path} cannot be read: {exc}.",
                hint="It is left untouched. Move it away and run again: igest-sync looks up "
                "every document in iGEST, so nothing is invoiced twice.",
            ) from None
        except OSError as exc:
            raise StateError(
                f"State file {path} cannot be opened: {exc.strerror}.",
                hint="Check the directory's permissions, or pass --state PATH.",
            ) from None
        if version > SCHEMA_VERSION:
            db.close()
            raise StateError(
                f"State file {path} is from a newer igest-sync (schema {version}, "
                f"this version knows {SCHEMA_VERSION}).",
                hint="Upgrade igest-sync; the file is left untouched.",
            )
        if version < SCHEMA_VERSION:
            migrate(db, path)
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Params = ()) -> None:
        self._write_many((sql, params))

    def _write_many(self, *statements: tuple[str, Params]) -> None:
        """Run the statements in one transaction: all of them are recorded, or none."""
        with self._lock:
            try:
                with transaction(self._db):
                    for sql, params in statements:
                        self._db.execute(sql, params)
            except sqlite3.DatabaseError as exc:
                raise StateError(f"State file {self.path} could not be written: {exc}.") from None

    def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StateError(f"State file {self.path} cannot be read: {exc}.") from None

    # -- meta: checkpoint and run times -----------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def notice_shown_at(self, text: str) -> datetime | None:
        """When a run last printed this notice for a person, if it did."""
        value = self.get_meta(_notice_key(text))
        return datetime.fromisoformat(value) if value else None

    def mark_notice_shown(self, text: str, at: datetime) -> None:
        """Remember that ``text`` was printed at ``at``; forget notices not seen for 30 days,
        so that the table does not grow with every error message ever printed."""
        stale = (at - timedelta(days=30)).isoformat(timespec="seconds")
        self._write_many(
            ("DELETE FROM meta WHERE key LIKE 'notice:%' AND value < ?", (stale,)),
            (
                (
                    "INSERT INTO meta(key, value) VALUES(?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value"
                ),
                (_notice_key(text), at.isoformat(timespec="seconds")),
            ),
        )

    @property
    def checkpoint(self) -> int | None:
        """Highest Jumpseller order id already seen; None before the first run."""
        value = self.get_meta("last_order_id")
        return int(value) if value is not None else None

    def advance_checkpoint(self, order_id: int) -> None:
        current = self.checkpoint
        if current is None or order_id > current:
            self.set_meta("last_order_id", str(order_id))

    # -- VIES checks ------------------------------------------------------------------------

    def vies_answer(self, country: str, number: str, day: date) -> ViesCheck | None:
        """The clear answer (valid or invalid) VIES gave on ``day`` for this number, if any.

        An unavailable answer is kept too but not returned: the next run asks VIES again.
        """
        rows = self._rows(
            "SELECT * FROM vies_checks WHERE country=? AND number=? AND checked_on=? "
            "AND status IN (?, ?)",
            (country, number, day.isoformat(), ViesStatus.VALID, ViesStatus.INVALID),
        )
        return _vies(rows[0]) if rows else None

    def record_vies_check(self, check: ViesCheck) -> None:
        """Keep a check; a clear answer is never replaced by a later unavailable one that day."""
        self._write(
            "INSERT INTO vies_checks(country, number, checked_on, status, consultation, detail,"
            " checked_at) VALUES(?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(country, number, checked_on) DO UPDATE SET status=excluded.status,"
            " consultation=excluded.consultation, detail=excluded.detail,"
            " checked_at=excluded.checked_at"
            " WHERE vies_checks.status NOT IN ('valid', 'invalid')"
            " OR excluded.status IN ('valid', 'invalid')",
            (
                check.country,
                check.number,
                check.checked_on.isoformat(),
                str(check.status),
                check.consultation,
                check.detail,
                _now(),
            ),
        )

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
                _now(),
            ),
        )

    def order(self, order_id: int) -> OrderRecord | None:
        rows = self._rows("SELECT * FROM orders WHERE order_id=?", (order_id,))
        return _order(rows[0]) if rows else None

    def open_orders(self) -> list[OrderRecord]:
        """Orders waiting for payment, oldest first."""
        rows = self._rows("SELECT * FROM orders WHERE status='pending_payment' ORDER BY order_id")
        return [_order(r) for r in rows]

    # -- work -------------------------------------------------------------------------------

    # Every work method takes ``seq``: an order has one invoice (seq 1) but may have several
    # credit notes (seq 1, 2 ...), each its own piece of work with its own reference.

    def work(self, order_id: int, kind: str = Kind.INVOICE, seq: int = 1) -> WorkRecord | None:
        rows = self._rows(
            "SELECT * FROM work WHERE order_id=? AND kind=? AND seq=?", (order_id, kind, seq)
        )
        return _work(rows[0]) if rows else None

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
        self._write(
            """INSERT INTO work(order_id, kind, seq, state, phase, external_reference, request,
                                updated_at)
               VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(order_id, kind, seq) DO NOTHING""",
            (
                order_id,
                kind,
                seq,
                WorkState.PENDING,
                Phase.UNVERIFIED if unverified else None,
                external_reference,
                request,
                _now(),
            ),
        )
        record = self.work(order_id, kind, seq)
        assert record is not None
        return record

    def credit_works(self, order_id: int) -> list[WorkRecord]:
        """The order's credit-note work, first to last."""
        rows = self._rows(
            "SELECT * FROM work WHERE order_id=? AND kind=? ORDER BY seq", (order_id, Kind.CREDIT)
        )
        return [_work(r) for r in rows]

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
            (request, WorkState.PENDING, _now(), order_id, Kind.CREDIT, seq, WorkState.FINAL),
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
        params: list[object] = [state, _now()]
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
            (WorkState.FAILED, error, int(transient), _now(), order_id, kind, seq),
        )

    def mark_reported(self, order_id: int, kind: str, at: datetime) -> None:
        """This failure was printed for a person at ``at``: the next runs stay quiet about it
        until a reminder is due (``[invoice] remind_failed_hours``). Whatever its seq: an order
        has at most one unfinished credit note, and a second credit's failure is the one."""
        self._write(
            "UPDATE work SET reported_at=? WHERE order_id=? AND kind=? AND state=?",
            (at.isoformat(timespec="seconds"), order_id, kind, WorkState.FAILED),
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
            "AND state IN ('pending', 'failed')",
            (order_id, kind, seq),
        )

    def work_in_states(self, *states: str, kind: str | None = None) -> list[WorkRecord]:
        marks = ",".join("?" for _ in states)
        sql = f"SELECT * FROM work WHERE state IN ({marks})"
        params: list[object] = list(states)
        if kind:
            sql += " AND kind=?"
            params.append(kind)
        return [_work(r) for r in self._rows(sql + " ORDER BY order_id, seq", tuple(params))]

    def record_final(
        self,
        order_id: int,
        kind: str,
        doc: IssuedDocument,
        *,
        email: bool,
        adopted: bool = False,
        seq: int = 1,
    ) -> None:
        """The outcome: the work is final and the document is kept, in one transaction."""
        self._write_many(
            (
                """INSERT INTO documents(document_id, order_id, kind, type, number, atcud, date,
                  customer, gross_total, status, pdf_url, issued_at, emailed, adopted)
                VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT(document_id) DO UPDATE SET number=excluded.number,
                  atcud=excluded.atcud, status=excluded.status, pdf_url=excluded.pdf_url""",
                (
                    doc.id,
                    order_id,
                    kind,
                    doc.type,
                    doc.number,
                    doc.atcud,
                    doc.date.isoformat() if doc.date else None,
                    doc.customer_name,
                    str(doc.gross_total),
                    doc.status,
                    doc.pdf_url,
                    _now(),
                    EmailState.PENDING if email else EmailState.NOT_SENT,
                    int(adopted),
                ),
            ),
            (
                """UPDATE work SET state=?, document_id=?, error=NULL, transient=0,
                  reported_at=NULL, updated_at=? WHERE order_id=? AND kind=? AND seq=?""",
                (WorkState.FINAL, doc.id, _now(), order_id, kind, seq),
            ),
        )

    # -- documents --------------------------------------------------------------------------

    def documents(
        self, *, limit: int | None = None, since: date | None = None, order_id: int | None = None
    ) -> list[DocumentRecord]:
        """Newest first; ``since`` compares the document's date (its issue day if it has none)."""
        where, params = _document_filter(since, order_id)
        sql = f"SELECT * FROM documents{where} ORDER BY issued_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_document(r) for r in self._rows(sql, params)]

    def count_documents(self, *, since: date | None = None, order_id: int | None = None) -> int:
        where, params = _document_filter(since, order_id)
        return int(self._rows(f"SELECT COUNT(*) FROM documents{where}", params)[0][0])

    def documents_for(self, order_id: int) -> list[DocumentRecord]:
        rows = self._rows("SELECT * FROM documents WHERE order_id=? ORDER BY rowid", (order_id,))
        return [_document(r) for r in rows]

    def unlinked_documents(self, max_attempts: int) -> list[DocumentRecord]:
        rows = self._rows(
            "SELECT * FROM documents WHERE linked=0 AND link_attempts < ? ORDER BY rowid",
            (max_attempts,),
        )
        return [_document(r) for r in rows]

    def begin_link(self, document_id: str) -> None:
        """Count an attempt before the POST: after a crash mid-POST the next try checks first."""
        self._write(
            "UPDATE documents SET link_attempts=link_attempts+1 WHERE document_id=?", (document_id,)
        )

    def mark_linked(self, document_id: str, error: str | None = None) -> None:
        if error is None:
            self._write(
                "UPDATE documents SET linked=1, link_error=NULL WHERE document_id=?", (document_id,)
            )
        else:
            self._write(
                "UPDATE documents SET link_error=? WHERE document_id=?", (error, document_id)
            )

    def unemailed_documents(self) -> list[DocumentRecord]:
        rows = self._rows(
            "SELECT * FROM documents WHERE emailed=? ORDER BY rowid", (EmailState.PENDING,)
        )
        return [_document(r) for r in rows]

    def mark_emailed(self, document_id: str, outcome: EmailState, error: str | None = None) -> None:
        """outcome: SENT, or NOT_SENT (never to be sent; error says why)."""
        self._write(
            "UPDATE documents SET emailed=?, email_error=? WHERE document_id=?",
            (int(outcome), error, document_id),
        )

    def document(self, document_id: str) -> DocumentRecord | None:
        rows = self._rows("SELECT * FROM documents WHERE document_id=?", (document_id,))
        return _document(rows[0]) if rows else None

    def credit_documents(self, order_id: int) -> list[DocumentRecord]:
        """The order's final credit notes this ledger knows, first to last (iGEST may hold
        more: ask it, ``credit_notes_of``, before deciding what is left to credit)."""
        return [
            d for d in self.documents_for(order_id) if d.kind == "credit" and d.status == "final"
        ]

    def credit_documents_by_order(self, order_ids: set[int]) -> dict[int, list[DocumentRecord]]:
        """The final credit notes of these orders, first to last, by order (credit notes are
        few: one query over them, not one per order)."""
        rows = self._rows(
            "SELECT * FROM documents WHERE kind=? AND status=? ORDER BY rowid",
            (Kind.CREDIT, DocumentStatus.FINAL),
        )
        found: dict[int, list[DocumentRecord]] = {}
        for r in rows:
            if r["order_id"] in order_ids:
                found.setdefault(r["order_id"], []).append(_document(r))
        return found

    def mark_fully_credited(self, order_id: int) -> None:
        """iGEST shows the order's invoice credited in full (by credit notes this ledger did not
        issue): the credit pass stops looking it up."""
        self.set_meta(f"fully_credited:{order_id}", _now())

    def invoiced_without_credit(self) -> dict[int, DocumentRecord]:
        """Final invoices that the final credit notes this ledger knows do not cover in full
        (none, or partial ones adding up to less than the invoice), by order id."""
        rows = self._rows(
            """SELECT d.* FROM documents d
               WHERE d.kind=:invoice AND d.status=:final_document AND NOT EXISTS (
                 SELECT 1 FROM work w WHERE w.order_id=d.order_id AND w.kind=:credit
                   AND w.state=:final AND w.request IS NULL)
               ORDER BY d.order_id""",
            {
                "invoice": Kind.INVOICE,
                "credit": Kind.CREDIT,
                "final_document": DocumentStatus.FINAL,
                "final": WorkState.FINAL,
            },
        )
        invoices = {r["order_id"]: _document(r) for r in rows}
        # Found credited in full in iGEST by credit notes made elsewhere: nothing to look for.
        for r in self._rows("SELECT key FROM meta WHERE key LIKE 'fully_credited:%'"):
            invoices.pop(int(r["key"].split(":", 1)[1]), None)
        if not invoices:
            return invoices
        # A credit of the whole invoice (request NULL) covers it; partial ones are added up.
        credited: dict[int, Decimal] = {}
        for r in self._rows(
            "SELECT order_id, gross_total FROM documents WHERE kind=? AND status=?",
            (Kind.CREDIT, DocumentStatus.FINAL),
        ):
            if r["order_id"] in invoices:
                credited[r["order_id"]] = credited.get(r["order_id"], Decimal(0)) + Decimal(
                    r["gross_total"]
                )
        return {
            order_id: doc
            for order_id, doc in invoices.items()
            if credited.get(order_id, Decimal(0)) < doc.gross_total
        }

    # -- the run lock -----------------------------------------------------------------------

    def run_lock(self) -> contextlib.AbstractContextManager[None]:
        return run_lock(self.path)


def _document_filter(since: date | None, order_id: int | None) -> tuple[str, tuple[object, ...]]:
    clauses: list[str] = []
    params: list[object] = []
    if since is not None:
        clauses.append("COALESCE(date, substr(issued_at, 1, 10)) >= ?")
        params.append(since.isoformat())
    if order_id is not None:
        clauses.append("order_id = ?")
        params.append(order_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _vies(r: sqlite3.Row) -> ViesCheck:
    return ViesCheck(
        country=r["country"],
        number=r["number"],
        status=ViesStatus(r["status"]),
        checked_on=date.fromisoformat(r["checked_on"]),
        consultation=r["consultation"],
        detail=r["detail"],
    )


def _work(r: sqlite3.Row) -> WorkRecord:
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


def _order(r: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        r["order_id"],
        r["status"],
        r["created_at"],
        r["paid_at"],
        _dec(r["total"]),
        r["customer"],
        r["email"],
        r["note"],
        r["updated_at"],
    )


def _document(r: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        r["document_id"],
        r["order_id"],
        r["kind"],
        r["type"],
        r["number"],
        r["atcud"],
        r["date"],
        r["customer"],
        Decimal(r["gross_total"]),
        r["status"],
        r["pdf_url"],
        r["issued_at"],
        bool(r["adopted"]),
        bool(r["linked"]),
        r["link_error"],
        r["link_attempts"],
        r["emailed"],
        r["email_error"],
    )


def _notice_key(text: str) -> str:
    return "notice:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
