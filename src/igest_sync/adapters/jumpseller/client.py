"""Jumpseller adapter: Basic auth, pages of 100, pacing to the rate-limit headers.

Wire facts (from Jumpseller's OpenAPI description): every path ends in ``.json`` (except
``/products_locations``); objects come wrapped (``{"order": {...}}``); lists are pages chosen
with ``limit`` (50 by default, at most 100) and ``page`` (``_pages`` says how the last one is
known when a server applies neither). Limits are
20 requests per second and 800 per minute, reported in ``Jumpseller-Per*RateLimit-Remaining``
headers; after too many 429s Jumpseller bans the client until ``Jumpseller-BannedByRateLimit-
Reset``. JSON -> model parsing lives in ``parse``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from igest_sync.adapters.http import HttpService, RateWindow, ServiceClient
from igest_sync.adapters.jumpseller.parse import (
    as_list,
    catalogue_items,
    location_row_stock,
    parse_hook,
    parse_int_id,
    parse_order,
    unwrap,
)
from igest_sync.errors import BadResponse, Conflict, NotFound, RateLimited
from igest_sync.models import CatalogueItem, Hook, LocationStock, Order, StoreLocation

SERVICE = "Jumpseller"
PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50  # what a page holds when the server does not apply ``limit``
LOCATION_BATCH = 50  # maxItems of product_ids / variant_ids in /products_locations
APP_CODE = "igest-sync"
BAN_HEADER = "Jumpseller-BannedByRateLimit-Reset"
BAN_UNREAD = 300.0  # seconds, for a reset time that cannot be read
# (header, window in seconds): what the server says is left in each of its windows.
REMAINING_HEADERS = (
    ("Jumpseller-PerSecondRateLimit-Remaining", 1.0),
    ("Jumpseller-PerMinuteRateLimit-Remaining", 60.0),
)
LIMIT_HEADERS = (
    ("Jumpseller-PerSecondRateLimit-Limit", 1.0),
    ("Jumpseller-PerMinuteRateLimit-Limit", 60.0),
)


class JumpsellerClient(ServiceClient):
    """Jumpseller REST client: Basic auth, pages of 100, paced to the rate-limit headers.

    Thread-safe: one instance may be shared by worker threads; pacing is global to it.
    ``request_count`` counts HTTP requests sent (retries included) for the benchmarks.
    """

    def __init__(
        self,
        base_url: str,
        login: str,
        auth_token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        per_second: int = 20,
        per_minute: int = 800,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        pace_file: Path | None = None,
        credentials_where: str | None = None,
    ) -> None:
        self._ban_lock = threading.Lock()
        # Jumpseller's reset time as it wrote it, and as a wall-clock moment: the ban is
        # temporary, and serve keeps one client for days.
        self._banned_until: tuple[str, float] | None = None
        self._wall_clock = wall_clock
        self._http = HttpService(
            service=SERVICE,
            base_url=base_url,
            windows=[RateWindow(per_second, 1.0), RateWindow(per_minute, 60.0)],
            credential_keys=credentials_where
            or "jumpseller.login and jumpseller.auth_token in the config file",
            auth=httpx.BasicAuth(login, auth_token),  # never in the URL
            transport=transport,
            timeout=timeout,
            on_response=self._read_rate_headers,
            secrets=[auth_token, f"{login}:{auth_token}"],  # the pair: its Basic value
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,  # pace files, dated Retry-After: the same clock's time
            # Jumpseller's headers tell us its count only after our first answer, and a run
            # that ended a moment ago (cron chain, `invoice && sync-stock`) may have spent
            # part of the second: its pace file says how much.
            pace_file=pace_file,
        )

    # -- transport ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, object] | None = None,
        json_body: object = None,
    ) -> Any:
        with self._ban_lock:
            ban = self._banned_until
            if ban is not None and self._wall_clock() >= ban[1]:
                self._banned_until = ban = None  # over: ask again
        if ban is not None:
            raise self._ban_error(f"{method} {path}", ban[0])
        return self._http.request(method, path, params=params, json_body=json_body)

    def _read_rate_headers(self, response: httpx.Response) -> None:
        for header, seconds in LIMIT_HEADERS:
            value = response.headers.get(header, "").strip()
            if value.isdigit():
                self._http.gate.follow_limit(seconds, int(value))
        for header, seconds in REMAINING_HEADERS:
            value = response.headers.get(header, "").strip()
            if value.lstrip("-").isdigit():
                self._http.gate.observe(seconds, int(value))
        reset = response.headers.get(BAN_HEADER)
        if reset:
            # A ban only gets longer if we keep knocking: stop this and every later request.
            with self._ban_lock:
                self._banned_until = (reset.strip(), self._ban_ends(reset.strip()))
            raise self._ban_error(
                f"{response.request.method} {response.request.url.path}", reset.strip()
            )

    def _ban_ends(self, reset: str) -> float:
        """The ban's end on the wall clock: Jumpseller's UTC time, or, unreadable, in
        ``BAN_UNREAD`` seconds (asked again then: a ban lasts while we knock)."""
        try:
            moment = datetime.fromisoformat(reset)  # "Z" too, since Python 3.11
        except ValueError:
            return self._wall_clock() + BAN_UNREAD
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    @staticmethod
    def _ban_error(what: str, reset: str) -> RateLimited:
        return RateLimited(
            f"{SERVICE} {what}: Jumpseller banned this client for too many requests until {reset}",
            service=SERVICE,
            status=429,
            # Our requests follow Jumpseller's limits (per API token, shared by every run
            # through the pace files): a ban means something else spends the same token.
            hint=f"Do not run again before {reset} (UTC). igest-sync paces itself to "
            "Jumpseller's limits; another app or script using the same API token at the same "
            "time used them up: give it a token of its own, or run them one after the other.",
        )

    def _pages(
        self,
        path: str,
        params: dict[str, object] | None = None,
        *,
        one_object: list[bool] | None = None,
    ) -> Iterator[list]:
        """Each page's list of items, from page 1 to the last.

        The spec pages lists by ``limit`` (50 by default, at most 100) and ``page``, but two of
        the order paths we read (``/orders/after/{id}``, ``/orders/status/{status}``) declare
        neither, and a server may apply neither there:

        - The last page is one shorter than the ``PAGE_SIZE`` asked for, unless it holds
          exactly 50: a server that ignores ``limit`` sends pages of 50, and the next is read.
        - A server that ignores ``page`` sends the whole listing again: a page that holds no
          item page 1 or the page before it did not ends the listing, never asked forever. Not
          only page 1 again: an order placed meanwhile makes page 2 differ from page 1, and
          every page after repeats page 2 (an order that left the listing makes it one item
          shorter). (New orders shifting a newest-first listing would have to number a whole
          page, 100, between two requests to look the same; and the gap check lists by day.)
        - One object instead of a list is not a page: it is all there is (``one_object`` is
          told, so that the caller may ask after it).
        - A 404 past the first page ends it too.
        """
        page = 1
        first: set[str] = set()
        previous: set[str] = set()
        while True:
            try:
                body = self._request(
                    "GET", path, params={**(params or {}), "limit": PAGE_SIZE, "page": page}
                )
            except NotFound:
                if page == 1:
                    raise
                return  # a server that answers 404 past the last page
            items = as_list(body)
            if isinstance(body, dict):
                if one_object is not None:
                    one_object.append(True)
                yield items
                return
            keys = {_item_key(item) for item in items}
            if page > 1 and keys and (keys <= first or keys <= previous):
                return  # nothing new: the server does not apply ``page``
            first, previous = first or keys, keys
            yield items
            if len(items) < PAGE_SIZE and len(items) != DEFAULT_PAGE_SIZE:
                return
            page += 1

    def _steady_pages(self, path: str, params: dict[str, object] | None) -> Iterator[list]:
        """``_pages``, with each page but the last read once more after the next one.

        For a listing whose members leave it while it is read (one status: a transfer comes in,
        a sale is refunded). Pages are offsets: an order leaving a page already read moves every
        later one up a place, and the first of the next page slips onto the page before, which
        was read already. Read again after the next, that page holds it. One request more per
        page after the first (and one for a full last page: below)."""
        last = (0, 0)  # the number and length of the last page read
        for number, items in enumerate(self._pages(path, params), start=1):
            yield items
            if number > 1:
                yield self._page_again(path, params, number - 1)
            last = (number, len(items))
        if last[1] in (PAGE_SIZE, DEFAULT_PAGE_SIZE):
            # A full last page: the listing ended with a 404 past it, or a page with nothing
            # new, not with a shorter page. An order that left it since then moved the next
            # one onto that page, and no page after it was read to hold it: read it again.
            yield self._page_again(path, params, last[0])

    def _page_again(self, path: str, params: dict[str, object] | None, page: int) -> list:
        try:
            body = self._request(
                "GET", path, params={**(params or {}), "limit": PAGE_SIZE, "page": page}
            )
        except NotFound:
            return []  # the listing shrank past it: nothing slipped onto it
        return as_list(body)

    def _orders(
        self,
        path: str,
        params: dict[str, object] | None = None,
        *,
        after: int | None = None,
        one_object: list[bool] | None = None,
        steady: bool = False,
    ) -> Iterator[Order]:
        # New orders arriving while we page can shift a page and repeat an order: yield each
        # id once. Pages are sorted by id defensively (the spec does not promise an order).
        seen: set[int] = set()
        pages = (
            self._steady_pages(path, params)
            if steady
            else self._pages(path, params, one_object=one_object)
        )
        for items in pages:
            orders = sorted((parse_order(item) for item in items), key=lambda o: o.id)
            for order in orders:
                if order.id in seen or (after is not None and order.id <= after):
                    continue
                seen.add(order.id)
                yield order

    # -- store and orders -----------------------------------------------------------------------

    def store_info(self) -> dict:
        """GET /store/info.json -> the store's fields ({"name", "code", "currency", ...})."""
        body = unwrap(self._request("GET", "/store/info.json"), "store")
        return dict(body) if isinstance(body, dict) else {}

    def orders_after(self, order_id: int) -> Iterator[Order]:
        """Orders with id > ``order_id``, ascending page by page (GET /orders/after/{id}.json).

        The spec's schema for this path is one Order, its description a list ("5001, 5002,
        5003, etc."): a server that answers one object is asked again after the newest order
        it gave, until it has nothing newer (an empty answer, or 404 for a later ask; a 404 on
        the first ask is the caller's: ``order_id`` may be gone).
        """
        cursor = int(order_id)
        first = True
        while True:
            one_object: list[bool] = []
            newest = cursor
            try:
                for order in self._orders(
                    f"/orders/after/{cursor}.json", after=cursor, one_object=one_object
                ):
                    newest = max(newest, order.id)
                    yield order
            except NotFound:
                if first:
                    raise
                return
            if not one_object or newest == cursor:
                return
            cursor, first = newest, False

    def orders_created_between(
        self, first: date, last: date, status: str | None = None, *, steady: bool = False
    ) -> Iterator[Order]:
        """Orders created from ``first`` to ``last`` inclusive (store dates), of one status.

        ``steady``: no order is passed that stays in the listing while orders leave it as it is
        read (``_steady_pages``); for a listing read once, whose misses no later run mends."""
        params: dict[str, object] = {
            "dateFilter": "customDate",
            "initialDate": first.isoformat(),
            "finalDate": last.isoformat(),
        }
        if status:
            params["status_filters[]"] = status
        orders = self._orders("/orders.json", params, steady=steady)
        # The filters narrow the pages; the checks below keep us right if a server ignores them.
        return (o for o in orders if status is None or o.status == status)

    def order_page(
        self,
        *,
        page: int,
        limit: int = PAGE_SIZE,
        status: str | None = None,
        first: date | None = None,
        last: date | None = None,
    ) -> list[Order]:
        """One page of ``GET /orders.json`` (of one status, created from ``first`` to ``last``):
        the cancellation pass learns how many orders a listing holds from the length of the
        page where it should end, one request however long the listing."""
        params: dict[str, object] = {"limit": int(limit), "page": int(page)}
        if first is not None and last is not None:
            params |= {
                "dateFilter": "customDate",
                "initialDate": first.isoformat(),
                "finalDate": last.isoformat(),
            }
        if status:
            params["status_filters[]"] = status
        return [
            parse_order(item)
            for item in as_list(self._request("GET", "/orders.json", params=params))
        ]

    def orders_with_status(self, status: str, *, steady: bool = False) -> Iterator[Order]:
        """Orders whose status_enum is ``status`` (GET /orders/status/{status}.json);
        ``steady`` as for ``orders_created_between``."""
        return self._orders(f"/orders/status/{status}.json", steady=steady)

    def order(self, order_id: int) -> Order:
        return parse_order(self._request("GET", f"/orders/{int(order_id)}.json"))

    def add_order_document(
        self, order_id: int, *, credit_note: bool, external_id: str, public_id: str, url: str | None
    ) -> None:
        """Attach an issued document to the order (document_type 0 credit note, 1 invoice)."""
        document: dict[str, object] = {
            "document_type": 0 if credit_note else 1,
            "external_id": external_id,
            "public_id": public_id,
        }
        if url is not None:
            document["url"] = url
        document["app_code"] = APP_CODE
        path = f"/orders/{int(order_id)}/documents.json"
        answer = unwrap(self._request("POST", path, json_body={"document": document}), "document")
        # A 200 that is not a document (a proxy page, a misshapen body) is not proof that the
        # link exists: say so, and the next run checks and tries again.
        if not isinstance(answer, dict) or not ({"external_id", "public_id"} & answer.keys()):
            raise BadResponse(
                f"Jumpseller POST {path}: the answer is not a document", service=SERVICE
            )

    def order_documents(self, order_id: int) -> list[dict]:
        body = self._request("GET", f"/orders/{int(order_id)}/documents.json")
        documents = [unwrap(item, "document") for item in as_list(body)]
        return [dict(d) for d in documents if isinstance(d, dict)]

    # -- webhooks ---------------------------------------------------------------------------

    def hooks(self) -> list[Hook]:
        """Every hook of the store, all pages (GET /hooks.json)."""
        return [parse_hook(item) for items in self._pages("/hooks.json") for item in items]

    def create_hook(self, event: str, url: str) -> Hook:
        """POST /hooks.json. Not repeated on a lost answer (the caller lists and adopts)."""
        body = {"hook": {"event": event, "url": url}}
        return parse_hook(self._request("POST", "/hooks.json", json_body=body))

    def update_hook(self, hook_id: int, event: str, url: str) -> Hook:
        """PUT /hooks/{id}.json with the event and its new URL."""
        body = {"hook": {"event": event, "url": url}}
        return parse_hook(self._request("PUT", f"/hooks/{int(hook_id)}.json", json_body=body))

    def delete_hook(self, hook_id: int) -> None:
        """DELETE /hooks/{id}.json (the spec answers a bare string)."""
        self._request("DELETE", f"/hooks/{int(hook_id)}.json")

    # -- catalogue and stock --------------------------------------------------------------------

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every sellable item, page by page (memory stays flat for large catalogues)."""
        for items in self._pages("/products.json"):
            for item in items:
                yield from catalogue_items(item)

    def locations(self) -> list[StoreLocation]:
        """The store's locations (GET /locations.json, one unpaged list).

        A location that does not say whether it is active or a stock origin is taken to hold
        stock: when in doubt, sync-stock asks which location to write rather than guessing.
        """
        found = []
        for row in as_list(self._request("GET", "/locations.json")):
            row = unwrap(row, "location")
            location_id = parse_int_id(row.get("id")) if isinstance(row, dict) else None
            if location_id is None:
                continue
            found.append(
                StoreLocation(
                    id=location_id,
                    name=str(row.get("name") or f"location {location_id}"),
                    main=row.get("main") is True,
                    holds_stock=row.get("active") is not False
                    and row.get("is_stock_origin") is not False,
                )
            )
        return found

    def location_stock(
        self, items: Iterable[CatalogueItem], location_id: int
    ) -> Iterator[LocationStock]:
        """Stock of ``items`` at one location, in batches of 50 ids per request.

        Items with and without variants go in separate batches, so a filter on variant_ids
        never hides a product-level row; rows for items we did not ask about are dropped.
        An item whose row has a stock that cannot be read comes with ``stock_unread``; one with
        no row does not come at all: the caller must not take either for 0 (the spec promises
        no row, and so no "none here", for an item it leaves out). An answer that is not the
        spec's array of row objects raises ``BadResponse``: it says nothing of any item asked.
        """
        simple: list[CatalogueItem] = []
        varied: list[CatalogueItem] = []
        for item in items:
            bucket = varied if item.variant_id is not None else simple
            bucket.append(item)
            if len(bucket) == LOCATION_BATCH:
                yield from self._location_batch(bucket, location_id)
                bucket.clear()
        for bucket in (simple, varied):
            if bucket:
                yield from self._location_batch(bucket, location_id)

    def _location_batch(
        self, batch: list[CatalogueItem], location_id: int
    ) -> Iterator[LocationStock]:
        wanted = {(i.product_id, i.variant_id) for i in batch}
        params: dict[str, object] = {
            "location_ids": str(int(location_id)),
            "product_ids": ",".join(dict.fromkeys(str(i.product_id) for i in batch)),
        }
        variant_ids = [str(i.variant_id) for i in batch if i.variant_id is not None]
        if variant_ids:
            params["variant_ids"] = ",".join(variant_ids)
        body = self._request("GET", "/products_locations", params=params)
        # An answer not shaped as the spec's array of row objects (a proxy's JSON, an error sent
        # with 200) says nothing of any item asked: taken for "none at the location", one such
        # batch zeroed 49 stocks in iGEST. It fails the read, as a cut answer does; the next
        # run asks again.
        rows = []
        for row in body if isinstance(body, list) else [None]:
            if isinstance(row, dict) and len(row) == 1:
                row = next(iter(row.values()))  # tolerate a {"products_location": {...}} wrap
            if not isinstance(row, dict):
                raise BadResponse(
                    f"{SERVICE} GET /products_locations: the answer is not a list of stock rows",
                    service=SERVICE,
                )
            rows.append(row)
        for row in rows:
            product_id = parse_int_id(row.get("product_id"))
            variant_id = parse_int_id(row.get("variant_id"))
            row_location = parse_int_id(row.get("location_id"))
            if (
                product_id is None
                or (product_id, variant_id) not in wanted
                or row_location not in (None, int(location_id))
            ):
                continue
            stock, unread = location_row_stock(row, int(location_id))
            yield LocationStock(
                location_id=int(location_id),
                product_id=product_id,
                variant_id=variant_id,
                stock=stock,
                stock_unread=unread,
            )

    def set_stock(self, item: CatalogueItem, quantity: int) -> None:
        """Write one item's stock, and nothing else of it.

        A variant's stock goes alone (VariantEditFields requires nothing). A product without
        variants has no such write in the spec: ProductEditFields requires its name and price,
        and ``/products_locations`` requires ``stock_unlimited`` and a location, a flag read as
        stale as a price. So the product is read again (``GET /products/{id}.json``) just
        before its ``PUT``, and the name and price it holds then go with the stock: those the
        catalogue read at the start of the run (minutes before, in a large store) would put
        back a price or name the merchant changed since. It costs one request more per product
        without variants written, paced like every other; what is left is a change made in
        the moment between that read and the write.
        """
        if item.variant_id is not None:
            self._request(
                "PUT",
                f"/products/{item.product_id}/variants/{item.variant_id}.json",
                json_body={"variant": {"stock": int(quantity)}},
            )
            return
        path = f"/products/{item.product_id}.json"
        now = next(
            (i for i in catalogue_items(self._request("GET", path)) if i.variant_id is None), None
        )
        if now is None:
            # Given variants since the catalogue was read: its stock is theirs now, and a
            # product's stock written beside them would be lost or wrong.
            raise Conflict(
                f"{SERVICE} product {item.product_id} has variants now (added since the "
                "catalogue was read): its stock is its variants'; nothing was written",
                service=SERVICE,
                hint="The next sync-stock reads the catalogue again and writes each variant's "
                "stock by its own SKU.",
            )
        fields: dict[str, object] = {"stock": int(quantity)}
        if now.name and not now.price_unread:
            # Never a price made up for one that cannot be read: the stock alone, then.
            fields |= {"name": now.name, "price": float(now.price)}
        self._request("PUT", path, json_body={"product": fields})

    def set_location_stock(self, location_id: int, item: CatalogueItem, quantity: int) -> None:
        """PUT /products_locations (ProductsLocations: stock_unlimited is required; we keep
        the item's own setting rather than silently switching unlimited stock off)."""
        body: dict[str, object] = {"location_id": int(location_id), "product_id": item.product_id}
        if item.variant_id is not None:
            body["variant_id"] = item.variant_id
        body["stock_unlimited"] = item.stock_unlimited
        body["stock"] = int(quantity)
        self._request("PUT", "/products_locations", json_body=body)


def _item_key(item: Any) -> str:
    """What tells one listed item from another: its id (wrapped or bare), else its JSON."""
    inner = item
    if isinstance(item, dict) and len(item) == 1:
        (value,) = item.values()
        if isinstance(value, dict):
            inner = value
    if isinstance(inner, dict) and inner.get("id") is not None:
        return f"id:{inner['id']}"
    return json.dumps(item, sort_keys=True, default=str)
