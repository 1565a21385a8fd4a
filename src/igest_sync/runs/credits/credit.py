"""Credit notes exactly once per request: ``credit`` by hand (part or all of an invoice), and
what is left of an order cancelled after its invoice (``invoice``'s pass, ``serve``).

An issued invoice can never be edited or deleted; a credit note (NC) offsets it, in part or in
full, and can never be deleted either: a retried credit must never refund twice.

A request has an identity (``fiscal.credit.identity``): the order, what it credits and the
reason. Its key is part of its NC's external reference, so what became of an earlier attempt is
read back from iGEST itself, whatever the ledger remembers. Plan → ask → record → issue:

1. **Find** this request's earlier attempts: the ledger's credit work with its reference, and
   the NCs iGEST lists for the original (``related_document``) with it. The latest one decides:
   unfinished (a kill, a lost answer) → it is finished (the issuer looks the reference up,
   adopts a final NC, finalizes or deletes a stray draft); final → "already issued: NC A/4 of
   2026-12-01 for this request", exit 0, nothing issued (naming the ``--again`` command while
   the invoice still has what the request asks for). ``--again`` (the customer returned
   another unit for the same reason) asks for the next occurrence: a new NC, whose plan lists
   the earlier NCs of the same request.
2. **Plan** from iGEST, not from the ledger: the original with its lines and every final NC that
   names it. ``fiscal.credit.plan_credit`` decides what this NC credits, or refuses naming what
   is already credited and by which NCs.
3. **Ask**: ``credit`` hands the plan to ``confirm`` (the CLI's question; ``--yes`` skips it).
4. **Record** the credit as its own work, ``(order, credit, seq)`` with its request's reference
   and its request, before any write; **issue** through the issuer's exactly-once path. An
   answer lost after iGEST processed a step is looked up again at once; only when iGEST cannot
   tell either is the outcome reported unknown, and then running the same command again (or the
   next ``invoice``) finishes it without a second NC.

An order has at most one unfinished credit: another request waits until it is finished (a
plan made beside it could credit the same units twice).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from igest_sync.errors import ApiError, AuthError, UsageError
from igest_sync.fiscal.credit import (
    CreditPlan,
    CreditRefused,
    CreditRequest,
    credit_note_draft,
    plan_credit,
)
from igest_sync.models import (
    DOCUMENT_EXISTS,
    IN_FLIGHT,
    Action,
    DocumentDraft,
    DocumentFacts,
    DocumentOutcome,
    DocumentStatus,
    IssuedDocument,
    Kind,
    WorkState,
)
from igest_sync.runs.context import RunContext
from igest_sync.runs.credits.cancellations import CancelledOrders
from igest_sync.runs.credits.history import Attempt, CreditHistory, final_of
from igest_sync.runs.credits.report import CreditReport, StoredRequest
from igest_sync.runs.invoicing.followup import FollowUp
from igest_sync.runs.invoicing.issuer import Issuer
from igest_sync.runs.invoicing.report import InvoiceReport
from igest_sync.state.ledger import WorkRecord

__all__ = ["CreditReport", "Credits", "StoredRequest"]

log = logging.getLogger("igest_sync.invoice")

Confirm = Callable[[CreditPlan], bool]
# same: a request as asked (its NC, once); again: its next occurrence (``--again``);
# rest: what is left of a cancelled order (a new occurrence once the last one is final).
Mode = Literal["same", "again", "rest"]

# An answer lost after iGEST processed a step is looked up again this many times at once (a
# lookup by reference is safe to repeat) before the outcome is reported unknown.
_LOOKUPS_AFTER_LOST_ANSWER = 2


def _outcome_unknown(work: WorkRecord) -> bool:
    """The work failed after a step that may have reached iGEST (its answer lost): not a
    refusal, its credit note may be issued."""
    return work.state == WorkState.FAILED and work.phase is not None


@dataclass
class _Prepared:
    """Which credit work a request is, and what its NC credits."""

    seq: int
    reference: str
    stored: StoredRequest
    plan: CreditPlan | None  # None: this request's NC is final already (adopted or known)
    original: IssuedDocument
    resumed: bool  # an unfinished attempt at this request is finished
    unanswered: bool = False  # final, but never reported to the person who asked
    # Final, and its lines are not all credited yet: the command for one more NC of it.
    again: str | None = None


class Credits:
    """Credit notes for one run, through the run's one ``Issuer``."""

    def __init__(
        self,
        context: RunContext,
        issuer: Issuer,
        followup: FollowUp,
    ) -> None:
        self.settings = context.settings
        self.store = context.store
        self.ledger = context.ledger
        self.jumpseller = context.jumpseller
        self.igest = context.igest
        self.issuer = issuer
        self.followup = followup
        self.today = issuer.today
        self._context = context

    @functools.cached_property
    def history(self) -> CreditHistory:
        """What iGEST and the ledger hold of earlier credit requests: read only when this run
        credits something (stateless, so two workers building it at once is harmless)."""
        return CreditHistory(self._context)

    # -- what is left of a cancelled order (the pass of `invoice`, `serve`) -------------------

    def credit_cancelled(self, report: InvoiceReport) -> None:
        """``invoice``'s pass: orders cancelled after their invoice (credits/cancellations.py)."""
        self._cancelled_orders().credit_cancelled(report)

    def preview_cancelled(self, report: InvoiceReport) -> None:
        """``invoice --dry-run``: what that pass would credit, writing nothing."""
        self._cancelled_orders().preview(report.outcomes, report.notices)

    def credit_cancelled_order(
        self, order_id: int, outcomes: list[DocumentOutcome], notices: list[str]
    ) -> None:
        """``serve``'s entry point for one order it has just recorded as cancelled: credited
        exactly once (or pointed out, by the pass's rules), whoever calls it and however
        often."""
        self._cancelled_orders().credit_cancelled_order(order_id, outcomes, notices)

    def _cancelled_orders(self) -> CancelledOrders:
        return CancelledOrders(
            ledger=self.ledger,
            jumpseller=self.jumpseller,
            settings=self.settings,
            store=self.store,
            today=self.today,
            remainder=self.remainder,
        )

    def remainder(self, order_id: int, reason: str | None = None) -> DocumentOutcome | None:
        """Credit what is left of a cancelled order: finish its unfinished credit as it was
        asked, else credit all that is left (``[invoice] credit_reason``). None when iGEST shows
        the invoice credited in full already. Exactly once, whoever calls it and however often.
        """
        reason = reason or self.settings.credit_reason
        stored = None
        if self.ledger.unfinished_credit(order_id) is None:
            everything = CreditRequest(everything=True)
            stored = StoredRequest(everything, reason, self.settings.move_stock)
        try:
            prepared = self._prepare(order_id, stored, "rest", adopt=True)
        except AuthError:
            raise
        except ApiError as exc:
            text = f"could not read the invoice or its credit notes from iGEST: {exc}"
            return self._failed(order_id, text, exc.transient)
        except UsageError as exc:
            return self._failed(order_id, exc.message, False)
        except CreditRefused as exc:
            if exc.nothing_left:
                # Credited in full already (by hand in iGEST, say): remembered, so that later
                # runs do not read the invoice and its credit notes again.
                self.ledger.mark_fully_credited(order_id)
                return None
            return self._refused(order_id, stored, exc)
        return self._issue(order_id, prepared, command=None)

    # -- `igest-sync credit` ------------------------------------------------------------------

    def credit(
        self,
        order_id: int,
        request: CreditRequest,
        reason: str,
        *,
        restock: bool | None = None,
        again: bool = False,
        dry_run: bool = False,
        confirm: Confirm | None = None,
        acknowledge: bool = True,
    ) -> CreditReport:
        """Plan the credit note ``request`` asks for, have it confirmed, issue it exactly once.

        The same request again reports the NC it produced (finishing it first if an earlier
        attempt was interrupted); ``again`` asks for one more NC for the same request.
        ``acknowledge`` False: the caller calls ``acknowledge`` once the person was shown the
        outcome (the CLI, after printing it)."""
        report = CreditReport(order_id, dry_run=dry_run)
        if restock is None:
            restock = self.settings.move_stock
        stored = StoredRequest(request, reason, restock)
        try:
            prepared = self._prepare(
                order_id, stored, "again" if again else "same", adopt=not dry_run
            )
        except CreditRefused as exc:
            # Refused before anything was recorded: nothing to resume, nothing succeeded.
            action = Action.ALREADY if exc.nothing_left else Action.FAILED
            report.usage_error = exc.usage
            report.outcome = DocumentOutcome(
                str(order_id), action, exc.reason, kind=Kind.CREDIT, transient=False
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
            if prepared.plan is None:
                report.outcome = self._already(order_id, prepared)
            return report
        if prepared.plan is not None and confirm is not None and not confirm(prepared.plan):
            report.declined = True
            return report
        command = prepared.stored.command(order_id, again=again)
        report.outcome = self._issue(order_id, prepared, command=command)
        report.seq = prepared.seq
        report.unknown = self._unknown(order_id, prepared.seq)
        self.followup.finish(report.notices)
        guard = self.issuer.art53
        if guard is not None and report.outcome.action in (Action.ISSUED, Action.ADOPTED):
            # Under the small-business exemption: a credit note that brings the year back
            # under 15,000 EUR says so now (the runs read the turnover once a day otherwise).
            report.notices += guard.after_credit()
        if acknowledge:
            self.acknowledge(report)
        return report

    def acknowledge(self, report: CreditReport) -> None:
        """The person who asked was shown this outcome: a later ``--again`` is one more credit
        note, no longer the repetition of an interrupted command (whose NC it reports)."""
        if report.seq is not None and report.outcome and report.outcome.action in DOCUMENT_EXISTS:
            self.ledger.mark_answered(report.order_id, report.seq)

    # -- steps --------------------------------------------------------------------------------

    def _prepare(
        self, order_id: int, stored: StoredRequest | None, mode: Mode, *, adopt: bool
    ) -> _Prepared:
        """The work this request is (an earlier attempt, or a new one) and its plan.

        ``stored`` None: finish the order's unfinished credit as it was recorded. Reads iGEST;
        writes only to adopt NCs the ledger lost (``adopt``) or to drop another request's work
        that never reached iGEST. Raises UsageError (another request is unfinished) or
        CreditRefused.
        """
        original = self.history.original(order_id)
        notes = [
            n
            for n in self.igest.credit_notes_of(original.number or original.id)
            if n.status != DocumentStatus.CANCELLED
        ]
        settings = self.settings
        unfinished = self.ledger.unfinished_credit(order_id)
        target: Attempt | None = None
        unanswered = False
        if stored is None:
            if unfinished is None:
                raise UsageError(f"Order {order_id} has no unfinished credit note to finish.")
            stored = StoredRequest.of(unfinished, settings.credit_reason, settings.move_stock)
            ref = unfinished.external_reference
            target = Attempt(ref, unfinished, final_of(notes, ref))
        else:
            attempts, occurrence = self.history.attempts(order_id, stored.identity(order_id), notes)
            latest = attempts[-1] if attempts else None
            if latest is not None and not latest.done:
                target = latest  # interrupted: finished, never issued twice
            elif latest is not None and mode == "same":
                target = latest  # final: reported, nothing issued
            elif latest is not None and mode == "again" and latest.work is not None:
                # Finished by another run (the credit pass) after the command that asked was
                # interrupted: that command's repetition is answered with it.
                unanswered = not self.ledger.answered(order_id, latest.work.seq)
                target = latest if unanswered else None
            if target is not None and target.work is not None:
                stored = StoredRequest.of(target.work, stored.reason, stored.restock)
            elif target is None:
                stored = stored.again(occurrence)
                ref = stored.identity(order_id).reference(self.store, occurrence)
                target = Attempt(ref, None, None)
            if unfinished is not None and unfinished.external_reference != target.reference:
                if target.done:
                    pass  # only reported: the other request is not touched
                elif (
                    unfinished.phase is None
                    and unfinished.state not in IN_FLIGHT
                    and not any(
                        n.external_reference == unfinished.external_reference for n in notes
                    )
                ):
                    # Never reached iGEST: it gives way to this request.
                    if adopt:
                        self.ledger.drop_unsent_work(order_id, Kind.CREDIT, unfinished.seq)
                else:
                    recorded = StoredRequest.of(
                        unfinished, settings.credit_reason, settings.move_stock
                    )
                    state = (
                        "its outcome is unknown: iGEST may have issued it"
                        if _outcome_unknown(unfinished)
                        else unfinished.state
                    )
                    raise UsageError(
                        f"Order {order_id} has an unfinished credit note "
                        f"({unfinished.external_reference}, asked as "
                        f"{recorded.request.describe()}; {state}); it is finished "
                        "before another one is started.",
                        hint=f"Finish it with: {recorded.command(order_id)}",
                    )
        ref = target.reference
        if adopt:
            # Any other NC of ours the ledger lacks (a lost or older state file) is recorded
            # now; this request's own is the issuer's to adopt (its outcome says so).
            self.history.adopt(order_id, [n for n in notes if n.external_reference != ref])
            # Drafts of ours that no unfinished work here will finish (their request's
            # attempt was lost with a state file): deleted, under the run lock. A draft has
            # no legal effect; its request, asked again, is drafted again.
            keep = {ref} | ({unfinished.external_reference} if unfinished else set())
            self.history.discard(order_id, notes, keep)
        work = target.work or self.ledger.credit_work_by_reference(order_id, ref)
        seq = work.seq if work is not None else self.ledger.next_credit_seq(order_id)
        # An earlier attempt that this ledger did not see finished (its NC may be final in
        # iGEST already: then it is adopted, and the command that was interrupted is answered).
        resumed = work is not None and work.state != WorkState.FINAL
        if target.done:
            again = self._again(order_id, original, notes, stored) if mode == "same" else None
            return _Prepared(seq, ref, stored, None, original, resumed, unanswered, again)
        earlier = [
            n for n in notes if n.status == DocumentStatus.FINAL and n.external_reference != ref
        ]
        try:
            plan = plan_credit(order_id, original, earlier, stored.request)
        except CreditRefused:
            if adopt and target.work is None:
                self.history.discard(order_id, notes, set())  # its draft can never be finalized
            raise
        same = self.history.same_request(order_id, stored, notes, ref)
        return _Prepared(seq, ref, stored, replace(plan, same_request=same), original, resumed)

    @staticmethod
    def _again(
        order_id: int, original: IssuedDocument, notes: list[IssuedDocument], stored: StoredRequest
    ) -> str | None:
        """The ``--again`` command for one more NC of a request already credited, when the
        invoice still has what it asks for: a second unit returned later is the same request
        (same lines, same reason), which on its own only reports its NC. None when that NC
        would be refused (after --all, or once the line is credited in full): not offered."""
        finals = [n for n in notes if n.status == DocumentStatus.FINAL]
        try:
            plan_credit(order_id, original, finals, stored.request)
        except CreditRefused:
            return None
        return stored.command(order_id, again=True)

    def _issue(self, order_id: int, prepared: _Prepared, *, command: str | None) -> DocumentOutcome:
        plan = prepared.plan

        def build() -> DocumentDraft:
            if plan is None:
                raise AssertionError("a final credit note is adopted by the issuer, never rebuilt")
            return credit_note_draft(
                order_id,
                plan,
                self.settings,
                reference=prepared.reference,
                issue_date=self.today,
                reason=prepared.stored.reason,
                restock=prepared.stored.restock,
            )

        def attempt() -> DocumentOutcome:
            return self.issuer.credit_note(
                order_id,
                prepared.seq,
                build,
                reference=prepared.reference,
                request=prepared.stored.to_json(),
            )

        outcome = attempt()
        lost = False  # this run sent a step to iGEST whose answer was lost
        for _ in range(_LOOKUPS_AFTER_LOST_ANSWER):
            if outcome.action != Action.FAILED or not self._unknown(order_id, prepared.seq):
                break
            # The request may have reached iGEST: its reference is looked up again at once.
            log.warning("Order %s: looking up %s again", order_id, prepared.reference)
            lost = True
            outcome = attempt()
        if outcome.action == Action.ADOPTED and plan is not None and not prepared.resumed:
            # This command's own request reached iGEST and only the answer was lost: the NC
            # found is the one it issued, not one issued before it.
            outcome = self._own_after_lost_answer(order_id, prepared, outcome)
        elif outcome.action == Action.ADOPTED and prepared.resumed:
            # An earlier run's unfinished attempt, finished by this one (found final, or
            # finalized here with the answer lost): not one "already issued" before it.
            return self._already(order_id, prepared, adopted=True, finished=lost)
        elif outcome.action in (Action.ADOPTED, Action.ALREADY):
            return self._already(order_id, prepared, adopted=outcome.action == Action.ADOPTED)
        if outcome.action == Action.ISSUED and plan is not None and plan.remaining_total:
            outcome.detail += f" ({plan.gross_total} EUR; {plan.remaining_total} EUR left)"
        if outcome.action == Action.ISSUED and plan is not None and plan.warnings:
            # What `credit` shows before asking (a VAT cent, a 0.00 EUR note): the credit pass
            # asks no one, so its outcome carries them to the run's notices.
            outcome = replace(outcome, warnings=plan.warnings)
        if outcome.action == Action.FAILED and self._unknown(order_id, prepared.seq):
            outcome = self._unknown_outcome(order_id, prepared, outcome, command)
        return outcome

    def _unknown(self, order_id: int, seq: int) -> bool:
        work = self.ledger.work(order_id, Kind.CREDIT, seq)
        return work is not None and _outcome_unknown(work)

    def _unknown_outcome(
        self, order_id: int, prepared: _Prepared, outcome: DocumentOutcome, command: str | None
    ) -> DocumentOutcome:
        """Say so: iGEST may hold the NC, and repeating finishes it without a second one."""
        why = outcome.detail.removesuffix("; the next run tries again by itself")
        rerun = (
            f"running the same command again (`{command}`) or the next `igest-sync invoice`"
            if command
            else "the next run"
        )
        text = (
            f"the outcome of credit note {prepared.reference} is unknown ({why}): iGEST may "
            f"have issued it; {rerun} finishes it without issuing a second one"
        )
        self.ledger.fail(order_id, Kind.CREDIT, text, transient=True, seq=prepared.seq)
        log.error("Order %s: %s", order_id, text)
        return replace(outcome, detail=text, transient=True)

    def _already(
        self,
        order_id: int,
        prepared: _Prepared,
        *,
        adopted: bool = False,
        finished: bool | None = None,
    ) -> DocumentOutcome:
        """This request's NC exists: "already issued: NC A/4 of 2026-12-01 for this request".

        ``finished``: the NC was an earlier run's unfinished attempt that this run finished,
        finalizing it itself (True: its answer was lost, then found final) or finding it final
        (False); None: issued before, by this request's earlier run."""
        outcome = DocumentOutcome(str(order_id), Action.ADOPTED if adopted else Action.ALREADY)
        work = self.ledger.work(order_id, Kind.CREDIT, prepared.seq)
        doc = self.ledger.document(work.document_id) if work and work.document_id else None
        final = None if doc is not None else self._final_in(prepared)
        number = doc.number if doc else (final.number if final else prepared.reference)
        day = doc.date if doc else (final.date.isoformat() if final and final.date else None)
        gross = doc.gross_total if doc else (final.gross_total if final else None)
        dated = f"{number}" + (f" of {day}" if day else "")
        if finished is None:
            detail = f"already issued: {dated} for this request; nothing issued"
            if prepared.again:
                detail += (
                    ". To credit the same once more (another unit returned for the same "
                    f"reason), add --again: `{prepared.again}`"
                )
        else:
            how = (
                "finalized it (iGEST's answer was lost; found final there)"
                if finished
                else "found it final in iGEST"
            )
            detail = (
                f"finished {dated}, the credit note an earlier run left unfinished: this run "
                f"{how}; nothing issued twice"
            )
        if prepared.unanswered:
            detail += (
                " (it was finished by another run after the command that asked for it was "
                "interrupted; to credit the same once more, run it with --again again)"
            )
        return replace(
            outcome, detail=detail, kind=Kind.CREDIT, document=DocumentFacts(number, gross)
        )

    def _own_after_lost_answer(
        self, order_id: int, prepared: _Prepared, adopted: DocumentOutcome
    ) -> DocumentOutcome:
        already = self._already(order_id, prepared, adopted=True)
        number = already.document.number if already.document else None
        log.info("Order %s: %s issued (its answer was lost, found in iGEST)", order_id, number)
        return replace(
            already,
            action=Action.ISSUED,
            detail=f"{number or prepared.reference} (iGEST's answer was lost; found issued there)",
            warnings=adopted.warnings,
        )

    def _final_in(self, prepared: _Prepared) -> IssuedDocument | None:
        found = self.igest.find_documents(external_reference=prepared.reference)
        return next((d for d in found if d.status == DocumentStatus.FINAL), None)

    def _refused(
        self, order_id: int, stored: StoredRequest | None, exc: CreditRefused
    ) -> DocumentOutcome:
        """The automatic credit cannot be planned: recorded as failed work for a person (it
        waits for `igest-sync credit`), never as a success."""
        work = self.ledger.unfinished_credit(order_id)
        if work is None and stored is not None:
            _, occurrence = self.history.attempts(order_id, stored.identity(order_id), [])
            stored = stored.again(occurrence)
            work = self.ledger.ensure_work(
                order_id,
                Kind.CREDIT,
                stored.identity(order_id).reference(self.store, occurrence),
                seq=self.ledger.next_credit_seq(order_id),
                request=stored.to_json(),
            )
        if work is None:
            return self._failed(order_id, exc.reason, False)
        return self.issuer.failed(order_id, Kind.CREDIT, exc.reason, False, seq=work.seq)

    def _failed(self, order_id: int, reason: str, transient: bool) -> DocumentOutcome:
        """A failure before this credit has work of its own: recorded against the order's
        unfinished credit work if there is one, never against a finished credit note (with no
        work to record it on, the next run simply tries again)."""
        work = self.ledger.unfinished_credit(order_id)
        if work is not None:
            return self.issuer.failed(order_id, Kind.CREDIT, reason, transient, seq=work.seq)
        log.error("Order %s not credited: %s", order_id, reason)
        return DocumentOutcome(
            str(order_id), Action.FAILED, reason, kind=Kind.CREDIT, transient=transient
        )
