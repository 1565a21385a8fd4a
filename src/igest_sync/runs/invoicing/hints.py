"""Working the webhook inbox: each hint's order is read again and handled as a run would.

A delivery only says which order to look at. The order is read from the API
(``GET /orders/{id}.json``) and its status now decides, whatever the event said, so a replayed,
late or out-of-order delivery does the right thing:

- paid: recorded as invoice work (exactly as ``invoice``'s discovery records it, without moving
  the checkpoint, which only the sweep's listing may pass) and issued through the run's one
  ``Issuer``, with its follow-ups; one whose invoice failed for a reason no retry mends, or
  whose draft a person rejected, waits for ``resend`` as in ``invoice`` (``due.py``);
- cancelled after its invoice: what is left of it is credited
  (``Credits.credit_cancelled_order``: the credit pass's rules and exactly-once path), of any
  age;
- waiting for payment: recorded, so that the sweep re-reads it until it is paid;
- anything else: recorded, nothing issued.

A hint is deleted only once the order's outcome is in the ledger. A failure that passes by
itself (Jumpseller could not be read, iGEST's answer to a draft or a finalize was lost, a 502,
VIES did not answer) keeps the hint and tries again within seconds: ``RETRY_FIRST`` (2 s), then
twice as long each time up to ``RETRY_LONGEST``, ``MAX_ATTEMPTS`` times in all (about 3
minutes), never waiting for the sweep. The retry goes through the issuer's exactly-once path,
which looks the reference up in iGEST before it writes (a draft iGEST kept is finalized, a
final document adopted). After the last attempt the hint is dropped with a log line and the
work stays a failure that the sweep retries by itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from igest_sync.errors import ApiError, AuthError, NotFound, passes_by_itself
from igest_sync.models import Action, DocumentOutcome, Kind, Order, OrderStatus, WorkState
from igest_sync.references import external_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.credits.cancellations import note_paid_again, paid_again_notices
from igest_sync.runs.invoicing.discover import record_order
from igest_sync.runs.invoicing.due import not_invoiced, waits_for_a_person
from igest_sync.runs.invoicing.invoice import RunStopped
from igest_sync.runs.invoicing.report import InvoiceReport, unanswered
from igest_sync.runs.parallel import in_parallel
from igest_sync.runs.report import counted
from igest_sync.runs.wiring import DocumentSteps
from igest_sync.state.inbox import ORDER, Hint
from igest_sync.state.ledger import WorkRecord
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.serve")

MAX_ATTEMPTS = 8
RETRY_FIRST = timedelta(seconds=2)  # doubled at each attempt ...
RETRY_LONGEST = timedelta(seconds=60)  # ... up to this: 2, 4, 8, 16, 32, 60, 60 s


class WebhookRun(Protocol):
    """What the webhook work uses of an invoice run (``InvoiceRun``), named: its context, its
    wired steps, and its public per-order steps; nothing of its insides."""

    @property
    def context(self) -> RunContext: ...
    @property
    def steps(self) -> DocumentSteps: ...
    @property
    def stop(self) -> threading.Event | None: ...
    def issue_one(self, order: Order, notices: list[str]) -> DocumentOutcome: ...
    def guard_switch(self) -> None: ...
    def failed_before(self) -> dict[tuple[int, str], WorkRecord]: ...
    def for_a_person(
        self, report: InvoiceReport, failed_before: dict[tuple[int, str], WorkRecord]
    ) -> None: ...


@dataclass
class HintsOutcome:
    """What one batch did: the invoice report, and the hints it finished or kept."""

    report: InvoiceReport = field(default_factory=InvoiceReport)
    finished: int = 0
    postponed: int = 0
    stopped: bool = False  # serve stopped mid-batch; the rest waits in the inbox
    # Jumpseller answered a read of an order (the order, a 404, a refusal): it is up.
    answered: bool = False
    # No read was answered, for a failure that passes by itself (a 5xx, a timeout): the batch
    # met an outage, which serve counts as it counts a sweep stopped by one.
    unanswered: ApiError | None = None


def work_hints(run: WebhookRun, hints: list[Hint], *, now: datetime) -> HintsOutcome:
    """Handle the orders of ``hints`` (order hints only) under the caller's run lock.

    Each hint is one worker's step from the read to the attached document, several at a time
    (``[invoice] concurrency``), so that Jumpseller's reads and link-backs overlap iGEST's
    writes and a burst drains at the rate-limit bound, through the run's clients and gates.
    """
    context = run.context
    outcome = HintsOutcome()
    report = outcome.report
    failed_before = run.failed_before()
    silent: list[ApiError] = []  # reads a service did not answer (an outage, if all)

    def one(hint: Hint) -> tuple[Hint, list[DocumentOutcome], bool]:
        """The hint's order handled: (hint, its outcomes, settled: False when postponed)."""
        if run.stop is not None and run.stop.is_set():
            raise RunStopped
        try:
            order = context.jumpseller.order(hint.subject_id)
        except AuthError:
            raise  # every order would fail the same way: the caller says so to a person
        except NotFound:
            outcome.answered = True
            # The delivery was signed by the store: the order exists, but its webhook may come
            # before Jumpseller's API shows it. Tried again in seconds, as any read that fails;
            # after the last attempt the sweep has it (or it was deleted meanwhile).
            why = "Jumpseller does not show the order (yet)"
            return hint, [], _retry_soon(context, hint, why, now)
        except ApiError as exc:
            if passes_by_itself(exc):
                silent.append(exc)
            else:
                outcome.answered = True
            return hint, [], _postpone(context, hint, exc, now)
        outcome.answered = True
        items: list[DocumentOutcome] = []
        if _handle(run, order, items, report.notices):
            # A kill from here on leaves recorded work and this hint: nothing is lost.
            items.append(run.issue_one(order, report.notices))
            if order.status == OrderStatus.CANCELED:
                work = context.ledger.work(order.id)
                if work is not None and work.state == WorkState.FINAL:
                    # Its invoice was found (adopted): what is left of it is credited now.
                    run.steps.credits.credit_cancelled_order(order.id, items, report.notices)
        passing = next((o for o in items if _passes_by_itself(o)), None)
        if passing is not None:
            return hint, items, _retry_soon(context, hint, passing.detail, now)
        return hint, items, True

    steps = [h for h in hints if h.subject == ORDER]
    if steps and context.settings.start_date is not None:
        # No run has listed iGEST yet: documents another integration issued stop it first.
        run.guard_switch()
    workers = context.workers
    if run.steps.issuer.art53 is not None:
        # As `invoice` does (InvoiceRun._issue_all): under the small-business exemption the
        # order that crosses the ceiling must be the first in payment order, so one at a time,
        # oldest order first (a hint carries no payment time: the ids come in order).
        steps, workers = sorted(steps, key=lambda h: h.subject_id), 1
    try:
        for hint, items, settled in in_parallel(
            steps, one, workers=workers, stop_on=(RunStopped, AuthError)
        ):
            report.outcomes.extend(items)
            if settled:
                # The outcome is in the ledger: the deliveries are done.
                context.ledger.finish_hints(hint.row_ids)
                outcome.finished += 1
            else:
                outcome.postponed += 1
    except RunStopped:
        # Those handled are final in the ledger; the others keep their hints (and recorded
        # work): the next start finishes them, nothing is issued twice.
        outcome.stopped = True
    if silent and not outcome.answered:
        outcome.unanswered = silent[-1]
    elif (igest := unanswered(report.outcomes)) is not None:
        # Jumpseller answered the reads, iGEST none of the orders: still an outage.
        outcome.answered, outcome.unanswered = False, igest
    run.steps.followup.finish(report.notices)
    # Told once the batch is done, in this one thread (its workers only note them).
    report.notices += paid_again_notices(context.ledger)
    run.for_a_person(report, failed_before)
    log.info(
        "Webhook batch done: %s, %s",
        counted(outcome.finished, "order"),
        report.summary() or "nothing to do",
    )
    return outcome


def retry_delay(attempts: int) -> timedelta:
    """How long a hint that failed ``attempts`` times before this one waits."""
    return min(RETRY_FIRST * (2 ** min(attempts, 10)), RETRY_LONGEST)


def _passes_by_itself(outcome: DocumentOutcome) -> bool:
    """A failure igest-sync retries by itself (a lost answer, a 502, VIES silent)."""
    return bool(outcome.transient) and outcome.action in (Action.FAILED, Action.WAITING)


def _postpone(context: RunContext, hint: Hint, exc: ApiError, now: datetime) -> bool:
    """The order could not be read: try again soon; True (settled) once given up."""
    return _retry_soon(context, hint, f"could not read the order ({exc})", now)


def _retry_soon(context: RunContext, hint: Hint, why: str, now: datetime) -> bool:
    """Keep the hint for another attempt in seconds; True (settled: the hint is dropped, the
    sweep takes the order up) once ``MAX_ATTEMPTS`` have failed."""
    if hint.attempts + 1 >= MAX_ATTEMPTS:
        log.error(
            "Webhook for order %s: %d attempts failed (last: %s); left to the sweep",
            hint.subject_id,
            MAX_ATTEMPTS,
            why,
        )
        return True
    delay = retry_delay(hint.attempts)
    log.warning(
        "Webhook for order %s: %s; trying again in %g s (attempt %d of %d)",
        hint.subject_id,
        why,
        delay.total_seconds(),
        hint.attempts + 2,
        MAX_ATTEMPTS,
    )
    context.ledger.postpone_hints(hint.row_ids, now + delay)
    return False


def _handle(
    run: WebhookRun, order: Order, items: list[DocumentOutcome], notices: list[str]
) -> bool:
    """Record ``order`` and decide its work; True when it is to be issued now."""
    ledger, settings = run.context.ledger, run.context.settings
    work = ledger.work(order.id)
    paid_on = lisbon_date(order.completed_at) if order.completed_at else None
    floor = settings.start_date
    if order.status == OrderStatus.PAID:
        if work is not None and work.state == WorkState.FINAL:
            prior = ledger.order(order.id)
            moved_back = prior is not None and prior.status != OrderStatus.PAID
            if moved_back and ledger.credited_in_full(order.id):  # a refund undone
                note_paid_again(ledger, order.id)  # before the status: a kill loses nothing
            record_order(ledger, order)
            return False  # invoiced already (a repeated or late delivery): nothing to do
        if waits_for_a_person(work):
            # Failed for a reason no retry mends, or its draft rejected by a person: it waits
            # for `resend`, as `invoice` leaves it (due.py); a later delivery is no decision.
            record_order(ledger, order)
            return False
        skip = not_invoiced(order, settings, floor)  # the till, or before the start date
        if skip is not None:
            record_order(ledger, order, note=skip)
            items.append(DocumentOutcome(str(order.id), Action.SKIPPED, skip))
            return False
        if floor is None and ledger.checkpoint is None:
            # The sweep refuses to invoice the store's history and says so to a person.
            log.warning("Order %s paid, but [invoice] start_date is not set: not issued", order.id)
            record_order(ledger, order)
            return False
        # Recorded as work before any call, and before its status: a kill from here on leaves
        # pending work that the next start (its hint) or the sweep (its pending work)
        # finishes. A ledger that has not yet recorded one complete listing (a new or lost
        # state file, a rebuild a kill cut short) may not know what iGEST holds: look the
        # reference up first.
        ledger.ensure_work(
            order.id,
            Kind.INVOICE,
            external_reference(run.context.store, order.id),
            unverified=ledger.rebuilding,
        )
        record_order(ledger, order)
        return True
    if (
        order.status == OrderStatus.CANCELED
        and work is None
        and paid_on is not None
        and (floor is None or paid_on >= floor)
    ):
        # Paid, then cancelled, and the ledger holds no work for it: a state file put back
        # from an older copy may not know the invoice it had (the discovery's rule,
        # runs/discover.py). Work first, then the status (a kill between them leaves it
        # work); the issuer looks it up and adopts it, then it is credited.
        ledger.ensure_work(
            order.id, Kind.INVOICE, external_reference(run.context.store, order.id), unverified=True
        )
        record_order(ledger, order)
        return True
    record_order(ledger, order)
    if order.status == OrderStatus.CANCELED:
        if work is not None and work.state == WorkState.FINAL:
            # What is left of it, by the credit pass's rules (credits/cancellations.py).
            run.steps.credits.credit_cancelled_order(order.id, items, notices)
        elif work is not None:
            # Paid, then cancelled while its invoice waited: the issuer looks up what an
            # earlier attempt left in iGEST (adopting a final one) and issues nothing new.
            return True
    return False
