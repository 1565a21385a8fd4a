"""``invoice`` and ``resend``: every paid order gets exactly one final iGEST document.

Plan → act → record, one job per module: ``discover`` finds the orders (new, newly paid,
unfinished) and records them; the run's one ``Issuer`` issues each through the exactly-once
path, several orders at a time (``parallel``); ``credit`` credits orders cancelled after their
invoice; ``followup`` attaches what was issued to the Jumpseller orders and emails it.

A ledger that starts empty (first run, or the state file was lost) lists iGEST's documents for
the period once, so nothing already issued is issued again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import replace
from datetime import date, datetime, timedelta

from igest_sync.config import Config
from igest_sync.errors import ApiError, AuthError, IgestSyncError, NotFound, OrderRejected
from igest_sync.fiscal.customer import CustomerOverride, OverrideRefused, check_override
from igest_sync.fiscal.intra_eu import vat_number_to_check
from igest_sync.fiscal.mapping import build_document, expected_gross
from igest_sync.models import (
    IN_FLIGHT,
    Action,
    DocumentDraft,
    DocumentFacts,
    DocumentOutcome,
    DocumentStatus,
    IssuedDocument,
    Kind,
    Order,
    OrderStatus,
    Series,
    WorkState,
    status_words,
)
from igest_sync.references import external_reference
from igest_sync.runs.context import Clock, RunContext
from igest_sync.runs.credits.cancellations import created_on, credits_by_itself
from igest_sync.runs.invoicing import review
from igest_sync.runs.invoicing.art53 import NOTICED_KEY, Art53Guard, guard_for
from igest_sync.runs.invoicing.catch_up import CatchUp
from igest_sync.runs.invoicing.discover import Discovery, igest_documents_since, record_order
from igest_sync.runs.invoicing.gapcheck import GapCheck
from igest_sync.runs.invoicing.hold import (
    ForeignInvoices,
    fits_unnamed,
    guard_first_run,
    invoiced_elsewhere,
    looked_from,
    undecided_invoice,
)
from igest_sync.runs.invoicing.intra_eu import VatCheckPending
from igest_sync.runs.invoicing.issuer import (
    CrashHook,
    remember_override,
    remembered_override,
    same_document,
    setting_to_correct,
    unsent,
)
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.runs.parallel import in_parallel
from igest_sync.runs.services import IgestApi, JumpsellerApi, ViesApi
from igest_sync.runs.setup.seal import seal_reminder
from igest_sync.runs.setup.status import STORE_NAME_AT, remember_store_name
from igest_sync.runs.wiring import wire
from igest_sync.state.inbox import STOPPED, serve_down
from igest_sync.state.ledger import Ledger, WorkRecord
from igest_sync.timeutil import lisbon_date

__all__ = ["InvoiceReport", "InvoiceRun"]

log = logging.getLogger("igest_sync.invoice")

Progress = Callable[[int, int], None]

# meta: "order:kind" -> when that work first failed for a reason that passes by itself, for as
# long as it keeps failing so (see ``_report_failures``).
RETRYING_SINCE = "retrying_since"


# A run that issued nothing checks iGEST's credentials once per this (see _check_igest_daily).
IGEST_CHECKED = "igest_credentials_checked_at"
IGEST_CHECK_EVERY = timedelta(days=1)


class RunStopped(Exception):
    """``serve`` is stopping: orders not started are left as recorded work for the next run."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``invoice``: the documents in flight were finished, no other order was
    started; ``issued`` by this run, ``left`` for the next one (recorded work, nothing lost)."""

    def __init__(self, issued: int, left: int, adopted: int = 0) -> None:
        super().__init__(f"issued {issued}, left {left}")
        self.issued = issued
        self.left = left
        self.adopted = adopted  # found final in iGEST (a rebuild's look-ups): not issued

    @property
    def message(self) -> str:
        # A rebuild stopped mid-way finds hundreds of documents: counted as issued, they read
        # as that many duplicates.
        found = (
            f", {self.adopted} found in iGEST already (adopted, nothing issued)"
            if self.adopted
            else ""
        )
        return (
            f"Interrupted: {self.issued} document{'' if self.issued == 1 else 's'} issued by "
            f"this run{found}; {self.left} order{'' if self.left == 1 else 's'} left for the next "
            "run. The next `igest-sync invoice` looks each up in iGEST and finishes it; nothing "
            "is issued twice."
        )


def _adopted_total(order: Order, outcome: DocumentOutcome) -> list[str]:
    """A final document found under the order's reference is its invoice (never a second one),
    but one made by hand, or by another igest-sync, may not carry what the customer paid: said
    at once, not left to `reconcile`'s next wrong_total."""
    found, due = outcome.gross_total, expected_gross(order)
    if found is None or found == due or order.status != OrderStatus.PAID:
        return []
    number = outcome.number or "its document"
    log.error(
        "Order %s: adopted %s carries %s EUR; the order says %s EUR", order.id, number, found, due
    )
    told = (
        f"Order {order.id}: {number}, found final in iGEST under its reference and recorded as "
        f"its invoice, carries {found:.2f} EUR, but the order says {due:.2f} EUR. Credit it "
        f"(igest-sync credit {order.id} --all --reason TEXT) and invoice the sale by hand "
        "for the right total; nothing else is issued for this order."
    )
    return [told]


class InvoiceRun:
    """One ``invoice`` (or ``resend``) run over a ``RunContext``; it reads the context's
    clock once, as it starts (``now``).

    ``crash_hook`` is handed to the run's ``Issuer`` (tests stand a kill with it). ``stop``,
    once set, lets the documents in flight finish and starts no other order (RunStopped).
    """

    def __init__(
        self,
        context: RunContext,
        *,
        progress: Progress | None = None,
        crash_hook: CrashHook | None = None,
        stop: threading.Event | None = None,
        catch_up: CatchUp | None = None,
    ) -> None:
        self.context = context
        self.stop = stop
        self.settings = context.settings
        self.ledger = context.ledger
        self.jumpseller = context.jumpseller
        self.igest = context.igest
        self.now = context.now()
        self.today = lisbon_date(self.now)
        self.progress = progress
        self.steps = wire(context, now=self.now, crash_hook=crash_hook, catch_up=catch_up)
        self.issuer = self.steps.issuer
        self.followup = self.steps.followup
        self.credits = self.steps.credits
        self._switch_checked = False  # the first run's guard passed (runs/invoicing/hold.py)

    @classmethod
    def build(
        cls,
        config: Config,
        ledger: Ledger,
        jumpseller: JumpsellerApi,
        igest: IgestApi,
        *,
        vies: ViesApi | None = None,
        now: datetime | Clock | None = None,
        progress: Progress | None = None,
        crash_hook: CrashHook | None = None,
        stop: threading.Event | None = None,
        catch_up: CatchUp | None = None,
    ) -> InvoiceRun:
        """A run from a config and its parts (``RunContext.build``): the tests' seam."""
        context = RunContext.build(config, ledger, jumpseller, igest, vies=vies, now=now)
        return cls(context, progress=progress, crash_hook=crash_hook, stop=stop, catch_up=catch_up)

    # -- invoice ----------------------------------------------------------------------------

    def run(self, *, since: date | None = None, dry_run: bool = False) -> InvoiceReport:
        report = InvoiceReport(dry_run=dry_run, review=self.settings.review)
        failed_before = {
            (w.order_id, w.kind): w for w in self.ledger.works.work_in_states(WorkState.FAILED)
        }
        discovery = Discovery(self.context, now=self.now, record=not dry_run)
        # iGEST is listed from here (the switch guard, the look-ups): asked before the plan
        # moves the checkpoint.
        looked = discovery.looked_from(since)
        listed = self._switch_guard(discovery, since)
        plan = discovery.plan(since)
        report.checkpoint = self.ledger.meta.checkpoint
        if dry_run:
            # The same read-only listing a real first run makes, so the preview says which
            # orders it would adopt from iGEST instead of issuing.
            known = (
                igest_documents_since(self.igest, looked, listed)
                if plan.fresh and plan.orders
                else None
            )
            report.outcomes.extend(replace(o, action=Action.WOULD_SKIP) for o in plan.skipped)
            # The art. 53 ceiling, as the real run would meet it (its count not kept).
            art53 = guard_for(
                self.settings,
                self.ledger,
                self.igest,
                self.today,
                store=self.context.store,
                keep=False,
            )
            # With the real run's sweep: the drafts waiting for approval that it finalizes
            # without a person (review turned off, the automatic hour) or deletes; under
            # art. 53 before the new orders, paid after them, as the real run does.
            if art53 is not None:
                self._dry_run_waiting(report, art53)
            self._dry_run(plan.orders, report, known, art53, looked=looked)
            if art53 is None:
                self._dry_run_waiting(report, art53)
            # And its credit pass: the invoiced orders since cancelled.
            self.credits.preview_cancelled(report)
            # Last, as the real run's: what it would tell of the year's turnover.
            report.notices += self._dry_turnover_notices(report, art53)
            _log_others(report)
            return report
        report.outcomes.extend(plan.skipped)
        if plan.fresh and plan.orders:
            self.issuer.use_listing(
                igest_documents_since(self.igest, looked, listed),
                None if looked == date.min else looked,
            )
        # Review mode: drafts due without a person (the automatic hour, or review turned off)
        # or whose order was cancelled, and a notice for each still waiting past the deadline.
        # Under art. 53 the drafts that waited, paid before this run's orders, go first: the
        # order that takes the year past 18,750 EUR is the first in payment order.
        swept: set[int] = set()
        if self.issuer.art53 is not None:
            review.sweep_waiting(self, report.outcomes, report.notices, read=swept)
        self._issue_all(plan.orders, report)
        review.sweep_waiting(self, report.outcomes, report.notices, read=swept)
        report.notices.extend(review.deadline_notices(self.settings, self.ledger, self.now))
        self.credits.credit_cancelled(report)
        loud = self._check_gaps(report, rebuilt=plan.fresh)
        if loud or self.ledger.meta.get_meta(STORE_NAME_AT) is None:
            # On the day's loud run (a quiet run keeps to its few requests): the store's name
            # for `status`, asked when a week old.
            remember_store_name(self.ledger, self.jumpseller, self.now)
        if loud:
            self._check_igest_daily(report)  # the iGEST credentials, once a day, likewise
        self.followup.finish(report.notices)
        # Last of the run's work: the notices told once (each marked in the ledger as soon as
        # it is made), so that nothing that can be killed comes between them and the report.
        # The first run of 2027: the qualified seal (Lei 73-A/2025).
        seal = seal_reminder(self.settings, self.ledger, self.today)
        if seal is not None:
            report.notices.append(seal)
        report.notices += self.turnover_notices(report.outcomes)
        report.notices += self._serve_silent()
        failed_here = report.failed
        self._report_failures(report, failed_before)
        self._report_notices(report)
        self.ledger.meta.set_meta("last_run_at", self.now.isoformat(timespec="seconds"))
        _log_others(report)
        log.info("Invoice run done: %s (checkpoint: order %s)", report.summary(), report.checkpoint)
        if not failed_here:  # whether shown or quiet, an order failed in this run
            self.ledger.meta.set_meta("last_success_at", self.now.isoformat(timespec="seconds"))
        return report

    def _serve_silent(self) -> list[str]:
        """A ``serve`` that stopped sweeping without stopping (killed, stuck, a machine that
        restarted without it) cannot say so itself: the cron run that still comes does (the
        notices' reminder rule, and the alerts). Never a run of serve's own (it has ``stop``),
        nor of a serve stopped on purpose."""
        if self.stop is not None:
            return []
        down = serve_down(self.ledger.meta.get_meta, self.now, self.context.sweep_minutes)
        if down is None or down.public == STOPPED:
            return []
        return [f"serve is not running: {down.reason}."]

    def turnover_notices(self, outcomes: list[DocumentOutcome]) -> list[str]:
        """Under the small-business exemption: the year's turnover read again when this run,
        resend or approve issued or credited something (or once a day, for documents made
        elsewhere), and what a person must be told about it, once."""
        guard = self.issuer.art53
        if guard is None:
            return []
        changed = any(o.action == Action.ISSUED for o in outcomes)
        today = self.today.isoformat()
        if not changed and self.ledger.meta.get_meta(NOTICED_KEY) == today:
            return []
        guard.refresh()
        try:
            notices = guard.notices()
        except ApiError as exc:
            log.warning("Could not read the year's turnover from iGEST: %s", exc)
            return []
        self.ledger.meta.set_meta(NOTICED_KEY, today)
        return notices

    def _dry_turnover_notices(self, report: InvoiceReport, guard: Art53Guard | None) -> list[str]:
        """A dry run's ``_turnover_notices``: what the real run would tell of the year's
        turnover once it issued what this one would (a draft left for approval is not final:
        not counted), under the same rule (read when it would issue or credit something, else
        once a day), in "would"; nothing written. A credit note the real run would issue for
        a cancelled order is not deducted: iGEST says what is left to credit only then."""
        if guard is None:
            return []
        issued = report.finalizing + ([] if report.review else report.drafts)
        changed = bool(issued) or report.count(Action.WOULD_CREDIT) > 0
        if not changed and self.ledger.meta.get_meta(NOTICED_KEY) == self.today.isoformat():
            return []
        try:
            return guard.would_notices(issued)
        except ApiError as exc:
            log.warning("Could not read the year's turnover from iGEST: %s", exc)
            return []

    def guard_switch(self) -> None:
        """``serve``'s webhooks on a ledger no run has passed yet: the same guard as the first
        run's, before any order is issued (documents another integration issued)."""
        if self.ledger.meta.checkpoint is None and not self._switch_checked:
            discovery = Discovery(self.context, now=self.now)
            self._switch_guard(discovery, None)

    def _switch_guard(
        self, discovery: Discovery, since: date | None
    ) -> list[IssuedDocument] | None:
        """A first run (or a backfill) lists iGEST's documents from its start date before it
        records anything, and stops when a day holds invoices another integration issued
        (``runs/invoicing/hold.py``; discovery guards the orders a change of the skip rules
        makes due the same way). Returns the listing, which the run uses again."""
        if self.ledger.meta.checkpoint is not None and since is None:
            return None
        floor = discovery.looked_from(since)
        listed = list(self.igest.find_documents(date_from=None if floor == date.min else floor))
        guard_first_run(self.ledger, listed, floor, now=self.now)
        self._switch_checked = True
        return listed

    def _check_gaps(self, report: InvoiceReport, *, rebuilt: bool) -> bool:
        """Once a day, read back the recent paid orders against iGEST (``runs/gapcheck.py``).
        A rebuild has just looked every order of its days up in iGEST: that counts as one.
        True when this run made the day's check."""
        check = GapCheck(self.context, now=self.now)
        if rebuilt:
            check.done()
            return True
        if not check.due():
            return False
        try:
            read = check.run(report.outcomes, report.notices)
            if read.igest_read:  # iGEST answered: its credentials need no check of their own
                self.ledger.meta.set_meta(IGEST_CHECKED, self.now.isoformat(timespec="seconds"))
        except ApiError as exc:  # not recorded as done: the next run checks again
            log.warning("Gap check skipped: %s", exc)
        return True

    def _check_igest_daily(self, report: InvoiceReport) -> None:
        """A wrong iGEST security code must not go unnoticed while there is nothing to
        invoice: a run that issued nothing asks iGEST once a day whether it accepts the
        credentials (refused: the run stops like any other, exit 5, alerts sent)."""
        now = self.now.isoformat(timespec="seconds")
        if any(o.action in (Action.ISSUED, Action.ADOPTED) for o in report.outcomes):
            self.ledger.meta.set_meta(IGEST_CHECKED, now)  # iGEST took our documents today
            return
        last = self.ledger.meta.get_meta(IGEST_CHECKED)
        if last is not None and self.now - datetime.fromisoformat(last) < IGEST_CHECK_EVERY:
            return
        try:
            self.igest.entity()
        except AuthError:
            raise
        except IgestSyncError as exc:  # unreachable: not this run's business; ask next run
            log.info("Daily iGEST credentials check skipped: %s", exc)
            return
        self.ledger.meta.set_meta(IGEST_CHECKED, now)

    def failed_before(self) -> dict[tuple[int, str], WorkRecord]:
        """The failures recorded before this run, for ``for_a_person``."""
        return {(w.order_id, w.kind): w for w in self.ledger.works.work_in_states(WorkState.FAILED)}

    def for_a_person(
        self, report: InvoiceReport, failed_before: dict[tuple[int, str], WorkRecord]
    ) -> None:
        """Keep in the report only what a person has not been told recently (see below)."""
        self._report_failures(report, failed_before)
        self._report_notices(report)

    def _report_failures(
        self, report: InvoiceReport, failed_before: dict[tuple[int, str], WorkRecord]
    ) -> None:
        """Show a failure the first time a run meets it, then as a reminder at most once per
        ``remind_failed_hours``: cron mails what changed, not every stuck order every run.

        A failure this run repeats (same order, same reason, shown recently) moves from the
        outcomes to ``report.quiet``; so does an earlier failure this run did not retry. Every
        failure shown is stamped ``reported_at``; ``status`` still lists them all.

        A failure that passes by itself (a lost answer, a 502, a service down: ``transient``) is
        retried by the next run, and by ``serve`` within seconds: it is logged, and kept quiet
        until it has lasted ``[alerts] unreachable_minutes`` (the bound after which an alert
        goes out too); only then is it a person's business.
        """
        remind = timedelta(hours=self.settings.remind_failed_hours)
        retrying = self._retrying_since()
        shown: list[DocumentOutcome] = []
        for outcome in report.outcomes:
            waited = outcome.action == Action.WAITING
            if waited and self._persists(retrying, outcome.key, outcome.kind or Kind.INVOICE):
                # Waiting for VIES for [alerts] unreachable_minutes: a paid order without its
                # invoice that long is a person's business, told as any failure that lasted.
                outcome = replace(outcome, action=Action.FAILED)
            if outcome.action != Action.FAILED:
                shown.append(outcome)
                continue
            kind = outcome.kind or Kind.INVOICE
            if outcome.transient and not self._persists(retrying, outcome.key, kind):
                report.quiet.append(outcome)
                report.retrying += 1
                continue
            before = failed_before.get((int(outcome.key), kind))
            if (
                before is not None
                # The same failure, told already; a wait for VIES is the same wait whatever
                # VIES answered this time (MS_UNAVAILABLE, its gateway's 502, another day).
                and (before.error == outcome.detail or (waited and before.transient))
                and not self._due(before, remind)
            ):
                report.quiet.append(outcome)
                report.shown_before += 1
                continue
            shown.append(outcome)
            self.ledger.works.mark_reported(int(outcome.key), kind, self.now)
        report.outcomes = shown
        handled = {o.key for o in report.outcomes} | {o.key for o in report.quiet}
        for work in self.ledger.works.work_in_states(WorkState.FAILED):
            if str(work.order_id) in handled:
                continue
            earlier = DocumentOutcome(
                str(work.order_id),
                Action.FAILED,
                work.error or "",
                kind=Kind(work.kind),
                transient=work.transient,
            )
            if work.transient and not self._persists(retrying, earlier.key, work.kind):
                report.quiet.append(earlier)
            elif self._due(work, remind):
                report.still_failed.append(earlier)
                self.ledger.works.mark_reported(work.order_id, work.kind, self.now)
            else:
                report.quiet.append(earlier)

    def _retrying_since(self) -> dict[str, str]:
        """Since when each failure that passes by itself has been failing (kept in meta for
        the failures that still do; a new one starts now)."""
        try:
            known = json.loads(self.ledger.meta.get_meta(RETRYING_SINCE) or "{}")
        except ValueError:
            known = {}
        if not isinstance(known, dict):
            known = {}
        stamp = self.now.isoformat(timespec="seconds")
        current = {
            f"{w.order_id}:{w.kind}": str(known.get(f"{w.order_id}:{w.kind}") or stamp)
            for w in self.ledger.works.work_in_states(WorkState.FAILED)
            if w.transient
        }
        if current != known:
            self.ledger.meta.set_meta(RETRYING_SINCE, json.dumps(current, sort_keys=True))
        return current

    def _persists(self, retrying: dict[str, str], key: str, kind: str) -> bool:
        """Whether a failure that passes by itself has lasted long enough to be shown."""
        bound = timedelta(minutes=self.context.unreachable_minutes)
        since = retrying.get(f"{key}:{kind}")
        if since is None or not bound:
            return True
        try:
            return self.now - datetime.fromisoformat(since) >= bound
        except ValueError:
            return True

    def _report_notices(self, report: InvoiceReport) -> None:
        """The same rule for notices (a cancelled order to credit by hand, a document not
        attached): printed the first time, then at most once per ``remind_failed_hours``."""
        remind = timedelta(hours=self.settings.remind_failed_hours)
        shown: list[str] = []
        for notice in report.notices:
            last = self.ledger.checks.notice_shown_at(notice)
            # In the log either way: under Task Scheduler or launchd it is what a person reads.
            if last is not None and remind and self.now - last < remind:
                log.info("Note (told before, not printed again): %s", notice)
                report.quiet_notices.append(notice)
                continue
            log.warning("Note: %s", notice)
            shown.append(notice)
            self.ledger.checks.mark_notice_shown(notice, self.now)
        report.notices = shown

    def _due(self, work: WorkRecord, remind: timedelta) -> bool:
        """Never shown by a run, or longer ago than ``remind`` (0: every run reminds)."""
        if work.reported_at is None or not remind:
            return True
        return self.now - datetime.fromisoformat(work.reported_at) >= remind

    def issue_one(
        self,
        order: Order,
        notices: list[str],
        *,
        override: CustomerOverride | None = None,
        force_lookup: bool = False,
        approved: bool = False,
        decided: bool = False,
    ) -> DocumentOutcome:
        """Issue one recorded, paid order exactly once and attach its document (a worker's
        step: ``invoice`` runs several at a time, ``serve`` one per webhook hint, ``approve``
        one per draft it finalizes: ``approved``; ``decided``: ``Issuer.issue``'s)."""
        try:
            outcome = self.issuer.issue(
                order,
                override=override,
                force_lookup=force_lookup,
                approved=approved,
                decided=decided,
            )
        except IgestSyncError:
            raise  # a run-wide failure (credentials refused): in_parallel stops the run
        except Exception as exc:  # a bug must not lose the rest of the batch
            log.exception("Unexpected error on order %s", order.id)
            if (w := self.ledger.works.work(order.id)) is None or w.state != WorkState.FINAL:
                self.ledger.works.fail(
                    order.id, Kind.INVOICE, f"internal error: {exc!r}", transient=True
                )
            return DocumentOutcome(str(order.id), Action.FAILED, f"internal error: {exc!r}")
        if outcome.action in (Action.ISSUED, Action.ADOPTED):
            # Attach it now, in this worker (its own failures become notices; the invoice
            # itself is done either way).
            self.followup.link_order(order.id, notices)
        if outcome.action == Action.ADOPTED:
            notices += _adopted_total(order, outcome)
        notices += self.issuer.catch_up.take_notices()  # what its look-up met (another issuer)
        return outcome

    def _issue_all(
        self,
        orders: list[Order],
        report: InvoiceReport,
        *,
        override: CustomerOverride | None = None,
        force_lookup: bool = False,
        decided: frozenset[int] = frozenset(),
    ) -> None:
        workers = self.context.workers
        if self.issuer.art53 is not None:
            # The small-business exemption's ceiling is crossed by the first order, in payment
            # order, that takes the year past 18,750 EUR: that one charges VAT. Admitted by
            # parallel workers, a later order was issued exempt and an earlier one refused.
            orders = sorted(orders, key=_payment_order)
            workers = 1

        def one(order: Order) -> DocumentOutcome:
            if self.stop is not None and self.stop.is_set():
                raise RunStopped  # stopping: an order not started stays recorded work
            return self.issue_one(
                order,
                report.notices,
                override=override,
                force_lookup=force_lookup,
                decided=order.id in decided,
            )

        # A run that crossed midnight dates an order paid after it on its payment day, and iGEST
        # refuses to finalize a document dated before the series' last final one: finalized
        # first, such an order's invoice had iGEST refuse for good those of the run's day still
        # on their way. So those orders come after every other, one at a time in payment order.
        later = sorted(
            (o for o in orders if self.issuer.paid_after_the_runs_day(o)), key=_payment_order
        )
        first = [o for o in orders if not self.issuer.paid_after_the_runs_day(o)]

        def counted(done_before: int) -> Progress | None:
            progress = self.progress
            if progress is None:
                return None
            return lambda done, _total: progress(done_before + done, len(orders))

        def in_turn() -> Generator[DocumentOutcome, None, None]:
            stop_on = (IgestSyncError, RunStopped)
            yield from in_parallel(
                first, one, workers=workers, progress=counted(0), stop_on=stop_on
            )
            yield from in_parallel(
                later, one, workers=1, progress=counted(len(first)), stop_on=stop_on
            )

        outcomes = in_turn()
        try:
            for outcome in outcomes:
                report.outcomes.append(outcome)
        except KeyboardInterrupt:
            outcomes.close()  # the documents in flight finish; no other order starts
            issued = adopted = 0
            for order in orders:
                work = self.ledger.works.work(order.id)
                if work is None or work.state != WorkState.FINAL:
                    continue
                doc = self.ledger.docs.document(work.document_id) if work.document_id else None
                if doc is not None and doc.adopted:
                    adopted += 1
                else:
                    issued += 1
            interrupted = RunInterrupted(issued, len(orders) - issued - adopted, adopted)
            log.warning("%s", interrupted.message)
            raise interrupted from None

    def _dry_run(
        self,
        orders: list[Order],
        report: InvoiceReport,
        known: dict[str, list[IssuedDocument]] | None,
        art53: Art53Guard | None,
        *,
        looked: date | None = None,
    ) -> None:
        """What the run would do, in "would ...": reads both services, writes nothing.
        ``looked``: the first day ``known`` lists (a first run's)."""
        store = self.context.store
        listing: ForeignInvoices | None = None
        # As the issuer holds them: an order placed before the days the guard reviewed.
        reviewed_from = self.settings.start_date
        if known is not None and looked is not None and looked != date.min:
            reviewed_from = looked if reviewed_from is None else max(reviewed_from, looked)

        def foreign_invoices() -> ForeignInvoices:
            """What iGEST issued since the orders were placed, read once (the real run's
            catch-up listing, read-only): another integration's invoice of an order."""
            nonlocal listing
            if listing is not None:
                return listing
            days = [day for o in orders if (day := looked_from(o)) is not None]
            first = min(days) if days else None
            if known is None:
                listing = ForeignInvoices.of(self.igest.find_documents(date_from=first))
                return listing
            docs = [d for ds in known.values() for d in ds]
            if first is not None and looked is not None and looked != date.min and first < looked:
                # The real run's look-ups reach back to the day each order was placed (an FT
                # may be made then): so does its preview, for the days before its listing.
                docs += self.igest.find_documents(
                    date_from=first, date_to=looked - timedelta(days=1)
                )
            listing = ForeignInvoices.of(docs)
            return listing

        series_seen: dict[str, str | None] = {}
        for order in orders:
            work = self.ledger.works.work(order.id)
            if work and work.state == WorkState.FINAL:  # as the real run says it (no request)
                report.outcomes.append(self.issuer.already(order.id, Kind.INVOICE, work))
                continue
            if work and work.state == WorkState.REVIEW:
                continue  # a draft waiting for approval: ``_dry_run_waiting`` says what happens
            ref = external_reference(store, order.id)
            if known is not None:
                held = known.get(ref, [])
            elif work and (work.phase or work.state in IN_FLIGHT):
                # Interrupted or unverified work: the real run looks it up first; so does this.
                held = list(self.igest.find_documents(external_reference=ref))
            else:
                held = []
            finals = [
                d for d in held if d.status == DocumentStatus.FINAL and d.external_reference == ref
            ]
            if finals:
                numbers = ", ".join(d.number or d.id for d in finals)
                report.outcomes.append(
                    DocumentOutcome(
                        str(order.id),
                        Action.WOULD_ADOPT,
                        f"would adopt {numbers}, already in iGEST; nothing would be issued",
                        kind=Kind.INVOICE,
                        document=DocumentFacts(finals[0].number, finals[0].gross_total),
                    )
                )
                continue
            now = status_words(order.status) if order.status != OrderStatus.PAID else None
            undecided = undecided_invoice(self.ledger, order.id, cancelled=now)
            if undecided is not None:
                report.outcomes.append(DocumentOutcome(str(order.id), Action.WOULD_FAIL, undecided))
                continue
            # As the issuer checks it: each order from its own creation day.
            elsewhere = invoiced_elsewhere(
                self.ledger, order, foreign_invoices(), since=looked_from(order), cancelled=now
            )
            if elsewhere is None:
                elsewhere = fits_unnamed(
                    self.ledger,
                    order,
                    foreign_invoices(),
                    reviewed_from=reviewed_from,
                    nif_field=self.settings.nif_field,
                    cancelled=now,
                )
            if elsewhere is not None:
                why = f"{elsewhere.reason} ({elsewhere.hint})"
                report.outcomes.append(DocumentOutcome(str(order.id), Action.WOULD_FAIL, why))
                continue
            if now is not None:
                # Paid, then cancelled, with no invoice found: the real run issues nothing.
                report.outcomes.append(
                    DocumentOutcome(
                        str(order.id),
                        Action.WOULD_SKIP,
                        f"paid, then {now} before it was invoiced: no document would be issued",
                    )
                )
                continue
            built = self._dry_build(order, art53, held=self.settings.review)
            if isinstance(built, DocumentOutcome):
                report.outcomes.append(built)
                continue
            draft, vat_number = built
            refused = self._series_refused(draft.type, series_seen)
            if refused is not None:
                report.outcomes.append(DocumentOutcome(str(order.id), Action.WOULD_FAIL, refused))
                continue
            report.drafts.append(draft)
            after = f" once VIES confirms {vat_number}" if vat_number else ""
            # Review mode: the run would stop at the checked draft, for `approve`.
            verb = "would draft" if self.settings.review else "would issue"
            hold = " for approval (review mode)" if self.settings.review else ""
            report.outcomes.append(
                DocumentOutcome(
                    str(order.id),
                    # The real run's "drafted", in review mode; its "issued" otherwise.
                    Action.WOULD_DRAFT if self.settings.review else Action.WOULD_ISSUE,
                    f"{verb} {draft.type} {draft.gross_total} EUR{after}{hold}",
                )
            )

    def _series_refused(self, doc_type: str, seen: dict[str, str | None]) -> str | None:
        """Why iGEST would refuse a ``doc_type`` document in [invoice] series (none such, or
        not active), read once per type: a dry run must not promise what the real run then
        fails. None when the series is there, or iGEST's series could not be read."""
        if doc_type not in seen:
            code = self.settings.series
            try:
                series = Series.named(self.igest.series(doc_type), code, doc_type)
            except AuthError:
                raise
            except ApiError as exc:
                log.warning("Could not read iGEST's %s series for the dry run: %s", doc_type, exc)
                seen[doc_type] = None
                return None
            seen[doc_type] = (
                None
                if series is not None and series.active
                else f"would be refused: iGEST has no active {doc_type} series {code!r} "
                f"({setting_to_correct('series')}, or create the series in iGEST)"
            )
        return seen[doc_type]

    def _dry_build(
        self, order: Order, art53: Art53Guard | None, *, held: bool = False
    ) -> tuple[DocumentDraft, str | None] | DocumentOutcome:
        """The document the real run would build for ``order`` (and the VAT number it would
        have VIES confirm first), or the outcome that says why it would not; ``held``: it
        would wait for approval as a draft."""
        try:
            draft = build_document(
                order,
                self.settings,
                reference=external_reference(self.context.store, order.id),
                # The real run's date: an order paid after midnight is dated its payment day,
                # 1 January's under the new year's art. 53 rule.
                issue_date=self.issuer.issue_date(order),
                override=remembered_override(self.ledger, order.id),
            )
            # The pure half of the VIES step: an exempt intra-EU order without a VAT
            # number of its state would fail; VIES itself is not asked by a dry run.
            vat_number = vat_number_to_check(order, draft, self.settings)
            if art53 is not None:
                art53.admit(order.id, draft, paid=order.completed_at or order.created_at, held=held)
        except VatCheckPending as exc:  # the year's turnover could not be read
            return DocumentOutcome(str(order.id), Action.WOULD_FAIL, f"would wait: {exc.reason}")
        except OrderRejected as exc:
            text = exc.reason if not exc.hint else f"{exc.reason} ({exc.hint})"
            # The action already says "would fail": the detail is the reason only.
            return DocumentOutcome(str(order.id), Action.WOULD_FAIL, text)
        if vat_number:
            # Shown under the draft: without it the table reads as a sure invoice.
            unasked = (
                f"Order {order.id}: exempt as an intra-EU supply only once VIES confirms "
                f"{vat_number}; a dry run does not ask VIES (the real run does, and an "
                "order whose number VIES refuses fails, one VIES cannot check yet waits)"
            )
            draft = replace(draft, warnings=(*draft.warnings, unasked))
        return draft, vat_number

    def _dry_run_waiting(self, report: InvoiceReport, art53: Art53Guard | None) -> None:
        """What the real run's sweep (``review.sweep_waiting``) would do with the drafts that
        wait for approval: finalize each one due without a person (review turned off, or the
        automatic hour of its payment day), delete the draft of an order cancelled meanwhile.
        Reads both services as the sweep does (the order, then its draft), writes nothing."""
        waiting = review.waiting_work(self.ledger)
        if not waiting:
            return
        due = set(review.due_for_finalizing(self.settings, self.ledger, self.now))
        hour = self.settings.auto_finalize_hour
        # Review on without an automatic hour: no draft is due (``due`` is empty), and only
        # the cancellations show.
        why = ""
        if not self.settings.review:
            why = "review is off"
        elif hour is not None:
            why = f"the automatic hour ({hour:02d}:00 of its payment day) has come"
        for work in review.in_payment_order(self.ledger, waiting):
            try:
                order = self.jumpseller.order(work.order_id)
            except AuthError:
                raise
            except ApiError as exc:  # the real run leaves it waiting, and so says the log
                log.warning("Could not read order %s, whose draft waits: %s", work.order_id, exc)
                continue
            if order.status != OrderStatus.PAID:
                report.outcomes.append(
                    DocumentOutcome(
                        str(order.id),
                        Action.WOULD_SKIP,
                        f"paid, then {status_words(order.status)} while its draft waited for "
                        "approval: the draft would be deleted; no document would be issued",
                        kind=Kind.INVOICE,
                    )
                )
            elif order.id in due:
                report.outcomes.append(self._would_finalize(order, work, art53, why, report))

    def _would_finalize(
        self,
        order: Order,
        work: WorkRecord,
        art53: Art53Guard | None,
        why: str,
        report: InvoiceReport,
    ) -> DocumentOutcome:
        """One waiting draft the real run would finalize, as its issuer would
        (``approved=True``): looked up first (finalized in iGEST by hand: adopted), then
        finalized only if it still is the document the order makes (its total, its customer's
        NIF), else made again to wait for another look."""
        key, ref = str(order.id), work.external_reference
        held = [
            d
            for d in self.igest.find_documents(external_reference=ref)
            if d.external_reference == ref and d.status != DocumentStatus.CANCELLED
        ]
        finals = [d for d in held if d.status == DocumentStatus.FINAL]
        if finals:
            return DocumentOutcome(
                key,
                Action.WOULD_ADOPT,
                f"would adopt {finals[0].number or finals[0].id}, finalized in iGEST already; "
                "nothing would be issued",
                kind=Kind.INVOICE,
                document=DocumentFacts(finals[0].number, finals[0].gross_total),
            )
        built = self._dry_build(order, art53)
        if isinstance(built, DocumentOutcome):
            return built
        draft, vat_number = built
        drafts = self.issuer.whole([d for d in held if d.status == DocumentStatus.DRAFT], draft)
        customer = f"{draft.customer.name}, {review.nif_words(draft.customer.nif)}"
        facts = DocumentFacts(None, draft.gross_total)
        # As the issuer: a draft that differs from the order now, or one deleted by hand whose
        # order's total changed since (``Issuer.listed_total``), is made again for a look.
        changed = (drafts and not any(same_document(d, draft) for d in drafts)) or (
            not drafts and self.issuer.listed_total(order) is not None
        )
        if changed:
            return DocumentOutcome(
                key,
                Action.WOULD_DRAFT,
                f"would draft it again for approval, not finalize it: {draft.type} "
                f"{draft.gross_total} EUR, {customer}; the order or its customer changed since "
                f"its draft was made (igest-sync approve {order.id} after the run)",
                kind=Kind.INVOICE,
                document=facts,
            )
        report.finalizing.append(draft)
        how = "finalize its draft waiting for approval"
        if not drafts:
            how = "make its draft again (deleted in iGEST) and finalize it"
        elif not any(d.date in (None, draft.date) for d in drafts):
            how = f"make its draft again, dated {draft.date}, and finalize it"
        after = f" once VIES confirms {vat_number}" if vat_number else ""
        return DocumentOutcome(
            key,
            Action.WOULD_FINALIZE,
            f"would {how}: {draft.type} {draft.gross_total} EUR, {customer}{after}; {why}",
            kind=Kind.INVOICE,
            document=facts,
            warnings=tuple(draft.warnings),
        )

    # -- resend -----------------------------------------------------------------------------

    def resend(
        self,
        order_ids: list[int],
        *,
        all_failed: bool = False,
        override: CustomerOverride | None = None,
        by_a_person: bool = False,
    ) -> InvoiceReport:
        """Retry ``order_ids`` (and every failed order with ``all_failed``) now, each looked up
        in iGEST first. ``by_a_person``: ``order_ids`` were named by a person who read their
        failures (``resend ORDER``): their decision (``Issuer.issue``'s ``decided``)."""
        report = InvoiceReport()
        ids = list(order_ids)
        if all_failed:
            for failed in self.ledger.works.work_in_states(WorkState.FAILED, kind=Kind.INVOICE):
                if failed.order_id in ids:
                    continue
                held = undecided_invoice(self.ledger, failed.order_id)
                if held is not None:
                    # A blanket retry is no decision about an order a document not ours may
                    # have invoiced already: only `resend ORDER` issues it.
                    report.outcomes.append(
                        DocumentOutcome(str(failed.order_id), Action.FAILED, held)
                    )
                    continue
                ids.append(failed.order_id)
        orders: list[Order] = []
        settled: list[Order] = []
        for order_id in ids:
            work = self.ledger.works.work(order_id)
            if work and work.state == WorkState.FINAL:
                report.outcomes.append(self.issuer.already(order_id, Kind.INVOICE, work))
                report.notices += self._credit_still_due(order_id)
                continue
            try:
                order = self.jumpseller.order(order_id)
            except ApiError as exc:
                if work:
                    self.ledger.works.fail(
                        order_id,
                        Kind.INVOICE,
                        f"could not read the order from Jumpseller: {exc}",
                        transient=exc.transient,
                    )
                detail = f"could not read the order: {exc}"
                if work is None and isinstance(exc, NotFound):  # a mistyped number, most often
                    detail = (
                        f"Jumpseller has no order {order_id} (404): check the number; nothing "
                        "was recorded for it"
                    )
                elif work is None:
                    detail += "; nothing was recorded for it: run the same resend again"
                report.outcomes.append(
                    DocumentOutcome(str(order_id), Action.FAILED, detail, recorded=work is not None)
                )
                continue
            if order.status != OrderStatus.PAID:
                if work is not None:
                    # Its invoice failed or was rejected, and the order is paid no more:
                    # settled as the runs settle it (looked up, a draft deleted, the work
                    # dropped), not left failed beside "nothing to invoice".
                    record_order(self.ledger, order)
                    settled.append(order)
                    continue
                report.outcomes.append(
                    DocumentOutcome(
                        str(order_id),
                        Action.SKIPPED,
                        f"order is {status_words(order.status)}, not paid: nothing to invoice",
                    )
                )
                continue
            if override is not None:
                try:
                    check_override(order, override)
                except OverrideRefused as refused:
                    # A typo in --nif: said before anything is written, the order left as it
                    # was (its draft waiting, its failure, ...) for the same resend, corrected.
                    report.outcomes.append(
                        DocumentOutcome(
                            str(order_id),
                            Action.FAILED,
                            f"{refused.reason}; nothing was changed: run the same resend with "
                            "a valid number",
                            recorded=False,
                        )
                    )
                    continue
            # Work first (looked up before anything is sent), then the status: a kill between
            # the two must not leave a paid order that is neither waiting nor work.
            self.ledger.works.ensure_work(
                order_id,
                Kind.INVOICE,
                external_reference(self.context.store, order_id),
                unverified=True,
            )
            record_order(self.ledger, order)
            orders.append(order)
        if override is not None:  # kept until issued (a wait for VIES, a lost answer)
            for order in orders:
                remember_override(self.ledger, order.id, override)
        # By hand, always look the reference up first: the ledger may be new or stale.
        decided = frozenset(order_ids) if by_a_person else frozenset()
        marks = {order.id: self._marks(order.id) for order in orders}
        self._issue_all(
            orders + settled, report, override=override, force_lookup=True, decided=decided
        )
        lost = [o for o in orders if self._answer_lost(report, o.id, marks[o.id])]
        self._look_up_lost_answers(lost, report, override=override, decided=decided)
        report.notices += self.turnover_notices(report.outcomes)
        self.followup.finish(report.notices)
        return report

    def _credit_still_due(self, order_id: int) -> list[str]:
        """An order ``resend`` found invoiced (adopted, or ours) that the ledger knows was
        cancelled since: its credit note is still due, which ``resend`` does not issue."""
        record = self.ledger.order(order_id)
        created = created_on(self.ledger, order_id)
        if (
            record is None
            or record.status != OrderStatus.CANCELED
            or created is None
            or self.ledger.credited_in_full(order_id)
        ):
            return []
        now = f"`igest-sync credit {order_id} --all --reason TEXT`"
        by_itself = credits_by_itself(self.settings, self.ledger, order_id, created, self.today)
        who = f"the next `igest-sync invoice` credits it, or now {now}" if by_itself else now
        return [f"Order {order_id} is cancelled and invoiced: its credit note is due; {who}."]

    def _look_up_lost_answers(
        self,
        again: list[Order],
        report: InvoiceReport,
        *,
        override: CustomerOverride | None,
        decided: frozenset[int],
    ) -> None:
        """A person's ``resend`` whose draft or finalize may have reached iGEST (its answer was
        lost: the work keeps its phase) looks the order up again at once, as ``credit`` does:
        they are told what iGEST holds now (the invoice, adopted) rather than "failed, the
        next run tries again". A second loss is left to the next run, as before."""
        if not again:
            return
        log.warning(
            "Looking up again in iGEST orders whose answer was lost: %s", [o.id for o in again]
        )
        retried = InvoiceReport()
        self._issue_all(again, retried, override=override, force_lookup=True, decided=decided)
        redone = {o.key: o for o in retried.outcomes}
        report.outcomes = [redone.get(o.key, o) for o in report.outcomes]
        report.notices.extend(retried.notices)

    def _marks(self, order_id: int) -> tuple[str | None, int] | None:
        """What the ledger marks as a draft or a finalize is sent (its phase, its attempts)."""
        work = self.ledger.works.work(order_id)
        return (work.phase, work.attempts) if work is not None else None

    def _answer_lost(
        self, report: InvoiceReport, order_id: int, before: tuple[str | None, int] | None
    ) -> bool:
        """The order's attempt failed on its way back after it sent a draft or a finalize (its
        marks moved, and something was sent: not ``unsent``), not on a look-up (iGEST down:
        the next run's) nor on a refusal."""
        failed = any(
            o.key == str(order_id) and o.action == Action.FAILED and o.transient
            and o.unanswered is not None
            for o in report.outcomes
        )  # fmt: skip
        work = self.ledger.works.work(order_id)
        return (
            failed
            and work is not None
            and work.state == WorkState.FAILED
            and not unsent(work)
            and (work.phase, work.attempts) != before
        )


def _log_others(report: InvoiceReport) -> None:
    """Each order whose outcome is neither an invoice issued nor a failure (both logged as they
    happen), named in the log with why: a long run's report shows them only as counts."""
    for outcome in report.outcomes:
        if outcome.action not in (Action.ISSUED, Action.FAILED):
            detail = f": {outcome.detail}" if outcome.detail else ""
            log.info("Order %s %s%s", outcome.key, outcome.action, detail)


def _payment_order(order: Order) -> tuple[float, int]:
    paid = order.completed_at or order.created_at
    return (paid.timestamp() if paid is not None else float("inf")), order.id
