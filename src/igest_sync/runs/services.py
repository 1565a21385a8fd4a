"""The three services as the runs use them: what a run may ask of Jumpseller, iGEST and VIES.

The runs are typed against these ``Protocol``s, not against the adapters, so a test can hand
them an in-memory fake (``tests/support/fakes.py``) and the runs never reach for a wire detail.
``adapters.jumpseller.JumpsellerClient``, ``adapters.igest.IgestClient`` and
``adapters.vies.ViesClient`` satisfy them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from igest_sync.models import (
    CatalogueItem,
    DocumentDraft,
    Entity,
    ExemptionReason,
    Hook,
    IgestProduct,
    IgestProductDraft,
    IssuedDocument,
    LocationStock,
    Order,
    Series,
    StockLevel,
    StoreLocation,
    TaxRate,
    ViesCheck,
)


class JumpsellerApi(Protocol):
    """Orders, the documents attached to them, the catalogue and its stock."""

    def store_info(self) -> dict[str, Any]: ...

    def orders_after(self, order_id: int) -> Iterator[Order]: ...

    def orders_created_between(
        self, first: date, last: date, status: str | None = None, *, steady: bool = False
    ) -> Iterator[Order]: ...

    def order_page(
        self,
        *,
        page: int,
        limit: int = 100,
        status: str | None = None,
        first: date | None = None,
        last: date | None = None,
    ) -> list[Order]: ...

    def orders_with_status(self, status: str, *, steady: bool = False) -> Iterator[Order]: ...

    def order(self, order_id: int) -> Order: ...

    def add_order_document(
        self, order_id: int, *, credit_note: bool, external_id: str, public_id: str, url: str | None
    ) -> None: ...

    def order_documents(self, order_id: int) -> list[dict[str, Any]]: ...

    def catalogue(self) -> Iterator[CatalogueItem]: ...

    def locations(self) -> list[StoreLocation]: ...

    def location_stock(
        self, items: Iterable[CatalogueItem], location_id: int
    ) -> Iterator[LocationStock]: ...

    def set_stock(self, item: CatalogueItem, quantity: int) -> None: ...

    def set_location_stock(self, location_id: int, item: CatalogueItem, quantity: int) -> None: ...

    def hooks(self) -> list[Hook]: ...

    def create_hook(self, event: str, url: str) -> Hook: ...

    def update_hook(self, hook_id: int, event: str, url: str) -> Hook: ...

    def delete_hook(self, hook_id: int) -> None: ...


class IgestApi(Protocol):
    """Documents (the exactly-once path), products, stock and the account's settings."""

    def entity(self) -> Entity: ...

    def series(self, document_type: str) -> list[Series]: ...

    def warehouses(self) -> list[tuple[str, str]]: ...

    def taxes(self) -> list[TaxRate]: ...

    def exemption_reasons(self) -> list[ExemptionReason]: ...

    def products(self) -> Iterator[IgestProduct]: ...

    def product_by_reference(self, reference: str) -> IgestProduct | None: ...

    def create_product(self, draft: IgestProductDraft) -> IgestProduct: ...

    def update_product(self, product_id: str, changes: dict[str, object]) -> IgestProduct: ...

    def stock(self, warehouse: str | None) -> Iterator[StockLevel]: ...

    def set_stock(self, reference: str, warehouse: str | None, quantity: Decimal) -> None: ...

    def create_document(
        self, draft: DocumentDraft, *, finalize: bool = False
    ) -> IssuedDocument: ...

    def finalize_document(self, document_id: str) -> IssuedDocument: ...

    def delete_document(self, document_id: str) -> None: ...

    def get_document(self, document_id: str) -> IssuedDocument: ...

    def find_documents(
        self,
        *,
        external_reference: str | None = None,
        type: str | None = None,
        status: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> Iterator[IssuedDocument]: ...

    def credit_notes_of(self, number: str) -> list[IssuedDocument]: ...

    def email_document(self, document_id: str, to: str) -> None: ...


class ViesApi(Protocol):
    """The EU's VAT number check (never raises for a VIES problem: see ``ViesCheck``)."""

    def check(self, vat_number: str, *, requester: str, today: date) -> ViesCheck: ...
