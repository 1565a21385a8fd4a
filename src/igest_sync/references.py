"""External references: the one module that builds and reads them.

A document's external reference is the deterministic key that anchors exactly-once issuing in
iGEST: before sending anything again, a run looks the reference up there (igest-api.md). So
every reference is spelled here and nowhere else:

- the invoice of an order: ``jumpseller:<store>:<order>``;
- a credit note (NC) of it: ``jumpseller:<store>:<order>:credit:r<key>``, the key naming the
  credit request (``fiscal/credit/identity.py`` computes it from what the request credits);
- NCs of older versions, numbered: ``...:credit``, ``...:credit:2`` ... (still recognised).

``parse_reference`` reads any of them back (``reconcile`` sorts iGEST's documents with it).
"""

from __future__ import annotations

import re

from igest_sync.models import Kind

KEY_LENGTH = 10  # hex digits: 40 bits, against the few requests one order ever has
_KEY = re.compile(rf"r[0-9a-f]{{{KEY_LENGTH}}}")


# What every reference igest-sync writes starts with, whatever the store.
PREFIX = "jumpseller:"


def store_prefix(store: str) -> str:
    """What every reference of this store's documents starts with (``jumpseller:{store}:``)."""
    return f"{PREFIX}{store}:"


def external_reference(store: str, order_id: int, kind: str = "invoice") -> str:
    """The deterministic key that anchors exactly-once issuing in iGEST.

    ``jumpseller:{store}:{order_id}`` for the invoice, ``...:credit`` for its credit note.
    """
    if kind == "invoice":
        return f"{store_prefix(store)}{order_id}"
    if kind == "credit":
        return f"{store_prefix(store)}{order_id}:credit"
    raise ValueError(f"unknown document kind {kind!r} (invoice or credit)")


def request_reference(store: str, order_id: int, key: str) -> str:
    """The external reference of the NC a request (by its key) produces."""
    return f"{external_reference(store, order_id, 'credit')}:{key}"


def key_of_reference(store: str, order_id: int, reference: str | None) -> str | None:
    """The request key a reference carries, None for a numbered (older) or foreign one."""
    base = external_reference(store, order_id, "credit") + ":"
    if not reference or not reference.startswith(base):
        return None
    tail = reference[len(base) :]
    return tail if _KEY.fullmatch(tail) else None


def is_credit_reference(store: str, order_id: int, reference: str | None) -> bool:
    """One of this order's NC references: by request key, or numbered (``...:credit``,
    ``...:credit:2`` ...) as older versions wrote them."""
    if key_of_reference(store, order_id, reference) is not None:
        return True
    base = external_reference(store, order_id, "credit")
    if reference == base:
        return True
    tail = (reference or "").removeprefix(base + ":")
    return (
        bool(reference)
        and tail != reference
        and tail.isascii()
        and tail.isdigit()
        and int(tail) >= 2
        and str(int(tail)) == tail
    )


def parse_reference(reference: str | None, store: str) -> tuple[int | None, str] | None:
    """(order id, "invoice" or "credit") of one of this store's references, None for others.

    A reference with this store's prefix that ``external_reference`` would not have written
    ("jumpseller:shop:abc") gives (None, "invoice"): a document of ours that names no order.
    """
    prefix = f"jumpseller:{store}:"
    if not reference or not reference.startswith(prefix):
        return None
    rest = reference[len(prefix) :]
    digits, _, _ = rest.partition(":")
    if digits.isascii() and digits.isdigit():
        order_id = int(digits)
        if external_reference(store, order_id) == reference:
            return order_id, Kind.INVOICE
        # ``...:credit:r<key>`` by request; ``...:credit``, ``...:credit:2`` from older versions
        if is_credit_reference(store, order_id, reference):
            return order_id, Kind.CREDIT
    return None, Kind.INVOICE
