"""Review mode: invoices that stop at a checked draft and wait for a person.

With ``[invoice] review = true`` the issuer (``runs/issuer.py``) creates each invoice as a draft,
checks its totals against what the customer paid, and records the work in state ``review``
instead of finalizing it. Here is what happens to such work afterwards:

- ``waiting_drafts`` (``runs/review_list.py``): what waits, from the ledger and (for
  ``approve``) from iGEST: the draft's totals, VAT by rate and exemption codes as iGEST holds
  them, and whether the draft is still there (deleted by hand: approving makes it again;
  finalized by hand: approving adopts it);
- ``held``: what a run reports of a draft it stops at (exempt lines with iGEST's texts);
- ``approve``: finalizes the chosen drafts through the issuer's exactly-once path, then attaches
  and emails them as ``invoice`` does;
- ``reject``: deletes the draft in iGEST and leaves the order failed "rejected by a person",
  until ``igest-sync resend ORDER`` issues it;
- ``sweep_waiting``: what ``invoice`` and ``serve``'s sweep finalize without a person: nothing,
  unless the merchant set ``auto_finalize_hour`` (from that hour of the order's payment day) or
  turned review off again (then what still waits is finalized by the next run); the draft of an
  order cancelled meanwhile is deleted;
- ``deadline_notices``: an invoice-receipt is due on the payment day, so a draft still waiting
  at ``review_deadline_hour`` (Lisbon) of that day becomes a notice, printed and alerted once,
  then reminded every ``remind_failed_hours`` (the rule of every notice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from igest_sync.errors import ApiError, AuthError, IgestSyncError, NotFound
from igest_sync.models import (
    IN_FLIGHT,
    REJECTED,
    Action,
    DocumentDraft,
    DocumentFacts,
    DocumentOutcome,
    DocumentStatus,
    IssuedDocument,
    Kind,
    Order,
    OrderStatus,
    Phase,
    WorkState,
)
from igest_sync.runs.invoicing.exemption_texts import ExemptionTexts
from igest_sync.runs.invoicing.report import finished_document
from igest_sync.runs.invoicing.review_list import (  # noqa: F401 (re-exported: review.waiting_drafts ...)
    DELETED,
    FINALIZED,
    UNKNOWN,
    WAITING,
    WaitingDraft,
    nif_words,
    waiting_drafts,
    waiting_work,
)
from igest_sync.runs.report import some_of
from igest_sync.runs.services import IgestApi
from igest_sync.state.database import moment
from igest_sync.state.ledger import Ledger, OrderRecord, WorkRecord
from igest_sync.timeutil import lisbon_date, lisbon_moment

if TYPE_CHECKING:
    from igest_sync.config import InvoiceConfig
    from igest_sync.runs.services import JumpsellerApi


class _FollowUp(Protocol):
    def finish(self, notices: list[str]) -> None: ...


class ApprovingRun(Protocol):
    """What approving and the sweep use of an invoice run (``InvoiceRun``): named here, not
    imported, because the run's issuer imports this module."""

    @property
    def settings(self) -> InvoiceConfig: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def jumpseller(self) -> JumpsellerApi: ...
    @property
    def followup(self) -> _FollowUp: ...
    @property
    def now(self) -> datetime: ...

    def issue_one(
        self, order: Order, notices: list[str], *, approved: bool = False
    ) -> DocumentOutcome: ...

    def turnover_notices(self, outcomes: list[DocumentOutcome]) -> list[str]: ...


log = logging.getLogger("igest_sync.invoice")

# What the issuer adds to a passing failure (``Issuer.failed``).
RETRIES = "; the next run tries again by itself"

# -- what a run reports of a draft it holds ----------------------------------------------------


def held(
    order_id: int,
    document: IssuedDocument,
    draft: DocumentDraft,
    texts: ExemptionTexts,
    *,
    changed: bool,
    customer_given: bool = False,
) -> DocumentOutcome:
    """The outcome of an invoice stopped at its checked draft; an exempt line's code is shown
    with iGEST's own description of it. A draft made again (the order or its customer changed,
    or a person gave the customer: ``customer_given``) names the NIF it carries (the terminal's
    and --json's: outcomes are never alerted)."""
    nif = f", {nif_words(draft.customer.nif)}," if changed or customer_given else ""
    if changed:
        detail = (
            f"the order or its customer changed since its draft was made: a new draft of "
            f"{document.gross_total} EUR{nif} waits for approval (igest-sync approve {order_id})"
        )
    else:
        detail = (
            f"draft of {document.gross_total} EUR{nif} checked; it waits for approval "
            f"(igest-sync approve {order_id})"
        )
    codes = sorted({line.exemption_code for line in draft.lines if line.exemption_code})
    if codes:
        try:
            labels = [texts.label(code) for code in codes]
        except IgestSyncError:  # refused credentials: the next call stops the run, not this
            labels = codes
        detail += f"; exempt lines: {'; '.join(labels)}"
    return DocumentOutcome(
        str(order_id),
        Action.DRAFTED,
        detail,
        kind=Kind.INVOICE,
        document=DocumentFacts(None, document.gross_total),
        warnings=tuple(draft.warnings),
    )


def still_waiting(ledger: Ledger, order_id: int) -> DocumentOutcome:
    """The outcome for an order whose draft already waits: nothing was asked of iGEST."""
    order = ledger.order(order_id)
    return DocumentOutcome(
        str(order_id),
        Action.DRAFTED,
        f"its draft waits for approval (igest-sync approve {order_id})",
        kind=Kind.INVOICE,
        document=DocumentFacts(None, order.total if order is not None else None),
    )


# -- a person's decision ----------------------------------------------------------------------


@dataclass
class ApproveReport:
    """What ``approve`` showed and did."""

    waiting: list[WaitingDraft] = field(default_factory=list)
    outcomes: list[DocumentOutcome] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    listed_only: bool = False  # no order chosen: the list, nothing done

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def alert_notices(self) -> list[str]:
        return list(self.notices)

    @property
    def exit_code(self) -> int:
        # A draft left waiting for what passes by itself (the year's turnover under art. 53
        # not read) is an order still without its invoice, as for `invoice`: never a success.
        return 1 if self.count(Action.FAILED) or self.count(Action.WAITING) else 0

    def summary(self) -> str:
        if self.listed_only:
            n = len(self.waiting)
            return f"{n} draft{'s' if n != 1 else ''} waiting for approval"
        issued = self.count(Action.ISSUED) + self.count(Action.ADOPTED)
        parts = [f"Finalized {issued}", f"rejected {self.count(Action.REJECTED)}"]
        parts.append(f"failed {self.count(Action.FAILED)}")
        if self.count(Action.WAITING):
            parts.append(f"waiting {self.count(Action.WAITING)}")
        if self.count(Action.DRAFTED):
            parts.append(f"still waiting {self.count(Action.DRAFTED)}")
        if self.count(Action.SKIPPED):
            parts.append(f"skipped {self.count(Action.SKIPPED)}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "waiting": [d.to_json() for d in self.waiting],
            "finalized": self.count(Action.ISSUED) + self.count(Action.ADOPTED),
            "rejected": self.count(Action.REJECTED),
            "failed": self.count(Action.FAILED),
            "orders": [
                {"order_id": o.key, "action": str(o.action), "detail": o.detail, **o.facts()}
                for o in self.outcomes
            ],
            "notices": list(self.notices),
        }


def interrupted_approval(work: WorkRecord | None) -> bool:
    """An approval whose finalize got no answer (a timeout, a 502): iGEST may have finalized the
    draft or not. Approving (or rejecting) it again looks it up first, like the next run."""
    return (
        work is not None
        and work.state == WorkState.FAILED
        and work.transient
        and work.phase == Phase.FINALIZING
    )


def not_waiting(
    ledger: Ledger, order_id: int, *, rejecting: bool = False
) -> DocumentOutcome | None:
    """Why ``order_id`` cannot be approved or rejected (no draft of it waits), or None.

    Approving an invoice that is final already asks for what is there: "already", not a
    failure. Rejecting it cannot be done (an issued invoice is offset by a credit note)."""
    work = ledger.work(order_id)
    if work is not None and (work.state == WorkState.REVIEW or interrupted_approval(work)):
        return None
    if work is not None and work.state == WorkState.FINAL and not rejecting:
        facts = finished_document(ledger, order_id, Kind.INVOICE, work)
        return DocumentOutcome(
            str(order_id),
            Action.ALREADY,
            f"{facts.number} is final already; nothing to approve",
            kind=Kind.INVOICE,
            document=facts,
        )
    if work is None:
        why = "igest-sync knows no invoice work for it (see igest-sync status)"
    elif work.state == WorkState.FINAL:
        why = (
            "its invoice is final already, and an issued invoice is never deleted: offset it "
            f"with `igest-sync credit {order_id} --reason TEXT`"
        )
    elif work.state == WorkState.FAILED:
        # Its failure says what to do already (a rejection: resend; a VIES refusal: --nif or
        # VAT charged); a second, generic "resend" beside it contradicted it.
        error = (work.error or "").rstrip(". ")
        told = "igest-sync " in error
        why = f"it failed: {error}" + (
            "" if told else f"; `igest-sync resend {order_id}` retries it"
        )
    elif work.state in IN_FLIGHT:
        # A command that held the lock was stopped mid-write (a kill, a crash): only a lookup
        # tells what iGEST holds, and the next run makes it (`approve` lists no such order).
        why = (
            f"its invoice was {work.state} when an earlier command stopped; `igest-sync "
            "invoice` looks it up in iGEST: a final invoice is recorded, a draft waits for "
            f"approval again (then `igest-sync approve {order_id}`)"
        )
    else:
        why = f"its invoice is {work.state}, not a draft waiting for approval"
    return DocumentOutcome(str(order_id), Action.FAILED, f"no draft waits for approval: {why}")


def approve(run: ApprovingRun, order_ids: list[int], notices: list[str]) -> list[DocumentOutcome]:
    """Finalize the waiting drafts of ``order_ids`` (oldest payment first), then attach them.

    Each order is read again from Jumpseller and goes through the issuer's exactly-once path
    (``approved=True``): the draft is looked up by its reference first; one finalized in iGEST
    by hand is adopted, one deleted there is made again, checked and finalized; one whose order
    changed since (another total) is made again and waits for another look.
    """
    outcomes = []
    for order_id in order_ids:
        try:
            order = run.jumpseller.order(order_id)
        except AuthError:
            raise
        except ApiError as exc:
            outcomes.append(
                DocumentOutcome(
                    str(order_id),
                    Action.FAILED,
                    f"could not read the order from Jumpseller: {exc}; its draft still waits",
                    kind=Kind.INVOICE,
                    transient=exc.transient,
                )
            )
            continue
        outcome = run.issue_one(order, notices, approved=True)
        if outcome.action == Action.FAILED and run.settings.review:
            outcome = _retried_how(run.ledger, order_id, outcome)
        elif outcome.action == Action.WAITING and run.settings.review:
            outcome = _drafted_again_later(run.ledger, order_id, outcome)
        outcomes.append(outcome)
    # Under art. 53, a finalized draft may take the year past 15,000 EUR: told now, once.
    notices += run.turnover_notices(outcomes)
    run.followup.finish(notices)
    return outcomes


def _retried_how(ledger: Ledger, order_id: int, outcome: DocumentOutcome) -> DocumentOutcome:
    """In review mode the next run does not finalize a failed approval by itself: it looks the
    draft up (finalized in iGEST: adopted) and otherwise lets it wait for approval again. The
    failure says so, in the outcome and in the ledger (``status``)."""
    if not outcome.transient:
        return outcome
    text = (
        f"{outcome.detail.removesuffix(RETRIES)}; the next run looks it up in iGEST: adopted if "
        f"finalized there, else its draft waits for approval again (`igest-sync approve "
        f"{order_id}` looks it up and finalizes it now)"
    )
    ledger.fail(order_id, Kind.INVOICE, text, transient=True)
    return replace(outcome, detail=text)


def _drafted_again_later(
    ledger: Ledger, order_id: int, outcome: DocumentOutcome
) -> DocumentOutcome:
    """An approval that waits for what passes by itself (the year's turnover not read): the
    issuer deleted the draft and the next run drafts it again, for a person to approve then;
    it said only why it waited, not what follows."""
    text = (
        f"{outcome.detail}; not finalized: its draft was deleted, and the next run drafts it "
        f"again for approval (then `igest-sync approve {order_id}`)"
    )
    ledger.fail(order_id, Kind.INVOICE, text, transient=True)
    return replace(outcome, detail=text)


def reject(
    ledger: Ledger, igest: IgestApi, order_id: int, *, now: datetime, reason: str | None = None
) -> DocumentOutcome:
    """Delete the order's waiting draft in iGEST and leave the order failed until ``resend``.

    A draft finalized in iGEST meanwhile cannot be rejected: it is adopted (an issued invoice
    is offset by a credit note, never deleted) and the outcome says so.
    """
    work = ledger.work(order_id)
    assert work is not None
    ref = work.external_reference
    try:
        found = [
            d
            for d in igest.find_documents(external_reference=ref)
            if d.external_reference == ref and d.status != DocumentStatus.CANCELLED
        ]
        final = next((d for d in found if d.status == DocumentStatus.FINAL), None)
        if final is not None:
            ledger.record_final(order_id, Kind.INVOICE, final, email=False, adopted=True)
            return DocumentOutcome(
                str(order_id),
                Action.ADOPTED,
                f"{final.number} was finalized in iGEST already; adopted, not rejected (credit "
                f"it with `igest-sync credit {order_id} --reason TEXT` if it must be undone)",
                kind=Kind.INVOICE,
                document=DocumentFacts(final.number, final.gross_total),
            )
        for draft in found:
            try:
                igest.delete_document(draft.id)
            except NotFound:
                pass  # deleted meanwhile (by hand, or a retried DELETE)
    except AuthError:
        raise
    except ApiError as exc:
        return DocumentOutcome(
            str(order_id),
            Action.FAILED,
            f"could not delete its draft in iGEST: {exc}; it still waits for approval",
            kind=Kind.INVOICE,
            transient=exc.transient,
        )
    why = f" ({reason.strip()})" if reason and reason.strip() else ""
    text = (
        f"{REJECTED} on {lisbon_date(now)}{why}: its draft was deleted in iGEST; issue it "
        f"later with `igest-sync resend {order_id}`"
    )
    ledger.clear_phase(order_id, Kind.INVOICE)
    ledger.fail(order_id, Kind.INVOICE, text, transient=False)
    # The person who rejected it knows: the runs remind of it only after remind_failed_hours.
    ledger.mark_reported(order_id, Kind.INVOICE, now)
    log.warning("Order %s: %s", order_id, text)
    return DocumentOutcome(str(order_id), Action.REJECTED, text, kind=Kind.INVOICE)


# -- without a person: the automatic hour and the deadline ----------------------------------


def _payment_day(order: OrderRecord | None, now: datetime) -> date:
    if order is not None and order.paid_at:
        return lisbon_date(datetime.fromisoformat(order.paid_at))
    return lisbon_date(now)  # paid without a payment time: today is its day


def due_for_finalizing(settings: InvoiceConfig, ledger: Ledger, now: datetime) -> list[int]:
    """The waiting drafts a run finalizes without a person: all of them when review is off
    again; with ``auto_finalize_hour``, those whose payment day has reached that hour."""
    waiting = waiting_work(ledger)
    if not settings.review:
        return [w.order_id for w in waiting]
    hour = settings.auto_finalize_hour
    if hour is None:
        return []
    return [
        w.order_id
        for w in waiting
        if now >= lisbon_moment(_payment_day(ledger.order(w.order_id), now), hour)
    ]


def in_payment_order(ledger: Ledger, waiting: list[WorkRecord]) -> list[WorkRecord]:
    """``waiting`` by the payment of each order (then its id): under art. 53 the order paid
    first is counted first, and the one that takes the year past 18,750 EUR charges VAT."""

    def paid(work: WorkRecord) -> tuple[float, int]:
        # As the moment it is (a row of an older version may carry Jumpseller's offset, which
        # text order would misplace); one not known last, as the run's new orders have it.
        order = ledger.order(work.order_id)
        when = moment(order.paid_at) if order is not None else None
        return (when.timestamp() if when is not None else float("inf")), work.order_id

    return sorted(waiting, key=paid)


def sweep_waiting(
    run: ApprovingRun,
    outcomes: list[DocumentOutcome],
    notices: list[str],
    *,
    read: set[int] | None = None,
) -> None:
    """``invoice`` and ``serve``'s sweep over the waiting drafts, in payment order: finalize
    those due without a person, and delete the draft of an order cancelled meanwhile (never
    finalized).

    Each waiting order is read again from Jumpseller (one request each: drafts wait only during
    the review days, and only until someone looks); one that cannot be read just keeps waiting.
    ``read``: the orders a sweep of this run read already, skipped; those read now are added
    (under art. 53 a run sweeps before its new orders, paid later, and again after them, for
    the drafts it made). ``invoice --dry-run`` says what this would do, writing nothing
    (``InvoiceRun._dry_run_waiting``): the two change together.
    """
    read = set() if read is None else read
    waiting = [w for w in waiting_work(run.ledger) if w.order_id not in read]
    if not waiting:
        return
    due = set(due_for_finalizing(run.settings, run.ledger, run.now))
    for work in in_payment_order(run.ledger, waiting):
        read.add(work.order_id)
        try:
            order = run.jumpseller.order(work.order_id)
        except AuthError:
            raise
        except ApiError as exc:
            log.warning("Could not read order %s, whose draft waits: %s", work.order_id, exc)
            continue
        if order.status != OrderStatus.PAID:
            # Its draft is looked up and deleted; nothing is issued (the issuer's rule).
            outcomes.append(run.issue_one(order, notices, approved=True))
        elif order.id in due:
            log.info("Finalizing the draft of order %s (automatic hour or review off)", order.id)
            outcomes.append(run.issue_one(order, notices, approved=True))


# Up to this many drafts past their deadline are told one notice each; more, in one notice.
DEADLINE_NOTICES_APART = 5


def deadline_notices(settings: InvoiceConfig, ledger: Ledger, now: datetime) -> list[str]:
    """A notice per draft still waiting at ``review_deadline_hour`` of its payment day (one for
    them all past ``DEADLINE_NOTICES_APART``).

    The text stays the same while the draft waits, so that it is printed and alerted once, then
    reminded every ``remind_failed_hours`` (the rule of every notice)."""
    hour = settings.review_deadline_hour
    notices = []
    late: list[tuple[int, date]] = []
    for work in waiting_work(ledger):
        order = ledger.order(work.order_id)
        if order is not None and order.status != OrderStatus.PAID:
            continue  # cancelled meanwhile: its draft is deleted by the next look
        day = _payment_day(order, now)
        if now < lisbon_moment(day, hour):
            continue
        # Jumpseller's total, as the merchant knows the order (a gift card's share is not in it).
        total = (
            f" (order total {order.total} EUR)"
            if order is not None and order.total is not None
            else ""
        )
        late.append((work.order_id, day))
        notices.append(
            f"Order {work.order_id}{total}: its invoice draft still waits for approval after "
            f"{hour:02d}:00 of its payment day {day}; an invoice-receipt is due on that day. "
            f"Finalize it with `igest-sync approve {work.order_id}` (or reject it with "
            f"`igest-sync approve --reject {work.order_id}`)."
        )
    if len(late) <= DEADLINE_NOTICES_APART:
        return notices
    # A first day in review mode leaves a whole backlog waiting: one notice, not a page each
    # (its text changes, and so is told again, when the drafts that wait change).
    days = sorted(day for _, day in late)
    named = some_of([order_id for order_id, _ in late], DEADLINE_NOTICES_APART)
    when = f"on {days[0]}" if days[0] == days[-1] else f"from {days[0]} to {days[-1]}"
    grouped = (
        f"{len(late)} invoice drafts still wait for approval after {hour:02d}:00 of their "
        f"payment day (orders {named}, paid {when}); an invoice-receipt is due "
        "on the day of the payment. Look at them with `igest-sync approve`, then finalize them "
        "with `igest-sync approve --all` (or one by one: `igest-sync approve ORDER`)."
    )
    return [grouped]
