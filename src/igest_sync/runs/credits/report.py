"""What a credit's work records (``StoredRequest``) and ``credit`` reports (``CreditReport``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from igest_sync.fiscal.credit import CreditPlan, CreditRequest
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.models import Action, DocumentOutcome
from igest_sync.state.ledger import WorkRecord


@dataclass(frozen=True)
class StoredRequest:
    """What the credit work records: the request and how it is issued, so that a resumed run
    issues the very NC that was asked for (same lines, reason and restock). ``occurrence``: 1
    for a request, 2 for its first ``--again`` ..."""

    request: CreditRequest
    reason: str
    restock: bool
    occurrence: int = 1

    def identity(self, order_id: int) -> RequestIdentity:
        return RequestIdentity.of(order_id, self.request, self.reason)

    def to_json(self) -> str:
        data = json.loads(self.request.to_json())
        data.update(reason=self.reason, restock=self.restock, occurrence=self.occurrence)
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    def again(self, occurrence: int) -> StoredRequest:
        return replace(self, occurrence=occurrence)

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
            int(data.get("occurrence") or 1),
        )

    def command(self, order_id: int, *, again: bool = False) -> str:
        """The command that asks for this request (a person types it again to finish it)."""
        reason = json.dumps(self.reason, ensure_ascii=False)
        text = f"igest-sync credit {order_id} --reason {reason} {self.request.describe()}"
        return text + (" --again" if again else "")


@dataclass
class CreditReport:
    """One ``credit`` command: what was planned, whether it was confirmed, what was issued."""

    order_id: int
    plan: CreditPlan | None = None
    outcome: DocumentOutcome | None = None
    dry_run: bool = False
    declined: bool = False
    resumed: str | None = None  # an unfinished request this command finished
    # The outcome is not known (iGEST's answer was lost and could not be read back): the
    # credit note may exist; running the command again finishes it without a second one.
    unknown: bool = False
    notices: list[str] = field(default_factory=list)
    seq: int | None = None  # the credit work this command's outcome is about
    # Refused because the request names what the invoice does not have: exit 2 (usage).
    usage_error: bool = False

    @property
    def alert_notices(self) -> list[str]:
        return list(self.notices)

    @property
    def exit_code(self) -> int:
        if self.outcome is None or self.outcome.action != Action.FAILED:
            return 0
        return 2 if self.usage_error else 1

    def summary(self) -> str:
        if self.dry_run and self.plan is not None:
            return (
                f"Dry run: would credit {self.plan.gross_total} EUR of "
                f"{self.plan.original_number} for order {self.order_id}; nothing was written."
            )
        if self.dry_run and self.outcome is not None:
            return f"Dry run: order {self.order_id}: {self.outcome.detail}"
        if self.declined:
            return f"Not confirmed: no credit note was issued for order {self.order_id}."
        if self.outcome is None:
            return f"No credit note was issued for order {self.order_id}."
        if self.unknown:
            return f"Order {self.order_id}: {self.outcome.detail}"
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
            "unknown": self.unknown,
            "plan": self.plan.to_json() if self.plan else None,
        }
