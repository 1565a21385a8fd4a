"""No silent cancellation: an order cancelled after its invoice is credited, or pointed out.

Which orders: those the ledger holds as cancelled whose final invoice its credit notes do not
cover in full (``invoiced_without_credit(cancelled=True)``, a local query), and credit work a
crash or a passing failure left. Each is credited (``Credits.remainder``) when it was created
within ``[invoice] credit_lookback_days`` and ``credit_cancelled`` is on; otherwise a notice
names ``igest-sync credit N --reason TEXT --all`` (a credit long after the sale is a person's
decision), with the reminder rule of ``remind_failed_hours``.

How the ledger learns that an invoiced order was cancelled, at a cost that does not grow with
the store's history. Jumpseller cannot list "orders cancelled since": an order cancelled after
its invoice keeps its old creation date and id, so it appears deep inside the listing of
cancelled orders, never at its head. But the ledger knows every order created since its first
listing, with the status each had when last seen (discovery records new orders, and follows
orders waiting for payment until they are paid or cancelled). So it knows how many cancelled
orders ``GET /orders.json?status_filters[]=canceled`` should hold from the creation of the
first order it invoiced (the *watch*) to today, and a listing's length is told by one page: the
page where the listing should end (a page size is chosen so that it ends inside a page) holds
exactly the remainder when the count is right, more when an order was cancelled that the
ledger holds as paid. Counting is independent of the listing's order (newest first, oldest
first, unsorted). Every order on that page is also checked against the ledger.

- Quiet (the count is right, every order on the page known as cancelled): one request,
  whatever the history (and the sweep's, below).
- Otherwise the watch is split in two by creation day (at the median of the ledger's cancelled
  orders) and each half counted the same way, down to a range small enough to list whole
  (``LIST_WHOLE`` expected orders: a page or two); when a half counts right, the other half
  holds the difference and is split without being counted. Each cancelled order the ledger
  held as something else is recorded as cancelled **before** it is acted on: the record is the
  durable fact that the pass then credits or points out, this run or (after a kill) the next.
  One cancellation costs about two requests per halving: 15 to 20 on a store of 30,000
  cancelled orders. An order the ledger holds as cancelled that a listing does not show (set
  back to paid, deleted) is read again, so the counts agree again after one search.

A count cannot see one order leave the cancelled status (set back, deleted) while another
enters it in the same days between two runs. So every run also **sweeps** one chunk of the
watch: the cancelled orders created over the next few days, ``SWEEP`` (90) of them by the
ledger, listed whole (one page) and compared order by order; a cursor in the ledger
(``cancel_sweep_from``) moves on by a chunk per run and starts over at the watch's beginning. A
cancellation hidden that way is found within one turn: 30,000 cancelled orders are 334 chunks,
about two days and a half of ten-minute runs. A quiet run costs two requests here, whatever the
history. Creation days are Lisbon days, as the store's are.

``serve`` credits an ``order_canceled`` webhook's order at once through
``credit_cancelled_order``: the same rules, for one order, whatever its age.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from igest_sync.config import InvoiceConfig
from igest_sync.errors import ApiError, NotFound
from igest_sync.models import (
    DOCUMENT_EXISTS,
    IN_FLIGHT,
    Action,
    DocumentOutcome,
    Kind,
    Order,
    OrderStatus,
    WorkState,
)
from igest_sync.references import external_reference
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.due import not_invoiced
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.runs.services import JumpsellerApi
from igest_sync.state.ledger import DocumentRecord, Ledger, WorkRecord
from igest_sync.timeutil import LISBON, lisbon_date

# Credit what is left of one order (``Credits.remainder``): handed in, so that this module and
# ``credit`` do not import each other (``Credits`` builds the pass, the pass calls back).
Remainder = Callable[[int], DocumentOutcome | None]

# An order paid again after its invoice was credited in full (a refund undone): one order has
# one invoice (its reference), so this sale is a person's to invoice. Kept in meta (noted
# before the order's new status, told by the next notices): a kill in between loses nothing.
# What a person does about it; ``reconcile`` says the same of such an order.
BY_HAND = (
    "igest-sync issues one invoice per order, so issue this sale's invoice by hand in iGEST "
    "(with the order's number in its notes)"
)
PAID_AGAIN = (
    "Order {order}: paid again after its invoice was credited in full (a refund undone?); "
    + BY_HAND
)
PAID_AGAIN_KEY = "paid_again:"  # meta: + order id; "" until told, then when


def note_paid_again(ledger: Ledger, order_id: int) -> None:
    """``order_id`` moved back to paid while its invoice is credited in full: to be told."""
    if not noted_paid_again(ledger, order_id):
        ledger.set_meta(f"{PAID_AGAIN_KEY}{order_id}", "")


def noted_paid_again(ledger: Ledger, order_id: int) -> bool:
    """Whether the runs noted ``order_id`` as paid again (told yet or not): ``status`` and
    ``reconcile`` say it too."""
    return ledger.get_meta(f"{PAID_AGAIN_KEY}{order_id}") is not None


def paid_again_notices(ledger: Ledger) -> list[str]:
    """The orders noted as paid again and not told yet: told now, once each (the notice and
    its alert; the note stays, with the moment it was told)."""
    notices = []
    for key, value in ledger.meta_with_prefix(PAID_AGAIN_KEY).items():
        if not value:
            notices.append(PAID_AGAIN.format(order=key.removeprefix(PAID_AGAIN_KEY)))
            ledger.set_meta(key, ledger.db.now().isoformat(timespec="seconds"))
    return notices


PAGE = 100  # Jumpseller's largest page
# A range expected to hold fewer cancelled orders than this is listed whole when its count is
# off, rather than split again (listing it costs one or two pages, splitting two counts).
LIST_WHOLE = 150
# Orders the ledger holds as cancelled but a listing did not show, read again per run at most.
REREAD = 10
# The sweep lists this many of the watch's cancelled orders per run (by the ledger: one page).
SWEEP = 90
SWEEP_FROM = "cancel_sweep_from"  # meta: the first creation day of the sweep's next chunk
WATCH = "cancel_watch"  # meta: the watch's first day, and the last document row read for it


def page_size(expected: int) -> int:
    """A page size at which a listing of ``expected`` orders ends inside a page (not on its
    edge), so that the length of its last page tells the count exactly."""
    for size in range(PAGE, PAGE // 2, -1):
        if expected % size:
            return size
    return PAGE  # 0 (an empty first page) or a multiple of every size from 51 to 100


def lookback_start(settings: InvoiceConfig, today: date) -> date:
    """The first creation day of the orders the pass credits by itself when cancelled (with
    ``credit_cancelled``); an older one is pointed out to a person instead."""
    return today - timedelta(days=settings.credit_lookback_days)


def refused_before(work: WorkRecord | None) -> bool:
    """A credit note iGEST refused for a reason a person must fix: it waits for
    ``igest-sync credit ORDER_ID``, never retried by the pass."""
    return work is not None and work.state == WorkState.FAILED and not work.transient


def created_on(ledger: Ledger, order_id: int) -> date | None:
    """The Lisbon day the ledger says ``order_id`` was placed (what the lookback counts)."""
    record = ledger.order(order_id)
    if record is None or not record.created_at:
        return None
    return lisbon_date(datetime.fromisoformat(record.created_at))


def credits_by_itself(
    settings: InvoiceConfig, ledger: Ledger | None, order_id: int, created: date, today: date
) -> bool:
    """Whether the next pass credits this cancelled, invoiced order without a person
    (``reconcile`` says so): on, within the lookback, and not refused before."""
    work = ledger.unfinished_credit(order_id) if ledger is not None else None
    return (
        settings.credit_cancelled
        and created >= lookback_start(settings, today)
        and not refused_before(work)
    )


@dataclass(kw_only=True)
class CancelledOrders:
    """The credit pass of one run: which invoiced orders were cancelled, and what to do."""

    ledger: Ledger
    jumpseller: JumpsellerApi
    settings: InvoiceConfig
    store: str  # the prefix of external references (an order set back to paid gets work)
    today: date
    remainder: Remainder

    def __post_init__(self) -> None:
        self.window_start = lookback_start(self.settings, self.today)
        self.requests = 0  # of Jumpseller, by this pass (the benchmarks and tests read it)
        self._days: list[date] = []  # the ledger's cancelled orders' creation days, sorted
        self._by_day: dict[date, set[int]] = {}
        self._reread = 0

    def credit_cancelled(self, report: InvoiceReport) -> None:
        """Credit what is left of invoiced orders since cancelled (or point them out), and
        finish credit work a crash or a passing failure left."""
        try:
            self.find_cancellations()
        except ApiError as exc:
            report.notices.append(f"Could not look for cancelled orders in Jumpseller: {exc}")
        invoiced = self.ledger.invoiced_without_credit(cancelled=True)
        work = [
            w
            for w in self.ledger.work_in_states(
                WorkState.PENDING, *IN_FLIGHT, WorkState.FAILED, kind=Kind.CREDIT
            )
            if w.state != WorkState.FAILED or w.transient
        ]
        if work:  # unfinished credits of orders not (or not yet) cancelled: a `credit` run's
            everything = self.ledger.invoiced_without_credit()
            invoiced |= {
                w.order_id: everything[w.order_id] for w in work if w.order_id in everything
            }
        for order_id in sorted(invoiced):
            self._one(order_id, invoiced[order_id], report.outcomes, report.notices)
        report.notices += paid_again_notices(self.ledger)

    def preview(self, outcomes: list[DocumentOutcome], notices: list[str]) -> None:
        """A dry run's view of the pass, writing nothing: each invoiced order (its invoice not
        credited in full) that the ledger holds as cancelled, or that Jumpseller lists as
        cancelled among the orders created within the lookback, and that the pass would credit
        by itself; the real run's notice for one it would leave to a person (too old, or
        ``credit_cancelled`` off). One listing of the lookback's cancelled orders, only when
        something is invoiced; what the real run credits is what iGEST then shows left of the
        invoice."""
        invoiced = self.ledger.invoiced_without_credit()
        if not invoiced:
            return
        cancelled = set(self.ledger.invoiced_without_credit(cancelled=True))
        self.requests += 1
        cancelled |= {
            o.id
            for o in self.jumpseller.orders_created_between(
                self.window_start, self.today + timedelta(days=1), status=OrderStatus.CANCELED
            )
        }
        for order_id in sorted(cancelled & invoiced.keys()):
            work = self.ledger.unfinished_credit(order_id)
            if refused_before(work):
                continue  # told when it was refused
            invoice = invoiced[order_id]
            why = self._left_to_a_person(order_id) if work is None else ""
            if why:
                notices.append(_credit_it_yourself(order_id, invoice, why))
                continue
            outcomes.append(
                DocumentOutcome(
                    str(order_id),
                    Action.WOULD_CREDIT,
                    f"cancelled: would credit what is left of {invoice.number} (a credit note)",
                    kind=Kind.CREDIT,
                )
            )

    def _left_to_a_person(self, order_id: int, *, any_age: bool = False) -> str:
        """Why the pass would not credit a cancelled order with no credit work by itself, or
        "" when it would."""
        created = created_on(self.ledger, order_id)
        if not any_age and (created is None or created < self.window_start):
            return (
                f"it was created more than credit_lookback_days "
                f"({self.settings.credit_lookback_days}) ago"
            )
        if not self.settings.credit_cancelled:
            return "credit_cancelled is off"
        return ""

    def credit_cancelled_order(
        self, order_id: int, outcomes: list[DocumentOutcome], notices: list[str]
    ) -> None:
        """One order the ledger has just recorded as cancelled (``serve``, on an
        ``order_canceled`` webhook): credited, or pointed out, by the pass's rules but for the
        order's age: a cancellation seen as it happens is credited however old the order
        (``credit_lookback_days`` bounds what the pass digs up from listings). Nothing when
        it needs no credit note."""
        invoice = self.ledger.invoiced_without_credit(cancelled=True).get(order_id)
        if invoice is not None:
            self._one(order_id, invoice, outcomes, notices, any_age=True)

    # -- finding the cancellations the ledger does not know -----------------------------------

    def watch_from(self) -> date | None:
        """The first creation day whose cancellations matter: that of the first order with a
        final invoice (a month before an adopted invoice's date when its order's creation is
        unknown: an unpaid order is cancelled within weeks). None: nothing was ever invoiced.

        Or, when earlier, the first day of the whole listings (``listed_from``): a cancelled
        order the listings found (never paid) may be paid after all, and its days are behind
        the checkpoint and past the gap check; the watch reads it again once Jumpseller lists it
        as cancelled no longer (``_settle``), and the ledger holds every order of those days.

        Kept in the ledger (``WATCH``) with the last document row it has seen, so that a run
        reads only the invoices recorded since, not the whole history's."""
        kept = json.loads(self.ledger.get_meta(WATCH) or "{}")
        day = date.fromisoformat(kept["day"]) if kept.get("day") else None
        seen = int(kept.get("rows", 0))
        created, dated, last = self.ledger.first_invoiced_order(seen)
        days = [d for d in (day,) if d is not None]
        if created is not None:
            days.append(lisbon_date(created))
        if dated:
            days.append(date.fromisoformat(dated) - timedelta(days=31))
        if (created is not None or dated) and (listed := self.ledger.listed_from) is not None:
            days.append(listed)
        first = min(days) if days else None
        if last != seen or first != day:
            value = {"day": first.isoformat() if first else None, "rows": last}
            self.ledger.set_meta(WATCH, json.dumps(value))
        return first

    def find_cancellations(self) -> None:
        """Record as cancelled every order Jumpseller lists as cancelled since the watch began
        that the ledger holds as something else: one request when there is none."""
        first = self.watch_from()
        if first is None:
            return  # nothing invoiced, nothing to credit: not one request
        last = self.today + timedelta(days=1)  # a moment's clock skew never hides an order
        expected = self.ledger.count_cancelled_since(_midnight(first))
        exact, fresh = self._count(first, last, expected)
        if not exact or fresh:
            self._load(first)
            # A count is known off only when the page showed nothing new: an order found on it
            # is recorded now and changes what its ranges should hold, so they are counted again.
            self._search(first, last, count_off=not exact and not fresh)
        self.sweep(first)

    def sweep(self, first: date) -> None:
        """List the next chunk of the watch's cancelled orders (``SWEEP`` of them, by the
        ledger, usually one page) and compare it order by order: the count cannot see one order
        leave the cancelled status while another enters it in the same days; this sees it
        within one turn of the watch (``SWEEP_FROM`` remembers where the turn is)."""
        value = self.ledger.get_meta(SWEEP_FROM)
        start = date.fromisoformat(value) if value else first
        if not first <= start <= self.today:
            start = first
        nth = self.ledger.nth_cancelled_since(_midnight(start), SWEEP + 1)
        # Up to the day before the one that holds the chunk's last order and one more (at least
        # one day, however many it holds); the rest of the watch when fewer are left.
        end = (
            self.today + timedelta(days=1) if nth is None else lisbon_date(nth) - timedelta(days=1)
        )
        end = max(start, end)
        self.requests += 1
        listing = list(
            self.jumpseller.orders_created_between(start, end, status=OrderStatus.CANCELED)
        )
        self._load(start, until=end)
        self._note(listing)
        self._settle(start, end, listing)
        after = end + timedelta(days=1)
        self.ledger.set_meta(SWEEP_FROM, (first if after > self.today else after).isoformat())

    def _count(self, first: date, last: date, expected: int) -> tuple[bool, bool]:
        """Whether the cancelled orders created from ``first`` to ``last`` are ``expected`` in
        number (one page), and whether that page showed one the ledger did not hold as such."""
        size = page_size(expected)
        number = expected // size + 1
        self.requests += 1
        page = self.jumpseller.order_page(
            page=number, limit=size, status=OrderStatus.CANCELED, first=first, last=last
        )
        fresh = self._note(page)
        if number == 1 and len(page) < size:  # that page was the whole listing
            self._settle(first, last, page)
        return len(page) == expected % size, fresh

    def _search(self, first: date, last: date, *, count_off: bool) -> None:
        """Find the ranges whose count is off, halving by creation day; list the small ones."""
        expected = self._expected(first, last)
        if first == last or expected < LIST_WHOLE:
            listing = list(
                self.jumpseller.orders_created_between(first, last, status=OrderStatus.CANCELED)
            )
            self.requests += 1 + len(listing) // PAGE
            self._note(listing)
            self._settle(first, last, listing)
            return
        middle = self._median(first, last)
        exact, fresh = self._count(first, middle, self._expected(first, middle))
        if not exact or fresh:
            self._search(first, middle, count_off=not exact and not fresh)
        after = middle + timedelta(days=1)
        if count_off and exact and not fresh:
            # The first half counts right, so the difference is in the second: no count.
            self._search(after, last, count_off=True)
            return
        exact, fresh = self._count(after, last, self._expected(after, last))
        if not exact or fresh:
            self._search(after, last, count_off=not exact and not fresh)

    def _load(self, first: date, until: date | None = None) -> None:
        """The ledger's cancelled orders created from ``first`` (to ``until``), by day."""
        self._by_day = {}
        end = None if until is None else _midnight(until + timedelta(days=1))
        for order_id, created in self.ledger.cancelled_created_since(_midnight(first), end):
            self._by_day.setdefault(lisbon_date(created), set()).add(order_id)
        self._days = sorted(d for d, ids in self._by_day.items() for _ in ids)

    def _expected(self, first: date, last: date) -> int:
        return bisect_right(self._days, last) - bisect_left(self._days, first)

    def _median(self, first: date, last: date) -> date:
        """The day that splits the range's known cancellations in two (never its last day)."""
        low, high = bisect_left(self._days, first), bisect_right(self._days, last)
        middle = self._days[(low + high) // 2] if high > low else first
        return max(first, min(middle, last - timedelta(days=1)))

    def _note(self, orders: Iterable[Order]) -> bool:
        """Record each cancelled order the ledger held as something else (or did not know):
        the durable fact the pass acts on. True when there was one."""
        listed = [o for o in orders if o.status == OrderStatus.CANCELED]
        held = self.ledger.statuses([o.id for o in listed])
        fresh = False
        for order in listed:
            if held.get(order.id) != OrderStatus.CANCELED:
                record_order(self.ledger, order)
                if order.created_at is not None:
                    day = lisbon_date(order.created_at)
                    self._by_day.setdefault(day, set()).add(order.id)
                    insort(self._days, day)
                fresh = True
        return fresh

    def _settle(self, first: date, last: date, listing: list[Order]) -> None:
        """Orders the ledger holds as cancelled in these days that the whole listing did not
        show are read again (set back to paid, or deleted), so that the counts agree again."""
        shown = {o.id for o in listing}
        day = first
        while day <= last and self._by_day:
            for order_id in sorted(self._by_day.get(day, set()) - shown):
                if self._reread >= REREAD:
                    return
                self._reread += 1
                self.requests += 1
                try:
                    order = self.jumpseller.order(order_id)
                    if order.status == OrderStatus.PAID and self.ledger.credited_in_full(order.id):
                        note_paid_again(self.ledger, order.id)
                    if self._newly_due(order):
                        # Paid after its cancellation: invoiced by the next run like any newly
                        # paid order, its work recorded before its status (a kill in between
                        # keeps the work; recorded "paid" first, no later run looked again).
                        # Unverified: looked up first (a state file put back may not know an
                        # invoice that exists).
                        reference = external_reference(self.store, order.id)
                        self.ledger.ensure_work(order.id, Kind.INVOICE, reference, unverified=True)
                    record_order(self.ledger, order)
                except NotFound:
                    record = self.ledger.order(order_id)
                    self.ledger.record_order(
                        order_id,
                        "deleted",
                        created_at=None,
                        paid_at=None,
                        total=record.total if record else None,
                        customer=record.customer if record else None,
                        note="deleted in Jumpseller after it was cancelled",
                    )
            day += timedelta(days=1)

    def _newly_due(self, order: Order) -> bool:
        """Paid now, from a source we invoice, on or after the start date, and not invoiced."""
        if order.status != OrderStatus.PAID:
            return False
        if not_invoiced(order, self.settings, self.settings.start_date) is not None:
            return False  # the till, or before the start date: the rules of every path (due.py)
        work = self.ledger.work(order.id)
        return work is None or work.state != WorkState.FINAL

    def _one(
        self,
        order_id: int,
        invoice: DocumentRecord,
        outcomes: list[DocumentOutcome],
        notices: list[str],
        *,
        any_age: bool = False,
    ) -> None:
        work = self.ledger.unfinished_credit(order_id)
        if refused_before(work):
            return
        if work is None:
            why = self._left_to_a_person(order_id, any_age=any_age)
            if why:
                notices.append(_credit_it_yourself(order_id, invoice, why))
                return
        outcome = self.remainder(order_id)
        if outcome is not None:
            outcomes.append(outcome)
            notices += [f"Order {order_id}: {warning}." for warning in outcome.warnings or ()]
        if work is not None and outcome is not None and outcome.action in DOCUMENT_EXISTS:
            # That finished an earlier request (a person's partial `credit`, interrupted): what
            # is left of a cancelled order is the cancellation's, credited in this same run.
            # (Each turn finishes one work for good, so this ends.)
            finished = self.ledger.work(order_id, Kind.CREDIT, work.seq)
            if (
                finished is not None
                and finished.state == WorkState.FINAL
                and order_id in self.ledger.invoiced_without_credit(cancelled=True)
            ):
                self._one(order_id, invoice, outcomes, notices, any_age=any_age)


def _credit_it_yourself(order_id: int, invoice: DocumentRecord, why: str) -> str:
    return (
        f"Order {order_id} was cancelled after {invoice.number} was issued and has no credit "
        f"note ({why}): credit it with `igest-sync credit {order_id} --reason TEXT --all`."
    )


def _midnight(day: date) -> datetime:
    """The first moment of a Lisbon day."""
    return datetime(day.year, day.month, day.day, tzinfo=LISBON)
