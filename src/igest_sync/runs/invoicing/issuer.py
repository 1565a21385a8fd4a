"""The exactly-once path for one document (an invoice or a credit note) of one order.

Anchored in iGEST: each document carries ``external_reference`` (store + order [+ credit]).
Before any write the ledger records the intent; after it, the outcome. Work whose intent has no
outcome (a crash, a timeout, a lost answer) is looked up by its reference in iGEST before
anything is sent again: a final document found there is adopted, a stray draft is finalized
when its totals are right and deleted otherwise. The draft's totals, as iGEST computed them,
must equal what the customer paid before it is finalized.

One ``Issuer`` per run, handed to whoever issues (``invoice``, ``resend``, the credit pass,
``credit``, ``reconcile --fix``, ``approve``). Its public API is ``issue``, ``credit_note``,
``already``, ``failed`` and ``use_listing``; everything else is a step of the one path.

An order has one invoice but may have several credit notes: each is its own work, keyed by
``seq`` (1, 2 ...) with its own reference (its request's: ``...:credit:r<key>``), so every
step below carries the seq of the work it is about.

Review mode (``[invoice] review``): an invoice stops at its checked draft, recorded as work in state
``review`` that waits for a person (``approve``, ``runs/invoicing/review.py``). Such work is never
drafted again by a run: its draft carries the order's reference, so a crash or a lost state file
finds it by lookup and reuses it instead of creating another. ``approved=True`` finalizes it through
the same path (a draft deleted in iGEST meanwhile is made again; one finalized there by hand is
adopted), and only a draft with the total and the customer NIF the person was shown
(``same_document``): one whose order changed since is made again and waits for another look. A
person's customer (``resend --nif``) for a waiting draft makes it again for that customer at once.

``crash_hook``, when given, is called with the name of each step just before the step runs
(``begin``, ``lookup``, ``request``, ``drafted``, ``finalize``, ``record``): a test raises from
it to stand for a kill at that point, instead of replacing the issuer's methods.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal

from igest_sync.adapters.igest import SETTING_OF_FIELD
from igest_sync.errors import (
    ApiError,
    AuthError,
    BadResponse,
    Conflict,
    NotFound,
    OrderRejected,
    Rejected,
)
from igest_sync.fiscal.customer import CustomerOverride, OverrideRefused
from igest_sync.fiscal.mapping import build_document, with_vies_check
from igest_sync.fiscal.rules import FINAL_CONSUMER_NIF
from igest_sync.models import (
    IN_FLIGHT,
    Action,
    DocumentDraft,
    DocumentFacts,
    DocumentLine,
    DocumentOutcome,
    DocumentStatus,
    IssuedDocument,
    Kind,
    Order,
    OrderStatus,
    Phase,
    WorkState,
    status_words,
)
from igest_sync.references import external_reference
from igest_sync.runs.context import RunContext
from igest_sync.runs.invoicing import review
from igest_sync.runs.invoicing.art53 import guard_for
from igest_sync.runs.invoicing.catch_up import CatchUp
from igest_sync.runs.invoicing.exemption_texts import ExemptionTexts
from igest_sync.runs.invoicing.hold import (
    ForeignInvoices,
    fits_unnamed,
    invoiced_elsewhere,
    looked_from,
    undecided_invoice,
)
from igest_sync.runs.invoicing.intra_eu import IntraEuCheck, VatCheckPending
from igest_sync.runs.invoicing.report import finished_document
from igest_sync.state.ledger import Ledger, WorkRecord
from igest_sync.timeutil import lisbon_date

log = logging.getLogger("igest_sync.invoice")

# iGEST's answers that a document was refused as invalid (igest-api.md): never applied. Other
# 4xx (a proxy's 408, say) say less about whether the request reached iGEST.
REFUSED_AS_INVALID = (400, 422)
CrashHook = Callable[[str], None]


class Issuer:
    """Issues the document for one order through the exactly-once path."""

    def __init__(
        self,
        context: RunContext,
        *,
        today: date,
        crash_hook: CrashHook | None = None,
        review: bool | None = None,
        catch_up: CatchUp | None = None,
    ) -> None:
        settings, ledger, igest = context.settings, context.ledger, context.igest
        # Stop invoices at a checked draft that waits for a person (``[invoice] review``).
        self.review = settings.review if review is None else review
        self.exemption_texts = ExemptionTexts(igest)  # asked only when a held draft is exempt
        self.settings = settings
        self.store = context.store
        self.ledger = ledger
        self.igest = igest
        self.today = today
        self.clock = context.now
        self.crash_hook = crash_hook
        # Before a document sent without a look-up: what iGEST issued since its order was paid.
        # (serve's worker hands the same one to each of its units: runs/catch_up.py)
        self.catch_up = catch_up or CatchUp(igest, ledger, self.store, self.settings.start_date)
        # The listing's invoices not ours, by the number they name (``_foreign``): one index
        # per version of the listing, shared by the run's workers.
        self._foreign_lock = threading.Lock()
        self._foreign_index: tuple[int, ForeignInvoices] | None = None
        # The first day the first run's guard reviewed for documents not ours (the start date,
        # or a later first day it listed): an order placed before it may have an invoice of
        # its placement day that neither the guard nor a look-up by reference meets
        # (``fits_unnamed``).
        self.reviewed_from: date | None = self.settings.start_date
        # VIES before an exempt intra-EU document (asks only for such orders).
        self.intra_eu = IntraEuCheck(context, today=today)
        # The small-business exemption's ceiling (art. 53 CIVA), when the merchant declared it.
        self.art53 = guard_for(settings, ledger, igest, today, store=self.store)

    def use_listing(
        self, known: dict[str, list[IssuedDocument]], since: date | None = None
    ) -> None:
        """This run listed iGEST's documents from ``since`` (the ledger was empty, or is being
        rebuilt): look-ups of those days answer from it. One listing for both: an order paid
        before ``since`` is looked up in the days before, not taken as absent."""
        self.catch_up.seed(known, since)
        if since is not None and (self.reviewed_from is None or since > self.reviewed_from):
            self.reviewed_from = since  # the guard reviewed from there only

    def _step(self, name: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(name)

    def issue(
        self,
        order: Order,
        *,
        override: CustomerOverride | None = None,
        force_lookup: bool = False,
        approved: bool = False,
        decided: bool = False,
    ) -> DocumentOutcome:
        """The invoice of a paid order.

        In review mode the invoice stops at its checked draft (``Action.DRAFTED``) unless
        ``approved`` (a person's ``approve``, or the automatic hour). A draft that already waits
        is left as it is: nothing is asked of iGEST until it is approved or rejected, or a
        person gives its customer (``override``: it is drafted again for them).

        ``decided``: a person named this order (``resend ORDER``) after reading its failure: a
        document not ours that the failure named, or ``adopt`` left undecided, is not its
        invoice. Never a blanket retry's (``resend --failed``) nor ``reconcile --fix``'s: they
        decide nothing about documents not ours, and would issue a second invoice.
        """
        # A person's `resend --nif` / `--as-consumer` holds until the invoice is issued: an
        # attempt that waits (VIES unavailable) or fails by itself is taken up by later runs
        # for the same customer, not for the one the order named.
        remembered = remembered_override(self.ledger, order.id)
        given = override  # a person's, in this very command (`resend --nif`)
        override = override or remembered
        work = self.ledger.works.work(order.id)
        # A draft that waits is left as it is, unless a person gives its customer in this very
        # command (`resend --nif` / `--as-consumer`): then it is made again for that customer
        # now and waits as such, so that the draft a person looks at is the invoice approving
        # finalizes (never a NIF kept aside for the approval).
        if (
            not approved
            and given is None
            and self.review
            and order.status == OrderStatus.PAID
            and work is not None
            and work.state == WorkState.REVIEW
        ):
            return self.waiting_review(order.id, work)

        # Whether the customer itself was refused (a --nif that is not valid, a VAT number VIES
        # refuses): only then is a person's override dropped; a failure of anything else (a
        # total, a lost answer) keeps it for the `resend` that follows.
        customer_refused: list[bool] = []
        # One listing of iGEST answers the look-up and the hold: from the day the order was
        # placed (an FT may be made then), not the payment day and then the days before it.
        since = looked_from(order)

        def build(reference: str) -> DocumentDraft:
            # Cancelled before its invoice (or while it waited for a retry): whatever an
            # earlier attempt, or a state file since lost, left in iGEST has been looked up
            # (a final one adopted); nothing new is issued. But a document not ours that may
            # be its invoice keeps it for a person: that invoice is then to be credited.
            now = status_words(order.status) if order.status != OrderStatus.PAID else None
            held = None if decided else undecided_invoice(self.ledger, order.id, cancelled=now)
            if held is not None:  # `resend ORDER` is the person's decision
                raise OrderRejected(order.id, held)
            # Another integration's invoice of the sale (the hosted app left on)? On every
            # attempt: an order that failed first (a 502, a refused VAT number) is as likely to
            # have been invoiced elsewhere meanwhile. From the order's creation (an FT may be
            # made as the order is placed), in the run's one listing of those days. A `resend`
            # decides only about the documents its person was told of.
            told = work.error if decided and work is not None else None
            foreign = self._foreign(since)
            elsewhere = invoiced_elsewhere(
                self.ledger, order, foreign, since=since, told=told, cancelled=now
            )
            if elsewhere is not None:
                raise elsewhere
            # Placed before the days the first run's guard reviewed: an invoice not ours that
            # names no order but fits it, made as it was placed (adopt's rule), holds it too.
            # The same listing (it reaches back to the day the order was placed).
            unnamed = fits_unnamed(
                self.ledger,
                order,
                foreign,
                reviewed_from=self.reviewed_from,
                nif_field=self.settings.nif_field,
                told=told,
                cancelled=now,
            )
            if unnamed is not None:
                raise unnamed
            if now is not None:
                raise _NoLongerPaid(f"paid, then {now} before it was invoiced: not issued")
            issue_date = self.issue_date(order)
            try:
                draft = build_document(
                    order,
                    self.settings,
                    reference=reference,
                    issue_date=issue_date,
                    override=override,
                )
            except OverrideRefused:
                customer_refused.append(True)
                raise
            # An exempt intra-EU supply needs VIES's confirmation first; its consultation
            # number then goes on the notes.
            try:
                check = self.intra_eu.evidence(order, draft)
            except OrderRejected:  # the VAT number refused (the person's, when given)
                customer_refused.append(True)
                raise
            if check is not None:
                draft = with_vies_check(draft, order, self.settings, check)
            if self.art53 is not None:  # refused past 18,750 EUR, never as M10
                self.art53.admit(
                    order.id,
                    draft,
                    paid=order.completed_at or order.created_at,
                    held=self.review and not approved,
                )
            return draft

        outcome = self._issue(
            order.id,
            Kind.INVOICE,
            build,
            force_lookup=force_lookup or approved,
            hold=self.review and not approved,
            approved=approved,
            customer_given=override is not None,
            since=since,
            listed_total=self.listed_total(order) if approved else None,
        )
        # Kept until the invoice is issued, or the customer itself refused (a --nif that is not
        # valid, say): then the next `resend` starts again from the order.
        refused = outcome.action == Action.FAILED and bool(customer_refused)
        if remembered is not None and (
            outcome.action in (Action.ISSUED, Action.ADOPTED) or refused
        ):
            self.ledger.meta.set_meta(OVERRIDE_KEY.format(order=order.id), "")
        return outcome

    def listed_total(self, order: Order) -> Decimal | None:
        """The order's total as ``approve`` lists a draft deleted by hand (the state file's
        copy of the order), when the order's total differs from it now; else None."""
        known = self.ledger.works.order(order.id)
        if known is None or known.total is None or known.total == order.total:
            return None
        return known.total

    def _foreign(self, since: date | None) -> ForeignInvoices:
        """The run's listing of the days from ``since``, indexed once per version of it."""
        with self._foreign_lock:
            known = self.catch_up.cover(since)
            version = self.catch_up.version
            if self._foreign_index is None or self._foreign_index[0] != version:
                docs = [d for ds in known.values() for d in ds]
                self._foreign_index = (version, ForeignInvoices.of(docs))
            return self._foreign_index[1]

    def issue_date(self, order: Order) -> date:
        """The invoice's date: the run's day, unless the order was paid after it (the run began
        before midnight and saw a payment made after it). Then it is the day the document is
        made, as our clock says: never before the payment (an invoice-receipt is due that day,
        and the look-ups, from the payment day, rely on it), never after today (iGEST refuses
        a date in the future when Jumpseller's clock is a few seconds ahead of ours)."""
        paid = order.completed_at
        if paid is None or not self.paid_after_the_runs_day(order):
            return self.today
        return max(self.today, min(lisbon_date(paid), lisbon_date(self.clock())))

    def paid_after_the_runs_day(self, order: Order) -> bool:
        """Whether the order was paid on a later Lisbon day than the run's (the run began before
        midnight): its invoice may be dated its payment day, after the run's (``issue_date``)."""
        paid = order.completed_at
        return paid is not None and lisbon_date(paid) > self.today

    def credit_note(
        self,
        order_id: int,
        seq: int,
        build: Callable[[], DocumentDraft],
        *,
        reference: str,
        request: str | None = None,
    ) -> DocumentOutcome:
        """The order's ``seq``-th credit note, built by ``build`` (a partial or the rest), under
        ``reference`` (its request's: ``fiscal.credit.identity``).

        ``request`` is recorded with the work before any call (a resumed run issues the same
        NC). Always looked up in iGEST first: credit notes are rare and never to be repeated.
        """
        return self._issue(
            order_id,
            Kind.CREDIT,
            lambda _work_reference: build(),  # its request's reference: the credit run's choice
            force_lookup=True,
            seq=seq,
            request=request,
            reference=reference,
        )

    def _issue(
        self,
        order_id: int,
        kind: Kind,
        build: Callable[[str], DocumentDraft],
        *,
        force_lookup: bool,
        seq: int = 1,
        request: str | None = None,
        reference: str | None = None,
        hold: bool = False,
        approved: bool = False,
        since: date | None = None,
        customer_given: bool = False,
        listed_total: Decimal | None = None,
    ) -> DocumentOutcome:
        key = str(order_id)
        self._step("begin")
        # The work a run's discovery recorded, or made now (a `resend` of an order no run
        # listed, a credit note, serve's webhook work). Its reference is the document's: a
        # credit's work may be older than its request key (a numbered reference).
        work = self.ledger.works.ensure_work(
            order_id,
            kind,
            reference or external_reference(self.store, order_id, kind),
            seq=seq,
            request=request,
        )
        ref = work.external_reference
        if work.state == WorkState.FINAL:
            return self.already(order_id, kind, work)
        try:
            drafts = self._recover(order_id, kind, work, ref, force_lookup, since)
        except _Adopted as adopted:
            return adopted.outcome
        except AuthError:
            raise  # refused credentials: stop the run, every order would fail the same way
        except ApiError as exc:
            return self._unread(order_id, kind, f"could not look up {ref} in iGEST", exc, seq)
        try:
            draft = build(ref)
        except _NoLongerPaid as exc:
            try:
                self._discard(drafts)
            except ApiError as error:
                return self.failed(order_id, kind, f"{exc}; {error}", True, seq=seq)
            # It took the year past 18,750 EUR? No sale: it never will. Before its work goes: a
            # kill between the two, and the next run, settling it again, lapses it again.
            if self.art53 is not None:
                self.art53.no_sale(order_id)
            self.ledger.works.clear_phase(order_id, kind, seq)
            self.ledger.works.drop_unsent_work(order_id, kind, seq)
            log.warning("Order %s: %s", order_id, exc)
            return DocumentOutcome(key, Action.SKIPPED, str(exc), kind=kind)
        except (OrderRejected, VatCheckPending) as exc:
            try:
                self._discard(drafts)
            except ApiError:
                pass  # the draft is looked up again on the next attempt (phase is kept)
            if isinstance(exc, VatCheckPending):
                return self._waiting(order_id, kind, exc.reason)
            return self.failed(order_id, kind, exc.reason, False, hint=exc.hint, seq=seq)
        except AuthError:
            raise  # refused credentials: stop the run, every order would fail the same way
        except ApiError as exc:
            # The listing of the order's days (another integration's invoice of it?) failed:
            # nothing was sent, and the order's next attempt lists again, as a look-up.
            what = "could not list iGEST's documents of its days"
            return self._unread(order_id, kind, what, exc, seq)
        try:
            drafts = self.whole(drafts, draft)
            document = self._draft(order_id, kind, draft, drafts, seq, fresh_date=approved)
            if isinstance(document, str):  # totals differ: the draft is gone, nothing issued
                return self.failed(order_id, kind, document, False, seq=seq)
            if approved and drafts and not any(same_document(d, draft) for d in drafts):
                # The order changed since the person looked at its draft (another total, another
                # customer NIF): the new draft waits for a look of its own; nothing is finalized
                # unseen.
                hold = True
            elif approved and not drafts and listed_total is not None:
                # Its draft was deleted by hand, and `approve` showed the order's total as
                # the state file knew it (listed_total): another total now is finalized only
                # after a look at its new draft.
                hold = True
            if hold:
                return self._hold(
                    order_id, document, draft, changed=approved, customer_given=customer_given
                )
            self._step("finalize")
            final = self._finalize(order_id, kind, document, seq)
        except AuthError:
            raise  # the work keeps its phase and is looked up by the next run
        except ApiError as exc:
            if isinstance(exc, BadResponse):  # reached, but its answer could not be read
                what = "iGEST's answer could not be read"
            elif exc.transient:
                what = "could not reach iGEST"
            else:
                what = "iGEST refused the document"
            # with_fields: the merchant reads which field iGEST refused, not only "not valid".
            return self.failed(
                order_id,
                kind,
                f"{what}: {exc.with_fields()}",
                exc.transient,
                hint=None if exc.transient else _setting_refused(exc, order_id),
                seq=seq,
                unanswered=exc,
            )
        email = self.settings.email_customer and kind == Kind.INVOICE
        self._step("record")
        self.ledger.works.record_final(order_id, kind, final, email=email, seq=seq)
        log.info("Finalized %s for order %s (%s EUR)", final.number, order_id, final.gross_total)
        return DocumentOutcome(
            key,
            Action.ISSUED,
            final.number or final.id,
            kind=kind,
            document=DocumentFacts(final.number, final.gross_total),
            warnings=tuple(draft.warnings),
        )

    # -- steps ------------------------------------------------------------------------------

    def _recover(
        self,
        order_id: int,
        kind: Kind,
        work: WorkRecord,
        ref: str,
        force_lookup: bool,
        since: date | None = None,
    ) -> list[IssuedDocument]:
        """Find what iGEST already holds for this work; adopt a final document if any."""
        self._step("lookup")
        if unsent(work) and not force_lookup:
            # Never sent, but iGEST may hold its document all the same (a first run, a rebuild,
            # a state file put back from an older copy): the run's listing of the days since
            # the order was paid answers.
            found = list(self.catch_up.cover(since).get(ref, []))
        elif work.phase or force_lookup or work.state in IN_FLIGHT:
            found = list(self.igest.find_documents(external_reference=ref))
        else:
            return []
        found = [
            d for d in found if d.status != DocumentStatus.CANCELLED and d.external_reference == ref
        ]
        finals = [d for d in found if d.status == DocumentStatus.FINAL]
        if finals:
            doc = finals[0]
            # Our own attempt got this far (its phase is one of ours) and stopped before the
            # document was recorded, so its email was never sent: send it now, as `invoice`
            # would have. Work found by a rebuild (unverified) may have been emailed by the
            # ledger that was lost: never a second email.
            ours = work.phase in (Phase.REQUESTED, Phase.DRAFT, Phase.FINALIZING)
            email = ours and self.settings.email_customer and kind == Kind.INVOICE
            self.ledger.works.record_final(
                order_id, kind, doc, email=email, adopted=True, seq=work.seq
            )
            # Ours, its answer lost: "adopted" read as if another program had invoiced it.
            detail = (
                f"{doc.number} already in iGEST, issued by an earlier attempt whose answer was "
                "lost; recorded, nothing issued"
                if ours
                else f"{doc.number} already in iGEST; adopted, nothing issued"
            )
            if len(finals) > 1:
                numbers = ", ".join(d.number or d.id for d in finals)
                detail += f" (iGEST holds {len(finals)} final documents for it: {numbers})"
                log.error(
                    "Order %s has %d final documents in iGEST: %s", order_id, len(finals), numbers
                )
            log.warning("Adopted %s for order %s", doc.number, order_id)
            raise _Adopted(
                DocumentOutcome(
                    str(order_id),
                    Action.ADOPTED,
                    detail,
                    kind=kind,
                    document=DocumentFacts(doc.number, doc.gross_total),
                )
            )
        if not found:
            self.ledger.works.clear_phase(order_id, kind, seq=work.seq)
        return [d for d in found if d.status == DocumentStatus.DRAFT]

    def whole(self, drafts: list[IssuedDocument], wanted: DocumentDraft) -> list[IssuedDocument]:
        """``drafts``, each that could be ``wanted`` (its total, its customer) with its lines,
        which ``same_document`` compares before a draft is reused or approved: one a listing
        gave without them is read whole, only then (the others are deleted, or the order is
        refused before any is looked at)."""
        whole = []
        for held in drafts:
            if not held.lines and same_document(held, wanted):
                try:
                    held = self.igest.get_document(held.id)
                except NotFound:
                    continue  # deleted since it was listed (by a person, another run)
            whole.append(held)
        return whole

    def _draft(
        self,
        order_id: int,
        kind: Kind,
        draft: DocumentDraft,
        strays: list[IssuedDocument],
        seq: int = 1,
        *,
        fresh_date: bool = False,
    ) -> IssuedDocument | str:
        """A draft in iGEST whose totals equal the order's, or why there is none.

        ``fresh_date`` (an approval): a draft dated another day is made again, dated today, so
        that the document is dated the day it is finalized (iGEST refuses a date before the
        series' last document)."""
        # Only a draft dated as the document would be now: iGEST refuses to finalize a draft
        # dated before the series' last final document, so a draft left by an answer lost
        # yesterday, once today's invoices are final, would fail the order for good and stay
        # behind as a stray draft. It is deleted and drafted again instead.
        # And only one for the same customer: `resend --nif` / `--as-consumer` after a lost
        # answer must not finalize the earlier customer's draft.
        reusable = next(
            (d for d in strays if same_document(d, draft) and d.date in (None, draft.date)),
            None,
        )
        # By id: one draft listed twice is one draft (its copy is not a stray to delete).
        self._discard([d for d in strays if reusable is None or d.id != reusable.id])
        if reusable is not None:
            log.info("Reusing draft %s left for order %s", reusable.id, order_id)
            self.ledger.works.mark(
                order_id, kind, WorkState.DRAFT, document_id=reusable.id, seq=seq
            )
            return reusable
        self._step("request")
        self.ledger.works.mark(order_id, kind, WorkState.REQUESTED, seq=seq)
        try:
            document = self.igest.create_document(draft)
        except Rejected as exc:
            if exc.status in REFUSED_AS_INVALID:
                # iGEST answered that the document is not valid: it made nothing, so nothing
                # of this attempt is in flight; a refusal to read, not an outcome to look up.
                self.ledger.works.clear_phase(order_id, kind, seq=seq)
            raise
        self._step("drafted")
        self.ledger.works.mark(order_id, kind, WorkState.DRAFT, document_id=document.id, seq=seq)
        if document.gross_total != draft.gross_total:
            reason = (
                f"iGEST computed {document.gross_total} EUR for the document but the "
                f"customer paid {draft.gross_total} EUR; the draft was deleted and no "
                "document was issued"
            )
            self._delete(document.id)
            self.ledger.works.clear_phase(order_id, kind, seq=seq)
            return reason
        return document

    def _finalize(
        self, order_id: int, kind: Kind, document: IssuedDocument, seq: int = 1
    ) -> IssuedDocument:
        self.ledger.works.mark(
            order_id, kind, WorkState.FINALIZING, document_id=document.id, seq=seq
        )
        try:
            return self.igest.finalize_document(document.id)
        except Conflict:
            # Finalized by an earlier attempt whose answer was lost: read it back.
            final = self.igest.get_document(document.id)
            if final.status != DocumentStatus.FINAL:
                raise
            return final

    def _discard(self, drafts: Iterable[IssuedDocument]) -> None:
        for stray in drafts:
            log.warning("Deleting stray draft %s (%s)", stray.id, stray.external_reference)
            self._delete(stray.id)

    def _delete(self, document_id: str) -> None:
        try:
            self.igest.delete_document(document_id)
        except NotFound:
            pass  # a retried DELETE whose first attempt already succeeded

    # -- outcomes ---------------------------------------------------------------------------

    def already(self, order_id: int, kind: Kind, work: WorkRecord) -> DocumentOutcome:
        """The outcome for work this ledger finished before: nothing is asked of iGEST."""
        facts = finished_document(self.ledger, order_id, kind, work)
        return DocumentOutcome(
            str(order_id),
            Action.ALREADY,
            f"{facts.number} was issued before; nothing issued",
            kind=kind,
            document=facts,
        )

    def failed(
        self,
        order_id: int,
        kind: Kind,
        reason: str,
        transient: bool,
        *,
        hint: str | None = None,
        seq: int = 1,
        unanswered: ApiError | None = None,
    ) -> DocumentOutcome:
        """Record the work as failed (``transient``: the next run retries by itself).
        ``unanswered``: the service's error, kept on the outcome when it passes by itself."""
        text = reason if not hint else f"{reason} ({hint})"
        if transient:
            text += "; the next run tries again by itself"
        self.ledger.works.fail(order_id, kind, text, transient=transient, seq=seq)
        what = "invoiced" if kind == Kind.INVOICE else "credited"
        # A failure that passes by itself is retried without a person: a warning in the log;
        # one that waits for a person is an error.
        level = logging.WARNING if transient else logging.ERROR
        log.log(level, "Order %s not %s: %s", order_id, what, text)
        return DocumentOutcome(
            str(order_id),
            Action.FAILED,
            text,
            kind=kind,
            transient=transient,
            unanswered=unanswered if unanswered is not None and unanswered.transient else None,
        )

    def _unread(
        self, order_id: int, kind: Kind, what: str, exc: ApiError, seq: int
    ) -> DocumentOutcome:
        """iGEST could not be read before anything was sent: the work fails, passing by itself
        when the error does (and serve counts iGEST's silence by it)."""
        return self.failed(order_id, kind, f"{what}: {exc}", exc.transient, seq=seq, unanswered=exc)

    def _hold(
        self,
        order_id: int,
        document: IssuedDocument,
        draft: DocumentDraft,
        *,
        changed: bool,
        customer_given: bool = False,
    ) -> DocumentOutcome:
        """Review mode: the checked draft waits for a person (``igest-sync approve``)."""
        self.ledger.works.mark(order_id, Kind.INVOICE, WorkState.REVIEW, document_id=document.id)
        log.info("Draft %s for order %s waits for approval", document.id, order_id)
        return review.held(
            order_id,
            document,
            draft,
            self.exemption_texts,
            changed=changed,
            customer_given=customer_given,
        )

    def waiting_review(self, order_id: int, work: WorkRecord) -> DocumentOutcome:
        """Work whose draft already waits for approval: nothing is asked of iGEST."""
        return review.still_waiting(self.ledger, order_id)

    def _waiting(self, order_id: int, kind: Kind, reason: str) -> DocumentOutcome:
        """Not issued yet for a reason that passes by itself (VIES did not answer): kept as a
        transient failure, so the next run takes the order up again; no person is needed."""
        self.ledger.works.fail(order_id, kind, reason, transient=True)
        log.warning("Order %s waiting: %s", order_id, reason)
        return DocumentOutcome(str(order_id), Action.WAITING, reason, kind=kind, transient=True)


def unsent(work: WorkRecord) -> bool:
    """Nothing of this work has been sent to iGEST (a first run's or a rebuild's may have been,
    by a ledger since lost: the run's listing answers)."""
    return work.phase in (None, Phase.UNVERIFIED) and work.state not in IN_FLIGHT


class _Adopted(Exception):
    def __init__(self, outcome: DocumentOutcome) -> None:
        self.outcome = outcome


class _NoLongerPaid(Exception):
    """The order to invoice is not paid any more (cancelled while its work waited)."""


def same_document(held: IssuedDocument, wanted: DocumentDraft) -> bool:
    """Whether a draft iGEST holds is the document ``wanted`` would be, for what a person
    checks before approving: the same total, for the same customer NIF, with the same VAT
    rates and exemption codes. A draft made under the small-business regime (M10) and
    approved after the exemption ended has the same total, but is no document a business that
    charges VAT may issue. ``held``'s lines as ``Issuer.whole`` reads them (a listing may
    leave them out); none at all: judged by its total and NIF."""
    return (
        held.gross_total == wanted.gross_total
        and _same_nif(held.customer_nif, wanted.customer.nif)
        and (not held.lines or _treatment(held.lines) == _treatment(wanted.lines))
    )


def _treatment(lines: Iterable[DocumentLine]) -> set[tuple[Decimal, str | None]]:
    """The VAT rates and exemption codes of a document's lines."""
    return {(Decimal(line.vat_rate), line.exemption_code or None) for line in lines}


def _same_nif(held: str | None, wanted: str | None) -> bool:
    """Whether iGEST's customer NIF is the draft's (the final consumer's being None or
    999999990; a country prefix may be kept by one side and not the other)."""

    def key(nif: str | None) -> str:
        cleaned = "".join(c for c in (nif or "").upper() if c.isalnum())
        return "" if cleaned == FINAL_CONSUMER_NIF else cleaned

    a, b = key(held), key(wanted)
    return a == b or bool(a and b and (a.endswith(b) or b.endswith(a)))


# A person's customer for one order (`resend --nif` / `--as-consumer`), kept until its invoice
# is issued.
OVERRIDE_KEY = "customer_override:{order}"


def remember_override(ledger: Ledger, order_id: int, override: CustomerOverride) -> None:
    value = {"nif": override.nif, "as_consumer": override.as_consumer}
    ledger.meta.set_meta(OVERRIDE_KEY.format(order=order_id), json.dumps(value))


def remembered_override(ledger: Ledger, order_id: int) -> CustomerOverride | None:
    raw = ledger.meta.get_meta(OVERRIDE_KEY.format(order=order_id))
    if not raw:
        return None
    value = json.loads(raw)
    return CustomerOverride(nif=value.get("nif"), as_consumer=bool(value.get("as_consumer")))


def _setting_refused(exc: ApiError, order_id: int) -> str | None:
    """What to do when iGEST refused a field that comes from the config (a series that does
    not exist, a warehouse): no order data mends it, and `resend` alone fails the same way."""
    keys = {SETTING_OF_FIELD[f] for f in exc.fields if f in SETTING_OF_FIELD}
    if not keys:
        return None
    return f"{setting_to_correct(*keys)}, then `igest-sync resend {order_id}`"


def setting_to_correct(*keys: str) -> str:
    """The [invoice] settings a document iGEST refuses (or would refuse) came from."""
    named = " and ".join(f"[invoice] {key}" for key in sorted(keys))
    return f"{named} in the config: correct it (`igest-sync check` compares it with iGEST)"
