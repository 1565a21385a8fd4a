"""Review mode: the drafts that wait for approval, from the ledger and as iGEST holds them.

``status`` reads the ledger only (``waiting_drafts(ledger)``); ``approve`` also looks each draft
up by its reference in iGEST (one lookup each): its totals, the customer's NIF it carries, VAT by
rate and exemption codes as iGEST computed them (each code with iGEST's own description), and
whether it is still there (deleted by hand: approving makes it again; finalized by hand:
approving adopts it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from igest_sync.errors import ApiError, AuthError
from igest_sync.fiscal.rules import FINAL_CONSUMER_NIF
from igest_sync.models import DocumentStatus, IssuedDocument, Kind, VatSummary, WorkState
from igest_sync.runs.invoicing.exemption_texts import ExemptionTexts
from igest_sync.runs.services import IgestApi
from igest_sync.state.ledger import Ledger, WorkRecord
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

# What iGEST holds for a waiting draft (``WaitingDraft.igest``).
WAITING = "waiting"  # the draft is there, as checked
DELETED = "deleted"  # gone from iGEST (deleted by hand): approving makes it again
FINALIZED = "finalized"  # finalized in iGEST by hand: approving adopts it
UNKNOWN = "unknown"  # not asked (status), or iGEST could not be read


@dataclass(frozen=True)
class WaitingDraft:
    """One order whose invoice draft waits for approval."""

    order_id: int
    customer: str | None
    total: Decimal | None  # what the customer paid (the ledger's copy of the order)
    paid_at: str | None
    waiting_since: str
    document_id: str | None
    igest: str = UNKNOWN
    gross_total: Decimal | None = None  # as iGEST computed the draft
    vat: tuple[VatSummary, ...] = ()
    exemptions: tuple[tuple[str, str], ...] = ()  # (code, iGEST's description as shown)
    number: str | None = None  # when finalized in iGEST by hand
    # The customer's NIF the draft carries, as iGEST holds it (999999990: the final consumer);
    # None when iGEST was not read or holds no draft. Approving finalizes a draft only for this
    # NIF (and this total): an order or a customer changed since is drafted again, to approve.
    nif: str | None = None

    @property
    def payment_day(self) -> date | None:
        return lisbon_date(datetime.fromisoformat(self.paid_at)) if self.paid_at else None

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "customer": self.customer,
            "total": None if self.total is None else str(self.total),
            "paid_at": self.paid_at,
            "waiting_since": self.waiting_since,
            "document_id": self.document_id,
            "igest": self.igest,
            "gross_total": None if self.gross_total is None else str(self.gross_total),
            "vat": [
                {
                    "rate": str(v.rate),
                    "base": str(v.base),
                    "vat": str(v.vat),
                    "tax_country": v.tax_country,
                }
                for v in self.vat
            ],
            "exemptions": [{"code": c, "description": d} for c, d in self.exemptions],
            "number": self.number,
            "nif": self.nif,
        }


def nif_words(nif: str | None) -> str:
    """A document's customer NIF as a person reads it (None: the final consumer)."""
    if nif is None or nif.strip() in ("", FINAL_CONSUMER_NIF):
        return f"NIF {FINAL_CONSUMER_NIF} (consumidor final)"
    return f"NIF {nif}"


def waiting_work(ledger: Ledger) -> list[WorkRecord]:
    """The invoices that wait for approval, by order id."""
    return ledger.work_in_states(WorkState.REVIEW, kind=Kind.INVOICE)


def waiting_drafts(
    ledger: Ledger, igest: IgestApi | None = None, texts: ExemptionTexts | None = None
) -> list[WaitingDraft]:
    """What waits; with ``igest``, each draft as iGEST holds it (one lookup each)."""
    drafts = []
    for work in waiting_work(ledger):
        order = ledger.order(work.order_id)
        draft = WaitingDraft(
            order_id=work.order_id,
            customer=order.customer if order else None,
            total=order.total if order else None,
            paid_at=order.paid_at if order else None,
            waiting_since=work.updated_at,
            document_id=work.document_id,
        )
        if igest is not None:
            draft = _as_igest_holds_it(draft, work, igest, texts or ExemptionTexts(igest))
        drafts.append(draft)
    return sorted(drafts, key=lambda d: (d.paid_at or "", d.order_id))


def _as_igest_holds_it(
    draft: WaitingDraft, work: WorkRecord, igest: IgestApi, texts: ExemptionTexts
) -> WaitingDraft:
    ref = work.external_reference
    try:
        found = [
            d
            for d in igest.find_documents(external_reference=ref)
            if d.external_reference == ref and d.status != DocumentStatus.CANCELLED
        ]
    except AuthError:
        raise
    except ApiError as exc:
        log.warning("Could not look up %s in iGEST: %s", ref, exc)
        return draft
    final = next((d for d in found if d.status == DocumentStatus.FINAL), None)
    doc: IssuedDocument | None = final or next(
        (d for d in found if d.id == work.document_id), found[0] if found else None
    )
    if doc is None:
        return _replace(draft, igest=DELETED)
    codes = sorted({line.exemption_code for line in doc.lines if line.exemption_code})
    return _replace(
        draft,
        igest=FINALIZED if final else WAITING,
        gross_total=doc.gross_total,
        vat=doc.vat_breakdown,
        exemptions=tuple((code, texts.label(code)) for code in codes),
        number=doc.number,
        document_id=doc.id,
        nif=(doc.customer_nif or "").strip() or FINAL_CONSUMER_NIF,
    )


def _replace(draft: WaitingDraft, **changes: Any) -> WaitingDraft:
    return replace(draft, **changes)
