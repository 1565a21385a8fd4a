"""1 January 2027: a PDF counts as an electronic invoice only with a qualified electronic
signature or seal (Lei 73-A/2025). igest-sync never builds nor alters a PDF: the document
attached to the Jumpseller order is a link to iGEST's own PDF, and the customer's email is sent
by iGEST. Whether that PDF carries the seal is iGEST's setting, so the merchant who attaches or
emails documents is reminded, once, to confirm it is on.

The reminder comes from 2027-01-01 with ``check`` or the first run that changes something,
whichever comes first; the ledger remembers it (``check`` without a state file always shows it).
A merchant who has confirmed it sets ``[invoice] qualified_seal = true``: no reminder at all.
"""

from __future__ import annotations

from datetime import date

from igest_sync.config import InvoiceConfig
from igest_sync.state.ledger import Ledger

SEAL_FROM = date(2027, 1, 1)
REMINDED_KEY = "qualified_seal_reminded"

REMINDER = (
    "From 1 January 2027 a PDF counts as an electronic invoice only with a qualified electronic "
    "signature or seal (Lei 73-A/2025). igest-sync {how}, and never builds or alters a PDF: "
    "confirm in iGEST that the qualified seal is on for the documents it sends."
)


def applies(settings: InvoiceConfig, today: date) -> bool:
    """From 2027, for a store whose documents reach the customer through igest-sync."""
    return (
        today >= SEAL_FROM
        and not settings.qualified_seal
        and (settings.link_documents or settings.email_customer)
    )


def reminder_text(settings: InvoiceConfig) -> str:
    ways = []
    if settings.link_documents:
        ways.append("attaches iGEST's own document to the Jumpseller orders (a link to its PDF)")
    if settings.email_customer:
        ways.append("has iGEST email its document to the customer")
    return REMINDER.format(how=" and ".join(ways))


def seal_reminder(settings: InvoiceConfig, ledger: Ledger | None, today: date) -> str | None:
    """The reminder, once: None before 2027, when nothing reaches the customer through
    igest-sync, or when it was given already (it is then remembered in ``ledger``)."""
    if not applies(settings, today):
        return None
    if ledger is not None:
        if ledger.get_meta(REMINDED_KEY):
            return None
        ledger.set_meta(REMINDED_KEY, today.isoformat())
    return reminder_text(settings)


def reminded_on(ledger: Ledger | None) -> str | None:
    """The day the reminder was given, if it was."""
    return ledger.get_meta(REMINDED_KEY) if ledger is not None else None
