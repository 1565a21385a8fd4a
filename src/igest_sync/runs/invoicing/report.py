"""The report of ``invoice``, ``resend`` and ``credit``: one outcome per order, and notices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from igest_sync.models import Action, DocumentDraft, DocumentFacts, DocumentOutcome, Kind
from igest_sync.runs.report import counted

if TYPE_CHECKING:
    from igest_sync.errors import ApiError
    from igest_sync.state.ledger import Ledger, WorkRecord


@dataclass
class InvoiceReport:
    outcomes: list[DocumentOutcome] = field(default_factory=list)
    drafts: list[DocumentDraft] = field(default_factory=list)  # dry run: what would be issued
    # Dry run: the drafts waiting for approval that the run would finalize (review turned off,
    # or the automatic hour), each as the order makes it now.
    finalizing: list[DocumentDraft] = field(default_factory=list)
    checkpoint: int | None = None
    dry_run: bool = False
    review: bool = False  # review mode: a dry run's invoices would stop at drafts to approve
    notices: list[str] = field(default_factory=list)  # link-back/email problems, duplicates
    # Failed earlier for a reason a person must fix; not retried by this run, still not done.
    still_failed: list[DocumentOutcome] = field(default_factory=list)
    # Failures already shown to a person whose reminder is not due: not printed, no exit 1
    # (cron mails only what changed); `status` lists them.
    quiet: list[DocumentOutcome] = field(default_factory=list)
    # Notices shown by an earlier run whose reminder is not due: not printed.
    quiet_notices: list[str] = field(default_factory=list)
    # Of ``quiet``, the failures of this run (not those left from earlier runs): passing by
    # themselves and not lasting yet, or shown before and not due for their reminder. Not
    # printed, but the summary (also the log's line) counts them: the run did fail them.
    retrying: int = 0
    shown_before: int = 0

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    def issued(self, kind: Kind = Kind.INVOICE) -> int:
        """The documents of ``kind`` this run issued: its invoices, or the credit notes its
        credit pass issued for orders cancelled after their invoice (counted apart, as a dry
        run's "would issue" and "would credit" are)."""
        return sum(
            1
            for o in self.outcomes
            if o.action == Action.ISSUED and (o.kind or Kind.INVOICE) == kind
        )

    @property
    def alert_notices(self) -> list[str]:
        """Every notice, those kept off the terminal until their reminder too: the alerts
        record each once and remind by their own rule."""
        return self.notices + self.quiet_notices

    @property
    def needs_a_person(self) -> bool:
        """Whether a person must read this report even off a terminal (cron mails what is
        printed): a failure, a notice, or a failure left from an earlier run. The one rule
        ``invoice``, ``resend`` and ``serve`` print by; what is kept quiet is not in it."""
        return bool(self.failed or self.notices or self.still_failed)

    @property
    def has_news(self) -> bool:
        """Whether the run did anything to tell of: ``serve`` prints no "Issued 0" line for
        each sweep that found nothing to do."""
        return bool(self.outcomes) or self.needs_a_person

    @property
    def drafted_again(self) -> list[DocumentOutcome]:
        """Dry run: the drafts waiting for approval that the real run would make again for
        another look: the "would draft" of an order with no new draft in ``drafts`` (in review
        mode, a new order's is "would draft" too)."""
        new = {str(d.order_id) for d in self.drafts}
        return [o for o in self.outcomes if o.action == Action.WOULD_DRAFT and o.key not in new]

    @property
    def failed(self) -> int:
        """Orders that failed (in a dry run: would fail)."""
        return self.count(Action.FAILED) + self.count(Action.WOULD_FAIL)

    @property
    def exit_code(self) -> int:
        """1 while a paid order is left failed, shown or not: a failure kept quiet (told
        before and not yet due for its reminder, or passing by itself and not yet lasting)
        prints nothing, but the run did not finish its work, and cron, systemd or a script
        must not read it as done."""
        unissued = any(
            o.action == Action.FAILED and o.kind in (None, Kind.INVOICE) for o in self.quiet
        )
        # An order waiting for VIES is as unissued as one a 502 left: it exited 0, so a
        # systemd unit or a script read the run as done while a paid order had no invoice.
        waiting = any(
            o.action == Action.WAITING and o.kind in (None, Kind.INVOICE)
            for o in (*self.outcomes, *self.quiet)
        )
        return 1 if self.failed or self.still_failed or unissued or waiting else 0

    def summary(self) -> str:
        if self.dry_run:
            adopt = self.count(Action.WOULD_ADOPT)
            skip = self.count(Action.WOULD_SKIP)
            finalize = self.count(Action.WOULD_FINALIZE)
            redraft = len(self.drafted_again)
            credit = self.count(Action.WOULD_CREDIT)
            return (
                (
                    f"Dry run: would draft {len(self.drafts)} for approval (review mode)"
                    if self.review
                    else f"Dry run: would issue {len(self.drafts)}"
                )
                + (
                    f", would finalize {counted(finalize, 'draft')} waiting for approval "
                    + ("(automatic hour)" if self.review else "(review is off)")
                    if finalize
                    else ""
                )
                + (f", would draft {redraft} again for approval" if redraft else "")
                + (f", would adopt {adopt} already in iGEST" if adopt else "")
                + (f", would credit {counted(credit, 'cancelled order')}" if credit else "")
                + f", would fail {self.failed}"
                + (f", would skip {skip}" if skip else "")
                + "; nothing was written."
            )
        adopted = self.count(Action.ADOPTED)
        waiting = self.count(Action.WAITING)
        drafted = self.count(Action.DRAFTED)
        credited = self.issued(Kind.CREDIT)
        return (
            f"Issued {self.issued()}"
            + (f", {counted(credited, 'credit note')}" if credited else "")
            # Found final in iGEST (an earlier attempt's, whose answer was lost): not issued now.
            + (f", adopted {adopted} already in iGEST" if adopted else "")
            + f", failed {self._failed_here()}, skipped {self.count(Action.SKIPPED)}"
            + (f", waiting {waiting}" if waiting else "")
            + (
                f", {counted(drafted, 'draft')} waiting for approval (igest-sync approve)"
                if drafted
                else ""
            )
        )

    def _failed_here(self) -> str:
        """This run's failures, those kept quiet included, and why those were not printed."""
        total = self.failed + self.retrying + self.shown_before
        quiet = [(self.retrying, "will retry by itself"), (self.shown_before, "shown before")]
        why = [(f"{n} " if n < total else "") + what for n, what in quiet if n]
        return f"{total}" + (f" ({', '.join(why)})" if why else "")

    def to_json(self) -> dict[str, Any]:
        dry = (
            # Drafts waiting for approval that the real run would finalize (review turned off,
            # or the automatic hour), and those it would make again for another look.
            {
                "would_issue": self.count(Action.WOULD_ISSUE),
                "would_adopt": self.count(Action.WOULD_ADOPT),
                "would_skip": self.count(Action.WOULD_SKIP),
                "would_finalize": self.count(Action.WOULD_FINALIZE),
                "would_draft": len(self.drafts) if self.review else 0,
                "would_draft_again": len(self.drafted_again),
                "would_credit": self.count(Action.WOULD_CREDIT),
            }
            if self.dry_run
            else {}
        )
        return {
            "dry_run": self.dry_run,
            "issued": self.issued(),
            # Credit notes the credit pass issued for orders cancelled after their invoice.
            "credited": self.issued(Kind.CREDIT),
            "adopted": self.count(Action.ADOPTED),
            # Issued by this ledger before (a resend of a finished order): every order listed
            # is counted once, so a script can add the counts up to the orders.
            "already": self.count(Action.ALREADY),
            "failed": self.failed,
            "skipped": self.count(Action.SKIPPED),
            # Not issued yet for a reason that passes by itself (VIES did not answer).
            "waiting": self.count(Action.WAITING),
            # Review mode: checked drafts that wait for a person (igest-sync approve).
            "drafted": self.count(Action.DRAFTED),
            **dry,
            "checkpoint": self.checkpoint,
            "orders": [
                {"order_id": o.key, "action": str(o.action), "detail": o.detail, **o.facts()}
                for o in self.outcomes
            ],
            "notices": list(self.notices),
            "still_failed": [{"order_id": o.key, "error": o.detail} for o in self.still_failed],
            "quiet": [{"order_id": o.key, "error": o.detail} for o in self.quiet],
            "quiet_notices": list(self.quiet_notices),
        }


def finished_document(ledger: Ledger, order_id: int, kind: Kind, work: WorkRecord) -> DocumentFacts:
    """The document of work the ledger finished: the work's own (an order may have several
    credit notes), else the order's first of that kind."""
    docs = [d for d in ledger.documents_for(order_id) if d.kind == kind]
    doc = next((d for d in docs if d.document_id == work.document_id), None)
    doc = doc or (docs[0] if docs else None)
    return DocumentFacts(doc.number if doc else work.document_id, doc.gross_total if doc else None)


def unanswered(outcomes: list[DocumentOutcome]) -> ApiError | None:
    """What iGEST said instead of answering, when orders met it and none got a document: a
    batch or a sweep that heard nothing of iGEST (serve counts an outage by it; Jumpseller
    answering the order reads does not end one)."""
    got = (Action.ISSUED, Action.ADOPTED, Action.DRAFTED)
    if any(o.action in got for o in outcomes):
        return None
    silent = [o.unanswered for o in outcomes if o.unanswered is not None]
    return silent[-1] if silent else None
