"""Pure: the identity of a credit request, and the reference its credit note carries in iGEST.

A credit note (NC) can never be deleted, so asking the same thing twice must never refund twice.
A request is *the same* when it is for the same order, credits the same thing (the same lines
and quantities, the shipping, or everything left) and gives the same reason, whatever the
spelling: ``--line B:1 --line A:2`` is ``--line A:2 --line B:1``, ``--line A:1 --line A:1`` is
``--line A:2``, ``2.0`` is ``2``, and "Devolução  " is "devolução". The n-th deliberate repeat
(``credit --again``: the customer returned another unit for the same reason) is another request.

The identity hashes to a short key that is part of the NC's external reference
(``jumpseller:<store>:<order>:credit:r<key>``, spelled and read in ``igest_sync.references``). iGEST
finds a document by its reference and
lists an original's NCs with theirs, so what a request produced is read back from iGEST itself:
a lost state file cannot let the same request through twice.

Older versions numbered an order's NCs instead (``...:credit``, ``...:credit:2`` ...); those
references stay valid (``references.is_credit_reference``), their request is known from the ledger
only.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from igest_sync.fiscal.credit.models import CreditRequest
from igest_sync.references import KEY_LENGTH, request_reference


def normalized_reason(reason: str) -> str:
    """The reason as compared: Unicode NFC, case and runs of blanks ignored, and a trailing
    full stop (what people add or leave out when they type the command again)."""
    text = " ".join(unicodedata.normalize("NFC", reason).split()).casefold()
    return text.rstrip(" .")


def _quantity(q: Decimal | None) -> str:
    return "*" if q is None else f"{q.normalize():f}"


def canonical_request(request: CreditRequest) -> str:
    """What a request credits, in one canonical text (order of options and spelling ignored).

    A line asked without a quantity ("all its units left") stays distinct from any quantity."""
    if request.everything:
        return "all"
    merged: dict[str, Decimal | None] = {}
    for reference, quantity in request.lines:
        if reference in merged:
            before = merged[reference]
            merged[reference] = None if before is None or quantity is None else before + quantity
        else:
            merged[reference] = quantity
    parts = [f"{ref}={_quantity(q)}" for ref, q in sorted(merged.items())]
    return json.dumps({"lines": parts, "shipping": request.shipping}, ensure_ascii=False)


@dataclass(frozen=True)
class RequestIdentity:
    """One order's request: what it credits and why; ``key(n)`` names its n-th occurrence."""

    order_id: int
    what: str  # canonical_request
    reason: str  # normalized_reason

    @classmethod
    def of(cls, order_id: int, request: CreditRequest, reason: str) -> RequestIdentity:
        return cls(order_id, canonical_request(request), normalized_reason(reason))

    def key(self, occurrence: int = 1) -> str:
        """The short key of the ``occurrence``-th request (1 for the first, 2 for the first
        ``--again`` ...)."""
        text = json.dumps(
            [self.order_id, self.what, self.reason, occurrence], ensure_ascii=False
        ).encode()
        return "r" + hashlib.sha256(text).hexdigest()[:KEY_LENGTH]

    def reference(self, store: str, occurrence: int = 1) -> str:
        return request_reference(store, self.order_id, self.key(occurrence))
