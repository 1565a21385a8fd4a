"""``status``: what was issued, what failed and why, what waits for payment (the ledger only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from igest_sync.errors import IgestSyncError, UsageError
from igest_sync.models import IN_FLIGHT, Kind, OrderStatus, WorkState
from igest_sync.runs.credits.cancellations import PAID_AGAIN, noted_paid_again
from igest_sync.runs.invoicing.review_list import WaitingDraft, waiting_drafts
from igest_sync.runs.report import counted
from igest_sync.runs.services import JumpsellerApi
from igest_sync.state.database import moment
from igest_sync.state.inbox import LAST_SWEEP, LAST_WEBHOOK, SWEEP_MINUTES, Degraded, serve_down
from igest_sync.state.ledger import DocumentRecord, Ledger, OrderRecord, WorkRecord
from igest_sync.state.meta import STORE_NAME
from igest_sync.timeutil import lisbon_minute

# How far an invoice's final credit notes go (``credit_state`` in --json).
CREDITED = "credited"
PARTLY_CREDITED = "partly credited"

DEFAULT_LIMIT = 20  # the newest documents shown when nothing else is asked for

# The store's name (state/meta.py) is asked again weekly: `status` contacts no service.
STORE_NAME_AT = "store_name_at"
STORE_NAME_MAX_AGE = timedelta(days=7)


def remember_store_name(ledger: Ledger, jumpseller: JumpsellerApi, now: datetime) -> None:
    """Ask Jumpseller for the store's name when the remembered one is missing or a week old.
    A failure costs nothing but the title: status falls back to the login."""
    at = ledger.get_meta(STORE_NAME_AT)
    if at is not None and now - datetime.fromisoformat(at) < STORE_NAME_MAX_AGE:
        return
    try:
        name = str(jumpseller.store_info().get("name") or "").strip()
    except IgestSyncError:
        return
    if name:
        ledger.set_meta(STORE_NAME, name)
    ledger.set_meta(STORE_NAME_AT, now.isoformat(timespec="seconds"))


@dataclass(frozen=True)
class DocumentFilter:
    """Which documents ``status`` lists: the newest ``limit`` (None: all) of those selected."""

    limit: int | None = DEFAULT_LIMIT
    since: date | None = None  # documents dated on or after this day
    order_id: int | None = None
    failed_only: bool = False  # only the failed orders, no documents


@dataclass
class StatusReport:
    documents: list[DocumentRecord]
    failed: list[tuple[WorkRecord, OrderRecord | None]]
    waiting: list[OrderRecord]  # paid, no document yet, not failed (in flight or pending)
    open_orders: list[OrderRecord]
    checkpoint: int | None
    last_run_at: str | None
    last_success_at: str | None
    late: list[tuple[int, str, float]] = field(default_factory=list)  # order, paid_at, hours
    # An invoice's credit notes (an order may have several partial ones) and how far they go.
    credit_notes: dict[int, list[str]] = field(default_factory=dict)  # order -> NC numbers
    credit_state: dict[int, str] = field(default_factory=dict)  # order -> CREDITED or PARTLY
    store: str | None = None  # the Jumpseller store (from the config), when known
    documents_total: int = 0  # documents matching the filter, listed or not
    issued_yet: bool = True  # False on a fresh install (no state file)
    # `serve` on this state: its last verified webhook, its last sweep, hints not yet worked.
    last_webhook_at: str | None = None
    last_sweep_at: str | None = None
    hints_waiting: int = 0
    # Review mode: invoices stopped at a checked draft that wait for `igest-sync approve`.
    review: list[WaitingDraft] = field(default_factory=list)
    # Invoices another integration issued, recorded by `adopt` (document ids).
    elsewhere: set[str] = field(default_factory=set)
    realtime: Degraded | None = None  # serve saw that webhooks stopped reaching it
    serve_down: Degraded | None = None  # serve stopped, or its sweeps stopped coming
    failed_only: bool = False  # `status --failed`: the failures only, no documents
    since: date | None = None  # `status --since DATE`: the documents from that day
    # `status --order N`: the order asked for, and what the runs recorded of it (None: no run
    # has seen it), so that "no document" is said, and why, instead of an empty table.
    asked_order: int | None = None
    order: OrderRecord | None = None
    # That order, paid again after its invoice was credited in full: what a person does (the
    # runs tell it once; `reconcile` flags it as paid_again).
    paid_again: str | None = None
    # Hours since an invoice run (cron's, serve's sweep, one by hand) last ended: None before
    # the first. A paid order no run has listed is in no list above, late or not.
    unlooked_hours: float | None = None

    @property
    def credited_by(self) -> dict[int, str]:
        """order -> its credit notes' numbers, as one text ("NC A/2, NC A/3")."""
        return {order: ", ".join(numbers) for order, numbers in self.credit_notes.items()}

    @property
    def documents_not_listed(self) -> int:
        return max(0, self.documents_total - len(self.documents))

    def late_beyond(self, hours: float) -> list[tuple[int, str, float]]:
        return [item for item in self.late if item[2] > hours]

    def unlooked_beyond(self, hours: float) -> str | None:
        """What ``--fail-if-late HOURS`` says when no run has ended for longer than that: the
        orders paid since are unseen, so no list can call them late, and a check that only
        read the lists stayed green while the timer was broken or ``serve`` was dead."""
        if self.unlooked_hours is None or self.unlooked_hours <= hours:
            return None
        last = moment(self.last_run_at)
        return (
            f"No invoice run has ended for {self.unlooked_hours:.0f} hours (the last at "
            f"{lisbon_minute(last) if last else self.last_run_at}): an order paid since would "
            "be late unseen. Check that the timer (or `serve`) runs and what its log says; "
            "`igest-sync invoice` looks now."
        )

    @property
    def exit_code(self) -> int:
        """0: status shows the picture; ``--fail-if-late`` decides on lateness itself."""
        return 0

    def summary(self) -> str:
        return (
            f"{len(self.documents)} documents shown, {len(self.failed)} failed, "
            f"{len(self.waiting)} in progress, {len(self.open_orders)} waiting for payment"
            + (
                f", {counted(len(self.review), 'draft')} waiting for approval"
                if self.review
                else ""
            )
        )

    def to_json(self) -> dict:
        down = self.serve_down
        off = down or self.realtime
        return {
            "store": self.store,
            "issued_yet": self.issued_yet,
            "documents_total": self.documents_total,
            "issued_elsewhere": len(self.elsewhere),
            "documents": [
                {
                    "order_id": d.order_id,
                    "kind": d.kind,
                    "number": d.number,
                    "type": d.type,
                    "date": d.date,
                    "customer": d.customer,
                    "gross_total": str(d.gross_total),
                    "status": d.status,
                    "atcud": d.atcud,
                    "document_id": d.document_id,
                    "linked": d.linked,
                    "issued_at": d.issued_at,
                    "issued_elsewhere": d.document_id in self.elsewhere,
                    "credited_by": self.credited_by.get(d.order_id)
                    if d.kind == Kind.INVOICE
                    else None,
                    "credit_notes": self.credit_notes.get(d.order_id, [])
                    if d.kind == Kind.INVOICE
                    else None,
                    "credit_state": self.credit_state.get(d.order_id)
                    if d.kind == Kind.INVOICE
                    else None,
                }
                for d in self.documents
            ],
            "failed": [
                {
                    "order_id": w.order_id,
                    "kind": w.kind,
                    "error": w.error,
                    "attempts": w.attempts,
                    "transient": w.transient,
                    "paid_at": o.paid_at if o else None,
                    "updated_at": w.updated_at,
                }
                for w, o in self.failed
            ],
            "waiting": [{"order_id": o.order_id, "paid_at": o.paid_at} for o in self.waiting],
            "review": [
                {
                    "order_id": d.order_id,
                    "customer": d.customer,
                    "total": None if d.total is None else str(d.total),
                    "paid_at": d.paid_at,
                    "waiting_since": d.waiting_since,
                }
                for d in self.review
            ],
            "open": [
                {
                    "order_id": o.order_id,
                    "created_at": o.created_at,
                    "customer": o.customer,
                    "total": str(o.total) if o.total is not None else None,
                }
                for o in self.open_orders
            ],
            "late": [{"order_id": i, "paid_at": p, "hours": round(h, 1)} for i, p, h in self.late],
            "order": None
            if self.asked_order is None
            else {
                "order_id": self.asked_order,
                "seen": self.order is not None,
                "status": self.order.status if self.order else None,
                "paid_at": self.order.paid_at if self.order else None,
                "note": self.order.note if self.order else None,
                "paid_again": self.paid_again,
            },
            "checkpoint": self.checkpoint,
            "last_run_at": self.last_run_at,
            "last_success_at": self.last_success_at,
            "serve": {
                "last_webhook_at": self.last_webhook_at,
                "last_sweep_at": self.last_sweep_at,
                "webhooks_waiting": self.hints_waiting,
                "realtime": "stopped" if down else "degraded" if self.realtime else "ok",
                "degraded_since": off.since if off else None,
                "reason": off.reason if off else None,
            },
        }


def unknown_order(order_id: int, *, fresh: bool = False) -> UsageError:
    """``status --order N`` for an order the state file knows nothing of (``fresh``: there is
    no state file yet): a usage error, exit 2 by the one error handler, never a report that
    exits 0 as if it had answered about an order that is not there."""
    if fresh:
        return UsageError(
            f"Order {order_id}: the state file knows no such order: igest-sync has not run "
            "yet (no state file).",
            hint="The first `igest-sync invoice` records every order it lists (and creates "
            "the state file); then ask again.",
        )
    return UsageError(
        f"Order {order_id}: the state file knows no such order (no run of igest-sync has "
        "listed it).",
        hint="Check the number: the order's number as Jumpseller shows it, of this store. An "
        "order placed since the last run is recorded by the next `igest-sync invoice`.",
    )


def _knows(ledger: Ledger, order_id: int) -> bool:
    """Whether the state file has anything of the order: its record, a document, any work."""
    return (
        ledger.order(order_id) is not None
        or ledger.count_documents(order_id=order_id) > 0
        or any(ledger.work(order_id, kind) is not None for kind in Kind)
    )


def empty_status(*, store: str | None = None, order_id: int | None = None) -> StatusReport:
    """``status`` before any run: nothing issued, nothing failed, nothing late; with
    ``order_id`` (``--order``), ``unknown_order``: no order is known yet."""
    if order_id is not None:
        raise unknown_order(order_id, fresh=True)
    return StatusReport(
        documents=[],
        failed=[],
        waiting=[],
        open_orders=[],
        checkpoint=None,
        last_run_at=None,
        last_success_at=None,
        store=store,
        issued_yet=False,
    )


def build_status(
    ledger: Ledger,
    *,
    now: datetime | None = None,
    limit: int | None = DEFAULT_LIMIT,
    selection: DocumentFilter | None = None,
    store: str | None = None,
    sweep_minutes: int = SWEEP_MINUTES,
) -> StatusReport:
    """The report; ``selection`` picks the documents listed (default: the newest ``limit``).

    Failed, waiting and late orders are always all of them (``--order`` narrows them to one):
    a selection of documents must never hide a problem. An order the state file knows nothing
    of raises ``unknown_order`` (a usage error).
    """
    now = now or datetime.now(UTC)
    selection = selection or DocumentFilter(limit=limit)
    only = selection.order_id
    if only is not None and not _knows(ledger, only):
        raise unknown_order(only)
    failed = [
        (w, ledger.order(w.order_id))
        for w in ledger.work_in_states(WorkState.FAILED)
        if only is None or w.order_id == only
    ]
    # Paid orders whose invoice is under way (credit notes in progress are not "waiting").
    waiting = [
        o
        for w in ledger.work_in_states(WorkState.PENDING, *IN_FLIGHT, kind=Kind.INVOICE)
        if (o := ledger.order(w.order_id)) is not None and (only is None or o.order_id == only)
    ]
    if selection.failed_only:
        documents, total = [], 0
    else:
        documents = ledger.documents(
            limit=selection.limit, since=selection.since, order_id=selection.order_id
        )
        total = ledger.count_documents(since=selection.since, order_id=selection.order_id)
    report = StatusReport(
        documents=documents,
        failed=failed,
        waiting=[] if selection.failed_only else waiting,
        open_orders=[]
        if selection.failed_only
        else [o for o in ledger.open_orders() if only is None or o.order_id == only],
        checkpoint=ledger.checkpoint,
        last_run_at=ledger.get_meta("last_run_at"),
        last_success_at=ledger.get_meta("last_success_at"),
        # The store's name as Jumpseller gives it (a run remembers it), else the login.
        store=ledger.get_meta(STORE_NAME) or store,
        documents_total=total,
        last_webhook_at=ledger.get_meta(LAST_WEBHOOK),
        last_sweep_at=ledger.get_meta(LAST_SWEEP),
        hints_waiting=ledger.hints_count(),
        review=[d for d in waiting_drafts(ledger) if only is None or d.order_id == only],
        elsewhere={d.document_id for d in ledger.issued_elsewhere().values()},
        realtime=ledger.realtime_degraded(),
        serve_down=serve_down(ledger.get_meta, now or datetime.now(UTC), sweep_minutes),
        failed_only=selection.failed_only,
        since=selection.since,
        asked_order=only,
        order=ledger.order(only) if only is not None else None,
    )
    if (last_run := moment(report.last_run_at)) is not None:
        report.unlooked_hours = (now - last_run).total_seconds() / 3600
    if (
        report.order is not None
        and report.order.status == OrderStatus.PAID
        and noted_paid_again(ledger, report.order.order_id)
        and ledger.credited_in_full(report.order.order_id)
    ):
        report.paid_again = PAID_AGAIN.format(order=report.order.order_id) + "."
    # A credit note may fall outside the documents listed: ask for each listed invoice's order
    # (one query over the credit notes, which are few).
    shown = {d.order_id: d for d in documents if d.kind == Kind.INVOICE}
    for order_id, notes in ledger.credit_documents_by_order(set(shown)).items():
        report.credit_notes[order_id] = [n.number or n.document_id for n in notes]
        credited = sum((n.gross_total for n in notes), Decimal(0))
        full = credited >= shown[order_id].gross_total
        report.credit_state[order_id] = CREDITED if full else PARTLY_CREDITED
    # A paid order's invoice is due on the payment day: flag those waiting more than a day.
    # (A failed credit note is not a late invoice: its invoice was issued.)
    pending_paid = [o for w, o in failed if o is not None and w.kind == Kind.INVOICE] + waiting
    # A draft waiting for approval is not issued either: it counts as late like the others.
    pending_paid += [o for d in report.review if (o := ledger.order(d.order_id)) is not None]
    for order in pending_paid:
        if order.paid_at and order.status == OrderStatus.PAID:
            hours = (now - datetime.fromisoformat(order.paid_at)) / timedelta(hours=1)
            report.late.append((order.order_id, order.paid_at, hours))
    report.late.sort(key=lambda item: -item[2])
    return report
