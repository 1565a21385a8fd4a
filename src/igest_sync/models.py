"""Frozen value objects shared by the adapters, the mapping and the runs.

Money and quantities are ``Decimal`` everywhere. Jumpseller models are what the Jumpseller
adapter parsed from the wire; iGEST models are what the iGEST adapter parsed. Neither carries
any wire detail (no JSON keys, no URLs) beyond plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from igest_sync.errors import ApiError

# --------------------------------------------------------------------------------------------
# The vocabulary. Values are the strings stored in the ledger and shown in --json: a StrEnum
# compares equal to its string, so the schema and the JSON contract do not change.


class Kind(StrEnum):
    """What a piece of work issues for an order."""

    INVOICE = "invoice"
    CREDIT = "credit"


# The first words of the error of an order a person rejected (``approve --reject``): the
# runs, `status` and the alerts tell such a failure apart by them.
REJECTED = "rejected by a person"


class WorkState(StrEnum):
    """``work.state`` in the ledger: pending → requested → draft → finalizing → final | failed.

    ``review`` (``[invoice] review``): a checked draft in iGEST that waits for a person
    (``igest-sync approve``); its phase stays ``draft``, so any lookup still finds it.
    """

    PENDING = "pending"
    REQUESTED = "requested"
    DRAFT = "draft"
    FINALIZING = "finalizing"
    FINAL = "final"
    FAILED = "failed"
    REVIEW = "review"


# States in which a write may have reached iGEST: such work is looked up before anything is sent.
IN_FLIGHT = (WorkState.REQUESTED, WorkState.DRAFT, WorkState.FINALIZING)


class Phase(StrEnum):
    """``work.phase``: the furthest step that may have reached iGEST, or ``unverified`` for work
    recorded while the ledger was empty (iGEST may hold its document already)."""

    REQUESTED = "requested"
    DRAFT = "draft"
    FINALIZING = "finalizing"
    UNVERIFIED = "unverified"


class Action(StrEnum):
    """What a run did with one item (an order or a SKU); a line of its report."""

    ISSUED = "issued"
    ADOPTED = "adopted"  # found final in iGEST (an earlier run or by hand): nothing issued
    ALREADY = "already"  # this ledger issued it before: nothing issued
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"  # not issued yet for a reason that passes by itself (VIES unavailable)
    DRAFTED = "drafted"  # review mode: a checked draft waits for a person (igest-sync approve)
    REJECTED = "rejected"  # approve --reject: the draft was deleted; the order waits for resend
    WOULD_ISSUE = "would issue"  # a dry run's outcomes all speak in "would"
    WOULD_ADOPT = "would adopt"
    WOULD_FAIL = "would fail"
    WOULD_SKIP = "would skip"
    # A dry run over the drafts that wait for approval (review mode), as the real run's sweep
    # would treat them: finalized (review turned off, or the automatic hour), or made again to
    # wait for another look (the order or its customer changed since).
    WOULD_FINALIZE = "would finalize"
    WOULD_DRAFT = "would draft"
    # A dry run over the credit pass: an invoiced order since cancelled, whose invoice the real
    # run credits (what is left of it).
    WOULD_CREDIT = "would credit"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


# The outcomes whose document exists now: issued by this call, or found issued before.
DOCUMENT_EXISTS = (Action.ISSUED, Action.ADOPTED, Action.ALREADY)


class OrderStatus(StrEnum):
    """A Jumpseller order's ``status_enum``: what decides whether it is invoiced or credited."""

    PAID = "paid"
    PENDING_PAYMENT = "pending_payment"
    CANCELED = "canceled"
    ABANDONED = "abandoned"


def status_words(status: str) -> str:
    """An order's status as a sentence says it: "pending payment", "cancelled" (Jumpseller's
    ``status_enum`` spells it "canceled")."""
    return "cancelled" if status == OrderStatus.CANCELED else status.replace("_", " ")


class DocumentType(StrEnum):
    """iGEST's document types: fatura, fatura-recibo, fatura simplificada, nota de crédito."""

    FT = "FT"
    FR = "FR"
    FS = "FS"
    NC = "NC"


class DocumentStatus(StrEnum):
    """A document's status in iGEST (and in the ledger's ``documents.status``)."""

    DRAFT = "draft"
    FINAL = "final"
    CANCELLED = "cancelled"


class EmailState(IntEnum):
    """``documents.emailed`` in the ledger."""

    NOT_SENT = -1  # never to be sent (too old, no address, or the one attempt failed)
    PENDING = 0
    SENT = 1


# --------------------------------------------------------------------------------------------
# Jumpseller side


@dataclass(frozen=True)
class Tax:
    """One entry of an order product's ``taxes[]`` or of the order's ``shipping_taxes[]``."""

    name: str
    rate: Decimal | None  # percent (23 means 23 %); None when missing on the wire
    fixed: bool  # True: ``rate`` is a monetary amount, not a percentage
    included: bool  # tax_on_product_price / tax_on_shipping_price


@dataclass(frozen=True)
class OrderLine:
    """One entry of an order's ``products[]``.

    ``price`` is the unit price as Jumpseller shows it (VAT-inclusive when the tax is
    ``included``); ``discount`` is this line's whole discount (its share of order-level
    discounts included), in the same basis as ``price``, for the whole line, not per unit.
    """

    product_id: int | None
    variant_id: int | None
    sku: str | None
    name: str
    qty: Decimal
    price: Decimal
    discount: Decimal
    taxes: tuple[Tax, ...]


@dataclass(frozen=True)
class Address:
    """An order's billing or shipping address (None fields when Jumpseller sent null)."""

    name: str | None = None
    surname: str | None = None
    company: str | None = None
    taxid: str | None = None
    address: str | None = None
    city: str | None = None
    postal: str | None = None
    region: str | None = None
    country_code: str | None = None


@dataclass(frozen=True)
class Order:
    """A Jumpseller order, parsed.

    ``defects`` lists what the adapter could not parse ("products[1].qty is 'abc', not a
    number"): such fields hold a neutral value and the mapping refuses the order naming them.
    Status is ``status_enum``: abandoned, canceled, pending_payment or paid.
    """

    id: int
    status: str
    created_at: datetime | None
    completed_at: datetime | None  # first payment time; kept when a paid order is cancelled
    currency: str
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    shipping_discount: Decimal
    gift_cards_discount: Decimal
    tax: Decimal
    shipping_tax: Decimal
    total: Decimal
    shipping_required: bool
    shipping_method_name: str | None
    shipping_taxes: tuple[Tax, ...]
    payment_method_name: str | None
    payment_method_type: str | None
    customer_email: str | None
    billing: Address | None
    additional_fields: tuple[tuple[str, str], ...]  # (label, value) of checkout custom fields
    lines: tuple[OrderLine, ...]
    defects: tuple[str, ...] = ()
    # Of ``defects``, those of the amounts the value of the sale is made of (the total, the
    # gift cards): their 0 then stands for nothing, and no one may report it as what was paid.
    total_unread: str | None = None
    # Where the goods go (the VAT destination); None when Jumpseller sent none.
    shipping_address: Address | None = None
    shipping_option: str | None = None  # delivery, store_pickup, no_shipping
    source: str | None = None  # source.created_from: checkout, admin, api, pos, ...
    customer_note: str | None = None  # additional_information: the checkout note


@dataclass(frozen=True)
class CatalogueItem:
    """A sellable Jumpseller item: a product without variants, or one variant of a product."""

    product_id: int
    variant_id: int | None
    sku: str | None
    name: str  # product name, plus the variant's option values when it is a variant
    price: Decimal  # as shown in the store (VAT-inclusive in Portugal)
    barcode: str | None
    digital: bool  # product type "digital" (a service line in iGEST)
    stock: int
    stock_unlimited: bool
    # What Jumpseller sent that cannot be read (the price 0 and the stock 0 then stand for
    # nothing): the item is skipped where it matters, named, instead of the whole run failing.
    price_unread: str | None = None
    stock_unread: str | None = None


@dataclass(frozen=True)
class LocationStock:
    """Stock of one item at one Jumpseller location (``/products_locations``)."""

    location_id: int
    product_id: int
    variant_id: int | None
    stock: int
    # The row's stock as Jumpseller sent it, when it cannot be read (``stock`` 0 then stands
    # for nothing): that item is left alone, named, rather than set to a count never read.
    stock_unread: str | None = None


@dataclass(frozen=True)
class StoreLocation:
    """One Jumpseller location (``/locations.json``); ``holds_stock``: active and a stock origin."""

    id: int
    name: str
    main: bool
    holds_stock: bool


# --------------------------------------------------------------------------------------------
# iGEST side


@dataclass(frozen=True)
class Customer:
    nif: str | None  # None: final consumer (iGEST uses 999999990)
    name: str
    email: str | None = None
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str = "PT"


@dataclass(frozen=True)
class DocumentLine:
    reference: str
    description: str
    quantity: Decimal
    unit_price: Decimal  # up to 6 decimals; VAT-inclusive when the draft says so
    discount_percent: Decimal
    vat_rate: Decimal
    exemption_code: str | None = None
    is_service: bool = False
    # Another Member State whose VAT the line carries under the OSS scheme; None: Portugal's.
    tax_country: str | None = None


@dataclass(frozen=True)
class VatSummary:
    rate: Decimal
    base: Decimal
    vat: Decimal
    tax_country: str | None = None  # None: Portugal


# A draft's notes are lines; iGEST refuses line breaks (control characters), so they travel as
# one text with this between the lines, and iGEST's 500-character limit applies to that text.
NOTES_SEPARATOR = " | "


@dataclass(frozen=True)
class DocumentDraft:
    """What the mapping decided to issue for one order: everything iGEST needs, nothing more."""

    order_id: int
    external_reference: str
    type: str  # FR, FT, FS, NC
    series: str
    date: date
    customer: Customer
    lines: tuple[DocumentLine, ...]
    prices_include_vat: bool
    payment_method: str | None
    warehouse: str | None
    move_stock: bool
    notes: str | None
    # The figures the client computed with iGEST's own totals rule; iGEST's draft must agree.
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    vat_breakdown: tuple[VatSummary, ...]
    related_document: tuple[str, str] | None = None  # (number, reason) for an NC
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class IssuedDocument:
    """A document as iGEST reports it (draft or final)."""

    id: str
    type: str
    series: str
    number: str | None  # "FR A/123"; None while a draft
    atcud: str | None
    status: str  # draft, final, cancelled
    date: date | None
    external_reference: str | None
    customer_nif: str | None
    customer_name: str | None
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal
    pdf_url: str | None = None
    at_communication: str | None = None
    # As iGEST holds them: a partial credit note is planned from the original's lines and the
    # lines of the NCs that name it (``related_number``).
    lines: tuple[DocumentLine, ...] = ()
    prices_include_vat: bool | None = None
    related_number: str | None = None
    # The customer as iGEST holds it (a credit note names the very customer of its original:
    # a foreign VAT number keeps its country, the address stays); None when iGEST sent none.
    customer: Customer | None = None
    # VAT by rate as iGEST computed it (what ``approve`` shows before finalizing a draft).
    vat_breakdown: tuple[VatSummary, ...] = ()
    # The document's notes (another integration may name its order only there: ``adopt``).
    notes: str | None = None


@dataclass(frozen=True)
class IgestProduct:
    id: str
    reference: str
    description: str
    type: str  # "P" product, "S" service
    unit: str
    price: Decimal  # net
    vat_rate: Decimal
    exemption_code: str | None
    barcode: str | None
    active: bool
    # Why a listed product's price or rate cannot be read (both are then 0 and never used):
    # that product is left alone, the others synced.
    unread: str | None = None


@dataclass(frozen=True)
class IgestProductDraft:
    reference: str
    description: str
    type: str
    price: Decimal  # net, up to 6 decimals
    vat_rate: Decimal
    exemption_code: str | None = None
    barcode: str | None = None
    unit: str = "UN"


@dataclass(frozen=True)
class Entity:
    nif: str
    name: str
    currency: str
    stock_by_warehouse: bool


@dataclass(frozen=True)
class Series:
    code: str
    document_type: str
    atcud_code: str | None
    active: bool

    @staticmethod
    def named(found: Iterable[Series], code: str, document_type: str) -> Series | None:
        """The series ``code`` of ``document_type`` among those iGEST listed, if there."""
        return next((s for s in found if s.code == code and s.document_type == document_type), None)


@dataclass(frozen=True)
class TaxRate:
    region: str
    kind: str
    rate: Decimal


@dataclass(frozen=True)
class ExemptionReason:
    code: str
    description: str
    legal_reference: str | None = None


class ViesStatus(StrEnum):
    """What VIES said of a VAT number: anything not clearly valid or invalid is unavailable."""

    VALID = "valid"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ViesCheck:
    """One VIES consultation: ``country`` as VIES spells it (EL for Greece), ``number`` without
    that prefix; ``consultation`` is VIES's requestIdentifier, the evidence of the check."""

    country: str
    number: str
    status: ViesStatus
    checked_on: date
    consultation: str | None = None
    detail: str | None = None  # the error code or the reason it is unavailable

    @property
    def vat_number(self) -> str:
        return f"{self.country}{self.number}"


@dataclass(frozen=True)
class Hook:
    """A Jumpseller webhook: ``event`` (``order_paid`` ...) is POSTed to ``url``."""

    id: int
    event: str
    url: str


@dataclass(frozen=True)
class StockLevel:
    reference: str
    quantity: Decimal
    # Why iGEST's quantity for this reference cannot be read (``quantity`` is then 0 and never
    # used): that reference is left alone, the others synced.
    quantity_unread: str | None = None


@dataclass(frozen=True)
class DocumentFacts:
    """The document an outcome is about, as its report shows it (both keys always in JSON)."""

    number: str | None
    gross_total: Decimal | None


@dataclass(frozen=True)
class ApiFailure:
    """Why a write was refused, as the service said it (both keys always in JSON)."""

    error: str  # the exception's class name: NotFound, Conflict, Timeout ...
    status: int | None  # HTTP status; None when no answer came


@dataclass
class ItemOutcome:
    """One line of a batch run's report (an order, a SKU ...): what every line has.

    A run reports ``DocumentOutcome`` (orders: invoice, resend, approve, credit, reconcile
    --fix) or ``CatalogueOutcome`` (SKUs: sync-products, sync-stock), each with only its own
    typed facts; ``facts()`` is what ``--json`` adds to the item, naming only the facts it has.
    """

    key: str  # "10452" or "SKU-1"
    action: str  # an Action: issued, adopted, failed, created, updated, unchanged, skipped ...
    detail: str = ""
    transient: bool | None = None  # a failure the next run retries by itself

    def facts(self) -> dict[str, object]:
        """The facts this outcome carries, under their JSON names (money as strings)."""
        return {} if self.transient is None else {"transient": self.transient}


@dataclass
class DocumentOutcome(ItemOutcome):
    """An order's line: the document issued, adopted or credited, or why not."""

    kind: Kind | None = None
    document: DocumentFacts | None = None
    warnings: tuple[str, ...] | None = None  # what the mapping noted on an issued document
    # A failure the ledger does not hold (resend of an order it never saw, unread): nothing
    # stays failed, so the footer's "resend it" advice does not apply.
    recorded: bool = True
    # A failure because iGEST did not answer (5xx, timeout, a lost answer): what it said. serve
    # counts an outage by it (a batch whose every order met it heard nothing of iGEST).
    unanswered: ApiError | None = field(default=None, compare=False, repr=False)

    @property
    def number(self) -> str | None:
        return self.document.number if self.document else None

    @property
    def gross_total(self) -> Decimal | None:
        return self.document.gross_total if self.document else None

    def facts(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.document is not None:
            out["number"] = self.document.number
            gross = self.document.gross_total
            out["gross_total"] = None if gross is None else str(gross)
        if self.kind is not None:
            out["kind"] = str(self.kind)
        if self.warnings is not None:
            out["warnings"] = list(self.warnings)
        return out | super().facts()


@dataclass
class CatalogueOutcome(ItemOutcome):
    """A SKU's line: a product created or updated, a stock write, or why not."""

    # Why an item is skipped (no_sku, duplicate_sku, unlimited ...), or what a created one
    # lacks (no_stock_in_igest).
    reason: str | None = None
    differs: tuple[str, ...] | None = None  # fields that differ (update not requested)
    igest_id: str | None = None
    changed: tuple[str, ...] | None = None  # fields an update wrote
    failure: ApiFailure | None = None
    fields: dict[str, str] | None = None  # the service's complaints, field by field
    quantity_from: Decimal | None = None  # a stock write: the quantity before ...
    quantity_to: Decimal | None = None  # ... and after
    jumpseller_quantity: Decimal | None = None  # unchanged stock: both sides' quantities
    igest_quantity: Decimal | None = None
    # A failed write: what the service said (not in --json: ``failure`` is). A rate limit
    # that outlasted the client's retries, or credentials refused, stops the run's writes.
    error: ApiError | None = field(default=None, compare=False, repr=False)

    def facts(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.differs is not None:
            out["differs"] = list(self.differs)
        if self.igest_id is not None:
            out["igest_id"] = self.igest_id
        if self.changed is not None:
            out["changed"] = list(self.changed)
        for name, quantity in (
            ("from", self.quantity_from),
            ("to", self.quantity_to),
            ("jumpseller", self.jumpseller_quantity),
            ("igest", self.igest_quantity),
        ):
            if quantity is not None:
                out[name] = quantity
        if self.failure is not None:
            out["error"] = self.failure.error
            out["status"] = self.failure.status
        if self.fields is not None:
            out["fields"] = dict(self.fields)
        return out | super().facts()
