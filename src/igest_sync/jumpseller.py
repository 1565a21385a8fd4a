"""Jumpseller adapter (interface stub: signatures are the contract, bodies to be implemented)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

import httpx

from igest_sync.models import CatalogueItem, LocationStock, Order


class JumpsellerClient:
    """Jumpseller REST client: Basic auth, pages of 100, paced to the rate-limit headers.

    Thread-safe: one instance may be shared by worker threads; pacing is global to it.
    ``request_count`` counts HTTP requests sent (retries included) for the benchmarks.
    """

    def __init__(self, base_url: str, login: str, auth_token: str, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 per_second: int = 20, per_minute: int = 800) -> None:
        raise NotImplementedError

    request_count: int

    def close(self) -> None: ...
    def __enter__(self) -> "JumpsellerClient": ...
    def __exit__(self, *exc: object) -> None: ...

    def store_info(self) -> dict: ...  # GET /store/info.json -> {"name","code","currency","country",...}
    def orders_after(self, order_id: int) -> Iterator[Order]: ...  # GET /orders/after/{id}.json, ascending id
    def orders_created_between(self, first: date, last: date) -> Iterator[Order]: ...
    def orders_with_status(self, status: str) -> Iterator[Order]: ...  # /orders/status/{status}.json
    def order(self, order_id: int) -> Order: ...
    def add_order_document(self, order_id: int, *, credit_note: bool, external_id: str,
                           public_id: str, url: str | None) -> None: ...
    def order_documents(self, order_id: int) -> list[dict]: ...
    def catalogue(self) -> Iterator[CatalogueItem]: ...
    def location_stock(self, items: Iterable[CatalogueItem],
                       location_id: int) -> Iterator[LocationStock]: ...
    def set_stock(self, item: CatalogueItem, quantity: int) -> None: ...
    def set_location_stock(self, location_id: int, item: CatalogueItem, quantity: int) -> None: ...
