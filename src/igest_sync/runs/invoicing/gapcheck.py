"""The gap check: a paid order without a document is noticed, whatever let it through.

Discovery is built so that no sale is skipped (``runs/discover.py``), but a ledger put back from
an old copy, a bug, or a hand edit in iGEST could still leave a paid order without its invoice,
silently. Once a day (``CHECK_EVERY``, per state file: ``invoice`` from cron and ``serve``'s
sweep run it alike, whichever comes first), an ``invoice`` run reads back what should be there:

1. Jumpseller's paid orders created over the recent days (``GET /orders.json`` with
   ``status_filters[]=paid`` and a custom date range: one request per 100 orders) — the last
   ``DAYS`` days, or back to the previous check if that is longer ago, at most ``MOST_DAYS``;
   and back to the oldest checkout the ledger holds as abandoned within ``MOST_DAYS``, for the
   carts only: one its customer completed later is a sale, recorded as work the next run
   issues (no gap: not a failure, not an alert);
2. iGEST's documents dated since the same day (``GET /documents?date_from=``: one request per
   100 documents), only when step 1 found an order to check.

A paid order that should have an invoice (paid on or after ``start_date``, from an invoiced
source, seen by a complete listing, paid more than ``GRACE`` ago so that a run in progress is
not second-guessed) and that neither the ledger nor iGEST shows with a document becomes a
failure in the ledger: pending work looked up before anything is sent (``unverified``), marked
failed with a reason that says so and retried by the next run, which issues it exactly once.
The run that found it reports it (its exit code is not 0), its notice is the alert, sent once,
and the digest counts the gaps found in its period. An order the ledger records as invoiced
whose document iGEST does not list is a notice (``reconcile`` compares the two in full).

Cost on the day it runs: ``ceil(paid orders of the window / 100)`` Jumpseller requests and
``ceil(documents of the window / 100)`` iGEST requests: 2 + 2 on a store of 90 orders a day.
A ledger holding checkouts abandoned in the last month reads the paid orders back to the
oldest (about 29 Jumpseller requests in all on that store; iGEST's side stays the same). On the other
days, nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from igest_sync.fiscal.intra_eu import source_skip_reason
from igest_sync.models import (
    Action,
    DocumentOutcome,
    DocumentStatus,
    Kind,
    Order,
    OrderStatus,
    WorkState,
)
from igest_sync.references import external_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.discover import FOLLOW_ABANDONED, record_order
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

CHECK_EVERY = timedelta(hours=24)
DAYS = 3  # the recent days read back (creation days, Lisbon)
MOST_DAYS = 31  # after a long pause, at most this far back (reconcile covers the rest)
GRACE = timedelta(hours=1)  # orders paid this recently belong to the runs in progress
LAST_CHECK = "gap_check_at"
FOUND = "gap_found:"  # meta key prefix: when the check found this order without a document


@dataclass
class GapReport:
    """What one check read and found."""

    first: date
    orders_read: int = 0
    documents_read: int = 0
    gaps: list[int] = field(default_factory=list)
    igest_read: bool = False  # iGEST answered a listing (its credentials work today)


class GapCheck:
    """The daily read-back of one ledger against Jumpseller and iGEST."""

    def __init__(
        self,
        context: RunContext,
        *,
        now: datetime,
    ) -> None:
        self.settings = context.settings
        self.store = context.store
        self.ledger = context.ledger
        self.jumpseller = context.jumpseller
        self.igest = context.igest
        self.now = now
        self.today = lisbon_date(now)

    def due(self) -> bool:
        """Not run for ``CHECK_EVERY``, and the ledger has had one complete listing (a rebuild
        looks every document up anyway)."""
        if self.ledger.rebuilding:
            return False
        last = self.ledger.get_meta(LAST_CHECK)
        return last is None or self.now - datetime.fromisoformat(last) >= CHECK_EVERY

    def done(self) -> None:
        """Record a check as made now (by this class, or by a rebuild that looked up all)."""
        self.ledger.set_meta(LAST_CHECK, self.now.isoformat(timespec="seconds"))

    def first_day(self) -> date:
        last = self.ledger.get_meta(LAST_CHECK)
        days = DAYS
        if last is not None:
            days = max(days, (self.today - lisbon_date(datetime.fromisoformat(last))).days + 1)
        return self.today - timedelta(days=min(days, MOST_DAYS))

    def carts_from(self) -> date | None:
        """The creation day of the oldest checkout the ledger holds as abandoned, within
        ``MOST_DAYS``: its customer may complete it (a recovery email) and pay the same order,
        behind the checkpoint, after the days the runs follow (``discover.FOLLOW_ABANDONED``)."""
        month = self.now - timedelta(days=MOST_DAYS)
        carts = self.ledger.recent_orders(OrderStatus.ABANDONED, month)
        created = [datetime.fromisoformat(c.created_at) for c in carts if c.created_at]
        return lisbon_date(min(created)) if created else None

    def run(self, outcomes: list[DocumentOutcome], notices: list[str]) -> GapReport:
        """Read back, record each gap as failed work, and say so in the run's report.

        An ``ApiError`` is left to the caller: the check is then not recorded as done, and the
        next run tries again."""
        store = self.store
        report = GapReport(self.first_day())
        checkpoint = self.ledger.checkpoint or 0
        start = self.settings.start_date
        carts = self.carts_from()
        suspects = []
        for order in self.jumpseller.orders_created_between(
            min(report.first, carts or report.first),
            self.today + timedelta(days=1),
            status=OrderStatus.PAID,
        ):
            report.orders_read += 1
            paid_at = order.completed_at
            if order.status != OrderStatus.PAID or order.id > checkpoint:
                continue  # not paid, or not listed yet: the next run's listing takes it
            if self._completed_later(order):
                continue  # a sale like any other, found: the next run issues it
            # Paid without a payment time: its creation day, as the issuer's look-up takes it.
            moment = paid_at or order.created_at
            if moment is not None and lisbon_date(moment) < report.first:
                continue  # read for the carts only: paid before the days checked
            if paid_at is not None and (
                self.now - paid_at < GRACE or (start and lisbon_date(paid_at) < start)
            ):
                continue
            if source_skip_reason(order, self.settings) is not None:
                continue
            work = self.ledger.work(order.id)
            if work is not None and work.state != WorkState.FINAL:
                continue  # pending, in flight or failed: the runs (or status) have it already
            suspects.append((order, work))
        if suspects:
            finals: set[str] = set()
            for doc in self.igest.find_documents(date_from=report.first):
                report.documents_read += 1
                if doc.status == DocumentStatus.FINAL and doc.external_reference:
                    finals.add(doc.external_reference)
            report.igest_read = True
            for order, work in suspects:
                reference = external_reference(store, order.id)
                if reference in finals:
                    continue
                if work is not None:
                    numbers = ", ".join(
                        d.number or d.document_id
                        for d in self.ledger.documents_for(order.id)
                        if d.kind == Kind.INVOICE
                    )
                    notices.append(
                        f"Order {order.id}: the ledger records {numbers or 'an invoice'} but "
                        "iGEST lists no final document for it; check with "
                        "`igest-sync reconcile`."
                    )
                    continue
                self._record_gap(order, reference, outcomes, notices)
                report.gaps.append(order.id)
        self.done()
        log.info(
            "Gap check since %s: %d paid orders, %d documents read, %d without a document",
            report.first,
            report.orders_read,
            report.documents_read,
            len(report.gaps),
        )
        return report

    def _completed_later(self, order: Order) -> bool:
        """A paid order the ledger holds as a checkout abandoned before the days the runs follow
        (``discover.FOLLOW_ABANDONED``), with no work: its customer completed it later. No gap
        but a sale, recorded as work (looked up in iGEST first) that the next run issues, then
        as paid. (One the runs follow, found paid here, is a gap: they should have seen it.)"""
        record = self.ledger.order(order.id)
        if (
            record is None
            or record.status != OrderStatus.ABANDONED
            or not record.created_at
            or datetime.fromisoformat(record.created_at) >= self.now - FOLLOW_ABANDONED
            or self.ledger.work(order.id) is not None
        ):
            return False
        paid = order.completed_at
        start = self.settings.start_date
        skip = source_skip_reason(order, self.settings)
        if skip is None and not (start and paid is not None and lisbon_date(paid) < start):
            # The work before the status: a kill in between leaves the work.
            reference = external_reference(self.store, order.id)
            self.ledger.ensure_work(order.id, Kind.INVOICE, reference, unverified=True)
            log.info(
                "Order %s, an abandoned checkout, is paid now: the next run issues it", order.id
            )
        record_order(self.ledger, order, note=skip)
        return True

    def _record_gap(
        self, order: Order, reference: str, outcomes: list[DocumentOutcome], notices: list[str]
    ) -> None:
        paid = lisbon_date(order.completed_at) if order.completed_at else "an unknown day"
        reason = (
            f"paid on {paid} but no document was found in iGEST or the ledger (daily gap "
            "check): the next run issues it, after looking it up in iGEST"
        )
        # Unverified: iGEST is asked by reference before anything is sent, so a document this
        # check could not see is adopted, never issued twice. The work before the status: a
        # kill in between leaves the work (the status first, no later check read it again).
        self.ledger.ensure_work(order.id, Kind.INVOICE, reference, unverified=True)
        self.ledger.fail(order.id, Kind.INVOICE, reason, transient=True)
        record_order(self.ledger, order)
        self.ledger.set_meta(f"{FOUND}{order.id}", self.now.isoformat(timespec="seconds"))
        # Retried by the next run (transient in the ledger), but shown at once: unlike a lost
        # answer, a sale that went unnoticed is a person's business the day it is found.
        outcomes.append(
            DocumentOutcome(
                str(order.id), Action.FAILED, reason, kind=Kind.INVOICE, transient=False
            )
        )
        notices.append(
            f"Order {order.id} was paid on {paid} but had no document (found by the daily gap "
            "check); the next run issues it. `igest-sync status` shows it until then."
        )
