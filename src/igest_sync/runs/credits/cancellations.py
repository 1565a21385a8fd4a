"""No silent cancellation: an order cancelled after its invoice is credited, or pointed out.

Which orders: only those the ledger holds as invoiced and not credited in full
(``invoiced_without_credit``, a local query); with none, not one request is made. Among them:

- created within ``[invoice] credit_lookback_days`` (90): one listing of the cancelled orders
  created in that window (``GET /orders.json`` with ``status_filters[]=canceled`` and a custom
  date range); with ``credit_cancelled`` on, what is left of each is credited
  (``Credits.remainder``), else a notice names the command;
- created earlier: one listing of the cancelled orders created from the oldest of them to the
  window's start. Each found is printed as a notice naming the command that credits it (a
  credit long after the sale is a person's decision), with the reminder rule of
  ``remind_failed_hours``.

So a run costs one or two listings of *cancelled* orders (one request per 100 of them), never a
read of each invoiced order. ``serve`` credits an ``order_canceled`` webhook's order at once
through ``credit_cancelled_order``: the same rules, for one order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from igest_sync.config import InvoiceConfig
from igest_sync.errors import ApiError
from igest_sync.models import IN_FLIGHT, ItemOutcome, Kind, Order, OrderStatus, WorkState
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.runs.services import JumpsellerApi
from igest_sync.state.ledger import DocumentRecord, Ledger
from igest_sync.timeutil import lisbon_date

# Credit what is left of one order (``Credits.remainder``): handed in, so that this module and
# ``credit`` do not import each other (``Credits`` builds the pass, the pass calls back).
Remainder = Callable[[int], ItemOutcome | None]


@dataclass(kw_only=True)
class CancelledOrders:
    """The credit pass of one run: which invoiced orders were cancelled, and what to do."""

    ledger: Ledger
    jumpseller: JumpsellerApi
    settings: InvoiceConfig
    today: date
    remainder: Remainder

    def __post_init__(self) -> None:
        self.window_start = self.today - timedelta(days=self.settings.credit_lookback_days)

    def credit_cancelled(self, report: InvoiceReport) -> None:
        """Credit what is left of invoiced orders since cancelled (or point them out), and
        finish credit work a crash or a passing failure left."""
        invoiced = self.ledger.invoiced_without_credit()
        if not invoiced:
            return  # nothing that could need a credit note: not one request
        unfinished = {
            w.order_id
            for w in self.ledger.work_in_states(
                WorkState.PENDING, *IN_FLIGHT, WorkState.FAILED, kind=Kind.CREDIT
            )
            if (w.state != WorkState.FAILED or w.transient) and w.order_id in invoiced
        }
        cancelled: dict[int, Order] = {}
        for first, last in self._ranges(invoiced):
            try:
                for order in self.jumpseller.orders_created_between(
                    first, last, status=OrderStatus.CANCELED
                ):
                    if order.id in invoiced and order.status == OrderStatus.CANCELED:
                        cancelled[order.id] = order
            except ApiError as exc:
                report.notices.append(f"Could not look for cancelled orders in Jumpseller: {exc}")
        for order in cancelled.values():
            record_order(self.ledger, order)
        for order_id in sorted(set(cancelled) | unfinished):
            self._one(order_id, invoiced[order_id], report)

    def credit_cancelled_order(self, order: Order, report: InvoiceReport) -> None:
        """One order known cancelled (``serve``, on an ``order_canceled`` webhook): credited,
        or pointed out, by the same rules as the pass; nothing when it needs no credit note."""
        if order.status != OrderStatus.CANCELED:
            return
        invoiced = self.ledger.invoiced_without_credit()
        if order.id not in invoiced:
            return
        record_order(self.ledger, order)
        self._one(order.id, invoiced[order.id], report)

    def _ranges(self, invoiced: dict[int, DocumentRecord]) -> list[tuple[date, date]]:
        """The window, and before it the days back to the oldest such order's creation."""
        ranges = [(self.window_start, self.today)]
        created = [self._created(order_id) for order_id in invoiced]
        older = [d for d in created if d is None or d < self.window_start]
        if older:
            known = [d for d in older if d is not None]
            # An order whose creation the ledger lacks (adopted): a month before its invoice
            # (an order is invoiced when paid, and an unpaid one is cancelled within weeks).
            for order_id, doc in invoiced.items():
                if self._created(order_id) is None and doc.date:
                    known.append(date.fromisoformat(doc.date) - timedelta(days=31))
            first = min(known) if known else date(2000, 1, 1)
            ranges.insert(0, (first, self.window_start - timedelta(days=1)))
        return ranges

    def _created(self, order_id: int) -> date | None:
        record = self.ledger.order(order_id)
        if record is None or not record.created_at:
            return None
        return lisbon_date(datetime.fromisoformat(record.created_at))

    def _one(self, order_id: int, invoice: DocumentRecord, report: InvoiceReport) -> None:
        work = self.ledger.unfinished_credit(order_id)
        if work and work.state == WorkState.FAILED and not work.transient:
            return  # refused before: waits for `igest-sync credit ORDER_ID`
        if work is None:
            created = self._created(order_id)
            old = created is None or created < self.window_start
            why = ""
            if old:
                why = (
                    f"it was created more than credit_lookback_days "
                    f"({self.settings.credit_lookback_days}) ago"
                )
            elif not self.settings.credit_cancelled:
                why = "credit_cancelled is off"
            if why:
                report.notices.append(
                    f"Order {order_id} was cancelled after {invoice.number} was issued and "
                    f"has no credit note ({why}): credit it with "
                    f"`igest-sync credit {order_id} --reason TEXT --all`."
                )
                return
        outcome = self.remainder(order_id)
        if outcome is not None:
            report.outcomes.append(outcome)
