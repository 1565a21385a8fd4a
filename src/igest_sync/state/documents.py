"""The ledger's documents: those issued (or adopted), their link back to Jumpseller, their
e-mails, and the credit notes against each invoice."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from igest_sync.models import (
    DocumentStatus,
    EmailState,
    IssuedDocument,
    Kind,
    WorkState,
)
from igest_sync.state.database import Store


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


def document_record(r: sqlite3.Row) -> DocumentRecord:
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


# The columns a document row starts with, in the order ``document_values`` gives them, and
# as many ``?`` for their values.
DOCUMENT_COLUMNS = (
    "document_id, order_id, kind, type, number, atcud, date, customer, gross_total, status, "
    "pdf_url, issued_at, emailed"
)
DOCUMENT_MARKS = ",".join("?" for _ in DOCUMENT_COLUMNS.split(","))


def document_values(
    doc: IssuedDocument, order_id: int, kind: str, issued_at: str, emailed: EmailState
) -> tuple[object, ...]:
    """A document issued in iGEST as the first values of its row (``DOCUMENT_COLUMNS``)."""
    return (
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
        issued_at,
        emailed,
    )


# The work reference of an invoice issued by another integration (``adopt``).
ELSEWHERE = "elsewhere:"


class DocumentsStore(Store):
    """Documents, links, e-mails and credit notes, on the ledger's database."""

    # -- documents --------------------------------------------------------------------------

    def documents(
        self, *, limit: int | None = None, since: date | None = None, order_id: int | None = None
    ) -> list[DocumentRecord]:
        """Newest first; ``since`` compares the document's date (its issue day if it has none)."""
        where, params = _document_filter(since, order_id)
        sql = f"SELECT * FROM documents{where} ORDER BY issued_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [document_record(r) for r in self._rows(sql, params)]

    def count_documents(self, *, since: date | None = None, order_id: int | None = None) -> int:
        where, params = _document_filter(since, order_id)
        return int(self._rows(f"SELECT COUNT(*) FROM documents{where}", params)[0][0])

    def documents_for(self, order_id: int) -> list[DocumentRecord]:
        rows = self._rows("SELECT * FROM documents WHERE order_id=? ORDER BY rowid", (order_id,))
        return [document_record(r) for r in rows]

    # -- invoices issued elsewhere (``adopt``) ----------------------------------------------------

    def record_issued_elsewhere(self, order_id: int, doc: IssuedDocument) -> None:
        """``doc``, issued by another integration, is the order's invoice: its work is final
        (under ``elsewhere:<document id>``, a reference no lookup of ours ever uses), so the
        order is never invoiced again. Not attached nor emailed: that was the other tool's."""
        now = self._now()
        self._write_many(
            (
                f"""INSERT INTO documents({DOCUMENT_COLUMNS}, adopted, linked)
                VALUES({DOCUMENT_MARKS},1,1)
                ON CONFLICT(document_id) DO UPDATE SET order_id=excluded.order_id""",
                document_values(doc, order_id, Kind.INVOICE, now, EmailState.NOT_SENT),
            ),
            (
                """INSERT INTO work(order_id, kind, seq, state, external_reference, document_id,
                                    updated_at) VALUES(?,?,1,?,?,?,?)
                ON CONFLICT(order_id, kind, seq) DO UPDATE SET state=excluded.state,
                  external_reference=excluded.external_reference, phase=NULL,
                  document_id=excluded.document_id, error=NULL, transient=0,
                  reported_at=NULL, updated_at=excluded.updated_at""",
                (order_id, Kind.INVOICE, WorkState.FINAL, ELSEWHERE + doc.id, doc.id, now),
            ),
        )

    def issued_elsewhere(self) -> dict[int, DocumentRecord]:
        """The invoices recorded by ``adopt`` as issued elsewhere, by order id."""
        rows = self._rows(
            """SELECT d.* FROM documents d JOIN work w ON w.document_id=d.document_id
               WHERE w.kind=? AND w.external_reference LIKE ? ORDER BY d.order_id""",
            (Kind.INVOICE, ELSEWHERE + "%"),
        )
        return {r["order_id"]: document_record(r) for r in rows}

    def unlinked_documents(self, max_attempts: int) -> list[DocumentRecord]:
        rows = self._rows(
            "SELECT * FROM documents WHERE linked=0 AND link_attempts < ? ORDER BY rowid",
            (max_attempts,),
        )
        return [document_record(r) for r in rows]

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
        return [document_record(r) for r in rows]

    def mark_emailed(self, document_id: str, outcome: EmailState, error: str | None = None) -> None:
        """outcome: SENT, or NOT_SENT (never to be sent; error says why)."""
        self._write(
            "UPDATE documents SET emailed=?, email_error=? WHERE document_id=?",
            (int(outcome), error, document_id),
        )

    def document(self, document_id: str) -> DocumentRecord | None:
        rows = self._rows("SELECT * FROM documents WHERE document_id=?", (document_id,))
        return document_record(rows[0]) if rows else None

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
                found.setdefault(r["order_id"], []).append(document_record(r))
        return found

    def mark_fully_credited(self, order_id: int) -> None:
        """iGEST shows the order's invoice credited in full (by credit notes this ledger did not
        issue): the credit pass stops looking it up."""
        self.set_meta(f"fully_credited:{order_id}", self._now())

    def credited_in_full(self, order_id: int) -> bool:
        """The order has a final invoice, covered in full (``invoiced_without_credit``'s rule)."""
        has_invoice = any(
            d.kind == Kind.INVOICE and d.status == DocumentStatus.FINAL
            for d in self.documents_for(order_id)
        )
        return has_invoice and order_id not in self.invoiced_without_credit(order_id=order_id)

    def invoiced_without_credit(
        self, *, cancelled: bool = False, order_id: int | None = None
    ) -> dict[int, DocumentRecord]:
        """Final invoices that the final credit notes this ledger knows do not cover in full
        (none, or partial ones adding up to less than the invoice), by order id.

        ``cancelled``: only those whose order the ledger holds as cancelled (the credit pass's
        candidates: a few rows, not every invoice of the store's history); ``order_id``: that
        order's only."""
        only = (
            " AND d.order_id IN (SELECT order_id FROM orders WHERE status='canceled')"
            if cancelled
            else ""
        )
        if order_id is not None:
            only += " AND d.order_id=:order_id"
        rows = self._rows(
            f"""SELECT d.* FROM documents d
               WHERE d.kind=:invoice AND d.status=:final_document{only} AND NOT EXISTS (
                 SELECT 1 FROM work w WHERE w.order_id=d.order_id AND w.kind=:credit
                   AND w.state=:final AND w.request IS NULL)
               ORDER BY d.order_id""",
            {
                "invoice": Kind.INVOICE,
                "credit": Kind.CREDIT,
                "final_document": DocumentStatus.FINAL,
                "final": WorkState.FINAL,
                "order_id": order_id,
            },
        )
        invoices = {r["order_id"]: document_record(r) for r in rows}
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
