"""``invoice`` and ``resend``: every paid order gets exactly one final iGEST document.

Plan → act → record. This module finds the orders (new ones by the highest id seen, open ones
until they are paid, unfinished work from earlier runs) and hands each to ``runs.issuer``,
the one exactly-once path that ``resend``, ``credit`` and ``reconcile --fix`` use too. Then
it credits orders cancelled after their invoice and attaches and emails what was issued.

A ledger that starts empty (first run, or the state file was lost) lists iGEST's documents for
the period once, so nothing already issued is issued again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller import JumpsellerClient
from igest_sync.config import Config
from igest_sync.errors import ApiError, IgestSyncError, NotFound, OrderRejected, UsageError
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.fiscal.mapping import build_document, external_reference
from igest_sync.models import DocumentDraft, IssuedDocument, ItemOutcome, Order
from igest_sync.runs.issuer import Issuer
from igest_sync.state.ledger import IN_FLIGHT, DocumentRecord, Ledger
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

Progress = Callable[[int, int], None]

# Orders created this long before the first day to invoice are scanned on a first run, so that an
# order created before start_date and paid on or after it is not missed.
FIRST_RUN_LOOKBACK = timedelta(days=30)
LINK_ATTEMPTS = 2  # the first try and one retry on a later run
# Cancellations are looked for among orders created this long ago at most; an older order
# cancelled later is found by `reconcile` (refunds come within weeks, not months).
CREDIT_LOOKBACK = timedelta(days=90)
# More unfinished orders than this are read back with one listing instead of one GET each.
BULK_REREAD = 5


@dataclass
class InvoiceReport:
    outcomes: list[ItemOutcome] = field(default_factory=list)
    drafts: list[DocumentDraft] = field(default_factory=list)  # dry run: what would be issued
    checkpoint: int | None = None
    dry_run: bool = False
    notices: list[str] = field(default_factory=list)  # link-back/email problems, duplicates
    # Failed earlier for a reason a person must fix; not retried by this run, still not done.
    still_failed: list[ItemOutcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.still_failed else 0

    def summary(self) -> str:
        if self.dry_run:
            return (
                f"Dry run: would issue {len(self.drafts)}, would fail {self.failed}; "
                "nothing was written."
            )
        issued = self.count("issued") + self.count("adopted")
        return f"Issued {issued}, failed {self.failed}, skipped {self.count('skipped')}"

    def to_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "issued": self.count("issued"),
            "adopted": self.count("adopted"),
            "failed": self.failed,
            "skipped": self.count("skipped"),
            "checkpoint": self.checkpoint,
            "orders": [
                {"order_id": o.key, "action": o.action, "detail": o.detail, **o.extra}
                for o in self.outcomes
            ],
            "notices": list(self.notices),
            "still_failed": [{"order_id": o.key, "error": o.detail} for o in self.still_failed],
        }


class InvoiceRun:
    """One ``invoice`` (or ``resend``) run over a ledger and the two services."""

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        jumpseller: JumpsellerClient,
        igest: IgestClient,
        *,
        now: datetime | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.jumpseller = jumpseller
        self.igest = igest
        self.now = now or datetime.now(UTC)
        self.today = lisbon_date(self.now)
        self.progress = progress
        self._notices_lock = threading.Lock()  # worker threads report link-back failures
        self._linked_this_run: set[str] = set()  # one attempt per document and run

    # -- invoice ----------------------------------------------------------------------------

    def run(self, *, since: date | None = None, dry_run: bool = False) -> InvoiceReport:
        report = InvoiceReport(dry_run=dry_run)
        floor = self._floor(since)
        # An empty ledger, or a backfill over days it may not have seen: iGEST may hold
        # documents for these orders already, so list them once and verify before issuing.
        fresh = self.ledger.checkpoint is None or since is not None
        to_issue: dict[int, Order] = {}

        for order in self._new_orders(floor, since, fresh):
            self._classify(order, floor, to_issue, report, dry_run, fresh=fresh)
        for order in self._newly_paid_open_orders():
            self._classify(order, floor, to_issue, report, dry_run, fresh=fresh)
        for order in self._unfinished_orders(to_issue):
            to_issue.setdefault(order.id, order)

        report.checkpoint = self.ledger.checkpoint
        orders = sorted(to_issue.values(), key=lambda o: (o.completed_at or self.now, o.id))
        if dry_run:
            self._dry_run(orders, report)
            return report
        known = self._igest_documents_since(floor) if fresh and orders else None
        self._issue_all(orders, report, known=known)
        self._credit_cancelled(report)
        self._after_issue(report)
        handled = {o.key for o in report.outcomes}
        report.still_failed = [
            ItemOutcome(str(w.order_id), "failed", w.error or "", {"kind": w.kind})
            for w in self.ledger.work_in_states("failed")
            if str(w.order_id) not in handled
        ]
        self.ledger.set_meta("last_run_at", self.now.isoformat(timespec="seconds"))
        log.info("Invoice run done: %s (checkpoint: order %s)", report.summary(), report.checkpoint)
        if not report.failed:
            self.ledger.set_meta("last_success_at", self.now.isoformat(timespec="seconds"))
        return report

    def _floor(self, since: date | None) -> date:
        start = self.config.invoice.start_date
        if since is None and start is None and self.ledger.checkpoint is None:
            raise UsageError(
                "No checkpoint and no start date: igest-sync will not invoice the whole history "
                "of the store.",
                hint="Set [invoice] start_date = YYYY-MM-DD in the config (orders paid before it "
                "are never invoiced), or pass --since YYYY-MM-DD for a one-off backfill.",
            )
        if since and start and since < start:
            raise UsageError(
                f"--since {since} is before [invoice] start_date {start}; orders paid before the "
                "start date are never invoiced.",
                hint="Move start_date back in the config if those orders really must be invoiced.",
            )
        return since or start or date.min

    def _new_orders(self, floor: date, since: date | None, fresh: bool) -> Iterator[Order]:
        checkpoint = self.ledger.checkpoint
        if checkpoint is not None and since is None:
            try:
                yield from self.jumpseller.orders_after(checkpoint)
                return
            except NotFound:
                # The spec allows a 404 here (the checkpoint order was deleted): fall back to
                # the orders created since the last run rather than skip any sale.
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
                return
        first = floor - FIRST_RUN_LOOKBACK if floor != date.min else date(2000, 1, 1)
        yield from self.jumpseller.orders_created_between(first, self.today)

    def _newly_paid_open_orders(self) -> Iterator[Order]:
        """Orders we saw waiting for payment that are no longer waiting (paid, cancelled)."""
        waiting = self.ledger.open_orders()
        if not waiting:
            return
        still_open = {o.id for o in self.jumpseller.orders_with_status("pending_payment")}
        for record in waiting:
            if record.order_id in still_open:
                continue
            try:
                yield self.jumpseller.order(record.order_id)
            except NotFound:
                log.warning(
                    "Order %s, waiting for payment, is gone from Jumpseller; no longer followed",
                    record.order_id,
                )
                self.ledger.record_order(
                    record.order_id,
                    "deleted",
                    created_at=None,
                    paid_at=None,
                    total=record.total,
                    customer=record.customer,
                    note="deleted in Jumpseller while waiting for payment",
                )
            except ApiError as exc:
                # Still recorded as waiting: the next run looks again.
                log.warning(
                    "Could not read order %s (waiting for payment): %s", record.order_id, exc
                )

    def _unfinished_orders(self, planned: dict[int, Order]) -> Iterator[Order]:
        """Work a crash interrupted, or that failed for a reason that may pass by itself."""
        wanted = [
            w.order_id
            for w in self.ledger.work_in_states("pending", *IN_FLIGHT, "failed", kind="invoice")
            if w.order_id not in planned and (w.state != "failed" or w.transient)
        ]
        # (a failure for bad data or a refusal waits for `resend`)
        found: dict[int, Order] = {}
        if len(wanted) > BULK_REREAD:
            # After a crash mid-backlog: one listing in pages of 100 beats a GET per order.
            created = [r.created_at for i in wanted if (r := self.ledger.order(i)) and r.created_at]
            if created:
                first = lisbon_date(datetime.fromisoformat(min(created)))
                ids = set(wanted)
                try:
                    for order in self.jumpseller.orders_created_between(first, self.today):
                        if order.id in ids:
                            found[order.id] = order
                except ApiError as exc:
                    log.warning(
                        "Listing unfinished orders failed (%s); reading them one by one", exc
                    )
        for order_id in wanted:
            if order_id in found:
                yield found[order_id]
                continue
            try:
                yield self.jumpseller.order(order_id)
            except ApiError as exc:
                self.ledger.fail(
                    order_id,
                    "invoice",
                    f"could not read the order from Jumpseller: {exc}",
                    transient=exc.transient,
                )

    def _classify(
        self,
        order: Order,
        floor: date,
        to_issue: dict[int, Order],
        report: InvoiceReport,
        dry_run: bool,
        *,
        fresh: bool = False,
    ) -> None:
        paid_on = lisbon_date(order.completed_at) if order.completed_at else None
        note = None
        if order.status == "paid" and paid_on is not None and paid_on >= floor:
            to_issue[order.id] = order
        elif order.status == "paid" and paid_on is None:
            # Paid without a payment time: the status is what counts; the document is dated
            # today as always, it just carries no "Pago em" note.
            to_issue[order.id] = order
        elif order.status == "paid":
            note = f"paid on {paid_on}, before the start date {floor}: never invoiced"
            report.outcomes.append(ItemOutcome(str(order.id), "skipped", note))
        elif order.status == "canceled" and paid_on is not None and paid_on >= floor:
            if not (w := self.ledger.work(order.id)) or w.state != "final":
                note = "paid and cancelled before it was invoiced: no document issued"
                report.outcomes.append(ItemOutcome(str(order.id), "skipped", note))
        if not dry_run:
            self._record_order(order, note=note)
            if order.id in to_issue:
                # Recorded as work before the checkpoint passes it: a run killed between the
                # two finds it as pending work, never behind the checkpoint and forgotten.
                self.ledger.ensure_work(
                    order.id,
                    "invoice",
                    external_reference(self.config.jumpseller.store, order.id),
                    unverified=fresh,
                )
            self.ledger.advance_checkpoint(order.id)

    def _record_order(self, order: Order, note: str | None = None) -> None:
        self.ledger.record_order(
            order.id,
            order.status,
            created_at=order.created_at,
            paid_at=order.completed_at,
            total=order.total,
            customer=_customer_name(order),
            email=order.customer_email,
            note=note,
        )

    def _igest_documents_since(self, floor: date) -> dict[str, list[IssuedDocument]]:
        """Everything iGEST holds since the floor, by reference: the ledger knows nothing yet."""
        known: dict[str, list[IssuedDocument]] = {}
        date_from = None if floor == date.min else floor
        for doc in self.igest.find_documents(date_from=date_from):
            if doc.external_reference:
                known.setdefault(doc.external_reference, []).append(doc)
        log.info(
            "Ledger was empty: found %d iGEST documents since %s to check against",
            sum(len(v) for v in known.values()),
            date_from or "the beginning",
        )
        return known

    def _issue_all(
        self,
        orders: list[Order],
        report: InvoiceReport,
        *,
        known: dict[str, list[IssuedDocument]] | None,
        override: CustomerOverride | None = None,
        force_lookup: bool = False,
    ) -> None:
        issuer = Issuer(self.config, self.ledger, self.igest, today=self.today, known=known)
        total = len(orders)
        done = 0

        stop: list[IgestSyncError] = []  # a run-wide failure (credentials refused)

        def one(order: Order) -> ItemOutcome | None:
            if stop:
                return None  # not attempted: its work stays pending for the next run
            try:
                outcome = issuer.issue(order, override=override, force_lookup=force_lookup)
            except IgestSyncError as exc:
                stop.append(exc)
                return None
            except Exception as exc:  # a bug must not lose the rest of the batch
                log.exception("Unexpected error on order %s", order.id)
                if (w := self.ledger.work(order.id)) is None or w.state != "final":
                    self.ledger.fail(
                        order.id, "invoice", f"internal error: {exc!r}", transient=True
                    )
                return ItemOutcome(str(order.id), "failed", f"internal error: {exc!r}")
            if outcome.action in ("issued", "adopted") and self.config.invoice.link_documents:
                # Attach it now, in this worker: Jumpseller's rate budget is separate from
                # iGEST's, so the link-backs overlap the issuing instead of following it.
                # (_link records its own failures; the invoice itself is done either way.)
                for doc in self.ledger.documents_for(order.id):
                    if not doc.linked and doc.link_attempts < LINK_ATTEMPTS:
                        self._link(doc, report)
            return outcome

        workers = max(1, min(self.config.invoice.concurrency, total))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(one, orders):
                if outcome is not None:
                    report.outcomes.append(outcome)
                done += 1
                if self.progress:
                    self.progress(done, total)
        if stop:
            raise stop[0]

    def _dry_run(self, orders: list[Order], report: InvoiceReport) -> None:
        for order in orders:
            work = self.ledger.work(order.id)
            if work and work.state == "final":
                continue
            try:
                draft = build_document(
                    order,
                    self.config.invoice,
                    store=self.config.jumpseller.store,
                    issue_date=self.today,
                )
            except OrderRejected as exc:
                text = exc.reason if not exc.hint else f"{exc.reason} ({exc.hint})"
                report.outcomes.append(ItemOutcome(str(order.id), "failed", text))
                continue
            report.drafts.append(draft)
            report.outcomes.append(
                ItemOutcome(str(order.id), "would issue", f"{draft.type} {draft.gross_total} EUR")
            )

    # -- credit notes for orders cancelled after their invoice --------------------------------

    def _credit_cancelled(self, report: InvoiceReport) -> None:
        invoiced = self.ledger.invoiced_without_credit()
        if not invoiced:
            return  # nothing that could need a credit note: not one request
        # Credit work a crash or a passing failure left unfinished (a refusal waits for
        # `igest-sync credit`), for invoices this ledger holds.
        unfinished = {
            w.order_id
            for w in self.ledger.work_in_states("pending", *IN_FLIGHT, "failed", kind="credit")
            if (w.state != "failed" or w.transient) and w.order_id in invoiced
        }
        try:
            cancelled = [
                o
                for o in self.jumpseller.orders_created_between(
                    self.today - CREDIT_LOOKBACK, self.today, status="canceled"
                )
                if o.id in invoiced
            ]
        except ApiError as exc:
            report.notices.append(f"Could not look for cancelled orders in Jumpseller: {exc}")
            cancelled = []
        for order_id in sorted(unfinished - {o.id for o in cancelled}):
            try:
                cancelled.append(self.jumpseller.order(order_id))
            except ApiError as exc:
                self.ledger.fail(
                    order_id,
                    "credit",
                    f"could not read the order from Jumpseller: {exc}",
                    transient=exc.transient,
                )
        for order in cancelled:
            if order.status != "canceled":
                continue
            self._record_order(order)
            document = invoiced[order.id]
            work = self.ledger.work(order.id, "credit")
            if work and work.state == "failed" and not work.transient:
                continue  # refused before: waits for `igest-sync credit ORDER_ID`
            if not self.config.invoice.credit_cancelled:
                report.notices.append(
                    f"Order {order.id} was cancelled after {document.number} was issued: credit "
                    f"it with `igest-sync credit {order.id} --reason TEXT` (credit_cancelled is "
                    "off)."
                )
                continue
            report.outcomes.append(
                self.credit_one(order, document.document_id, self.config.invoice.credit_reason)
            )

    def credit_one(self, order: Order, document_id: str, reason: str) -> ItemOutcome:
        """A credit note for one invoice. Always asks iGEST first: credit notes are rare, and a
        lost ledger must never repeat one."""
        issuer = Issuer(self.config, self.ledger, self.igest, today=self.today)
        try:
            original = self.igest.get_document(document_id)
        except ApiError as exc:
            return issuer._failed(
                order.id,
                "credit",
                f"could not read the invoice to credit from iGEST: {exc}",
                exc.transient,
            )
        return issuer.credit(order, original, reason, force_lookup=True)

    def credit(self, order_id: int, reason: str) -> InvoiceReport:
        """``igest-sync credit``: a credit note for the whole invoice of one order, by hand."""
        report = InvoiceReport()
        done = self.ledger.work(order_id, "credit")
        if done is not None and done.state == "final":  # nothing to ask either service
            issuer = Issuer(self.config, self.ledger, self.igest, today=self.today)
            report.outcomes.append(issuer._already(order_id, "credit", done))
            return report
        invoice = next(
            (
                d
                for d in self.ledger.documents_for(order_id)
                if d.kind == "invoice" and d.status == "final"
            ),
            None,
        )
        document_id = invoice.document_id if invoice else None
        if document_id is None:
            ref = external_reference(self.config.jumpseller.store, order_id)
            finals = [
                d
                for d in self.igest.find_documents(external_reference=ref)
                if d.status == "final" and d.external_reference == ref
            ]
            if not finals:
                raise UsageError(
                    f"Order {order_id} has no final invoice in iGEST: there is nothing to credit."
                )
            document_id = finals[0].id
        order = self.jumpseller.order(order_id)
        report.outcomes.append(self.credit_one(order, document_id, reason))
        self._after_issue(report)
        return report

    # -- after issuing: link the document on the Jumpseller order, email it ------------------

    def _after_issue(self, report: InvoiceReport) -> None:
        if self.config.invoice.link_documents:
            for doc in self.ledger.unlinked_documents(LINK_ATTEMPTS):
                if doc.document_id not in self._linked_this_run:  # retried on a later run
                    self._link(doc, report)
        if self.config.invoice.email_customer:
            self._email(report)

    def _link(self, doc: DocumentRecord, report: InvoiceReport) -> None:
        """Attach the document to its Jumpseller order, once: never a blind second POST."""
        self._linked_this_run.add(doc.document_id)
        try:
            if doc.link_attempts or doc.adopted:
                # An earlier POST may have reached Jumpseller (answer lost, or a crash), or an
                # earlier ledger attached it: look before attaching again.
                attached = self.jumpseller.order_documents(doc.order_id)
                if any(str(d.get("external_id")) == doc.document_id for d in attached):
                    self.ledger.mark_linked(doc.document_id)
                    return
            self.ledger.begin_link(doc.document_id)
            self.jumpseller.add_order_document(
                doc.order_id,
                credit_note=doc.kind == "credit",
                external_id=doc.document_id,
                public_id=doc.number or doc.document_id,
                url=doc.pdf_url,
            )
        except ApiError as exc:
            self.ledger.mark_linked(doc.document_id, error=str(exc))
            with self._notices_lock:
                report.notices.append(
                    f"Order {doc.order_id}: {doc.number} could not be attached to the "
                    f"Jumpseller order ({exc}); the document itself is fine."
                )
            return
        self.ledger.mark_linked(doc.document_id)

    def _email(self, report: InvoiceReport) -> None:
        limit = self.now - timedelta(days=self.config.invoice.email_max_age_days)
        for doc in self.ledger.unemailed_documents():
            record = self.ledger.order(doc.order_id)
            paid_at = _parse_dt(record.paid_at) if record else None
            to = record.email if record else None
            if paid_at is None or paid_at < limit:
                self.ledger.mark_emailed(doc.document_id, -1, "order too old to email")
                continue
            if not to:
                self.ledger.mark_emailed(doc.document_id, -1, "no customer email")
                continue
            try:
                self.igest.email_document(doc.document_id, to)
            except ApiError as exc:
                # Never fatal, never twice: a failed email is recorded and not retried.
                self.ledger.mark_emailed(doc.document_id, -1, str(exc))
                report.notices.append(
                    f"Order {doc.order_id}: {doc.number} was not emailed ({exc})."
                )
                continue
            self.ledger.mark_emailed(doc.document_id, 1)

    # -- resend -----------------------------------------------------------------------------

    def resend(
        self,
        order_ids: list[int],
        *,
        all_failed: bool = False,
        override: CustomerOverride | None = None,
    ) -> InvoiceReport:
        report = InvoiceReport()
        ids = list(order_ids)
        if all_failed:
            ids += [
                w.order_id
                for w in self.ledger.work_in_states("failed", kind="invoice")
                if w.order_id not in ids
            ]
        orders: list[Order] = []
        for order_id in ids:
            work = self.ledger.work(order_id)
            if work and work.state == "final":
                report.outcomes.append(
                    Issuer(self.config, self.ledger, self.igest, today=self.today)._already(
                        order_id, "invoice", work
                    )
                )
                continue
            try:
                order = self.jumpseller.order(order_id)
            except ApiError as exc:
                if work:
                    self.ledger.fail(
                        order_id,
                        "invoice",
                        f"could not read the order from Jumpseller: {exc}",
                        transient=exc.transient,
                    )
                report.outcomes.append(
                    ItemOutcome(str(order_id), "failed", f"could not read the order: {exc}")
                )
                continue
            if order.status != "paid":
                report.outcomes.append(
                    ItemOutcome(
                        str(order_id),
                        "skipped",
                        f"order is {order.status.replace('_', ' ')}, not paid: nothing to invoice",
                    )
                )
                continue
            self._record_order(order)
            orders.append(order)
        # By hand, always look the reference up first: the ledger may be new or stale.
        self._issue_all(orders, report, known=None, override=override, force_lookup=True)
        self._after_issue(report)
        return report


def _customer_name(order: Order) -> str | None:
    b = order.billing
    if b is None:
        return None
    if b.company:
        return b.company
    name = " ".join(p for p in (b.name, b.surname) if p)
    return name or None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
