"""``invoice`` and ``resend``: every paid order gets exactly one final iGEST document.

Plan → act → record, one job per module: ``discover`` finds the orders (new, newly paid,
unfinished) and records them; the run's one ``Issuer`` issues each through the exactly-once
path, several orders at a time (``parallel``); ``credit`` credits orders cancelled after their
invoice; ``followup`` attaches what was issued to the Jumpseller orders and emails it.

A ledger that starts empty (first run, or the state file was lost) lists iGEST's documents for
the period once, so nothing already issued is issued again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from igest_sync.config import Config
from igest_sync.errors import ApiError, IgestSyncError, OrderRejected
from igest_sync.fiscal.customer import CustomerOverride
from igest_sync.fiscal.intra_eu import vat_number_to_check
from igest_sync.fiscal.mapping import build_document, external_reference
from igest_sync.models import (
    IN_FLIGHT,
    Action,
    DocumentFacts,
    DocumentStatus,
    IssuedDocument,
    ItemOutcome,
    Kind,
    Order,
    WorkState,
)
from igest_sync.runs.catch_up import CatchUp
from igest_sync.runs.credit import Credits
from igest_sync.runs.discover import PAID, Discovery, igest_documents_since, record_order
from igest_sync.runs.followup import FollowUp
from igest_sync.runs.invoice_report import InvoiceReport
from igest_sync.runs.issuer import CrashHook, Issuer
from igest_sync.runs.parallel import in_parallel
from igest_sync.runs.services import IgestApi, JumpsellerApi
from igest_sync.runs.status import remember_store_name
from igest_sync.state.ledger import Ledger, WorkRecord
from igest_sync.timeutil import lisbon_date

__all__ = ["InvoiceReport", "InvoiceRun"]

log = logging.getLogger("igest_sync.invoice")

Progress = Callable[[int, int], None]


class RunStopped(Exception):
    """``serve`` is stopping: orders not started are left as recorded work for the next run."""


class InvoiceRun:
    """One ``invoice`` (or ``resend``) run over a ledger and the two services.

    ``crash_hook`` is handed to the run's ``Issuer`` (tests stand a kill with it). ``stop``,
    once set, lets the documents in flight finish and starts no other order (RunStopped).
    """

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        jumpseller: JumpsellerApi,
        igest: IgestApi,
        *,
        now: datetime | None = None,
        progress: Progress | None = None,
        crash_hook: CrashHook | None = None,
        stop: threading.Event | None = None,
        catch_up: CatchUp | None = None,
    ) -> None:
        self.stop = stop
        self.config = config
        self.ledger = ledger
        self.jumpseller = jumpseller
        self.igest = igest
        self.now = now or datetime.now(UTC)
        self.today = lisbon_date(self.now)
        self.progress = progress
        self.issuer = Issuer(
            config, ledger, igest, today=self.today, crash_hook=crash_hook, catch_up=catch_up
        )
        self.followup = FollowUp(config, ledger, jumpseller, igest, now=self.now)
        self.credits = Credits(config, ledger, jumpseller, igest, self.issuer, self.followup)

    # -- invoice ----------------------------------------------------------------------------

    def run(self, *, since: date | None = None, dry_run: bool = False) -> InvoiceReport:
        report = InvoiceReport(dry_run=dry_run)
        failed_before = {
            (w.order_id, w.kind): w for w in self.ledger.work_in_states(WorkState.FAILED)
        }
        discovery = Discovery(
            self.config, self.ledger, self.jumpseller, now=self.now, record=not dry_run
        )
        plan = discovery.plan(since)
        report.checkpoint = self.ledger.checkpoint
        if dry_run:
            # The same read-only listing a real first run makes, so the preview says which
            # orders it would adopt from iGEST instead of issuing.
            known = (
                igest_documents_since(self.igest, plan.floor)
                if plan.fresh and plan.orders
                else None
            )
            report.outcomes.extend(replace(o, action=Action.WOULD_SKIP) for o in plan.skipped)
            self._dry_run(plan.orders, report, known)
            return report
        report.outcomes.extend(plan.skipped)
        if plan.fresh and plan.orders:
            self.issuer.use_listing(igest_documents_since(self.igest, plan.floor))
        self._issue_all(plan.orders, report)
        self.credits.credit_cancelled(report)
        remember_store_name(self.ledger, self.jumpseller, self.now)
        self.followup.finish(report.notices)
        failed_here = report.failed
        self._report_failures(report, failed_before)
        self._report_notices(report)
        self.ledger.set_meta("last_run_at", self.now.isoformat(timespec="seconds"))
        log.info("Invoice run done: %s (checkpoint: order %s)", report.summary(), report.checkpoint)
        if not failed_here:  # whether shown or quiet, an order failed in this run
            self.ledger.set_meta("last_success_at", self.now.isoformat(timespec="seconds"))
        return report

    def failed_before(self) -> dict[tuple[int, str], WorkRecord]:
        """The failures recorded before this run, for ``for_a_person``."""
        return {(w.order_id, w.kind): w for w in self.ledger.work_in_states(WorkState.FAILED)}

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
        """
        remind = timedelta(hours=self.config.invoice.remind_failed_hours)
        shown: list[ItemOutcome] = []
        for outcome in report.outcomes:
            if outcome.action != Action.FAILED:
                shown.append(outcome)
                continue
            kind = outcome.kind or Kind.INVOICE
            before = failed_before.get((int(outcome.key), kind))
            if (
                before is not None
                and before.error == outcome.detail
                and not self._due(before, remind)
            ):
                report.quiet.append(outcome)
                continue
            shown.append(outcome)
            self.ledger.mark_reported(int(outcome.key), kind, self.now)
        report.outcomes = shown
        handled = {o.key for o in report.outcomes} | {o.key for o in report.quiet}
        for work in self.ledger.work_in_states(WorkState.FAILED):
            if str(work.order_id) in handled:
                continue
            earlier = ItemOutcome(
                str(work.order_id), Action.FAILED, work.error or "", kind=Kind(work.kind)
            )
            if self._due(work, remind):
                report.still_failed.append(earlier)
                self.ledger.mark_reported(work.order_id, work.kind, self.now)
            else:
                report.quiet.append(earlier)

    def _report_notices(self, report: InvoiceReport) -> None:
        """The same rule for notices (a cancelled order to credit by hand, a document not
        attached): printed the first time, then at most once per ``remind_failed_hours``."""
        remind = timedelta(hours=self.config.invoice.remind_failed_hours)
        shown: list[str] = []
        for notice in report.notices:
            last = self.ledger.notice_shown_at(notice)
            if last is not None and remind and self.now - last < remind:
                report.quiet_notices.append(notice)
                continue
            shown.append(notice)
            self.ledger.mark_notice_shown(notice, self.now)
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
    ) -> ItemOutcome:
        """Issue one recorded, paid order exactly once and attach its document (a worker's
        step: ``invoice`` runs several at a time, ``serve`` one per webhook hint)."""
        try:
            outcome = self.issuer.issue(order, override=override, force_lookup=force_lookup)
        except IgestSyncError:
            raise  # a run-wide failure (credentials refused): in_parallel stops the run
        except Exception as exc:  # a bug must not lose the rest of the batch
            log.exception("Unexpected error on order %s", order.id)
            if (w := self.ledger.work(order.id)) is None or w.state != WorkState.FINAL:
                self.ledger.fail(order.id, Kind.INVOICE, f"internal error: {exc!r}", transient=True)
            return ItemOutcome(str(order.id), Action.FAILED, f"internal error: {exc!r}")
        if outcome.action in (Action.ISSUED, Action.ADOPTED):
            # Attach it now, in this worker (its own failures become notices; the invoice
            # itself is done either way).
            self.followup.link_order(order.id, notices)
        return outcome

    def _issue_all(
        self,
        orders: list[Order],
        report: InvoiceReport,
        *,
        override: CustomerOverride | None = None,
        force_lookup: bool = False,
    ) -> None:
        def one(order: Order) -> ItemOutcome:
            if self.stop is not None and self.stop.is_set():
                raise RunStopped  # stopping: an order not started stays recorded work
            return self.issue_one(
                order, report.notices, override=override, force_lookup=force_lookup
            )

        report.outcomes.extend(
            in_parallel(
                orders,
                one,
                workers=self.config.invoice.concurrency,
                progress=self.progress,
                stop_on=(IgestSyncError, RunStopped),
            )
        )

    def _dry_run(
        self,
        orders: list[Order],
        report: InvoiceReport,
        known: dict[str, list[IssuedDocument]] | None,
    ) -> None:
        """What the run would do, in "would ...": reads both services, writes nothing."""
        store = self.config.jumpseller.store
        for order in orders:
            work = self.ledger.work(order.id)
            if work and work.state == WorkState.FINAL:
                continue
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
                    ItemOutcome(
                        str(order.id),
                        Action.WOULD_ADOPT,
                        f"would adopt {numbers}, already in iGEST; nothing would be issued",
                        kind=Kind.INVOICE,
                        document=DocumentFacts(finals[0].number, finals[0].gross_total),
                    )
                )
                continue
            if order.status != PAID:
                # Paid, then cancelled, with no invoice found: the real run issues nothing.
                now = order.status.replace("_", " ").replace("canceled", "cancelled")
                report.outcomes.append(
                    ItemOutcome(
                        str(order.id),
                        Action.WOULD_SKIP,
                        f"paid, then {now} before it was invoiced: no document would be issued",
                    )
                )
                continue
            try:
                draft = build_document(
                    order,
                    self.config.invoice,
                    store=self.config.jumpseller.store,
                    issue_date=self.today,
                )
                # The pure half of the VIES step: an exempt intra-EU order without a VAT
                # number of its state would fail; VIES itself is not asked by a dry run.
                vat_number = vat_number_to_check(order, draft)
            except OrderRejected as exc:
                text = exc.reason if not exc.hint else f"{exc.reason} ({exc.hint})"
                report.outcomes.append(
                    ItemOutcome(str(order.id), Action.WOULD_FAIL, f"would fail: {text}")
                )
                continue
            report.drafts.append(draft)
            after = f" once VIES confirms {vat_number}" if vat_number else ""
            report.outcomes.append(
                ItemOutcome(
                    str(order.id),
                    Action.WOULD_ISSUE,
                    f"would issue {draft.type} {draft.gross_total} EUR{after}",
                )
            )

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
                for w in self.ledger.work_in_states(WorkState.FAILED, kind=Kind.INVOICE)
                if w.order_id not in ids
            ]
        orders: list[Order] = []
        for order_id in ids:
            work = self.ledger.work(order_id)
            if work and work.state == WorkState.FINAL:
                report.outcomes.append(self.issuer.already(order_id, Kind.INVOICE, work))
                continue
            try:
                order = self.jumpseller.order(order_id)
            except ApiError as exc:
                if work:
                    self.ledger.fail(
                        order_id,
                        Kind.INVOICE,
                        f"could not read the order from Jumpseller: {exc}",
                        transient=exc.transient,
                    )
                report.outcomes.append(
                    ItemOutcome(str(order_id), Action.FAILED, f"could not read the order: {exc}")
                )
                continue
            if order.status != PAID:
                report.outcomes.append(
                    ItemOutcome(
                        str(order_id),
                        Action.SKIPPED,
                        f"order is {order.status.replace('_', ' ')}, not paid: nothing to invoice",
                    )
                )
                continue
            # Work first (looked up before anything is sent), then the status: a kill between
            # the two must not leave a paid order that is neither waiting nor work.
            self.ledger.ensure_work(
                order_id,
                Kind.INVOICE,
                external_reference(self.config.jumpseller.store, order_id),
                unverified=True,
            )
            record_order(self.ledger, order)
            orders.append(order)
        # By hand, always look the reference up first: the ledger may be new or stale.
        self._issue_all(orders, report, override=override, force_lookup=True)
        self.followup.finish(report.notices)
        return report
