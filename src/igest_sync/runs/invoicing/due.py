"""Whether a paid order is due for its invoice: the rules shared by every place that decides it.

Three places decide whether a paid order gets an invoice now: ``invoice``'s discovery
(``discover.py``), ``serve``'s webhooks (``hints.py``) and the credit pass, for an order paid
again after its cancellation (``credits/cancellations.py``). Written in each, the rules drifted
apart, and an order one of them left alone on purpose was issued by another (a second invoice)
or one of them passed an order the others would issue (a sale never invoiced). So they ask here.
"""

from __future__ import annotations

from igest_sync.models import WorkState
from igest_sync.state.ledger import WorkRecord


def waits_for_a_person(work: WorkRecord | None) -> bool:
    """Invoice work that failed for a reason no retry mends (bad data, a refusal, a document not
    ours that may be its invoice) or whose draft a person rejected: no run, sweep or webhook
    takes it up again by itself; ``resend`` does, a person's decision. Retried by one path and
    left by another, a rejected order was drafted again by a later webhook (``order_updated``:
    shipped, a note) or by a backfill that listed it, and finalized once review was off."""
    return work is not None and work.state == WorkState.FAILED and not work.transient
