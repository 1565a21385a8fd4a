"""What iGEST and the ledger hold of an order's credit requests: the invoice to credit, the
earlier attempts at one request (by its key in their references), and the NCs and drafts of
ours that a lost or older state file does not know (adopted, or deleted when stray)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from igest_sync.errors import NotFound, UsageError
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.models import (
    DocumentStatus,
    IssuedDocument,
    Kind,
    OrderStatus,
    WorkState,
    status_words,
)
from igest_sync.references import external_reference, is_credit_reference, key_of_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.credits.report import StoredRequest
from igest_sync.state.ledger import WorkRecord
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")


@dataclass(frozen=True)
class Attempt:
    """One earlier attempt at a request: its reference, its work here, its NCs in iGEST."""

    reference: str
    work: WorkRecord | None
    final: IssuedDocument | None  # its final NC in iGEST, if any

    @property
    def done(self) -> bool:
        return self.final is not None or (
            self.work is not None and self.work.state == WorkState.FINAL
        )


class CreditHistory:
    """One run's reads (and repairs) of what an order's credit requests left behind."""

    def __init__(self, context: RunContext) -> None:
        self.settings = context.settings
        self.store = context.store
        self.ledger = context.ledger
        self.igest = context.igest

    def original(self, order_id: int) -> IssuedDocument:
        """The order's final invoice as iGEST holds it, lines and customer included."""
        invoice = next(
            (
                d
                for d in self.ledger.documents_for(order_id)
                if d.kind == Kind.INVOICE and d.status == DocumentStatus.FINAL
            ),
            None,
        )
        if invoice is not None:
            return self.igest.get_document(invoice.document_id)
        ref = external_reference(self.store, order_id)
        finals = [
            d
            for d in self.igest.find_documents(external_reference=ref)
            if d.status == DocumentStatus.FINAL and d.external_reference == ref
        ]
        if not finals:
            raise UsageError(
                f"Order {order_id} has no final invoice in iGEST ({ref}): there is nothing "
                "to credit.",
                hint=self._why_no_invoice(order_id),
            )
        return self.igest.get_document(finals[0].id)

    def _why_no_invoice(self, order_id: int) -> str:
        """What the runs recorded of an order without an invoice, and what to do about it."""
        record = self.ledger.order(order_id)
        work = self.ledger.work(order_id)
        if work is not None and work.state == WorkState.FAILED and work.error:
            # Held for a person (a document not ours may be its invoice), refused ...: the
            # failure says what, and what to do; "not issued yet" promised an invoice coming.
            return (
                f"Its invoice was not issued: {work.error} (`igest-sync status --order "
                f"{order_id}`)."
            )
        if work is not None and work.state != WorkState.FINAL:
            return (
                f"Its invoice is not issued yet ({work.state}): see `igest-sync status --order "
                f"{order_id}`."
            )
        adopt = "If another integration (the hosted app) invoiced it, record that invoice first"
        if record is None:
            return (
                "igest-sync has not seen this order: check the number. "
                f"{adopt}: igest-sync adopt --from DAY-IT-WAS-PAID --to DAY-IT-WAS-PAID."
            )
        if record.status not in (OrderStatus.PAID, OrderStatus.CANCELED) or not record.paid_at:
            return f"The order is {status_words(record.status)} (as last seen): never invoiced."
        day = lisbon_date(datetime.fromisoformat(record.paid_at)).isoformat()
        why = f"It was not invoiced by igest-sync ({record.note}). " if record.note else ""
        if not why and record.status == OrderStatus.CANCELED:
            why = "It was cancelled before igest-sync invoiced it. "
        return f"{why}{adopt}: igest-sync adopt --from {day} --to {day}."

    def attempts(
        self, order_id: int, identity: RequestIdentity, notes: list[IssuedDocument]
    ) -> tuple[list[Attempt], int]:
        """This request's earlier attempts, first to last, and its next free occurrence."""

        settings = self.settings
        attempts = [
            # Numbered by an older version: the ledger alone knows what they were asked as.
            Attempt(w.external_reference, w, final_of(notes, w.external_reference))
            for w in self.ledger.credit_works(order_id)
            if key_of_reference(self.store, order_id, w.external_reference) is None
            and w.request not in (None, "{}")
            and StoredRequest.of(w, settings.credit_reason, settings.move_stock).identity(order_id)
            == identity
        ]
        occurrence = 1
        while True:
            ref = identity.reference(self.store, occurrence)
            work = self.ledger.credit_work_by_reference(order_id, ref)
            if work is None and not any(n.external_reference == ref for n in notes):
                return attempts, occurrence
            attempts.append(Attempt(ref, work, final_of(notes, ref)))
            occurrence += 1

    def same_request(
        self, order_id: int, stored: StoredRequest, notes: list[IssuedDocument], ref: str
    ) -> tuple[str, ...]:
        """The final NCs of earlier occurrences of this request ("NC A/2 of 2026-11-30")."""
        identity = stored.identity(order_id)
        refs = {identity.reference(self.store, n) for n in range(1, stored.occurrence)} - {ref}
        return tuple(
            f"{n.number} of {n.date}" if n.date else str(n.number)
            for n in notes
            if n.status == DocumentStatus.FINAL and n.external_reference in refs
        )

    def discard(self, order_id: int, notes: list[IssuedDocument], keep: set[str]) -> None:
        for note in notes:
            ref = note.external_reference
            if (
                note.status == DocumentStatus.DRAFT
                and ref not in keep
                and is_credit_reference(self.store, order_id, ref)
            ):
                log.warning("Deleting stray draft %s (%s)", note.id, ref)
                try:
                    self.igest.delete_document(note.id)
                except NotFound:
                    pass  # deleted already (a retried DELETE)

    def adopt(self, order_id: int, notes: list[IssuedDocument]) -> None:
        """Record the order's final NCs the ledger does not know (a lost or older state file),
        so that what it believes credited agrees with iGEST."""
        known = {d.document_id for d in self.ledger.documents_for(order_id)}
        for note in notes:
            ref = note.external_reference
            if (
                note.status != DocumentStatus.FINAL
                or note.id in known
                or ref is None
                or not is_credit_reference(self.store, order_id, ref)
            ):
                continue
            work = self.ledger.credit_work_by_reference(order_id, ref)
            log.warning("Adopted %s for order %s (found in iGEST)", note.number, order_id)
            # No work here: created with the document, in one write (a kill between the two
            # would leave work that looks unfinished and is "finished" in place of the next).
            self.ledger.record_final(
                order_id,
                Kind.CREDIT,
                note,
                email=False,
                adopted=True,
                seq=work.seq if work else self.ledger.next_credit_seq(order_id),
                reference=None if work else ref,
                request="{}",
            )


def final_of(notes: list[IssuedDocument], reference: str) -> IssuedDocument | None:
    return next(
        (
            n
            for n in notes
            if n.external_reference == reference and n.status == DocumentStatus.FINAL
        ),
        None,
    )
