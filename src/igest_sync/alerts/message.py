"""One message from many events: a subject, plain text and HTML for email, a compact text for chat.

Privacy: the chat text carries the order id, the amount and the reason, never the customer's
NIF, address or email; the customer's name goes into email only, and only with
``[alerts] include_customer = true``. A reason is our own text (never the order's personal
fields), and the NIFs that reasons quote are masked in chat all the same.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from igest_sync.alerts.events import Event
from igest_sync.fiscal.money import CENT, eur

# A chat message must fit the service's limit (Discord 2,000 characters, ntfy 4,096 bytes).
CHAT_LIMITS = {"discord": 1900, "ntfy": 3800, "slack": 3800, "teams": 20000, "json": 100_000}
_NIF = re.compile(r"\b(?:[A-Z]{2})?\d{8,12}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # email, plain text
    html: str  # email, the HTML alternative
    chat: str  # one compact message for the webhook (already without personal data)
    items: tuple[dict[str, Any], ...] = ()  # the events, for the json webhook format


def _amount(event: Event) -> str:
    return f" ({_eur(event.amount)} EUR)" if event.amount else ""


def _eur(amount: str | None, *, grouped: bool = True) -> str:
    """An event's amount (text: the ledger's, Jumpseller's "109.5") as money: "1,109.50" in
    the texts, "1109.50" in the json format's ``amount``; text that is not a number as it is."""
    if not amount:
        return ""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return amount
    if not value.is_finite():
        return amount
    return eur(value, unit=False) if grouped else str(value.quantize(CENT))


def _private(text: str) -> str:
    """A reason as chat may show it: NIFs and email addresses masked."""
    return _EMAIL.sub("[email]", _NIF.sub(lambda m: "[NIF]" if len(m[0]) >= 9 else m[0], text))


def subject_for(events: list[Event], store: str) -> str:
    if len(events) == 1:
        return f"igest-sync {store}: {events[0].title}"
    kinds: dict[str, int] = defaultdict(int)
    for event in events:
        kinds[event.kind] += 1
    parts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    return f"igest-sync {store}: {len(events)} alerts ({parts})"


def store_names(store: str, store_name: str | None) -> tuple[str, str]:
    """How a message names the store: short (subject, chat), and in full (the body). ``store``:
    the config's store code (the Jumpseller login unless set); ``store_name``: its name, as the
    runs last read it from Jumpseller, which a person knows it by."""
    short = store_name or store
    full = f"{store_name} ({store})" if store_name and store_name != store else store
    return short, full


def compose(
    events: list[Event],
    *,
    store: str,
    include_customer: bool,
    chat_format: str,
    store_name: str | None = None,
) -> Message:
    """The message for ``events`` (at least one), every event listed; the store named as
    ``store_names`` says."""
    short, called = store_names(store, store_name)
    subject = subject_for(events, short)
    lines = [f"igest-sync for the store {called} needs a person:", ""]
    rows = []
    for event in events:
        who = f" — {event.customer}" if include_customer and event.customer else ""
        lines.append(f"* {event.title}{_amount(event)}{who}")
        if event.reason:
            lines.append(f"  Why: {event.reason}")
        if event.fix:
            lines.append(f"  Fix: {event.fix}")
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(cell)}</td>"
                for cell in (
                    str(event.order_id or ""),
                    _eur(event.amount),
                    *([event.customer or ""] if include_customer else []),
                    event.title,
                    event.reason,
                )
            )
            + f"<td><code>{html.escape(event.fix)}</code></td></tr>"
        )
    lines += ["", "All of them: igest-sync status"]
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Order", "Amount", *(["Customer"] if include_customer else []), "What", "Why")
    )
    body = (
        f"<html><body><p>igest-sync for the store <b>{html.escape(called)}</b> needs a "
        f'person:</p><table border="1" cellpadding="4" style="border-collapse:collapse">'
        f"<tr>{head}<th>Fix</th></tr>{''.join(rows)}</table>"
        "<p>All of them: <code>igest-sync status</code></p></body></html>"
    )
    items = tuple(
        {
            "kind": e.kind,
            "order_id": e.order_id,
            "amount": _eur(e.amount, grouped=False) or None,
            "title": e.title,
            "reason": _private(e.reason),
            "fix": e.fix,
        }
        for e in events
    )
    chat = chat_text(events, store=short, limit=CHAT_LIMITS.get(chat_format, 3800))
    return Message(subject, "\n".join(lines) + "\n", body, chat, items)


def chat_text(events: list[Event], *, store: str, limit: int) -> str:
    """One compact text: a line per event; grouped by reason when that does not fit; cut
    with "and N more" as a last resort (the email and `igest-sync status` list them all)."""
    head = f"igest-sync {store}: {len(events)} alert{'s' if len(events) > 1 else ''}"
    lines = [f"• {e.title}{_amount(e)}: {_private(e.reason)} → {e.fix}" for e in events]
    text = "\n".join([head, *lines])
    if len(text) <= limit:
        return text
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        groups[(event.kind, _private(event.reason))].append(event)
    for with_amounts in (True, False):
        lines = []
        for (kind, reason), members in groups.items():
            ids = ", ".join(
                f"{e.order_id}{f' ({_eur(e.amount)})' if with_amounts and e.amount else ''}"
                for e in members
                if e.order_id
            )
            lines.append(f"• {len(members)} {kind}: {reason}" + (f" — orders {ids}" if ids else ""))
        text = "\n".join([head, *lines, "Fix each: igest-sync status --failed"])
        if len(text) <= limit:
            return text
    tail = "\n… and more: igest-sync status --failed lists them all"
    return text[: limit - len(tail)].rsplit(" ", 1)[0] + tail
