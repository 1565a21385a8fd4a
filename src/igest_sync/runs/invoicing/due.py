"""Whether a paid order is due for its invoice: the rules shared by every place that decides it.

Three places decide whether a paid order gets an invoice now: ``invoice``'s discovery
(``discover.py``), ``serve``'s webhooks (``hints.py``) and the credit pass, for an order paid
again after its cancellation (``credits/cancellations.py``). Written in each, the rules drifted
apart, and an order one of them left alone on purpose was issued by another (a second invoice)
or one of them passed an order the others would issue (a sale never invoiced). So they ask here.
"""

from __future__ import annotations

from datetime import date

from igest_sync.config import InvoiceConfig
from igest_sync.fiscal.intra_eu import source_skip_reason
from igest_sync.models import Order, WorkState
from igest_sync.state.ledger import WorkRecord
from igest_sync.timeutil import lisbon_date


def not_invoiced(order: Order, settings: InvoiceConfig, floor: date | None) -> str | None:
    """Why igest-sync never invoices this paid order (the note said and kept), or None: it is
    due, unless it has its invoice already or ``waits_for_a_person``.

    - created from a source invoiced elsewhere (the till: ``source_skip_reason``);
    - paid before ``floor``, the first payment day due: ``[invoice] start_date`` (discovery's
      ``floor``: the same, or a first backfill's day when no start date is set). Not a
      backfill's ``--since`` day: an order paid between the two was passed for good.

    Paid without a payment time, the status is what counts: it is due.
    """
    skip = source_skip_reason(order, settings)
    if skip is not None:
        return skip
    paid_on = lisbon_date(order.completed_at) if order.completed_at else None
    if floor is not None and paid_on is not None and paid_on < floor:
        return f"paid {paid_on}, before the start date {floor}: not issued"
    return None


def waits_for_a_person(work: WorkRecord | None) -> bool:
    """Invoice work that failed for a reason no retry mends (bad data, a refusal, a document not
    ours that may be its invoice) or whose draft a person rejected: no run, sweep or webhook
    takes it up again by itself; ``resend`` does, a person's decision. Retried by one path and
    left by another, a rejected order was drafted again by a later webhook (``order_updated``:
    shipped, a note) or by a backfill that listed it, and finalized once review was off."""
    return work is not None and work.state == WorkState.FAILED and not work.transient
