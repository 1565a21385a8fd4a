"""In-memory fakes of the two services, implementing ``runs.services``' Protocols.

One pair for every unit test of the runs, instead of a hand-written pair per test file. Each
holds its data in plain containers a test can seed and inspect, records every call in
``calls`` as ``(method, argument)``, and takes scripted faults:

    igest.faults.add("create_document", "timeout", after=True)  # done, but the answer is lost
    igest.faults.add("find_documents", "5xx", times=None)       # every call fails

A fault is an exception class or instance, or one of the names in ``FAULTS``. ``after=True``
carries the call out before raising (a lost answer); otherwise nothing is done. ``match``
limits a fault to calls whose argument equals it; the method ``"*"`` is whichever call comes
next. Not thread-safe: run the runs with ``concurrency = 1`` against them.

``paid_order`` builds a paid order of one 23 % line that the mapping accepts as it is.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from igest_sync.errors import (
    ApiError,
    AuthError,
    Conflict,
    NotFound,
    Rejected,
    ServerError,
    TransportError,
)
from igest_sync.models import (
    CatalogueItem,
    DocumentDraft,
    DocumentLine,
    Entity,
    ExemptionReason,
    Hook,
    IgestProduct,
    IgestProductDraft,
    IssuedDocument,
    LocationStock,
    Order,
    OrderLine,
    Series,
    StockLevel,
    StoreLocation,
    Tax,
    TaxRate,
)
from igest_sync.timeutil import lisbon_date

FAULTS: dict[str, type[ApiError]] = {
    "timeout": TransportError,
    "5xx": ServerError,
    "auth": AuthError,
    "404": NotFound,
    "409": Conflict,
    "422": Rejected,
}
_STATUS = {ServerError: 502, AuthError: 401, NotFound: 404, Conflict: 409, Rejected: 422}


@dataclass
class _Fault:
    method: str
    error: type[BaseException] | BaseException | str
    after: bool
    times: int | None  # None: every call
    match: object = None


@dataclass
class Faults:
    """Scripted failures of one fake service."""

    service: str
    pending: list[_Fault] = field(default_factory=list)

    def add(
        self,
        method: str,
        error: type[BaseException] | BaseException | str,
        *,
        after: bool = False,
        times: int | None = 1,
        match: object = None,
    ) -> None:
        self.pending.append(_Fault(method, error, after, times, match))

    def clear(self) -> None:
        self.pending.clear()

    def take(self, method: str, argument: object) -> _Fault | None:
        for fault in self.pending:
            if fault.method in (method, "*") and (fault.match is None or fault.match == argument):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.pending.remove(fault)
                return fault
        return None

    def exception(self, fault: _Fault, method: str) -> BaseException:
        error = fault.error
        if isinstance(error, BaseException):
            return error
        cls = FAULTS[error] if isinstance(error, str) else error
        if issubclass(cls, ApiError):
            return cls(
                f"{self.service} {method}: {cls.__name__} (scripted)",
                service=self.service,
                status=_STATUS.get(cls),
            )
        return cls(f"{method} (scripted)")


class _Fake:
    service = "fake"

    def __init__(self, errors: dict[str, BaseException] | None = None) -> None:
        self.calls: list[str] = []  # method names, in order
        self.log: list[tuple[str, object]] = []  # (method, argument), in order
        self.writes: list[tuple] = []  # every write asked for (failed ones too), in order
        self.faults = Faults(self.service)
        self._after: list[BaseException] = []
        for method, error in (errors or {}).items():  # shorthand: this method always fails
            self.faults.add(method, error, times=None)

    def _call(self, method: str, argument: object = None) -> None:
        """Record the call; raise a fault scheduled before it, or arm one for after it."""
        self.calls.append(method)
        self.log.append((method, argument))
        fault = self.faults.take(method, argument)
        if fault is None:
            return
        exc = self.faults.exception(fault, method)
        if not fault.after:
            raise exc
        self._after.append(exc)

    def _done(self) -> None:
        """The call was carried out: raise its lost-answer fault, if one was armed."""
        if self._after:
            raise self._after.pop()

    def called(self, method: str) -> list[object]:
        """The arguments of every call of ``method``."""
        return [argument for name, argument in self.log if name == method]


# --------------------------------------------------------------------------------------------
# iGEST


class FakeIgest(_Fake):
    """Documents (draft → final, by external reference), products, stock and the account."""

    service = "iGEST"

    def __init__(
        self,
        *,
        documents: Iterable[IssuedDocument] = (),
        products: Iterable[IgestProduct] = (),
        stock: dict[str, dict[str, str | Decimal]] | None = None,
        entity: Entity | None = None,
        series: dict[str, list[Series]] | None = None,
        warehouses: list[tuple[str, str]] | None = None,
        taxes: list[TaxRate] | None = None,
        exemption_reasons: list[ExemptionReason] | None = None,
        errors: dict[str, BaseException] | None = None,
    ) -> None:
        super().__init__(errors)
        self.documents: dict[str, IssuedDocument] = {d.id: d for d in documents}
        self._ids = itertools.count(len(self.documents) + 1)
        self._numbers: dict[tuple[str, str], itertools.count[int]] = {}
        self.total_skew = Decimal(0)  # iGEST computes drafts this much off (a totals mismatch)
        self.drafts: list[DocumentDraft] = []  # every draft sent, in order
        self.emails: list[tuple[str, str]] = []
        self.products_by_id: dict[str, IgestProduct] = {p.id: p for p in products}
        self.warehouse_stock = {
            w: {r: Decimal(q) for r, q in levels.items()} for w, levels in (stock or {}).items()
        }
        self.entity_value = entity or Entity(
            nif="509999999",
            name="Loja Lda",
            currency="EUR",
            stock_by_warehouse=len(self.warehouse_stock) > 1,
        )
        # Unless told otherwise, the series every document of the default config goes to
        # (create_document accepts any): a dry run reads them before it promises a document.
        self.series_by_type = (
            series
            if series is not None
            else {t: [Series("A", t, f"J{t}AAAA", True)] for t in ("FR", "FT", "FS", "NC")}
        )
        self.warehouse_list = warehouses if warehouses is not None else []
        self.tax_list = taxes if taxes is not None else []
        self.reasons = exemption_reasons if exemption_reasons is not None else []

    # -- seeding and reading back

    def hold(
        self,
        external_reference: str,
        status: str = "final",
        gross_total: Decimal | str = "10.00",
        *,
        type: str = "FR",
        series: str = "A",
        day: date | None = None,
    ) -> IssuedDocument:
        """A document iGEST already holds (an earlier run's, a crash's draft, one by hand): one
        VAT-inclusive 23 % line of its total, as the issuer makes for ``paid_order``."""
        line = DocumentLine(
            "SKU-1", "Caneca", Decimal(1), Decimal(gross_total), Decimal(0), Decimal(23)
        )
        doc = IssuedDocument(
            id=str(next(self._ids)),
            type=type,
            series=series,
            number=self._number(type, series) if status == "final" else None,
            atcud=None,
            status=status,
            date=day or date(2026, 11, 20),
            external_reference=external_reference,
            customer_nif=None,
            customer_name="Consumidor final",
            net_total=Decimal(gross_total),
            vat_total=Decimal(0),
            gross_total=Decimal(gross_total),
            lines=(line,),
            prices_include_vat=True,
        )
        self.documents[doc.id] = doc
        return doc

    def finals(self, external_reference: str | None = None) -> list[IssuedDocument]:
        return [
            d
            for d in self.documents.values()
            if d.status == "final"
            and (external_reference is None or d.external_reference == external_reference)
        ]

    def _number(self, type: str, series: str) -> str:
        counter = self._numbers.setdefault((type, series), itertools.count(1))
        return f"{type} {series}/{next(counter)}"

    # -- documents

    def create_document(self, draft: DocumentDraft, *, finalize: bool = False) -> IssuedDocument:
        self._call("create_document", draft.external_reference)
        self.drafts.append(draft)
        doc = IssuedDocument(
            id=str(next(self._ids)),
            type=draft.type,
            series=draft.series,
            number=None,
            atcud=None,
            status="draft",
            date=draft.date,
            external_reference=draft.external_reference,
            customer_nif=draft.customer.nif,
            customer_name=draft.customer.name,
            net_total=draft.net_total,
            vat_total=draft.vat_total,
            gross_total=draft.gross_total + self.total_skew,
            lines=draft.lines,
            prices_include_vat=draft.prices_include_vat,
            related_number=draft.related_document[0] if draft.related_document else None,
            customer=draft.customer,
            vat_breakdown=draft.vat_breakdown,
        )
        self.documents[doc.id] = doc
        if finalize:
            doc = self._finalize(doc.id)
        self._done()
        return doc

    def _finalize(self, document_id: str) -> IssuedDocument:
        doc = replace(
            self.documents[document_id],
            status="final",
            number=self._number(
                self.documents[document_id].type, self.documents[document_id].series
            ),
            pdf_url=f"https://igest.example/documents/{document_id}.pdf",
        )
        self.documents[document_id] = doc
        return doc

    def finalize_document(self, document_id: str) -> IssuedDocument:
        self._call("finalize_document", document_id)
        doc = self._get(document_id)
        if doc.status != "draft":
            raise Conflict(
                f"iGEST: document {document_id} is {doc.status}", service="iGEST", status=409
            )
        final = self._finalize(document_id)
        self._done()
        return final

    def delete_document(self, document_id: str) -> None:
        self._call("delete_document", document_id)
        doc = self._get(document_id)
        if doc.status != "draft":
            raise Conflict(f"iGEST: document {document_id} is final", service="iGEST", status=409)
        del self.documents[document_id]
        self._done()

    def get_document(self, document_id: str) -> IssuedDocument:
        self._call("get_document", document_id)
        doc = self._get(document_id)
        self._done()
        return doc

    def _get(self, document_id: str) -> IssuedDocument:
        try:
            return self.documents[document_id]
        except KeyError:
            raise NotFound(
                f"iGEST: no document {document_id}", service="iGEST", status=404
            ) from None

    def find_documents(
        self,
        *,
        external_reference: str | None = None,
        type: str | None = None,
        status: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> Iterator[IssuedDocument]:
        query = {
            "external_reference": external_reference,
            "type": type,
            "status": status,
            "date_from": date_from,
            "date_to": date_to,
        }
        self._call("find_documents", {k: v for k, v in query.items() if v is not None})
        found = [
            d
            for d in self.documents.values()
            if (external_reference is None or d.external_reference == external_reference)
            and (type is None or d.type == type)
            and (status is None or d.status == status)
            and (date_from is None or (d.date is not None and d.date >= date_from))
            and (date_to is None or (d.date is not None and d.date <= date_to))
        ]
        self._done()
        return iter(found)

    def credit_notes_of(self, number: str) -> list[IssuedDocument]:
        self._call("credit_notes_of", number)
        found = [
            d for d in self.documents.values() if d.type == "NC" and d.related_number == number
        ]
        self._done()
        return found

    def email_document(self, document_id: str, to: str) -> None:
        self._call("email_document", document_id)
        self.emails.append((document_id, to))
        self._done()

    # -- account

    def entity(self) -> Entity:
        self._call("entity")
        return self.entity_value

    def series(self, document_type: str) -> list[Series]:
        self._call("series", document_type)
        return self.series_by_type.get(document_type, [])

    def warehouses(self) -> list[tuple[str, str]]:
        self._call("warehouses")
        return self.warehouse_list

    def taxes(self) -> list[TaxRate]:
        self._call("taxes")
        return self.tax_list

    def exemption_reasons(self) -> list[ExemptionReason]:
        self._call("exemption_reasons")
        return self.reasons

    # -- products and stock

    def products(self) -> Iterator[IgestProduct]:
        self._call("products")
        return iter(list(self.products_by_id.values()))

    def by_reference(self, reference: str) -> IgestProduct:
        """The product with this reference (a test's look at what was written)."""
        return next(p for p in self.products_by_id.values() if p.reference == reference)

    def product_by_reference(self, reference: str) -> IgestProduct | None:
        self._call("product_by_reference", reference)
        return next((p for p in self.products_by_id.values() if p.reference == reference), None)

    def create_product(self, draft: IgestProductDraft) -> IgestProduct:
        self.writes.append(("create", draft.reference))
        self._call("create_product", draft.reference)
        new = IgestProduct(
            id=f"id-{len(self.products_by_id) + 1}",
            reference=draft.reference,
            description=draft.description,
            type=draft.type,
            unit=draft.unit,
            price=draft.price,
            vat_rate=draft.vat_rate,
            exemption_code=draft.exemption_code,
            barcode=draft.barcode,
            active=True,
        )
        self.products_by_id[new.id] = new
        self._done()
        return new

    def update_product(self, product_id: str, changes: dict[str, object]) -> IgestProduct:
        old = self.products_by_id[product_id]
        self.writes.append(("update", old.reference, dict(changes)))
        self._call("update_product", old.reference)
        assert set(changes) <= {"description", "price", "vat_rate", "barcode"}
        new = replace(old, **changes)  # type: ignore[arg-type]
        self.products_by_id[product_id] = new
        self._done()
        return new

    def stock(self, warehouse: str | None) -> Iterator[StockLevel]:
        """Per warehouse, or the sum over all of them for None, as iGEST answers."""
        self._call("stock", warehouse)
        chosen = (
            [self.warehouse_stock[warehouse]]
            if warehouse is not None
            else list(self.warehouse_stock.values())
        )
        totals: dict[str, Decimal] = {}
        for levels in chosen:
            for reference, quantity in levels.items():
                totals[reference] = totals.get(reference, Decimal(0)) + quantity
        return iter([StockLevel(r, q) for r, q in totals.items()])

    def set_stock(self, reference: str, warehouse: str | None, quantity: Decimal) -> None:
        self.writes.append((reference, warehouse, quantity))
        self._call("set_stock", reference)
        target = warehouse if warehouse is not None else next(iter(self.warehouse_stock))
        self.warehouse_stock.setdefault(target, {})[reference] = quantity
        self._done()


# --------------------------------------------------------------------------------------------
# Jumpseller


class FakeJumpseller(_Fake):
    """Orders (by id, listed by creation day and status), their documents, and the catalogue."""

    service = "Jumpseller"

    def __init__(
        self,
        *,
        orders: Iterable[Order] = (),
        items: Iterable[CatalogueItem] = (),
        location: dict[tuple[int, int | None], int | None] | None = None,
        info: dict | None = None,
        errors: dict[str, BaseException] | None = None,
        locations: Iterable[StoreLocation] | None = None,
    ) -> None:
        super().__init__(errors)
        # One location holding stock unless told otherwise: a store that needs no choice.
        self.store_locations = (
            [StoreLocation(1, "Armazém", main=True, holds_stock=True)]
            if locations is None
            else list(locations)
        )
        self.orders: dict[int, Order] = {o.id: o for o in orders}
        self.newest_first = True  # the order of ``order_page`` (Jumpseller: newest first)
        self.documents: dict[int, list[dict]] = {}
        self.hook_list: list[Hook] = []  # the store's webhooks
        self.items = list(items)
        self.stock = {(i.product_id, i.variant_id): i.stock for i in self.items}
        self.location = dict(location or {})
        self.info = (
            info
            if info is not None
            else {"name": "Loja", "code": "loja", "currency": "EUR", "country": "PT"}
        )

    def add(self, *orders: Order) -> None:
        for order in orders:
            self.orders[order.id] = order

    def store_info(self) -> dict:
        self._call("store_info")
        return self.info

    # -- orders

    def orders_after(self, order_id: int) -> Iterator[Order]:
        self._call("orders_after", order_id)
        if order_id not in self.orders and self.orders and order_id < max(self.orders):
            raise NotFound(f"Jumpseller: no order {order_id}", service="Jumpseller", status=404)
        return iter([self.orders[i] for i in sorted(self.orders) if i > order_id])

    def orders_created_between(
        self, first: date, last: date, status: str | None = None, *, steady: bool = False
    ) -> Iterator[Order]:
        self._call("orders_created_between", (first, last, status))
        return iter(
            [
                o
                for _, o in sorted(self.orders.items())
                if (day := self._store_day(o)) is not None
                and first <= day <= last
                and (status is None or o.status == status)
            ]
        )

    def _store_day(self, order: Order) -> date | None:
        """The store's day ``order`` was created on, by which it lists: Lisbon's."""
        return lisbon_date(order.created_at or datetime.now(UTC))

    def order_page(
        self,
        *,
        page: int,
        limit: int = 100,
        status: str | None = None,
        first: date | None = None,
        last: date | None = None,
    ) -> list[Order]:
        """One page of the listing, newest first as Jumpseller lists (``newest_first``)."""
        self._call("order_page", (page, limit, status, first, last))
        rows = [
            o
            for _, o in sorted(self.orders.items(), reverse=self.newest_first)
            if (status is None or o.status == status)
            and (
                first is None
                or last is None
                or first <= lisbon_date(o.created_at or datetime.now(UTC)) <= last
            )
        ]
        return rows[(page - 1) * limit : page * limit]

    def orders_with_status(self, status: str, *, steady: bool = False) -> Iterator[Order]:
        self._call("orders_with_status", status)
        return iter([o for _, o in sorted(self.orders.items()) if o.status == status])

    def order(self, order_id: int) -> Order:
        self._call("order", order_id)
        try:
            order = self.orders[order_id]
        except KeyError:
            raise NotFound(
                f"Jumpseller GET /orders/{order_id}.json: not found",
                service="Jumpseller",
                status=404,
            ) from None
        self._done()
        return order

    def add_order_document(
        self, order_id: int, *, credit_note: bool, external_id: str, public_id: str, url: str | None
    ) -> None:
        self._call("add_order_document", order_id)
        self.documents.setdefault(order_id, []).append(
            {
                "document_type": 0 if credit_note else 1,
                "external_id": external_id,
                "public_id": public_id,
                "url": url,
            }
        )
        self._done()

    def order_documents(self, order_id: int) -> list[dict]:
        self._call("order_documents", order_id)
        if order_id not in self.orders:  # as the sandbox answers (tests/contract)
            raise NotFound(
                f"Jumpseller GET /orders/{order_id}/documents.json: not found",
                service="Jumpseller",
                status=404,
            )
        return list(self.documents.get(order_id, []))

    # -- catalogue and stock

    def locations(self) -> list[StoreLocation]:
        self._call("locations")
        return list(self.store_locations)

    def catalogue(self) -> Iterator[CatalogueItem]:
        self._call("catalogue")
        for i in self.items:
            yield replace(i, stock=self.stock[(i.product_id, i.variant_id)])

    def location_stock(
        self, items: Iterable[CatalogueItem], location_id: int
    ) -> Iterator[LocationStock]:
        # As the sandbox answers: a row for every item asked, 0 where the location holds none;
        # an item set to None gets no row (an answer that leaves it out).
        for i in items:
            self._call("location_stock", i.sku)
            stock = self.location.get((i.product_id, i.variant_id), 0)
            if stock is not None:
                yield LocationStock(location_id, i.product_id, i.variant_id, stock)

    def set_stock(self, item: CatalogueItem, quantity: int) -> None:
        assert type(quantity) is int  # Jumpseller stock is whole units
        self.writes.append(("stock", item.sku, quantity))
        self._call("set_stock", item.sku)
        self.stock[(item.product_id, item.variant_id)] = quantity
        self._done()

    def set_location_stock(self, location_id: int, item: CatalogueItem, quantity: int) -> None:
        assert type(quantity) is int
        self.writes.append(("location", item.sku, quantity))
        self._call("set_location_stock", (location_id, item.sku))
        self.location[(item.product_id, item.variant_id)] = quantity
        self._done()

    # -- webhooks (ids count up from 1)

    def hooks(self) -> list[Hook]:
        self._call("hooks")
        return list(self.hook_list)

    def create_hook(self, event: str, url: str) -> Hook:
        self.writes.append(("create_hook", event, url))
        self._call("create_hook", (event, url))
        hook = Hook(max((h.id for h in self.hook_list), default=0) + 1, event, url)
        self.hook_list.append(hook)
        self._done()
        return hook

    def update_hook(self, hook_id: int, event: str, url: str) -> Hook:
        self.writes.append(("update_hook", hook_id, url))
        self._call("update_hook", hook_id)
        [index] = [i for i, h in enumerate(self.hook_list) if h.id == hook_id]
        self.hook_list[index] = Hook(hook_id, event, url)
        self._done()
        return self.hook_list[index]

    def delete_hook(self, hook_id: int) -> None:
        self.writes.append(("delete_hook", hook_id))
        self._call("delete_hook", hook_id)
        self.hook_list = [h for h in self.hook_list if h.id != hook_id]
        self._done()


def paid_order(
    order_id: int,
    total: str = "12.30",
    *,
    paid_at: datetime | None = None,
    created_at: datetime | None = None,
    status: str = "paid",
    **fields: object,
) -> Order:
    """A paid order of one VAT-inclusive 23 % line worth ``total``: a valid invoice as it is."""
    paid = paid_at or datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    amount = Decimal(total)
    line = OrderLine(
        101,
        None,
        "SKU-1",
        "Caneca",
        Decimal(1),
        amount,
        Decimal(0),
        (Tax("IVA 23", Decimal(23), False, True),),
    )
    values: dict[str, object] = {
        "id": order_id,
        "status": status,
        "created_at": created_at or paid,
        "completed_at": paid if status != "pending_payment" else None,
        "currency": "EUR",
        "subtotal": amount,
        "discount": Decimal(0),
        "shipping": Decimal(0),
        "shipping_discount": Decimal(0),
        "gift_cards_discount": Decimal(0),
        "tax": Decimal(0),
        "shipping_tax": Decimal(0),
        "total": amount,
        "shipping_required": False,
        "shipping_method_name": None,
        "shipping_taxes": (),
        "payment_method_name": "Cartão",
        "payment_method_type": "card",
        "customer_email": "ana@example.pt",
        "billing": None,
        "additional_fields": (),
        "lines": (line,),
    }
    values.update(fields)
    return Order(**values)  # type: ignore[arg-type]


class UtcStoreDays(FakeJumpseller):
    """A store whose days are UTC's, not Lisbon's: it lists by its own creation day."""

    def _store_day(self, order: Order) -> date | None:
        return order.created_at.astimezone(UTC).date() if order.created_at else None
