"""iGEST adapter: the only module that knows iGEST's wire format (docs: igest-api.md).

Wire facts: ``X-Integration-Key`` and ``X-Security-Code`` on every request; money and rates as
decimal strings both ways; lists paged with ``page``/``per_page`` inside ``{"data": [...],
"page", "per_page", "total"}``; errors as ``{"error": {"code", "message", "fields"}}``;
10 requests per second. Writes are not idempotent (the HTTP layer never repeats a POST that may
have arrived); callers recover a lost answer with ``find_documents(external_reference=...)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from igest_sync.adapters.http import HttpService, RateWindow, ServiceClient
from igest_sync.errors import BadResponse
from igest_sync.models import (
    NOTES_SEPARATOR,
    Customer,
    DocumentDraft,
    DocumentLine,
    DocumentStatus,
    Entity,
    ExemptionReason,
    IgestProduct,
    IgestProductDraft,
    IssuedDocument,
    Series,
    StockLevel,
    TaxRate,
    VatSummary,
)

SERVICE = "iGEST"
PER_PAGE = 100
# iGEST's contract sends no rate-limit headers and promises 10/s. A server's generic
# X-RateLimit-Limit says no window (often per minute or per hour): followed only below 10/s,
# never above. Our sandbox, which the fast tests run with high limits, says its per-second
# limit in a header of its own.
PER_SECOND = 10
LIMIT_HEADER = "X-RateLimit-Limit"
SANDBOX_LIMIT_HEADER = "X-Igest-Sandbox-Per-Second"


# A document's fields that come from the merchant's [invoice] settings, by the names iGEST gives
# them in a refusal's "fields": such a refusal is mended in the config, not in the order.
SETTING_OF_FIELD = {"series": "series", "type": "document_type", "warehouse": "warehouse"}

# Without a NIF iGEST bills its final consumer under this number (igest-api.md).
_FINAL_CONSUMER = "999999990"


def _read_error(body: Any) -> tuple[str | None, str | None, dict[str, str]]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, {}
    fields = error.get("fields")
    fields = {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}
    message = error.get("message")
    code = error.get("code")
    return (str(message) if message else None), (str(code) if code else None), fields


def money(value: Decimal) -> str:
    """Decimal -> plain decimal string, never with an exponent ("12.30", "0.000001")."""
    return format(Decimal(value), "f")


def _segment(value: object) -> str:
    # References (SKUs) may hold "/", spaces or "?": each must stay one path segment.
    return quote(str(value), safe="")


class IgestClient(ServiceClient):
    """iGEST REST client; the only module that knows iGEST's wire format. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        integration_key: str,
        security_code: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        per_second: int = 10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        pace_file: Path | None = None,
        credentials_where: str | None = None,
    ) -> None:
        self._http = HttpService(
            service=SERVICE,
            base_url=base_url,
            windows=[RateWindow(per_second, 1.0)],
            credential_keys=credentials_where
            or "igest.integration_key and igest.security_code in the config file",
            headers={"X-Integration-Key": integration_key, "X-Security-Code": security_code},
            transport=transport,
            timeout=timeout,
            error_reader=_read_error,
            on_response=self._read_rate_headers,
            secrets=[integration_key, security_code],
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,  # pace files, dated Retry-After: the same clock's time
            pace_file=pace_file,
            # iGEST sends no rate-limit headers. Without an earlier run's pace file (the
            # first run, a script) assume that run used all of the current second, as of
            # when this process started. Costs the first iGEST call at most what is left of
            # that second; saves a 429 between runs.
            busy_without_pace=True,
        )

    def _read_rate_headers(self, response: httpx.Response) -> None:
        own = response.headers.get(SANDBOX_LIMIT_HEADER, "").strip()
        if own.isdigit():
            self._http.gate.follow_limit(1.0, int(own))
            return
        value = response.headers.get(LIMIT_HEADER, "").strip()
        if value.isdigit():
            self._http.gate.follow_limit(1.0, min(int(value), PER_SECOND))

    # -- plumbing -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, object] | None = None,
        json_body: object = None,
    ) -> Any:
        return self._http.request(method, path, params=params, json_body=json_body)

    def _object(self, method: str, path: str, **kwargs: Any) -> dict:
        body = self._request(method, path, **kwargs)
        if not isinstance(body, dict):
            raise BadResponse(
                f"{SERVICE} {method} {path}: expected an object, got {type(body).__name__}",
                service=SERVICE,
            )
        return body

    def _list(self, path: str, params: dict[str, object] | None = None) -> list[dict]:
        """An unpaged list; a ``{"data": [...]}`` envelope is accepted too."""
        body = self._request("GET", path, params=params)
        if isinstance(body, dict) and "data" in body:
            body = body["data"]
        if not isinstance(body, list):
            raise BadResponse(f"{SERVICE} GET {path}: expected a list", service=SERVICE)
        return [item for item in body if isinstance(item, dict)]

    def _paged(
        self, path: str, params: Mapping[str, object] | None = None, *, bare: bool = False
    ) -> Iterator[dict]:
        """Every item of a paged list. ``bare``: a bare list is the whole answer too (only
        where the contract writes one: never for the documents, whose look-ups decide whether
        to issue, and where an answer of another shape must stay an error)."""
        page = 1
        while True:
            body = self._request(
                "GET", path, params={**(params or {}), "page": page, "per_page": PER_PAGE}
            )
            if bare and isinstance(body, list):
                # A bare list, as the contract writes some answers (`GET /stock`: "[{reference,
                # quantity}]"): the whole answer, one page with no envelope to page on.
                yield from (item for item in body if isinstance(item, dict))
                return
            if not isinstance(body, dict):
                raise BadResponse(
                    f"{SERVICE} GET {path}: expected an object, got {type(body).__name__}",
                    service=SERVICE,
                )
            data = body.get("data")
            if not isinstance(data, list):
                raise BadResponse(
                    f"{SERVICE} GET {path}: the page has no data list", service=SERVICE
                )
            yield from (item for item in data if isinstance(item, dict))
            total = body.get("total")
            if len(data) < PER_PAGE or (isinstance(total, int) and page * PER_PAGE >= total):
                return
            page += 1

    # -- reference data -------------------------------------------------------------------------

    def entity(self) -> Entity:
        body = self._object("GET", "/entity")
        return Entity(
            nif=str(body.get("nif") or ""),
            name=str(body.get("name") or ""),
            currency=str(body.get("currency") or ""),
            stock_by_warehouse=bool(body.get("stock_by_warehouse")),
        )

    def series(self, document_type: str) -> list[Series]:
        return [
            Series(
                code=str(s.get("code") or ""),
                document_type=str(s.get("document_type") or document_type),
                atcud_code=_opt_str(s.get("atcud_code")),
                active=bool(s.get("active")),
            )
            for s in self._list("/series", {"document_type": document_type})
        ]

    def warehouses(self) -> list[tuple[str, str]]:
        return [
            (str(w.get("code") or ""), str(w.get("name") or "")) for w in self._list("/warehouses")
        ]

    def taxes(self) -> list[TaxRate]:
        return [
            TaxRate(
                region=str(t.get("region") or ""),
                kind=str(t.get("kind") or ""),
                rate=_decimal(t.get("rate"), "GET /taxes rate"),
            )
            for t in self._list("/taxes")
        ]

    def exemption_reasons(self) -> list[ExemptionReason]:
        return [
            ExemptionReason(
                code=str(r.get("code") or ""),
                description=str(r.get("description") or ""),
                legal_reference=_opt_str(r.get("legal_reference")),
            )
            for r in self._list("/exemption-reasons")
        ]

    # -- products -------------------------------------------------------------------------------

    def products(self) -> Iterator[IgestProduct]:
        return (_listed_product(p) for p in self._paged("/products"))

    def product_by_reference(self, reference: str) -> IgestProduct | None:
        body = self._request("GET", "/products", params={"reference": reference})
        items = body.get("data") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise BadResponse(f"{SERVICE} GET /products: expected a list", service=SERVICE)
        # Exact match only: a server that filters by prefix must not hand us another SKU.
        for item in items:
            if isinstance(item, dict) and item.get("reference") == reference:
                return _product(item)
        return None

    def create_product(self, draft: IgestProductDraft) -> IgestProduct:
        body = {
            "reference": draft.reference,
            "description": draft.description,
            "type": draft.type,
            "unit": draft.unit,
            "price": money(draft.price),
            "vat_rate": money(draft.vat_rate),
            "exemption_code": draft.exemption_code,
            "barcode": draft.barcode,
        }
        return _product(self._object("POST", "/products", json_body=body))

    def update_product(self, product_id: str, changes: dict[str, object]) -> IgestProduct:
        """PATCH the given fields (description, price, vat_rate, barcode ...)."""
        body = {k: money(v) if isinstance(v, Decimal) else v for k, v in changes.items()}
        return _product(self._object("PATCH", f"/products/{_segment(product_id)}", json_body=body))

    # -- stock ----------------------------------------------------------------------------------

    def stock(self, warehouse: str | None) -> Iterator[StockLevel]:
        """Stock per reference in ``warehouse``, or summed over all warehouses when None."""
        params = {"warehouse": warehouse} if warehouse is not None else None
        return (_stock_level(s) for s in self._paged("/stock", params, bare=True))

    def set_stock(self, reference: str, warehouse: str | None, quantity: Decimal) -> None:
        self._request(
            "PUT",
            f"/stock/{_segment(reference)}",
            json_body={"quantity": money(quantity)}
            | ({"warehouse": warehouse} if warehouse is not None else {}),
        )

    # -- documents ------------------------------------------------------------------------------

    def create_document(self, draft: DocumentDraft, *, finalize: bool = False) -> IssuedDocument:
        """POST /documents: a draft (or a final document with ``finalize=True``).

        Not idempotent: after a timeout or 5xx the caller must look the document up by its
        external_reference before sending anything again.
        """
        return _document(
            self._object("POST", "/documents", json_body=document_body(draft, finalize=finalize))
        )

    def finalize_document(self, document_id: str) -> IssuedDocument:
        """POST /documents/{id}/finalize. The contract does not say what it answers: anything
        short of the final document with its number (nothing, a status, text, a body cut
        short) is read back with GET, instead of failing a document that is final; read back
        not final, it is an error, never a success."""
        path = f"/documents/{_segment(document_id)}/finalize"
        unreadable: BadResponse | None = None
        try:
            body = self._request("POST", path)
        except BadResponse as exc:
            if exc.status is None or not 200 <= exc.status < 300:
                raise
            body, unreadable = None, exc
        if (
            isinstance(body, dict)
            and body.get("id") is not None
            and body.get("status") == DocumentStatus.FINAL
            and body.get("number")
            and "gross_total" in body
        ):
            return _document(body)
        document = self.get_document(document_id)
        if document.status != DocumentStatus.FINAL:
            got = type(body).__name__ if not isinstance(body, dict) else "a partial document"
            said = (
                unreadable.message
                if unreadable is not None
                else f"{SERVICE} POST {path}: expected an object (the final document), got {got}"
            )
            raise BadResponse(
                f"{said}; read back, the document is {document.status or 'not final'}",
                service=SERVICE,
            )
        return document

    def delete_document(self, document_id: str) -> None:
        self._request("DELETE", f"/documents/{_segment(document_id)}")

    def get_document(self, document_id: str) -> IssuedDocument:
        return _document(self._object("GET", f"/documents/{_segment(document_id)}"))

    def find_documents(
        self,
        *,
        external_reference: str | None = None,
        type: str | None = None,
        status: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> Iterator[IssuedDocument]:
        params = {
            "external_reference": external_reference,
            "type": type,
            "status": status,
            "date_from": date_from.isoformat() if date_from else None,
            "date_to": date_to.isoformat() if date_to else None,
        }
        params = {k: v for k, v in params.items() if v is not None}
        return (_document(d) for d in self._paged("/documents", params))

    def credit_notes_of(self, number: str) -> list[IssuedDocument]:
        """The credit notes iGEST holds against the document ``number`` ("FR A/12"), any status.

        ``GET /documents?related_document=<number>&type=NC``. A note that names another
        original is dropped (a server that filters loosely must not hide or add a refund);
        one whose body does not echo the relation is kept, since the server selected it.
        """
        params: dict[str, object] = {"related_document": number, "type": "NC"}
        notes = (_document(d) for d in self._paged("/documents", params))
        return [n for n in notes if n.related_number in (None, number)]

    def email_document(self, document_id: str, to: str) -> None:
        self._request("POST", f"/documents/{_segment(document_id)}/email", json_body={"to": to})


# --------------------------------------------------------------------------------------------
# Wire <-> model


def document_body(draft: DocumentDraft, *, finalize: bool) -> dict[str, object]:
    """The POST /documents body for ``draft``, exactly as the contract spells it."""
    customer = draft.customer
    customer_body: dict[str, object] = {}
    if customer.nif is not None:  # without a NIF iGEST bills the final consumer 999999990
        customer_body["nif"] = customer.nif
    customer_body.update(
        name=customer.name,
        email=customer.email,
        address=customer.address,
        postal_code=customer.postal_code,
        city=customer.city,
        country=customer.country,
    )
    related = None
    if draft.related_document is not None:
        number, reason = draft.related_document
        related = {"number": number, "reason": reason}
    body: dict[str, object] = {
        "type": draft.type,
        "series": draft.series,
        "date": draft.date.isoformat(),
        "external_reference": draft.external_reference,
        "customer": customer_body,
        "lines": [_line_body(line) for line in draft.lines],
        "currency": "EUR",
        "prices_include_vat": draft.prices_include_vat,
        "payment_method": draft.payment_method,
        "move_stock": draft.move_stock,
        # One text: iGEST refuses the line breaks between the draft's notes.
        "notes": NOTES_SEPARATOR.join(line for line in draft.notes.split("\n") if line)
        if draft.notes
        else draft.notes,
        "related_document": related,
        "finalize": finalize,
    }
    # No warehouse configured: the key is left out, not sent as null (the contract gives it no
    # null; a server that checks its type takes a missing optional key): iGEST's own default.
    if draft.warehouse is not None:
        body["warehouse"] = draft.warehouse
    return body


def _line_body(line: DocumentLine) -> dict[str, object]:
    body: dict[str, object] = {
        "reference": line.reference,
        "description": line.description,
        "quantity": money(line.quantity),
        "unit_price": money(line.unit_price),
        "discount_percent": money(line.discount_percent),
        "vat_rate": money(line.vat_rate),
        "exemption_code": line.exemption_code,
    }
    if line.tax_country is not None:
        # Another Member State's VAT under the OSS scheme (SAF-T TaxCountryRegion); absent
        # means Portugal, iGEST's default, so Portuguese lines are sent as before.
        body["tax_country"] = line.tax_country
    return body


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _decimal(value: Any, what: str) -> Decimal:
    """A decimal string (or JSON number) from iGEST -> Decimal; anything else is BadResponse."""
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return number
    raise BadResponse(f"{SERVICE} sent {what} = {value!r}, not a decimal", service=SERVICE)


def _stock_level(row: dict) -> StockLevel:
    """One ``GET /stock`` row. A quantity that cannot be read is that reference's alone: it
    failed the whole read (no reference named), and no stock was synced on any run."""
    reference = str(row.get("reference") or "")
    try:
        return StockLevel(reference, _decimal(row.get("quantity"), "GET /stock quantity"))
    except BadResponse:
        why = f"iGEST gives its quantity as {row.get('quantity')!r}, not a number"
        return StockLevel(reference, Decimal(0), quantity_unread=why)


def _required_id(body: dict, what: str) -> str:
    value = body.get("id")
    if value is None or value == "" or isinstance(value, bool):
        raise BadResponse(f"{SERVICE} sent a {what} without an id", service=SERVICE)
    return str(value)


def _product(body: Any) -> IgestProduct:
    if not isinstance(body, dict):
        raise BadResponse(f"{SERVICE} sent a product that is not an object", service=SERVICE)
    product_id = _required_id(body, "product")
    return IgestProduct(
        id=product_id,
        reference=str(body.get("reference") or ""),
        description=str(body.get("description") or ""),
        type=str(body.get("type") or "P"),
        unit=str(body.get("unit") or "UN"),
        price=_decimal(body.get("price"), f"product {product_id} price"),
        vat_rate=_decimal(body.get("vat_rate"), f"product {product_id} vat_rate"),
        exemption_code=_opt_str(body.get("exemption_code")),
        barcode=_opt_str(body.get("barcode")),
        active=bool(body.get("active", True)),
    )


def _listed_product(body: dict) -> IgestProduct:
    """One product of the listing. A price or rate that cannot be read is that product's
    alone: it failed the whole listing, and sync-products created nothing on any run. It
    still holds its reference (a create would be refused, 409)."""
    try:
        return _product(body)
    except BadResponse as exc:
        if body.get("id") in (None, "") or not body.get("reference"):
            raise
        # Read as ``_product`` reads it, its price and rate 0 (never used).
        unread = {**body, "price": 0, "vat_rate": 0, "exemption_code": None, "barcode": None}
        return replace(_product(unread), unread=exc.message)


def _document(body: Any) -> IssuedDocument:
    if not isinstance(body, dict):
        raise BadResponse(f"{SERVICE} sent a document that is not an object", service=SERVICE)
    document_id = _required_id(body, "document")
    raw_customer = body.get("customer")
    customer: dict[str, Any] = raw_customer if isinstance(raw_customer, dict) else {}
    raw_date = body.get("date")
    try:
        issued_on = date.fromisoformat(raw_date) if raw_date else None
    except (TypeError, ValueError):
        issued_on = None
    if raw_date and issued_on is None:
        raise BadResponse(
            f"{SERVICE} sent document {document_id} date = {raw_date!r}", service=SERVICE
        )
    where = f"document {document_id}"
    related = body.get("related_document")
    if isinstance(related, dict):
        related = related.get("number")
    include = body.get("prices_include_vat")
    return IssuedDocument(
        id=document_id,
        type=str(body.get("type") or ""),
        series=str(body.get("series") or ""),
        number=_opt_str(body.get("number")),
        atcud=_opt_str(body.get("atcud")),
        status=str(body.get("status") or ""),
        date=issued_on,
        external_reference=_opt_str(body.get("external_reference")),
        customer_nif=_opt_str(customer.get("nif")),
        customer_name=_opt_str(customer.get("name")),
        net_total=_decimal(body.get("net_total"), f"{where} net_total"),
        vat_total=_decimal(body.get("vat_total"), f"{where} vat_total"),
        gross_total=_decimal(body.get("gross_total"), f"{where} gross_total"),
        pdf_url=_opt_str(body.get("pdf_url")),
        at_communication=_opt_str(body.get("at_communication")),
        lines=_document_lines(body.get("lines"), where),
        prices_include_vat=include if isinstance(include, bool) else None,
        related_number=_opt_str(related),
        customer=_customer(customer) if customer else None,
        vat_breakdown=_breakdown(body.get("vat_breakdown"), where),
        notes=_opt_str(body.get("notes")),
    )


def _breakdown(raw: Any, where: str) -> tuple[VatSummary, ...]:
    """``vat_breakdown``: [{rate, base, vat, tax_country?}] (absent: none given)."""
    if not isinstance(raw, list):
        return ()
    rows = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadResponse(
                f"{SERVICE} sent {where} vat_breakdown[{index}], not an object", service=SERVICE
            )
        at = f"{where} vat_breakdown[{index}]"
        country = _opt_str(item.get("tax_country"))
        rows.append(
            VatSummary(
                rate=_decimal(item.get("rate"), f"{at}.rate"),
                base=_decimal(item.get("base"), f"{at}.base"),
                vat=_decimal(item.get("vat"), f"{at}.vat"),
                tax_country=None if country in (None, "PT") else country,
            )
        )
    return tuple(rows)


def _customer(body: dict[str, Any]) -> Customer:
    """A document's customer as iGEST holds it; the final consumer has no NIF of its own."""
    nif = _opt_str(body.get("nif"))
    return Customer(
        nif=None if nif in (None, "", _FINAL_CONSUMER) else nif,
        name=_opt_str(body.get("name")) or "",
        email=_opt_str(body.get("email")),
        address=_opt_str(body.get("address")),
        postal_code=_opt_str(body.get("postal_code")),
        city=_opt_str(body.get("city")),
        country=_opt_str(body.get("country")) or "PT",
    )


def _document_lines(raw: Any, where: str) -> tuple[DocumentLine, ...]:
    """A document's lines as iGEST holds them (a partial credit is planned from them)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadResponse(f"{SERVICE} sent {where} lines that are not a list", service=SERVICE)
    lines = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadResponse(
                f"{SERVICE} sent {where} lines[{index}], not an object", service=SERVICE
            )
        at = f"{where} lines[{index}]"
        lines.append(
            DocumentLine(
                reference=str(item.get("reference") or ""),
                description=str(item.get("description") or ""),
                quantity=_decimal(item.get("quantity"), f"{at}.quantity"),
                unit_price=_decimal(item.get("unit_price"), f"{at}.unit_price"),
                discount_percent=_decimal(
                    item.get("discount_percent", "0"), f"{at}.discount_percent"
                ),
                vat_rate=_decimal(item.get("vat_rate"), f"{at}.vat_rate"),
                exemption_code=_opt_str(item.get("exemption_code")),
                # An OSS line keeps its Member State; Portugal's ("PT" or absent) is None.
                tax_country=None
                if _opt_str(item.get("tax_country")) in (None, "PT")
                else str(item.get("tax_country")),
            )
        )
    return tuple(lines)
