"""What an alert is about: one event (what happened, to which order, the amount, the reason, and
the command that fixes it), and how the events are found.

An event has a ``base_key`` (what it is about: order + kind + reason, a service's outage, a
run error); ``dispatch`` turns it into an occurrence the first time, and again as a reminder
after ``remind_failed_hours``, the rule cron output follows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from igest_sync.errors import (
    ApiError,
    AuthError,
    IgestSyncError,
    RunLocked,
    StateError,
)
from igest_sync.models import REJECTED
from igest_sync.redact import redact
from igest_sync.timeutil import lisbon_minute

if TYPE_CHECKING:
    from collections.abc import Callable

    from igest_sync.config import Config
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.work import WorkRecord

# The kinds of event, as their rows and messages name them.
FAILED = "failed"  # an order's invoice or credit note failed and a person must act
NOTICE = "notice"  # a document not attached, a cancelled order to credit by hand ...
LATE = "late"  # a paid order without its document for more than [alerts] late_hours
RUN = "run"  # a whole run stopped: credentials refused, a state file, an internal error
UNREACHABLE = "unreachable"  # a service down for more than [alerts] unreachable_minutes
REALTIME = "realtime"  # serve: Jumpseller's webhooks stopped reaching it (serve/watch.py)

_ORDER = re.compile(r"\border (\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Event:
    kind: str
    base_key: str
    title: str  # one line: what happened
    order_id: int | None = None
    amount: str | None = None  # the order's total, as text (Decimal, never a float)
    reason: str = ""
    fix: str = ""  # the command (or step) that fixes it
    customer: str | None = None  # the customer's name: email only, with include_customer

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Event:
        data: dict[str, Any] = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _fix_for(order_id: int, kind: str, reason: str, transient: bool) -> str:
    if transient:
        # As the printed footer says (render/invoicing.failure_advice): every run retries it,
        # serve within seconds; `resend` would only do the same. The alert comes once it has
        # lasted, so the service is what needs a look.
        return (
            "nothing to do for the order: igest-sync retries it by itself (serve within "
            "seconds) until the service answers; igest-sync check tells which one does not"
        )
    if kind == "credit":
        return (
            f"igest-sync status --order {order_id}, then igest-sync credit {order_id} --reason ..."
        )
    if "NIF" in reason:
        return f"igest-sync resend {order_id} --nif NIF (or --as-consumer)"
    return f"igest-sync resend {order_id} (after fixing the cause; see igest-sync status)"


def failure_events(ledger: Ledger, *, lasted: Callable[[WorkRecord], bool]) -> list[Event]:
    """Every failed piece of work a person must act on, and of those the runs keep retrying by
    themselves (a service down), the ones that have ``lasted`` too long."""
    events = []
    for work in ledger.work_in_states("failed"):
        if work.transient and not lasted(work):
            continue
        if (work.error or "").startswith(REJECTED):
            continue  # approve --reject: the person who rejected it knows (status lists it)
        order = ledger.order(work.order_id)
        reason = work.error or "no reason recorded"
        what = "invoice" if work.kind == "invoice" else "credit note"
        # A failure that passes by itself is one event however its words change between
        # attempts (the POST's 502, then the look-up's): keyed by its text, one order sent two
        # alerts three seconds apart during an outage.
        said = "passing" if work.transient else digest(reason)
        events.append(
            Event(
                kind=FAILED,
                base_key=f"failed:{work.order_id}:{work.kind}:{work.seq}:{said}",
                title=f"Order {work.order_id}: the {what} was not issued",
                order_id=work.order_id,
                amount=str(order.total) if order and order.total is not None else None,
                reason=reason,
                fix=_fix_for(work.order_id, work.kind, reason, work.transient),
                customer=order.customer if order else None,
            )
        )
    return events


def late_events(ledger: Ledger, config: Config, now: datetime) -> list[Event]:
    """Paid orders older than ``late_hours`` without their document (a legal deadline).

    An order whose failure a person must fix already has its own alert; this catches the rest
    (stuck pending, waiting for VIES, retried without success)."""
    hours = config.alerts.late_hours
    events = []
    for row in ledger.paid_without_invoice(now - timedelta(hours=hours)):
        if row["state"] == "failed" and not row["transient"]:
            continue
        order_id = row["order_id"]
        state = row["state"]
        paid = _when(row["paid_at"])
        reason = f"paid at {paid}, no document after {hours} hours (invoice: {state})"
        if row["error"]:
            reason += f": {row['error']}"
        # Review mode: its checked draft waits for a person, who finalizes it with approve.
        fix = (
            f"igest-sync approve {order_id} (or approve --reject {order_id})"
            if state == "review"
            else f"igest-sync status --order {order_id}; igest-sync resend {order_id}"
        )
        events.append(
            Event(
                kind=LATE,
                base_key=f"late:{order_id}",
                title=f"Order {order_id}: paid more than {hours} hours ago, still no invoice",
                order_id=order_id,
                amount=row["total"],
                reason=reason,
                fix=fix,
                customer=row["customer"],
            )
        )
    return events


# Notices about the store rather than an order: their title and what to run (prefix -> ...).
_STORE_NOTICES = {
    "Small-business exemption (art. 53 CIVA)": (
        "Small-business exemption (art. 53): the year's turnover",
        "igest-sync check",
    ),
    "From 1 January 2027 a PDF": (
        "1 January 2027: confirm the qualified seal in iGEST",
        "igest-sync check",
    ),
}


def notice_events(notices: list[str]) -> list[Event]:
    events = []
    for text in dict.fromkeys(notices):  # once each, in order
        found = _ORDER.search(text)
        order_id = int(found.group(1)) if found else None
        title = f"Order {order_id}: needs a look" if order_id else "A notice from igest-sync"
        fix = _notice_fix(text, order_id)
        for prefix, (store_title, store_fix) in _STORE_NOTICES.items():
            if text.startswith(prefix):
                order_id, title, fix = None, store_title, store_fix
        events.append(
            Event(
                kind=NOTICE,
                base_key=f"notice:{digest(text)}",
                title=title,
                order_id=order_id,
                reason=text,
                fix=fix,
            )
        )
    return events


def _notice_fix(text: str, order_id: int | None) -> str:
    if order_id is None:
        return "igest-sync status"
    if f"igest-sync approve {order_id}" in text:  # review mode: a draft waits for a person
        return f"igest-sync approve {order_id} (or approve --reject {order_id})"
    return f"igest-sync status --order {order_id}"


def run_error_event(exc: BaseException, command: str, secrets: Sequence[str] = ()) -> Event:
    """The event of a run that stopped on ``exc`` (not for passing network trouble: see
    ``dispatch``, which waits ``unreachable_minutes`` for those). An internal error's repr
    quotes whatever it met: ``secrets`` are masked in it, as the console masks it (our own
    errors' messages are built masked)."""
    if isinstance(exc, IgestSyncError):
        message = str(exc)
    else:
        message = f"internal error: {redact(repr(exc), secrets)}"
    hint = getattr(exc, "hint", None)
    if isinstance(exc, AuthError):
        title = f"{exc.service} refused the credentials: `igest-sync {command}` stopped"
        fix = hint or "Check the credentials in the config, then: igest-sync check"
    elif isinstance(exc, RunLocked):  # a StateError by its exit code only: the state file is fine
        title = _locked_title(command, exc.held_for)
        fix = hint or (_SERVE_LOCKED_FIX if command == "serve" else _LOCKED_FIX)
    elif isinstance(exc, StateError):
        title = f"The state file cannot be used: `igest-sync {command}` stopped"
        fix = hint or "See the message; then run igest-sync check"
    elif isinstance(exc, IgestSyncError):
        title = f"`igest-sync {command}` stopped"
        fix = hint or "See the message; igest-sync check tells what is wrong"
    else:
        title = f"`igest-sync {command}` stopped on an internal error"
        fix = "A bug in igest-sync: the traceback is in the log file; run again with --verbose"
    kind = type(exc).__name__
    # A lock held on: one alert (then its reminders) while the same run holds it, not one per
    # cron run because its message counts the minutes and the seconds waited.
    keyed = _COUNTED.sub("#", message) if isinstance(exc, RunLocked) else message
    return Event(
        kind=RUN,
        base_key=f"run:{kind}:{digest(keyed)}",
        title=title,
        reason=message,
        fix=fix,
    )


_LOCKED_FIX = (
    "Wait for that run to end: the next run does what this one did not. If it does not end, "
    "find the process that holds the lock (the pid in the message): a command waiting at its "
    "question, or one stopped with Ctrl-Z"
)


# What a lock's message counts ("for 7 minutes", "waited 120 s"), left out of its alert's key.
_COUNTED = re.compile(r"\d+ (?:minutes?|s)\b")


# serve does not stop: its work waits for the lock, held too long by another run.
_SERVE_LOCKED_FIX = (
    "End that run (answer its question, or resume it with fg); serve goes on by itself"
)


def _locked_title(command: str, held_for: float | None) -> str:
    # Minutes only once they say something: a lock held for seconds is an overlapping run.
    if held_for is None or held_for < 60:
        held = "holds the lock"
    else:
        minutes = round(held_for / 60)
        held = f"has held the lock for {minutes} minute{'' if minutes == 1 else 's'}"
    then = "waits, nothing is invoiced" if command == "serve" else "stopped"
    return f"Another igest-sync run {held}: `igest-sync {command}` {then}"


def unreachable_title(service: str, since: datetime, now: datetime) -> str:
    """What a person is told of an outage that has lasted: the alert's title, and what
    ``serve`` prints (its duration counted from the first failure)."""
    minutes = int((now - since) / timedelta(minutes=1))
    unit = "minute" if minutes == 1 else "minutes"
    return f"{service} has been unreachable for {minutes} {unit}; nothing is invoiced"


def unreachable_event(exc: ApiError, since: datetime, now: datetime) -> Event:
    return Event(
        kind=UNREACHABLE,
        base_key=f"unreachable:{exc.service}:{since.isoformat(timespec='seconds')}",
        title=unreachable_title(exc.service, since, now),
        reason=str(exc),
        fix="Nothing to do if the service comes back (the next run catches up); "
        "igest-sync check tells whether it answers",
    )


def realtime_event(since: str, reason: str, fix: str) -> Event:
    """serve's real time degraded since ``since``: one alert per degradation (its moment is
    in the key), reminded like the others while it lasts."""
    return Event(
        kind=REALTIME,
        base_key=f"realtime:{since}",
        title="Webhooks no longer reach igest-sync serve: orders wait for the sweep",
        reason=reason,
        fix=fix,
    )


def _when(stamp: str | None) -> str:
    """The ledger's UTC stamp as a person reads it (Lisbon time), or as it is if unreadable."""
    try:
        return f"{lisbon_minute(datetime.fromisoformat(stamp or ''))} (Lisbon)"
    except ValueError:
        return stamp or "an unknown time"
