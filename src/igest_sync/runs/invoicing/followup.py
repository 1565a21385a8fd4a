"""After a document is final: attach it to its Jumpseller order, and email it to the customer.

Neither can undo or spoil an issued document: a failure here is a notice for a person, recorded
on the document, never a failed order. Each is tried a bounded number of times and never blindly
twice: a link-back whose answer was lost is looked up before it is sent again, and an email is
sent once at most.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from igest_sync.errors import ApiError, RateLimited
from igest_sync.models import EmailState, Kind
from igest_sync.runs.context import RunContext
from igest_sync.state.ledger import DocumentRecord

log = logging.getLogger("igest_sync.invoice")

LINK_ATTEMPTS = 2  # the first try and one retry on a later run


class FollowUp:
    """Link-back and email for one run. Thread-safe: workers link as soon as they issue."""

    def __init__(
        self,
        context: RunContext,
        *,
        now: datetime,
    ) -> None:
        self.settings = context.settings
        self.ledger = context.ledger
        self.jumpseller = context.jumpseller
        self.igest = context.igest
        self.now = now
        self._lock = threading.Lock()  # worker threads add notices and linked documents
        self._linked_this_run: set[str] = set()  # one attempt per document and run
        # Jumpseller still refused for its rate limit after the client's retries: the other
        # link-backs of this run wait for the next one (``_held_back`` of them). Each would
        # spend four more refusals, and Jumpseller bans a store's API after 2,000.
        self._rate_limited: RateLimited | None = None
        self._held_back: set[str] = set()

    def link_order(self, order_id: int, notices: list[str]) -> None:
        """Attach an order's new documents now (called by the worker that issued them).

        Jumpseller's rate budget is separate from iGEST's, so link-backs overlap the issuing
        instead of following it.
        """
        if not self.settings.link_documents:
            return
        for doc in self.ledger.docs.documents_for(order_id):
            if not doc.linked and doc.link_attempts < LINK_ATTEMPTS:
                self.link(doc, notices)

    def finish(self, notices: list[str]) -> None:
        """Attach what is still unattached (earlier runs' too), then send the emails due."""
        if self.settings.link_documents:
            for doc in self.ledger.docs.unlinked_documents(LINK_ATTEMPTS):
                with self._lock:
                    tried = doc.document_id in self._linked_this_run
                if not tried:  # a failure this run is retried on a later run
                    self.link(doc, notices)
        if self._held_back:
            notices.append(
                f"Jumpseller kept refusing for its rate limit ({self._rate_limited}): "
                f"{len(self._held_back)} more document(s) were not attached; the next run "
                "attaches them (another program may be using the same API credentials)."
            )
        if self.settings.email_customer:
            self.email(notices)

    def link(self, doc: DocumentRecord, notices: list[str]) -> None:
        """Attach the document to its Jumpseller order, once: never a blind second POST."""
        with self._lock:
            if self._rate_limited is not None:
                self._held_back.add(doc.document_id)  # not tried, not counted: the next run
                return
            self._linked_this_run.add(doc.document_id)
        attempts = doc.link_attempts
        try:
            if doc.link_attempts or doc.adopted:
                # An earlier POST may have reached Jumpseller (answer lost, or a crash), or an
                # earlier ledger attached it: look before attaching again.
                attached = self.jumpseller.order_documents(doc.order_id)
                if any(str(d.get("external_id")) == doc.document_id for d in attached):
                    self.ledger.docs.mark_linked(doc.document_id)
                    return
            self.ledger.docs.begin_link(doc.document_id)
            attempts += 1
            self.jumpseller.add_order_document(
                doc.order_id,
                credit_note=doc.kind == Kind.CREDIT,
                external_id=doc.document_id,
                public_id=doc.number or doc.document_id,
                url=doc.pdf_url,
            )
        except ApiError as exc:
            if isinstance(exc, RateLimited):
                with self._lock:
                    self._rate_limited = exc
            self.ledger.docs.mark_linked(doc.document_id, error=str(exc))
            # The last try says so in words of its own: the same words as the first one's
            # were within the reminder window, so the give-up went unsaid.
            then = (
                "the next run tries once more"
                if attempts < LINK_ATTEMPTS
                else f"not tried again after {LINK_ATTEMPTS} tries: attach it by hand in "
                "Jumpseller if the customer should find it on the order"
            )
            with self._lock:
                notices.append(
                    f"Order {doc.order_id}: {doc.number} could not be attached to the "
                    f"Jumpseller order ({exc}); the document itself is fine; {then}."
                )
            return
        self.ledger.docs.mark_linked(doc.document_id)

    def email(self, notices: list[str]) -> None:
        """Email each new document to its customer, once; never an old order's."""
        limit = self.now - timedelta(days=self.settings.email_max_age_days)
        for doc in self.ledger.docs.unemailed_documents():
            record = self.ledger.works.order(doc.order_id)
            paid_at = datetime.fromisoformat(record.paid_at) if record and record.paid_at else None
            to = record.email if record else None
            if paid_at is None or paid_at < limit:
                self.ledger.docs.mark_emailed(
                    doc.document_id, EmailState.NOT_SENT, "order too old to email"
                )
                continue
            if not to:
                self.ledger.docs.mark_emailed(
                    doc.document_id, EmailState.NOT_SENT, "no customer email"
                )
                continue
            try:
                self.igest.email_document(doc.document_id, to)
            except ApiError as exc:
                # Never fatal, never twice: a failed email is recorded and not retried.
                self.ledger.docs.mark_emailed(doc.document_id, EmailState.NOT_SENT, str(exc))
                with self._lock:
                    notices.append(f"Order {doc.order_id}: {doc.number} was not emailed ({exc}).")
                continue
            self.ledger.docs.mark_emailed(doc.document_id, EmailState.SENT)
