"""The VIES step before an exempt intra-EU document is issued (issue 13.2).

The decisions are pure (``fiscal.intra_eu``); this step makes the one call they need. For a
draft with 0 % lines going to another Member State it finds the customer's VAT number, takes
today's clear answer from the ledger or asks VIES (with the merchant's own NIF from iGEST's
``/entity`` as requester, so VIES returns a consultation number), keeps the check in the ledger,
and then: valid -> the check, whose consultation number goes on the notes; invalid ->
``OrderRejected`` with the cause; no clear answer -> ``VatCheckPending``: the order waits and the
next run asks again.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from igest_sync.adapters.vies import split_vat_number
from igest_sync.errors import ApiError, AuthError
from igest_sync.fiscal.intra_eu import vat_number_to_check, vies_verdict
from igest_sync.models import DocumentDraft, Order, ViesCheck, ViesStatus
from igest_sync.runs.context import RunContext

log = logging.getLogger("igest_sync.invoice")


class VatCheckPending(Exception):
    """VIES gave no clear answer: the order waits for a later run (never issued unchecked)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IntraEuCheck:
    """Confirms customers' EU VAT numbers in VIES, at most once per number and day. Thread-safe."""

    def __init__(
        self,
        context: RunContext,
        *,
        today: date,
    ) -> None:
        self.vies = context.vies  # the run's one VIES client
        self.settings = context.settings
        self.ledger = context.ledger
        self.igest = context.igest
        self.today = today
        self._lock = threading.Lock()
        self._requester: str | None = None
        # One check at a time per number: the workers of one run invoicing three orders of
        # the same business each found no answer in the ledger and asked VIES themselves.
        self._numbers: dict[str, threading.Lock] = {}

    def evidence(self, order: Order, draft: DocumentDraft) -> ViesCheck | None:
        """The valid check that makes ``draft``'s intra-EU lines exempt, or None when it has
        none. Raises ``OrderRejected`` (no number, or VIES says invalid) or
        ``VatCheckPending``."""
        number = vat_number_to_check(order, draft, self.settings)
        if number is None:
            return None
        country, digits = split_vat_number(number)
        with self._lock:
            asking = self._numbers.setdefault(country + digits, threading.Lock())
        with asking:
            check = self.ledger.vies_answer(country, digits, self.today)
            if check is None:
                check = self._ask(order.id, number)
                self.ledger.record_vies_check(check)
        wait = vies_verdict(order.id, check)
        if wait is not None:
            raise VatCheckPending(wait)  # logged once, with the outcome, by the issuer
        return check

    def _ask(self, order_id: int, number: str) -> ViesCheck:
        country, digits = split_vat_number(number)
        try:
            requester = self._merchant_nif()
        except AuthError:
            raise  # refused iGEST credentials stop the run, as everywhere
        except ApiError as exc:
            # Without the requester VIES gives no consultation number: wait, do not guess.
            return ViesCheck(
                country, digits, ViesStatus.UNAVAILABLE, self.today, detail=f"iGEST: {exc}"
            )
        check = self.vies.check(number, requester=requester, today=self.today)
        log.info(
            "VIES says %s for %s (order %s)%s",
            check.status,
            number,
            order_id,
            f", consultation {check.consultation}" if check.consultation else "",
        )
        return check

    def _merchant_nif(self) -> str:
        with self._lock:
            if self._requester is None:
                self._requester = self.igest.entity().nif
            return self._requester
