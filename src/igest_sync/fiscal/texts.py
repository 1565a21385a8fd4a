"""Texts within iGEST's limits (SAF-T's): shortened at a word with "…", control characters out.

iGEST refuses a document whose texts are too long or hold control characters (``422`` naming
the field). Such a text is never worth a failed invoice: it is shortened at the last whole word
that fits, with "…", and the merchant gets a warning. The exception is a line's reference: it is
the product's SKU, its identity in iGEST (stock, product records), so a shortened one would be
another product; a SKU longer than 60 characters refuses the order naming it.

Control characters (tabs, NUL, escape, line breaks ...) are replaced by spaces. The document's
notes are several lines (the order number, the VIES check, the gift card, the payment day, the
customer's note); iGEST takes no line break, so they travel as one text joined by
``models.NOTES_SEPARATOR`` (the iGEST adapter joins them) and the limit applies to that text.
"""

from __future__ import annotations

import unicodedata

from igest_sync.models import NOTES_SEPARATOR

# Limits in characters, as iGEST (and SAF-T) count them.
DESCRIPTION = 200
REFERENCE = 60
CUSTOMER_NAME = 100
ADDRESS = 100
CITY = 50
POSTAL_CODE = 20
NOTES = 500

ELLIPSIS = "…"


def without_controls(text: str) -> str:
    """``text`` with each control character (Unicode category Cc) replaced by a space, runs of
    spaces squeezed, and trimmed."""
    spaced = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(spaced.split())


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc), which iGEST refuses."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits ``limit`` characters, else cut at the last word that fits plus "…"
    (mid-word only when a single word is longer than the limit)."""
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    cut = text[: room + 1]
    space = cut.rfind(" ")
    head = cut[:space] if space > 0 else text[:room]
    return head.rstrip(" ,;:-–—.\n") + ELLIPSIS


def fit_notes(lines: list[str]) -> tuple[str, bool]:
    """The notes (one per line, cleaned) whose ``notes_text`` fits ``NOTES``; the last line
    (the customer's note, the only long one) is shortened first, then earlier ones."""
    kept = [c for c in (without_controls(line) for line in lines) if c]
    shortened = False
    while kept and len(NOTES_SEPARATOR.join(kept)) > NOTES:
        head = NOTES_SEPARATOR.join(kept[:-1])
        room = NOTES - len(head) - (len(NOTES_SEPARATOR) if head else 0)
        shortened = True
        if room >= 20:
            kept[-1] = shorten(kept[-1], room)
        else:
            kept.pop()
    return "\n".join(kept), shortened
