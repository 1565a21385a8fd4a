"""The digest: what was issued, what failed and what waits, for a period; and when it is due.

``[alerts] digest = "daily"`` sends the day before at ``digest_hour`` (Lisbon time), by the
first run after that hour; ``"weekly"`` does the same on Mondays, for the week before. The
period's key (``digest:daily:2026-11-27``) makes it exactly once: ``dispatch`` records it
once, per channel, and sends it until each channel has taken it.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from igest_sync.alerts.message import CHAT_LIMITS, Message, store_names
from igest_sync.fiscal.money import eur
from igest_sync.runs.invoicing.art53 import CEILING, THRESHOLD, last_turnover, room_left
from igest_sync.timeutil import LISBON, lisbon_minute

if TYPE_CHECKING:
    from igest_sync.config import AlertsConfig, Config
    from igest_sync.state.ledger import Ledger


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime
    end: datetime


def due_period(alerts: AlertsConfig, now: datetime) -> Period | None:
    """The period whose digest is due at ``now``, or None (off, or before the hour)."""
    if alerts.digest == "off":
        return None
    local = now.astimezone(LISBON)
    day = local.date()
    if alerts.digest == "weekly":
        day -= timedelta(days=local.weekday())  # this week's Monday
    scheduled = datetime(day.year, day.month, day.day, alerts.digest_hour, tzinfo=LISBON)
    if local < scheduled:
        return None
    length = timedelta(days=7 if alerts.digest == "weekly" else 1)
    if alerts.digest == "weekly":
        year, week, _ = day.isocalendar()
        key = f"digest:weekly:{year}-W{week:02d}"
    else:
        key = f"digest:daily:{day.isoformat()}"
    # A period ends at the scheduled moment: nothing falls between two digests.
    return Period(key, scheduled - length, scheduled)


@dataclass
class DigestReport:
    start: str
    end: str
    invoices: int = 0
    invoices_total: Decimal = Decimal(0)
    credit_notes: int = 0
    credit_notes_total: Decimal = Decimal(0)
    # Invoices another integration issued, recorded by `adopt` in the period (not ours: not
    # among the documents issued).
    issued_elsewhere: int = 0
    issued_elsewhere_total: Decimal = Decimal(0)
    failed: list[dict[str, Any]] = field(default_factory=list)  # still open, a person must act
    retrying: list[dict[str, Any]] = field(default_factory=list)  # the runs retry them (VIES ...)
    waiting_payment: int = 0
    # Review mode: invoice drafts that wait for `igest-sync approve` (order, total, paid at).
    awaiting_approval: list[dict[str, Any]] = field(default_factory=list)
    gaps_found: list[int] = field(default_factory=list)  # paid orders the gap check found
    oldest_without_document: dict[str, Any] | None = None
    last_run_at: str | None = None
    last_success_at: str | None = None
    # Under the small-business exemption (art. 53): the year's turnover as the last run read
    # it from iGEST, and the room left ({year, turnover, left_to_15000, left_to_18750, on}).
    turnover: dict[str, Any] | None = None
    exit_code: int = 0

    def summary(self) -> str:
        return (
            f"{self.invoices} invoices ({_eur(self.invoices_total)} EUR), {self.credit_notes} credit "
            f"notes, {len(self.failed)} failed, {len(self.retrying)} retrying, "
            f"{self.waiting_payment} waiting for payment"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["invoices_total"] = _eur(self.invoices_total)
        data["credit_notes_total"] = _eur(self.credit_notes_total)
        data["issued_elsewhere_total"] = _eur(self.issued_elsewhere_total)
        del data["exit_code"]
        return data


def _eur(amount: Decimal) -> str:
    """Money to the cent, as documents show it (0.00, never 0)."""
    return str(amount.quantize(Decimal("0.01")))


def build_digest(ledger: Ledger, start: datetime, end: datetime, *, now: datetime) -> DigestReport:
    report = DigestReport(start=_iso(start), end=_iso(end))
    elsewhere = {d.document_id for d in ledger.issued_elsewhere().values()}
    for row in ledger.documents_issued_between(start, end):
        amount = Decimal(row["gross_total"])
        if row["document_id"] in elsewhere:
            report.issued_elsewhere += 1
            report.issued_elsewhere_total += amount
        elif row["kind"] == "credit":
            report.credit_notes += 1
            report.credit_notes_total += amount
        else:
            report.invoices += 1
            report.invoices_total += amount
    for work in ledger.work_in_states("failed"):
        item = {"order_id": work.order_id, "kind": work.kind, "reason": work.error or ""}
        (report.retrying if work.transient else report.failed).append(item)
    report.waiting_payment = len(ledger.open_orders())
    for work in ledger.work_in_states("review", kind="invoice"):
        order = ledger.order(work.order_id)
        report.awaiting_approval.append(
            {
                "order_id": work.order_id,
                "total": str(order.total) if order and order.total is not None else None,
                "paid_at": order.paid_at if order else None,
            }
        )
    report.gaps_found = ledger.gaps_found_between(start, end)
    late = ledger.paid_without_invoice(now)
    if late:
        oldest = late[0]
        report.oldest_without_document = {
            "order_id": oldest["order_id"],
            "paid_at": oldest["paid_at"],
            "hours": round((now - _moment(oldest["paid_at"])) / timedelta(hours=1), 1),
        }
    report.last_run_at = ledger.get_meta("last_run_at")
    report.last_success_at = ledger.get_meta("last_success_at")
    year = end.astimezone(LISBON).year
    counted = last_turnover(ledger, year)
    if counted is not None:  # kept only under the exemption, by the runs that read it
        total, on = counted
        report.turnover = {
            "year": year,
            "turnover": _eur(total),
            "left_to_15000": _eur(THRESHOLD - total),
            "left_to_18750": _eur(CEILING - total),
            "on": on,
        }
    return report


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=LISBON)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _local(value: str | None) -> str:
    if not value:
        return "never"
    return lisbon_minute(datetime.fromisoformat(value))


def digest_lines(report: DigestReport) -> list[str]:
    """The digest as lines of text (email and the `digest` command)."""
    lines = [
        f"Period: {_local(report.start)} to {_local(report.end)} (Lisbon)",
        f"Documents issued: {report.invoices}, total {_eur(report.invoices_total)} EUR",
        f"Credit notes: {report.credit_notes}, total {_eur(report.credit_notes_total)} EUR",
        f"Failures still open: {len(report.failed)}",
    ]
    if report.issued_elsewhere:
        lines.insert(
            3,
            f"Invoices issued elsewhere, recorded by adopt: {report.issued_elsewhere}, total "
            f"{_eur(report.issued_elsewhere_total)} EUR",
        )
    lines += [f"  order {f['order_id']} ({f['kind']}): {f['reason']}" for f in report.failed]
    lines.append(f"Retried by the runs (a service, VIES): {len(report.retrying)}")
    lines += [f"  order {f['order_id']}: {f['reason']}" for f in report.retrying]
    lines.append(f"Orders waiting for payment: {report.waiting_payment}")
    if report.awaiting_approval:
        lines.append(
            f"Drafts waiting for approval (igest-sync approve): {len(report.awaiting_approval)}"
        )
        lines += [
            f"  order {d['order_id']}: {d['total'] or '?'} EUR, paid {_local(d['paid_at'])}"
            for d in report.awaiting_approval
        ]
    if report.gaps_found:
        lines.append(
            f"Paid orders found without a document by the gap check: {len(report.gaps_found)} "
            f"(orders {', '.join(str(i) for i in report.gaps_found)})"
        )
    oldest = report.oldest_without_document
    lines.append(
        "Oldest paid order without a document: "
        + (
            f"{oldest['order_id']} (paid {_local(oldest['paid_at'])}, {_ago(oldest['hours'])})"
            if oldest
            else "none"
        )
    )
    lines.append(
        f"Last good run: {_local(report.last_success_at)} (last run: {_local(report.last_run_at)})"
    )
    year = report.turnover
    if year is not None:
        total = Decimal(year["turnover"])
        lines.append(
            f"Turnover {year['year']} (small-business exemption, art. 53, as of {year['on']}): "
            f"{eur(total)}; {room_left(year['year'], total)}"
        )
    return lines


def digest_message(report: DigestReport, config: Config, store_name: str | None = None) -> Message:
    """The digest as a message; the store named as in the alerts (``store_names``)."""
    short, store = store_names(config.jumpseller.store, store_name)
    day = _local(report.end)[:10]
    subject = f"igest-sync {short}: digest to {day}: {report.invoices} documents, " + (
        f"{len(report.failed)} failed" if report.failed else "nothing failed"
    )
    if report.awaiting_approval:
        subject += f", {len(report.awaiting_approval)} drafts to approve"
    lines = digest_lines(report)
    text = "\n".join([f"igest-sync digest for the store {store}", "", *lines, ""]) + (
        "Details: igest-sync status\n"
    )
    items = []
    for line in lines:
        if line.startswith("  "):
            items.append(f"<li style='margin-left:2em'>{html.escape(line.strip())}</li>")
        else:
            items.append(f"<li>{html.escape(line)}</li>")
    body = (
        f"<html><body><p>igest-sync digest for the store <b>{html.escape(store)}</b></p>"
        f"<ul>{''.join(items)}</ul><p>Details: <code>igest-sync status</code></p></body></html>"
    )
    chat = (
        f"igest-sync {short} digest to {day}: {report.invoices} documents "
        f"({_eur(report.invoices_total)} EUR), {report.credit_notes} credit notes, "
        f"{len(report.failed)} failed"
        + (f" (orders {_ids(report.failed)})" if report.failed else "")
        + f", {len(report.retrying)} retrying, {report.waiting_payment} waiting for payment"
        + (
            f", {len(report.awaiting_approval)} drafts waiting for approval"
            if report.awaiting_approval
            else ""
        )
        + "; "
        f"last good run {_local(report.last_success_at)}"
    )
    limit = CHAT_LIMITS.get(config.alerts.webhook_format, 3800)
    return Message(subject, text, body, chat[:limit], ({"digest": report.to_json()},))


def _ids(items: list[dict[str, Any]], most: int = 50) -> str:
    ids = ", ".join(str(item["order_id"]) for item in items[:most])
    return ids + (f" and {len(items) - most} more" if len(items) > most else "")


def message_json(message: Message) -> str:
    return json.dumps(asdict(message), ensure_ascii=False, default=str)


def message_from_json(text: str) -> Message:
    data = json.loads(text)
    data["items"] = tuple(data.get("items") or ())
    return Message(**data)


def _ago(hours: float) -> str:
    """How long a paid order has waited, as a person counts it: hours within two days, then
    days (an invoice is due on the payment day, so either way it is late)."""
    if hours < 48:
        return f"{hours:g} h ago"
    return f"{hours / 24:.1f} days ago"
