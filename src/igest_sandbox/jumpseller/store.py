"""The Jumpseller store state behind the emulator: orders, products, locations, documents.

Orders are kept as their wire dicts (``OrderFields``, built by ``orders.make_order``), so what
a test adds is exactly what the API serves. Products are compact records rendered to the wire
on each request, which keeps a 20,000-variant catalogue small in memory.

Stock by location: location 1 (the main warehouse) holds whatever the other locations do not,
so a variant's ``stock`` is always the sum over locations. Setting an item's stock changes the
main location; setting a location's stock changes the item's total.

Every method takes the store lock; the emulator's handlers also hold it for a whole request.

Changes are announced to ``on_event(event, kind, id)`` (kind "order" or "product"; the sandbox
turns them into webhook deliveries, ``webhooks.py``), called with the lock held so that the
body a listener reads is the state right after the change.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from igest_sandbox.jumpseller.common import STATUS_NAMES, parse_wire_time, wire_time
from igest_sandbox.jumpseller.orders import make_order
from igest_sandbox.money import to_decimal

MAIN_LOCATION = 1
__all__ = [
    "AFTER_LISTINGS",
    "MAIN_LOCATION",
    "STATUS_NAMES",
    "JumpsellerStore",
    "NotFoundError",
    "Product",
    "Variant",
    "parse_wire_time",
    "wire_time",
]


# "pages": paged by limit and page like the other lists; "ignores_limit": pages of 50 whatever
# the limit; "ignores_page": every order after the id on every page; "one_object": the next
# order alone, not in a list (404 when there is none); "404_when_none": paged, but 404 when no
# order is newer.
AFTER_LISTINGS = ("pages", "ignores_limit", "ignores_page", "one_object", "404_when_none")


@dataclass(slots=True)
class Variant:
    id: int
    sku: str | None
    price: Decimal
    stock: int = 0
    stock_unlimited: bool = False
    barcode: str | None = None
    options: tuple[tuple[str, str, str], ...] = ()  # (option name, option_type, value)


@dataclass(slots=True)
class Product:
    id: int
    name: str
    price: Decimal
    vat_rate: Decimal = Decimal(23)  # the store's tax category for it (not on the wire)
    type: str = "physical"  # physical | digital
    sku: str | None = None
    barcode: str | None = None
    stock: int = 0
    stock_unlimited: bool = False
    description: str | None = None
    brand: str | None = None
    weight: Decimal = Decimal("0.5")
    status: str = "available"
    category: tuple[int, str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    variants: list[Variant] = field(default_factory=list)

    def total_stock(self) -> int:
        return sum(v.stock for v in self.variants) if self.variants else self.stock

    def unlimited(self) -> bool:
        if self.variants:
            return all(v.stock_unlimited for v in self.variants)
        return self.stock_unlimited


class NotFoundError(KeyError):
    pass


class JumpsellerStore:
    def __init__(
        self,
        clock: Callable[[], datetime],
        info: dict[str, Any] | None = None,
        locations: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.info: dict[str, Any] = dict(info or {})
        self.orders: dict[int, dict[str, Any]] = {}
        self._order_ids: list[int] = []  # sorted
        self.products: dict[int, Product] = {}
        self._product_ids: list[int] = []  # sorted
        self._variants: dict[int, tuple[Product, Variant]] = {}
        self.locations: list[dict[str, Any]] = list(locations)
        self.location_stock: dict[tuple[int, int, int | None], int] = {}  # non-main locations
        self.documents: dict[int, list[dict[str, Any]]] = {}
        self.on_event: Callable[[str, str, int], None] | None = None
        # Jumpseller lists orders newest first (GET /orders.json, /orders/status/...); a test
        # or `sandbox --listing-order oldest` turns it round, so both orders are exercised.
        self.newest_first = True
        # How GET /orders/after/{id} answers: the spec declares neither limit nor page there and
        # shows one Order as its schema, so a test can make it answer as another server could
        # (``AFTER_LISTINGS``); "pages" (the default) is this sandbox's own reading.
        self.after_listing = "pages"

    def emit(self, event: str, kind: str, item_id: int) -> None:
        """Tell the listener that ``event`` happened to order/product ``item_id``."""
        if self.on_event is not None:
            self.on_event(event, kind, item_id)

    # Orders ---------------------------------------------------------------------------------

    def add_order(self, order: dict[str, Any] | None = None, **make_order_kwargs: Any) -> int:
        """Store a wire order dict, or build one with ``orders.make_order(**kwargs)``.

        Without ``order_id`` in the kwargs the next id is used (10001 for an empty store).
        ``created_at`` defaults to the sandbox clock, and so does a paid order's
        ``completed_at`` then.
        """
        with self.lock:
            if order is None:
                order_id = make_order_kwargs.pop("order_id", None) or self.next_order_id()
                if "created_at" not in make_order_kwargs:
                    # Created just now (and, if paid, paid just now: never in the future).
                    make_order_kwargs["created_at"] = self.clock()
                    if make_order_kwargs.get("status", "paid") == "paid":
                        make_order_kwargs.setdefault("completed_at", self.clock())
                order = make_order(order_id, **make_order_kwargs)
            order_id = int(order["id"])
            if order_id in self.orders:
                raise ValueError(f"order {order_id} exists already")
            self.orders[order_id] = order
            bisect.insort(self._order_ids, order_id)
            self.emit(f"order_{order['status_enum']}", "order", order_id)
            return order_id

    def add_orders(self, orders: Iterable[dict[str, Any]]) -> int:
        count = 0
        for order in orders:
            self.add_order(order)
            count += 1
        return count

    def next_order_id(self) -> int:
        with self.lock:
            return self._order_ids[-1] + 1 if self._order_ids else 10001

    def order(self, order_id: int) -> dict[str, Any]:
        with self.lock:
            try:
                return self.orders[order_id]
            except KeyError:
                raise NotFoundError(order_id) from None

    def order_ids(self) -> list[int]:
        with self.lock:
            return list(self._order_ids)

    def listed_orders(self) -> list[dict[str, Any]]:
        """Every order in the store's listing order (newest first, as Jumpseller). Hold the lock."""
        rows = [self.orders[order_id] for order_id in self._order_ids]
        return rows[::-1] if self.newest_first else rows

    def iter_orders(self, after: int | None = None) -> Iterator[dict[str, Any]]:
        """Orders ascending by id (those with id > ``after`` when given). Hold the lock."""
        start = 0 if after is None else bisect.bisect_right(self._order_ids, after)
        for order_id in self._order_ids[start:]:
            yield self.orders[order_id]

    def set_status(self, order_id: int, status: str, *, at: datetime | None = None) -> dict:
        """Move an order to ``status`` (an enum value); paying sets ``completed_at`` once."""
        if status not in STATUS_NAMES:
            raise ValueError(f"unknown status {status!r}")
        with self.lock:
            order = self.order(order_id)
            changed = order["status_enum"] != status
            order["status_enum"] = status
            order["status"] = order["status_name"] = STATUS_NAMES[status]
            if status == "paid" and order.get("completed_at") is None:
                order["completed_at"] = wire_time(at or self.clock())
            if changed:
                self.emit(f"order_{status}", "order", order_id)
                self.emit("order_updated", "order", order_id)
            return order

    def pay_order(self, order_id: int, at: datetime | None = None) -> dict[str, Any]:
        """pending_payment -> paid, with ``completed_at`` = ``at`` (default: now)."""
        with self.lock:
            order = self.order(order_id)
            if order["status_enum"] != "pending_payment":
                raise ValueError(f"order {order_id} is {order['status_enum']}, not pending_payment")
            return self.set_status(order_id, "paid", at=at)

    def cancel_order(self, order_id: int) -> dict[str, Any]:
        """-> canceled; a paid order keeps its ``completed_at`` (a refund, per Jumpseller)."""
        return self.set_status(order_id, "canceled")

    def add_document(self, order_id: int, document: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.order(order_id)
            self.documents.setdefault(order_id, []).append(document)
            return document

    # Products -------------------------------------------------------------------------------

    def add_product(self, product: Product | None = None, **fields: Any) -> int:
        """Store a ``Product`` (or build one from keyword fields); returns its id."""
        with self.lock:
            if product is None:
                fields.setdefault("id", self._product_ids[-1] + 1 if self._product_ids else 1001)
                fields["price"] = to_decimal(fields["price"])
                fields.setdefault("created_at", self.clock())
                product = Product(**fields)
            if product.id in self.products:
                raise ValueError(f"product {product.id} exists already")
            if product.updated_at is None:
                product.updated_at = product.created_at
            self.products[product.id] = product
            bisect.insort(self._product_ids, product.id)
            for variant in product.variants:
                self._variants[variant.id] = (product, variant)
            return product.id

    def add_variant(self, product: Product, variant: Variant) -> None:
        with self.lock:
            product.variants.append(variant)
            self._variants[variant.id] = (product, variant)

    def next_variant_id(self) -> int:
        with self.lock:
            return max(self._variants, default=5000) + 1

    def product(self, product_id: int) -> Product:
        with self.lock:
            try:
                return self.products[product_id]
            except KeyError:
                raise NotFoundError(product_id) from None

    def product_ids(self) -> list[int]:
        with self.lock:
            return list(self._product_ids)

    def variant(self, product_id: int, variant_id: int) -> Variant:
        with self.lock:
            found = self._variants.get(variant_id)
            if found is None or found[0].id != product_id:
                raise NotFoundError(variant_id)
            return found[1]

    def item_by_sku(self, sku: str) -> tuple[Product, Variant | None]:
        with self.lock:
            for product_id in self._product_ids:
                product = self.products[product_id]
                if product.sku == sku:
                    return product, None
                for variant in product.variants:
                    if variant.sku == sku:
                        return product, variant
            raise NotFoundError(sku)

    # Stock ----------------------------------------------------------------------------------

    def _holder(self, product_id: int, variant_id: int | None) -> Product | Variant:
        product = self.product(product_id)
        if variant_id is None:
            if product.variants:
                raise ValueError(f"product {product_id} has variants: give a variant id")
            return product
        return self.variant(product_id, variant_id)

    def _others(self, product_id: int, variant_id: int | None) -> int:
        return sum(
            stock
            for (loc, pid, vid), stock in self.location_stock.items()
            if pid == product_id and vid == variant_id and loc != MAIN_LOCATION
        )

    def stock_at(self, location_id: int, product_id: int, variant_id: int | None) -> int:
        with self.lock:
            holder = self._holder(product_id, variant_id)
            if location_id != MAIN_LOCATION:
                return self.location_stock.get((location_id, product_id, variant_id), 0)
            return holder.stock - self._others(product_id, variant_id)

    def set_stock(
        self,
        item: str | int,
        quantity: int,
        *,
        variant_id: int | None = None,
        location_id: int | None = None,
        unlimited: bool | None = None,
    ) -> None:
        """Set stock by SKU (``item`` a str) or by product id (+ ``variant_id``).

        Without ``location_id`` this is the item's total stock (the main location absorbs the
        change); with it, that location's stock (the item's total follows).
        """
        with self.lock:
            if isinstance(item, str):
                product, variant = self.item_by_sku(item)
                product_id, variant_id = product.id, variant.id if variant else None
            else:
                product_id = item
            holder = self._holder(product_id, variant_id)
            if unlimited is not None:
                holder.stock_unlimited = unlimited
            quantity = int(quantity)
            others = self._others(product_id, variant_id)
            if location_id is None or location_id == MAIN_LOCATION:
                if location_id == MAIN_LOCATION:
                    quantity += others
                if quantity < others:  # the other locations give up stock, last one first
                    excess = others - quantity
                    keys = sorted(
                        (
                            k
                            for k in self.location_stock
                            if k[1] == product_id and k[2] == variant_id
                        ),
                        reverse=True,
                    )
                    for key in keys:
                        taken = min(excess, self.location_stock[key])
                        self.location_stock[key] -= taken
                        excess -= taken
                holder.stock = quantity
            else:
                if not any(loc["id"] == location_id for loc in self.locations):
                    raise NotFoundError(location_id)
                key = (location_id, product_id, variant_id)
                main = holder.stock - others
                self.location_stock[key] = quantity
                holder.stock = main + self._others(product_id, variant_id)
            self.emit("product_stock_updated", "product", product_id)
