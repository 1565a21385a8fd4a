"""The ledger's records, as its queries return them, and the row conversions that make them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from igest_sync.models import EmailState, IssuedDocument


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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _cents(value: str | None) -> Decimal | None:
    """An order's total as a person reads it (83.30, not Jumpseller's 83.3): the orders are
    in euros, so this only adds the zeros, whatever an older state file kept."""
    return Decimal(value).quantize(Decimal("0.01")) if value is not None else None


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
        _cents(r["total"]),
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


# The columns a document row starts with, in the order ``_document_values`` gives them, and
# as many ``?`` for their values.
DOCUMENT_COLUMNS = (
    "document_id, order_id, kind, type, number, atcud, date, customer, gross_total, status, "
    "pdf_url, issued_at, emailed"
)
DOCUMENT_MARKS = ",".join("?" for _ in DOCUMENT_COLUMNS.split(","))


def _document_values(
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
