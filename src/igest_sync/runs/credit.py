"""Credit notes: ``credit`` by hand (part or all of an invoice) and the pass that credits what
is left of an order cancelled after its invoice.

An issued invoice can never be edited or deleted; a credit note (NC) offsets it, in part or in
full. Plan → ask → record → issue:

1. **Plan** from iGEST, not from the ledger: the original with its lines and every NC that names
   it (``related_document``), so a lost state file cannot let a second refund through.
   ``fiscal.credit.plan_credit`` decides what this NC credits, or refuses naming what is already
   credited and by which NCs.
2. **Ask**: ``credit`` hands the plan to ``confirm`` (the CLI's question; ``--yes`` skips it).
   A dry run stops before it and writes nothing.
3. **Record** the credit as its own work, ``(order, credit, seq)`` with its own reference
   (``...:credit``, then ``...:credit:2`` ...) and its request, before any write.
4. **Issue** through the issuer's exactly-once path, then attach the NC to the Jumpseller order
   as a credit note.

A run killed midway leaves that work unfinished. The next ``credit`` for the order resumes it
when it asks the same, and refuses (pointing at it) when it asks something else: never a second
NC for one request. The credit pass of ``invoice`` resumes it too.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from igest_sync.config import Config
from igest_sync.errors import ApiError, AuthError, UsageError
from igest_sync.fiscal.credit import (
    CreditPlan,
    CreditRefused,
    CreditRequest,
    credit_note_draft,
    credit_reference,
    plan_credit,
)
from igest_sync.fiscal.mapping import external_reference
from igest_sync.models import (
    IN_FLIGHT,
    Action,
    DocumentDraft,
    DocumentStatus,
    IssuedDocument,
    ItemOutcome,
    Kind,
    WorkState,
)
from igest_sync.runs.discover import CANCELED, record_order
from igest_sync.runs.followup import FollowUp
from igest_sync.runs.invoice_report import InvoiceReport
from igest_sync.runs.issuer import CrashHook, Issuer
from igest_sync.runs.services import IgestApi, JumpsellerApi
from igest_sync.state.ledger import Ledger, WorkRecord
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

# Cancellations are looked for among orders created this long ago at most; an older order
# cancelled later is found by `reconcile` (refunds come within weeks, not months).
CREDIT_LOOKBACK = timedelta(days=90)

Confirm = Callable[[CreditPlan], bool]


@dataclass(frozen=True)
class StoredRequest:
    """What the credit work records: the request and how it is issued, so that a resumed run
    issues the very NC that was asked for (same lines, reason and restock)."""

    request: CreditRequest
    reason: str
    restock: bool

    def to_json(self) -> str:
        data = json.loads(self.request.to_json())
        data.update(reason=self.reason, restock=self.restock)
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def of(cls, work: WorkRecord, reason: str, restock: bool) -> StoredRequest:
        if not work.request:
            # Recorded by a version that only credited whole invoices.
            return cls(CreditRequest(everything=True), reason, restock)
        data = json.loads(work.request)
        return cls(
            CreditRequest.from_json(work.request),
            str(data.get("reason") or reason),
            bool(data.get("restock", restock)),
        )


@dataclass
class CreditReport:
    """One ``credit`` command: what was planned, whether it was confirmed, what was issued."""

    order_id: int
    plan: CreditPlan | None = None
    outcome: ItemOutcome | None = None
    dry_run: bool = False
    declined: bool = False
    resumed: str | None = None  # an unfinished request this command finished
    notices: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.outcome is not None and self.outcome.action == Action.FAILED else 0

    def summary(self) -> str:
        if self.dry_run and self.plan is not None:
            return (
                f"Dry run: would credit {self.plan.gross_total} EUR of "
                f"{self.plan.original_number} for order {self.order_id}; nothing was written."
            )
        if self.declined:
            return f"Not confirmed: no credit note was issued for order {self.order_id}."
        if self.outcome is None:
            return f"No credit note was issued for order {self.order_id}."
        if self.outcome.action == Action.FAILED:
            return f"Order {self.order_id}: no credit note issued: {self.outcome.detail}"
        return f"Order {self.order_id}: {self.outcome.detail}"

    def to_json(self) -> dict[str, Any]:
        """``invoice``'s report shape (one order), plus the plan and whether it was asked."""
        o = self.outcome
        outcomes = [o] if o is not None else []

        def count(action: str) -> int:
            return sum(1 for x in outcomes if x.action == action)

        return {
            "dry_run": self.dry_run,
            "issued": count(Action.ISSUED),
            "adopted": count(Action.ADOPTED),
            "failed": count(Action.FAILED),
            "skipped": count(Action.SKIPPED),
            "checkpoint": None,
            "orders": [
                {"order_id": self.order_id, "action": str(x.action), "detail": x.detail} | x.facts()
                for x in outcomes
            ],
            "notices": list(self.notices),
            "still_failed": [],
            "declined": self.declined,
            "resumed": self.resumed,
            "plan": self.plan.to_json() if self.plan else None,
        }


@dataclass
class _Prepared:
    """Which credit work a request is, and what its NC credits."""

    seq: int
    stored: StoredRequest
    plan: CreditPlan | None  # None: this work's NC is final in iGEST already (to adopt)
    resumed: bool


def _seq_of(reference: str | None, store: str, order_id: int) -> int | None:
    """The seq of one of this order's credit-note references, None for anything else."""
    base = external_reference(store, order_id, Kind.CREDIT)
    if not reference or not reference.startswith(base):
        return None
    match = re.fullmatch(r":(\d+)", reference[len(base) :]) if reference != base else None
    seq = 1 if reference == base else int(match[1]) if match else None
    return seq if seq and credit_reference(store, order_id, seq) == reference else None


class Credits:
    """Credit notes for one run, through the run's one ``Issuer``."""

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        jumpseller: JumpsellerApi,
        igest: IgestApi,
        issuer: Issuer,
        followup: FollowUp,
    ) -> None:
        self.config = config
        self.store = config.jumpseller.store
        self.ledger = ledger
        self.jumpseller = jumpseller
        self.igest = igest
        self.issuer = issuer
        self.followup = followup
        self.today = issuer.today

    # -- the pass of `invoice`: orders cancelled after their invoice --------------------------

    def credit_cancelled(self, report: InvoiceReport) -> None:
        """Credit what is left of invoiced orders since cancelled (or point them out, with
        credit_cancelled off), and finish credit work a crash or a passing failure left."""
        invoiced = self.ledger.invoiced_without_credit()
        if not invoiced:
            return  # nothing that could need a credit note: not one request
        unfinished = {
            w.order_id: w
            for w in self.ledger.work_in_states(
                WorkState.PENDING, *IN_FLIGHT, WorkState.FAILED, kind=Kind.CREDIT
            )
            if (w.state != WorkState.FAILED or w.transient) and w.order_id in invoiced
        }
        try:
            cancelled = [
                o
                for o in self.jumpseller.orders_created_between(
                    self.today - CREDIT_LOOKBACK, self.today, status=CANCELED
                )
                if o.id in invoiced
            ]
        except ApiError as exc:
            report.notices.append(f"Could not look for cancelled orders in Jumpseller: {exc}")
            cancelled = []
        settings = self.config.invoice
        for order in cancelled:
            record_order(self.ledger, order)
        due = {o.id for o in cancelled if o.status == CANCELED}
        for order_id in sorted(due | set(unfinished)):
            work = self.ledger.unfinished_credit(order_id)
            if work and work.state == WorkState.FAILED and not work.transient:
                continue  # refused before: waits for `igest-sync credit ORDER_ID`
            if order_id not in unfinished and not settings.credit_cancelled:
                report.notices.append(
                    f"Order {order_id} was cancelled after {invoiced[order_id].number} was "
                    f"issued: credit it with `igest-sync credit {order_id} --reason TEXT` "
                    "(credit_cancelled is off)."
                )
                continue
            outcome = self.remainder(order_id, settings.credit_reason)
            if outcome is not None:
                report.outcomes.append(outcome)

    def remainder(self, order_id: int, reason: str) -> ItemOutcome | None:
        """Finish the order's unfinished credit as it was asked, else credit all that is left.
        None when iGEST shows the invoice credited in full already."""
        stored = None
        if self.ledger.unfinished_credit(order_id) is None:
            everything = CreditRequest(everything=True)
            stored = StoredRequest(everything, reason, self.config.invoice.move_stock)
        try:
            prepared = self._prepare(order_id, stored, adopt=True)
        except AuthError:
            raise
        except ApiError as exc:
            reason = f"could not read the invoice or its credit notes from iGEST: {exc}"
            return self._failed(order_id, reason, exc.transient)
        except UsageError as exc:
            return self._failed(order_id, exc.message, False)
        except CreditRefused as exc:
            if exc.nothing_left:
                # Credited in full already (by hand in iGEST, say): remembered, so that later
                # runs do not read the invoice and its credit notes again for 90 days.
                self.ledger.mark_fully_credited(order_id)
                return None
            return self._refused(order_id, stored, exc)
        return self._issue(order_id, prepared)

    # -- `igest-sync credit` ------------------------------------------------------------------

    def credit(
        self,
        order_id: int,
        request: CreditRequest,
        reason: str,
        *,
        restock: bool | None = None,
        dry_run: bool = False,
        confirm: Confirm | None = None,
    ) -> CreditReport:
        """Plan the credit note ``request`` asks for, have it confirmed, issue it exactly once."""
        report = CreditReport(order_id, dry_run=dry_run)
        if restock is None:
            restock = self.config.invoice.move_stock
        stored = StoredRequest(request, reason, restock)
        try:
            prepared = self._prepare(order_id, stored, adopt=not dry_run)
        except CreditRefused as exc:
            if exc.nothing_left:
                report.outcome = ItemOutcome(
                    str(order_id), Action.ALREADY, exc.reason, kind=Kind.CREDIT
                )
            else:
                # Refused before anything was recorded: nothing to resume, nothing succeeded.
                report.outcome = ItemOutcome(
                    str(order_id), Action.FAILED, exc.reason, kind=Kind.CREDIT, transient=False
                )
            return report
        report.plan = prepared.plan
        if prepared.resumed:
            report.resumed = prepared.stored.request.describe()
            report.notices.append(
                f"This finishes the credit note asked for before ({report.resumed}), which "
                "was interrupted; no second one is issued for it."
            )
        if dry_run:
            return report
        if prepared.plan is not None and confirm is not None and not confirm(prepared.plan):
            report.declined = True
            return report
        report.outcome = self._issue(order_id, prepared)
        self.followup.finish(report.notices)
        return report

    # -- steps --------------------------------------------------------------------------------

    def _original(self, order_id: int) -> IssuedDocument:
        """The order's final invoice as iGEST holds it, lines included."""
        invoice = next(
            (
                d
                for d in self.ledger.documents_for(order_id)
                if d.kind == Kind.INVOICE and d.status == DocumentStatus.FINAL
            ),
            None,
        )
        if invoice is not None:
            return self.igest.get_document(invoice.document_id)
        ref = external_reference(self.store, order_id)
        finals = [
            d
            for d in self.igest.find_documents(external_reference=ref)
            if d.status == DocumentStatus.FINAL and d.external_reference == ref
        ]
        if not finals:
            raise UsageError(
                f"Order {order_id} has no final invoice in iGEST ({ref}): there is nothing "
                "to credit."
            )
        return self.igest.get_document(finals[0].id)

    def _prepare(self, order_id: int, stored: StoredRequest | None, *, adopt: bool) -> _Prepared:
        """The work this request is (an unfinished one resumed, or the next seq) and its plan.

        ``stored`` None: resume the order's unfinished credit as it was recorded. Reads iGEST;
        writes only to adopt NCs the ledger lost (``adopt``) or to hand an abandoned request's
        seq to this one. Raises UsageError (another request is unfinished) or CreditRefused.
        """
        original = self._original(order_id)
        notes = [
            n
            for n in self.igest.credit_notes_of(original.number or original.id)
            if n.status != DocumentStatus.CANCELLED
        ]
        settings = self.config.invoice
        unfinished = self.ledger.unfinished_credit(order_id)
        if adopt:
            # The unfinished work this request resumes is the issuer's to adopt (its outcome
            # is reported as such); any other NC of ours the ledger lacks is recorded now.
            recorded = (
                StoredRequest.of(unfinished, settings.credit_reason, settings.move_stock)
                if unfinished
                else None
            )
            resuming = recorded is not None and (
                stored is None or recorded.request == stored.request
            )
            mine = unfinished.external_reference if resuming and unfinished else None
            self._adopt(order_id, [n for n in notes if n.external_reference != mine])
            unfinished = self.ledger.unfinished_credit(order_id)
        resumed = False
        if unfinished is not None:
            recorded = StoredRequest.of(unfinished, settings.credit_reason, settings.move_stock)
            in_igest = any(n.external_reference == unfinished.external_reference for n in notes)
            if stored is None or recorded.request == stored.request:
                stored, seq, resumed = recorded, unfinished.seq, True
            elif unfinished.phase is None and unfinished.state not in IN_FLIGHT and not in_igest:
                seq = unfinished.seq  # never reached iGEST: it gives way to this request
                if adopt:
                    self.ledger.restart_credit(order_id, seq, stored.to_json())
            else:
                raise UsageError(
                    f"Order {order_id} has an unfinished credit note "
                    f"({unfinished.external_reference}, asked as "
                    f"{recorded.request.describe()}, {unfinished.state}); it is finished "
                    "before another one is started.",
                    hint=f"Finish it with: igest-sync credit {order_id} --reason "
                    f"{json.dumps(recorded.reason, ensure_ascii=False)} "
                    f"{recorded.request.describe()}",
                )
        else:
            if stored is None:
                raise UsageError(f"Order {order_id} has no unfinished credit note to finish.")
            # After every seq this ledger or iGEST knows: with a lost ledger a new request
            # must not take an issued NC's reference (it would be adopted, not issued).
            seqs = [_seq_of(n.external_reference, self.store, order_id) for n in notes]
            seq = max([self.ledger.next_credit_seq(order_id), *(s + 1 for s in seqs if s)])
        ref = credit_reference(self.store, order_id, seq)
        if resumed and any(
            n.external_reference == ref and n.status == DocumentStatus.FINAL for n in notes
        ):
            return _Prepared(seq, stored, None, True)  # the issuer adopts it
        earlier = [
            n for n in notes if n.status == DocumentStatus.FINAL and n.external_reference != ref
        ]
        return _Prepared(
            seq, stored, plan_credit(order_id, original, earlier, stored.request), resumed
        )

    def _adopt(self, order_id: int, notes: list[IssuedDocument]) -> None:
        """Record the order's final NCs the ledger does not know (a lost or older state file),
        so that what it believes credited agrees with iGEST."""
        known = {d.document_id for d in self.ledger.documents_for(order_id)}
        for note in notes:
            seq = _seq_of(note.external_reference, self.store, order_id)
            if note.status != DocumentStatus.FINAL or note.id in known or seq is None:
                continue
            work = self.ledger.work(order_id, Kind.CREDIT, seq)
            if work is None:
                self.ledger.ensure_work(
                    order_id, Kind.CREDIT, note.external_reference or "", seq=seq, request="{}"
                )
            log.warning("Adopted %s for order %s (found in iGEST)", note.number, order_id)
            self.ledger.record_final(
                order_id, Kind.CREDIT, note, email=False, adopted=True, seq=seq
            )

    def _issue(self, order_id: int, prepared: _Prepared) -> ItemOutcome:
        plan = prepared.plan

        def build() -> DocumentDraft:
            if plan is None:
                raise AssertionError("a final credit note is adopted by the issuer, never rebuilt")
            return credit_note_draft(
                order_id,
                plan,
                self.config.invoice,
                store=self.store,
                seq=prepared.seq,
                issue_date=self.today,
                reason=prepared.stored.reason,
                restock=prepared.stored.restock,
            )

        outcome = self.issuer.credit_note(
            order_id, prepared.seq, build, request=prepared.stored.to_json()
        )
        if outcome.action == Action.ISSUED and plan is not None and plan.remaining_total:
            outcome.detail += f" ({plan.gross_total} EUR; {plan.remaining_total} EUR left)"
        return outcome

    def _refused(
        self, order_id: int, stored: StoredRequest | None, exc: CreditRefused
    ) -> ItemOutcome:
        """The automatic credit cannot be planned: recorded as failed work for a person (it
        waits for `igest-sync credit`), never as a success."""
        work = self.ledger.unfinished_credit(order_id)
        if work is None and stored is not None:
            seq = self.ledger.next_credit_seq(order_id)
            work = self.ledger.ensure_work(
                order_id,
                Kind.CREDIT,
                credit_reference(self.store, order_id, seq),
                seq=seq,
                request=stored.to_json(),
            )
        if work is None:
            return self._failed(order_id, exc.reason, False)
        return self.issuer.failed(order_id, Kind.CREDIT, exc.reason, False, seq=work.seq)

    def _failed(self, order_id: int, reason: str, transient: bool) -> ItemOutcome:
        """A failure before this credit has work of its own: recorded against the order's
        unfinished credit work if there is one, never against a finished credit note (with no
        work to record it on, the next run simply tries again)."""
        work = self.ledger.unfinished_credit(order_id)
        if work is not None:
            return self.issuer.failed(order_id, Kind.CREDIT, reason, transient, seq=work.seq)
        log.error("Order %s not credited: %s", order_id, reason)
        return ItemOutcome(
            str(order_id), Action.FAILED, reason, kind=Kind.CREDIT, transient=transient
        )


def credit_run(
    config: Config,
    ledger: Ledger,
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    *,
    now: datetime | None = None,
    crash_hook: CrashHook | None = None,
) -> Credits:
    """The ``credit`` command's run: its own issuer and follow-ups."""
    now = now or datetime.now(UTC)
    issuer = Issuer(config, ledger, igest, today=lisbon_date(now), crash_hook=crash_hook)
    followup = FollowUp(config, ledger, jumpseller, igest, now=now)
    return Credits(config, ledger, jumpseller, igest, issuer, followup)
