"""Finding the orders an ``invoice`` run must issue: the plan, before any document is written.

Three sources, so that no sale is skipped and a run's cost grows with new and open orders, not
with the store's history:

- new orders, after the checkpoint (the highest order id seen; a first run or a ``--since``
  backfill lists the orders created since the start date instead);
- open orders (waiting for payment when last seen, or abandoned in the last days: a customer
  may complete the checkout later) that are no longer so;
- unfinished work: a crash interrupted it, or it failed for a reason that may pass by itself;
  work that waits for a person is read again too, only to settle it once its order is
  cancelled (never issued by a run).

And, once after the rules that skip a paid order change (``[invoice] sources``, ``start_date``),
the paid orders they skipped, judged again: a till's sale skipped until its source was added, an
order paid before a start date set too late by mistake and put back.

Outside a dry run, every order seen is recorded in the ledger and an order to invoice is recorded
as pending work as its page is read. The checkpoint moves only once the listing has been read to
its last page, and then to the highest order it held: Jumpseller lists newest first, so a
checkpoint moved order by order would pass, at the first page, every older order that a run
killed on the next page had not yet seen. A rebuild (no checkpoint: a new or lost state file, or
a ``--since`` backfill) notes its first day in the ledger before its first page and clears it
with the checkpoint; until then every run lists those days again and looks documents up in
iGEST before issuing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from igest_sync.config import InvoiceConfig
from igest_sync.errors import ApiError, AuthError, NotFound, UsageError
from igest_sync.models import (
    IN_FLIGHT,
    Action,
    DocumentOutcome,
    IssuedDocument,
    Kind,
    Order,
    OrderStatus,
    WorkState,
    status_words,
)
from igest_sync.references import external_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing.due import not_invoiced, waits_for_a_person
from igest_sync.runs.invoicing.hold import customer_name, guard_first_run, looked_from
from igest_sync.runs.services import IgestApi
from igest_sync.state.ledger import Ledger, OrderRecord
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

# Orders created this long before the first day to invoice are scanned on a first run, so that an
# order created before start_date and paid on or after it is not missed.
FIRST_RUN_LOOKBACK = timedelta(days=30)
# Before that, a first run reads the paid orders created this long before its listing, for
# those paid on or after the start date (an order placed in the summer, paid by transfer since).
OLDER_PAID_LOOKBACK = timedelta(days=365)
# The first creation day of a listing meant to hold every order, whatever its age.
EARLIEST = date(2000, 1, 1)
# More unfinished orders than this are read back with one listing instead of one GET each.
BULK_REREAD = 5
# The rules the ledger's skipped orders were judged by (meta): when the config's differ, those
# orders are read and judged again, once. The checkpoint has passed them, so no listing would.
SKIP_RULES = "skip_rules"
# An abandoned checkout may still be paid, keeping its order id behind the checkpoint (the
# customer completes it from a recovery email). Those created this recently are followed by
# every run (one listing of the abandoned orders of those days, when the ledger holds some);
# older ones by the daily gap check (runs/invoicing/gapcheck.py), back to MOST_DAYS.
FOLLOW_ABANDONED = timedelta(days=7)

# Jumpseller's order statuses (status_enum) that discovery tells apart.


@dataclass
class Plan:
    """What a run found: the orders to issue, in issuing order, and the orders it set aside."""

    floor: date  # the first payment day to invoice
    fresh: bool  # the ledger may not know these days: iGEST is listed before issuing
    orders: list[Order] = field(default_factory=list)
    skipped: list[DocumentOutcome] = field(default_factory=list)
    judged: set[int] = field(default_factory=set)  # the orders classified by this run


class Discovery:
    """Finds and records the orders of one run (``record=False`` in a dry run: writes nothing)."""

    def __init__(
        self,
        context: RunContext,
        *,
        now: datetime,
        record: bool = True,
    ) -> None:
        self.settings = context.settings
        self.store = context.store
        self.ledger = context.ledger
        self.jumpseller = context.jumpseller
        self.igest = context.igest
        self.now = now
        self.today = lisbon_date(now)
        self.record = record

    def plan(self, since: date | None = None) -> Plan:
        floor = self.floor(since)
        # An empty ledger, a rebuild a kill interrupted, or a backfill over days it may not have
        # seen: iGEST may hold documents for these orders already, so list them once and verify
        # before issuing.
        plan = Plan(floor=floor, fresh=self.ledger.rebuilding or since is not None)
        to_issue: dict[int, Order] = {}
        highest: int | None = None
        for order in self._new_orders(floor, since):
            self._classify(order, plan, to_issue)
            highest = order.id if highest is None else max(highest, order.id)
        if self.record:
            # Every page read and every order on them recorded: only now may the checkpoint
            # pass them (and a rebuild under way is over).
            self.ledger.complete_listing(highest)
        for order in self._newly_paid_open_orders():
            self._classify(order, plan, to_issue)
        for order in self._unfinished_orders(to_issue):
            if order.status != OrderStatus.PAID and self.record:
                record_order(self.ledger, order)  # the issuer looks it up, then issues nothing
            to_issue.setdefault(order.id, order)
        for order in self._waiting_for_a_person(to_issue):
            if self.record:
                record_order(self.ledger, order)  # its latest status, for `status` and lateness
            if order.status != OrderStatus.PAID:
                # Settled: the issuer looks up what iGEST holds (a final one is adopted, then
                # credited by this run's pass), deletes a draft and drops the work.
                to_issue.setdefault(order.id, order)
        self._judge_skipped_again(plan, to_issue)
        plan.orders = sorted(to_issue.values(), key=lambda o: (o.completed_at or self.now, o.id))
        return plan

    def _judge_skipped_again(self, plan: Plan, to_issue: dict[int, Order]) -> None:
        """The paid orders skipped under other rules than today's, judged by today's: issued
        when now due, else skipped again with today's reason (``status`` gives it). Nothing is
        read while the rules stay as they were, or no order was skipped."""
        rules = self.skip_rules()
        kept = self.ledger.get_meta(SKIP_RULES)
        if kept == rules:
            return
        # Not those this run has just judged (a first run records its skips by today's rules).
        judged = plan.judged
        wanted = [r.order_id for r in self.ledger.skipped_orders() if r.order_id not in judged]
        read_all = True
        orders: list[Order] = []
        for order_id, order in self._read_again(wanted):
            if isinstance(order, Order):
                orders.append(order)
            elif isinstance(order, NotFound):  # nothing is due for a sale that is gone
                if (record := self.ledger.order(order_id)) is not None:
                    self._gone(record)
            else:  # judged again by the next run (the rules are not marked as applied)
                read_all = False
                log.warning(
                    "Could not read order %s, skipped under other rules: %s", order_id, order
                )
        due = [
            o
            for o in orders
            if o.status == OrderStatus.PAID and not_invoiced(o, self.settings, plan.floor) is None
        ]
        if due:
            self._guard_newly_due(due, json.loads(kept) if kept else {})
        for order in orders:
            self._classify(order, plan, to_issue)
        if self.record and read_all:
            self.ledger.set_meta(SKIP_RULES, rules)

    def _guard_newly_due(self, due: list[Order], before: dict[str, object]) -> None:
        """Orders a change of the skip rules makes due (a start date moved back, a source
        added): sales another integration may have invoiced (the till, the hosted app), which
        no first run's guard looked at. Guarded as a backfill of their days is: iGEST listed
        from the first day their invoices may carry, and nothing recorded while a day holds
        invoices not ours that ``adopt`` has not reviewed (``runs/invoicing/hold.py``)."""
        days = [day for o in due if (day := looked_from(o)) is not None]
        floor = min(days, default=self.today)
        guard_first_run(
            self.ledger,
            self.igest.find_documents(date_from=floor),
            floor,
            now=self.now,
            where=f"{floor}, the day of the order skipped until [invoice] changed"
            if len(due) == 1
            else f"{floor}, the first day of the {len(due)} orders skipped until [invoice] changed",
            instead=_undo_hint(before, _rules(self.settings)),
        )

    def skip_rules(self) -> str:
        """Today's rules that skip a paid order, as the ledger keeps those its skipped orders
        were judged by (``SKIP_RULES``)."""
        return json.dumps(_rules(self.settings))

    def floor(self, since: date | None) -> date:
        """The first payment day this run invoices; refuses to invoice the whole history.

        The start date, whatever ``--since`` says: it is the rule ``serve``'s webhooks, the
        credit pass and the gap check apply too. A backfill's day once stood for it, and an
        order paid between the two (new past the checkpoint, or followed while it waited for
        payment) was noted "before the start date" and passed for good. ``--since`` says only
        which days a backfill lists again (``_first_listed``); without a start date it is the
        floor."""
        start = self.settings.start_date
        if since is None and start is None and self.ledger.checkpoint is None:
            raise UsageError(
                "No checkpoint and no start date: igest-sync will not invoice the whole history "
                "of the store.",
                hint="Set [invoice] start_date = YYYY-MM-DD in the config (orders paid before it "
                "are never invoiced), or pass --since YYYY-MM-DD for a one-off backfill.",
            )
        if since and since > self.today:
            # Most likely a mistyped year: a backfill from a day to come would list nothing and
            # say nothing. (A start_date to come is a merchant setting up ahead: it is kept.)
            raise UsageError(
                f"--since {since} is after today ({self.today}): no order has been paid on or "
                "after it yet.",
                hint="Give the first day of the backfill, a day that has passed.",
            )
        if since and start and since < start:
            raise UsageError(
                f"--since {since} is before [invoice] start_date {start}; orders paid before the "
                "start date are never invoiced.",
                hint="Move start_date back in the config if those orders really must be invoiced.",
            )
        return start or since or date.min

    def looked_from(self, since: date | None) -> date:
        """The first payment day this run may issue an invoice for: where a first run or a
        backfill lists iGEST's documents (the switch guard, then the look-ups). The floor, or a
        backfill's first day listed again when later: an order created then is paid then or
        after, and the orders past the checkpoint or followed were paid since the last run.
        Asked before ``plan``, which moves the checkpoint."""
        floor = self.floor(since)
        return floor if floor == date.min else max(floor, self._first_listed(floor, since))

    def _first_listed(self, floor: date, since: date | None) -> date:
        """The first creation day a first run, rebuild or backfill lists: ``FIRST_RUN_LOOKBACK``
        before the floor, or before a backfill's day. Not a first run's: it lists from the floor
        whatever ``--since`` says, or its checkpoint would pass the orders of the days between,
        due from the start date, that no later run lists."""
        day = since if since is not None and self.ledger.checkpoint is not None else floor
        return day - FIRST_RUN_LOOKBACK if day != date.min else EARLIEST

    # -- the three sources --------------------------------------------------------------------

    def _new_orders(self, floor: date, since: date | None) -> Iterator[Order]:
        checkpoint = self.ledger.checkpoint
        pending = self.ledger.rebuild_from
        if checkpoint is not None and since is None and pending is None:
            yield from self._after_checkpoint(checkpoint, floor)
            return
        first = self._first_listed(floor, since)
        if pending is not None:
            first = min(first, pending)  # the days an interrupted rebuild had not finished
        if self.record:
            # Noted before the first page: a run killed while listing leaves it, and the next
            # run lists these days again (and looks before issuing) instead of trusting a
            # checkpoint that the listing never earned.
            self.ledger.begin_listing(first)
        listed: set[int] = set()
        for order in self.jumpseller.orders_created_between(first, self.today):
            listed.add(order.id)
            yield order
        if checkpoint is None:
            yield from self._older_than_the_listing(first, floor, listed)
        if checkpoint is not None:
            # A backfill lists by creation day; the orders after the checkpoint are listed too,
            # so a backfill never stands in for the regular listing.
            yield from self._after_checkpoint(checkpoint, floor)

    def _older_than_the_listing(
        self, first: date, floor: date, listed: set[int]
    ) -> Iterator[Order]:
        """The orders created before a first run's (or a rebuild's) listing that it must not
        pass all the same: those waiting for payment, whatever their age (a business's bank
        transfer for an order placed in September, paid after the switch: followed from now
        on, as every open order is), and those paid on or after the floor (refunded since, or
        not), created within ``OLDER_PAID_LOOKBACK`` before the listing. Read once: the runs
        after it follow the open orders and list past the checkpoint. They were missed for
        good, and reconcile, listing by creation too, called the period clean."""
        # These listings are read once, and an order they pass is in no later one: read steady,
        # so that a transfer coming in (or a refund) while they are read moves no order past
        # them (a status listing shrinks under the pages it has given). By GET /orders.json,
        # whose ``limit`` and ``page`` the spec declares: it declares neither for
        # /orders/status/{status}.json, and a server that ignores ``page`` there gave its first
        # page only (``_pages`` ends on the repeat), so a store with more unpaid orders than a
        # page lost the oldest for good.
        waiting = self.jumpseller.orders_created_between(
            EARLIEST, first + timedelta(days=1), status=OrderStatus.PENDING_PAYMENT, steady=True
        )
        for order in waiting:
            # The listing went by the store's days, which need not be Lisbon's: a day more,
            # never one too few (one created in the listing's first hours was in neither),
            # and not one the listing held. Never a newer one: the checkpoint passes it.
            created = order.created_at
            if order.id in listed or order.status != OrderStatus.PENDING_PAYMENT:
                continue
            if created is None or lisbon_date(created) <= first:
                yield order
        if floor == date.min:
            return  # nothing is due before a first day to invoice
        # And those paid since the floor, then refunded: a state file lost (or put back) after
        # their invoice does not know it, and no other listing reaches them. ``_classify``
        # sends them to the issuer, which adopts the invoice it finds, and the cancellation
        # pass credits it; without it, the invoice of a refunded sale stayed uncredited.
        for status in (OrderStatus.PAID, OrderStatus.CANCELED):
            older = self.jumpseller.orders_created_between(
                first - OLDER_PAID_LOOKBACK,
                first - timedelta(days=1),
                status=status,
                steady=True,
            )
            for order in older:
                # Only those paid since the floor: the others are no sale of ours to skip aloud.
                if order.completed_at is not None and lisbon_date(order.completed_at) >= floor:
                    yield order

    def _after_checkpoint(self, checkpoint: int, floor: date) -> Iterator[Order]:
        try:
            yield from self.jumpseller.orders_after(checkpoint)
            return
        except NotFound:
            pass
        # A server may answer 404 for "no order after it" (the spec's 404 says only "Order
        # Not Found"): while the checkpoint's order is there, that is all it means.
        try:
            self.jumpseller.order(checkpoint)
            log.debug("No order after %s (Jumpseller answered 404)", checkpoint)
            return
        except NotFound:
            pass
        # The spec allows a 404 here (the checkpoint order was deleted): list the orders
        # created since the last run instead, rather than skip any sale. Every order after the
        # checkpoint was created after the last complete listing, which that run made.
        last_run = self.ledger.get_meta("last_run_at")
        since_day = lisbon_date(datetime.fromisoformat(last_run)) if last_run else floor
        log.warning(
            "Order %s is gone from Jumpseller; listing orders created since %s",
            checkpoint,
            since_day,
        )
        for order in self.jumpseller.orders_created_between(
            since_day - FIRST_RUN_LOOKBACK, self.today
        ):
            if order.id > checkpoint:
                yield order

    def _newly_paid_open_orders(self) -> Iterator[Order]:
        """Orders we saw waiting for payment, or abandoned lately, that are no longer so (paid,
        cancelled, waiting for payment again)."""
        changed = []
        waiting = self.ledger.open_orders()
        if waiting:
            still = {o.id for o in self.jumpseller.orders_with_status(OrderStatus.PENDING_PAYMENT)}
            changed += [r for r in waiting if r.order_id not in still]
        abandoned = self.ledger.recent_orders(OrderStatus.ABANDONED, self.now - FOLLOW_ABANDONED)
        if abandoned:
            # The store's days need not be Lisbon's: a day more at each end, never one too few
            # (a cart the listing misses is only read again, one GET).
            first = self.today - FOLLOW_ABANDONED - timedelta(days=1)
            still = {
                o.id
                for o in self.jumpseller.orders_created_between(
                    first, self.today + timedelta(days=1), status=OrderStatus.ABANDONED
                )
            }
            changed += [r for r in abandoned if r.order_id not in still]
        for record in changed:
            try:
                yield self.jumpseller.order(record.order_id)
            except NotFound:
                self._gone(record)
            except ApiError as exc:
                # Still recorded as it was: the next run looks again.
                log.warning(
                    "Could not read order %s (%s): %s",
                    record.order_id,
                    status_words(record.status),
                    exc,
                )

    def _unfinished_orders(self, planned: dict[int, Order]) -> Iterator[Order]:
        """Work a crash interrupted, or that failed for a reason that may pass by itself."""
        wanted = [
            w.order_id
            for w in self.ledger.work_in_states(
                WorkState.PENDING, *IN_FLIGHT, WorkState.FAILED, kind=Kind.INVOICE
            )
            if w.order_id not in planned and not waits_for_a_person(w)
        ]
        for order_id, order in self._read_again(wanted):
            if isinstance(order, Order):
                yield order
            elif self.record:
                self.ledger.fail(
                    order_id,
                    Kind.INVOICE,
                    f"could not read the order from Jumpseller: {order}",
                    transient=order.transient,
                )

    def _waiting_for_a_person(self, planned: dict[int, Order]) -> Iterator[Order]:
        """Orders whose invoice waits for a person (a failure no retry mends, a rejected
        draft), read again: no run issues them, but once cancelled nothing is due for them, and
        their failure must not stay open (exit 1 on every run, late in `status`, in the digest).

        Read here because nothing else does: the cancellation pass learns only of orders in its
        watch (from the first invoiced order's creation) and acts only on invoiced ones. A GET
        each when there are few; when there are many, one listing of the cancelled orders
        created since the oldest of them (``_cancelled_among``): these wait for a person for
        days, and a listing of every order since would grow with each run's days.

        A rejection ends with the cancellation (as on serve's ``order_canceled`` webhook). Paid
        again later, the order is invoiced like any newly paid order, in review mode as a draft
        to approve or reject again: that payment is a sale the rejection never judged, and its
        invoice-receipt is due that day. Kept, the rejection would leave a paid sale without an
        invoice until someone remembered to `resend` it.
        """
        wanted = [
            w.order_id
            for w in self.ledger.work_in_states(WorkState.FAILED, kind=Kind.INVOICE)
            if w.order_id not in planned and waits_for_a_person(w)
        ]
        read = self._cancelled_among if len(wanted) > BULK_REREAD else self._read_again
        for order_id, order in read(wanted):
            if isinstance(order, Order):
                yield order
            else:
                # Left as it is: its failure keeps the person's reason, and is never made a
                # passing one (the runs would then issue a rejected order by themselves).
                log.warning(
                    "Could not read order %s, which waits for a person: %s", order_id, order
                )

    def _cancelled_among(self, wanted: list[int]) -> Iterator[tuple[int, Order | ApiError]]:
        """Those of ``wanted`` Jumpseller now lists as cancelled, by one listing of the
        cancelled orders created since the oldest of them; one whose creation the ledger does
        not hold is read by its own GET (an order, or why it could not be read)."""
        created = {i: r.created_at for i in wanted if (r := self.ledger.order(i)) and r.created_at}
        if created:
            first = lisbon_date(datetime.fromisoformat(min(created.values()))) - timedelta(days=1)
            try:
                for listed in self.jumpseller.orders_created_between(
                    first, self.today + timedelta(days=1), status=OrderStatus.CANCELED
                ):
                    if listed.id in created and listed.status == OrderStatus.CANCELED:
                        yield listed.id, listed
            except AuthError:
                raise
            except ApiError as exc:  # left waiting as they are: the next run looks again
                log.warning("Could not list the cancelled orders that wait for a person: %s", exc)
        yield from self._read_again([i for i in wanted if i not in created])

    def _gone(self, record: OrderRecord) -> None:
        """An order Jumpseller no longer has (404): recorded as deleted, followed no more."""
        log.warning(
            "Order %s, %s, is gone from Jumpseller; no longer followed",
            record.order_id,
            status_words(record.status),
        )
        if self.record:
            self.ledger.record_order(
                record.order_id,
                "deleted",
                created_at=None,
                paid_at=None,
                total=record.total,
                customer=record.customer,
                note=f"deleted in Jumpseller while {status_words(record.status)}",
            )

    def _read_again(self, wanted: list[int]) -> Iterator[tuple[int, Order | ApiError]]:
        """Each of ``wanted`` as Jumpseller has it now, or why it could not be read: by one
        listing in pages of 100 when there are many (after a crash mid-backlog: it beats a GET
        per order), else, or for one the listing missed, by its own GET. Refused credentials
        stop the run (raised), as everywhere: every order would fail the same way."""
        found: dict[int, Order] = {}
        if len(wanted) > BULK_REREAD:
            created = [r.created_at for i in wanted if (r := self.ledger.order(i)) and r.created_at]
            if created:
                first = lisbon_date(datetime.fromisoformat(min(created)))
                ids = set(wanted)
                try:
                    for order in self.jumpseller.orders_created_between(first, self.today):
                        if order.id in ids:
                            found[order.id] = order
                except AuthError:
                    raise
                except ApiError as exc:
                    log.warning(
                        "Listing unfinished orders failed (%s); reading them one by one", exc
                    )
        for order_id in wanted:
            if order_id in found:
                yield order_id, found[order_id]
                continue
            try:
                order = self.jumpseller.order(order_id)
            except AuthError:
                raise
            except ApiError as exc:
                yield order_id, exc
                continue
            yield order_id, order

    def _classify(self, order: Order, plan: Plan, to_issue: dict[int, Order]) -> None:
        plan.judged.add(order.id)
        floor = plan.floor
        paid_on = lisbon_date(order.completed_at) if order.completed_at else None
        note = None
        if order.status == OrderStatus.PAID:
            # The rules `serve`'s webhooks and the credit pass apply too (due.py). Paid without
            # a payment time, the status is what counts: the document is dated today as always,
            # it just carries no "Pago em" note.
            note = not_invoiced(order, self.settings, floor)
            if note is not None:
                # A sale invoiced elsewhere (the till), or paid before the start date: reported
                # once, as the checkpoint passes it.
                plan.skipped.append(DocumentOutcome(str(order.id), Action.SKIPPED, note))
            elif not waits_for_a_person(self.ledger.work(order.id)):
                # (A failure or a rejection waits for `resend`, listed again or not: a
                # backfill, or the order past the checkpoint after serve's webhook drafted it.)
                to_issue[order.id] = order
        elif (
            order.status == OrderStatus.CANCELED
            and paid_on is not None
            and paid_on >= floor
            and ((w := self.ledger.work(order.id)) is None or w.state != WorkState.FINAL)
        ):
            # Paid, then cancelled, and the ledger holds no invoice for it. It may still have
            # one: issued before the state file was lost or put back from an older copy. The
            # issuer looks it up (answered by the run's one listing of iGEST) and adopts it, so
            # the cancellation pass credits it; without one it issues nothing and says so.
            to_issue[order.id] = order
        if not self.record:
            return
        if order.id in to_issue:
            # Recorded as work before the checkpoint passes it, and before its new status: a
            # run killed in between finds it as pending work. Recorded "paid" first, a newly
            # paid order (behind the checkpoint) was no longer waiting for payment in the
            # ledger nor pending work: no later run looked at it again.
            self.ledger.ensure_work(
                order.id,
                Kind.INVOICE,
                external_reference(self.store, order.id),
                unverified=plan.fresh,
            )
        record_order(self.ledger, order, note=note)


def _rules(settings: InvoiceConfig) -> dict[str, object]:
    """The settings that skip a paid order: ``[invoice] sources`` and ``start_date``."""
    sources = sorted(settings.sources) if settings.sources is not None else None
    start = settings.start_date.isoformat() if settings.start_date else None
    return {"sources": sources, "start_date": start}


def _undo_hint(before: dict[str, object], now: dict[str, object]) -> str:
    """The switch guard's other way out for a run that judges skipped orders again: the rules
    put back as they were (a start date moved past the documents not ours would skip the
    store's new sales too). ``before`` is empty when an older version kept no rules."""
    old = [
        (
            f"{key} = {json.dumps(value) if key == 'sources' else value}"
            if value is not None
            else f"no {key}"
        )
        for key, value in before.items()
        if key in now and value != now[key]
    ]
    what = f" ({', '.join(old)})" if old else ""
    return f"or put [invoice] back as it was{what}: the orders it skipped stay skipped."


def igest_documents_since(
    igest: IgestApi, floor: date, listed: list[IssuedDocument] | None = None
) -> dict[str, list[IssuedDocument]]:
    """Everything iGEST holds since the floor, by reference: the ledger knows nothing yet.

    Read-only, so a dry run makes the same listing as the real first run it previews.
    ``listed``: that listing, when the run made it already (the first run's guard).
    """
    known: dict[str, list[IssuedDocument]] = {}
    date_from = None if floor == date.min else floor
    docs = listed if listed is not None else igest.find_documents(date_from=date_from)
    for doc in docs:
        # "": no reference (an invoice made by hand, which may name its order in its notes).
        known.setdefault(doc.external_reference or "", []).append(doc)
    log.info(
        "Ledger was empty: found %d iGEST documents since %s to check against",
        sum(len(v) for v in known.values()),
        date_from or "the beginning",
    )
    return known


def record_order(ledger: Ledger, order: Order, note: str | None = None) -> None:
    """What the ledger keeps of an order: its status, payment time, total and customer."""
    ledger.record_order(
        order.id,
        order.status,
        created_at=order.created_at,
        paid_at=order.completed_at,
        total=order.total,
        customer=customer_name(order),
        email=order.customer_email,
        note=note,
    )
