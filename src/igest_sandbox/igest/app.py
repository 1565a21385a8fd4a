"""The iGEST API emulator: a WSGI app following ``igest-api.md``.

Routes (under ``/v1``): ``entity``, ``series``, ``warehouses``, ``taxes``,
``exemption-reasons``; ``products`` (GET by reference or paged, POST), ``products/{id}``
(PATCH); ``stock`` (GET, with or without ``warehouse``), ``stock/{reference}`` (PUT);
``documents`` (POST, GET list), ``documents/{id}`` (GET, DELETE), ``documents/{id}/finalize``,
``documents/{id}/email``, and ``documents/{id}/pdf`` (a placeholder PDF behind ``pdf_url``).
``GET /documents`` filters by ``external_reference``, ``type``, ``status``, ``date_from``,
``date_to`` and ``related_document`` (the NCs of an original: ``?related_document=FR A/12``).

Headers ``X-Integration-Key`` and ``X-Security-Code`` or 401. Money and rates go out as decimal
strings ("12.30", rates "23.00"); lists are ``{"data", "page", "per_page", "total"}`` with
``per_page`` at most 100 (more is a 400); errors ``{"error": {"code", "message", "fields"}}``.
``vat_breakdown`` lists Portugal's rates first, highest first, then other countries' (OSS)
rates, each with its ``tax_country``; a document also shows its ``notes`` and
``related_document``. New products answer 201, a deleted draft 204.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from igest_sandbox.faults import Faults
from igest_sandbox.igest.rules import IgestError, Problems, conflict, not_found, object_body
from igest_sandbox.igest.state import IgestState
from igest_sandbox.limits import IgestLimiter
from igest_sandbox.stats import Stats
from igest_sandbox.wsgi import EmulatorApp, Request, Response

_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]"
    b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def number_text(value: Decimal) -> str:
    """Quantities and unit prices: as many decimals as they carry, at least none."""
    text = format(value.normalize(), "f")
    return text


def price_text(value: Decimal) -> str:
    return money(value) if value == value.quantize(Decimal("0.01")) else number_text(value)


def product_wire(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": product["id"],
        "reference": product["reference"],
        "description": product["description"],
        "type": product["type"],
        "unit": product["unit"],
        "price": price_text(product["price"]),
        "vat_rate": money(product["vat_rate"]),
        "exemption_code": product["exemption_code"],
        "barcode": product["barcode"],
        "active": product["active"],
    }


def breakdown_wire(entry: dict[str, Any]) -> dict[str, Any]:
    """{rate, base, vat}, and ``tax_country`` when the rate is another country's (OSS)."""
    wire = {"rate": money(entry["rate"]), "base": money(entry["base"]), "vat": money(entry["vat"])}
    if entry["tax_country"] != "PT":
        wire["tax_country"] = entry["tax_country"]
    return wire


def document_wire(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "type": doc["type"],
        "series": doc["series"],
        "number": doc["number"],
        "atcud": doc["atcud"],
        "status": doc["status"],
        "date": doc["date"],
        "external_reference": doc["external_reference"],
        "customer": dict(doc["customer"]),
        "lines": [
            {
                "reference": ln["reference"],
                "description": ln["description"],
                "quantity": number_text(ln["quantity"]),
                "unit_price": price_text(ln["unit_price"]),
                "discount_percent": number_text(ln["discount_percent"]),
                "vat_rate": money(ln["vat_rate"]),
                "tax_country": ln["tax_country"],
                "exemption_code": ln["exemption_code"],
            }
            for ln in doc["lines"]
        ],
        "net_total": money(doc["net_total"]),
        "vat_total": money(doc["vat_total"]),
        "gross_total": money(doc["gross_total"]),
        "vat_breakdown": [breakdown_wire(r) for r in doc["vat_breakdown"]],
        "notes": doc["notes"],
        "related_document": dict(doc["related_document"]) if doc["related_document"] else None,
        "pdf_url": doc["pdf_url"],
        "at_communication": doc["at_communication"],
        "created_at": doc["created_at"],
    }


class IgestApp(EmulatorApp):
    service = "igest"

    def __init__(
        self,
        state: IgestState,
        *,
        integration_key: str,
        security_code: str,
        stats: Stats,
        faults: Faults,
        limiter: IgestLimiter,
        latency: float = 0.0,
    ):
        super().__init__(stats=stats, faults=faults, latency=latency)
        self.state = state
        self.integration_key = integration_key
        self.security_code = security_code
        self.limiter = limiter
        self.loader: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        s, r = self.state, self.router.add
        r("GET", "/v1/entity", lambda q: Response.json(s.entity))
        r("GET", "/v1/series", self.list_series)
        r("GET", "/v1/warehouses", lambda q: Response.json(s.warehouses))
        r("GET", "/v1/taxes", lambda q: Response.json(s.taxes))
        r("GET", "/v1/exemption-reasons", lambda q: Response.json(s.exemption_reasons))
        r("GET", "/v1/products", self.list_products)
        r("POST", "/v1/products", self.create_product)
        r("PATCH", "/v1/products/{id}", self.update_product)
        r("GET", "/v1/stock", self.list_stock)
        r("PUT", "/v1/stock/{reference}", self.put_stock)
        r("POST", "/v1/documents", self.create_document)
        r("GET", "/v1/documents", self.list_documents)
        r("GET", "/v1/documents/{id}", self.get_document)
        r("DELETE", "/v1/documents/{id}", self.delete_document)
        r("POST", "/v1/documents/{id}/finalize", self.finalize_document)
        r("POST", "/v1/documents/{id}/email", self.email_document)
        r("GET", "/v1/documents/{id}/pdf", self.pdf)

    # Pipeline hooks -------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        code = {401: "unauthorized", 404: "not_found", 429: "rate_limited"}.get(status, "error")
        return Response.json({"error": {"code": code, "message": message, "fields": {}}}, status)

    def authenticate(self, request: Request) -> Response | None:
        key = request.header("X-Integration-Key") or ""
        code = request.header("X-Security-Code") or ""
        if hmac.compare_digest(key.encode(), self.integration_key.encode()) and hmac.compare_digest(
            code.encode(), self.security_code.encode()
        ):
            return None
        return self.error_response(401, "Invalid integration key or security code")

    def limit(self, request: Request) -> Response | None:
        # Not in iGEST's contract (which promises 10/s and sends no such header): the sandbox
        # says its limit, so that a sandbox run with higher limits is not paced at 10/s.
        # Its own header (the contract has none): the client follows it, to pace the fast
        # tests' high limits; a generic X-RateLimit-Limit it follows only below 10/s.
        request.extra_headers.append(("X-Igest-Sandbox-Per-Second", str(self.limiter.second.limit)))
        retry_after = self.limiter.check()
        if retry_after is None:
            return None
        response = self.error_response(
            429, f"Too many requests: {self.limiter.second.limit} per second per entity"
        )
        response.headers.append(("Retry-After", str(retry_after)))
        return response

    def _handle(self, request: Request, handler: Any) -> Response:
        try:
            return super()._handle(request, handler)
        except IgestError as exc:
            return Response.json(exc.body(), exc.status)

    # Helpers --------------------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            return object_body(request.json())
        except ValueError:
            raise IgestError(400, "bad_request", "The body is not valid JSON") from None

    def _id(self, request: Request) -> int:
        try:
            return int(request.params["id"])
        except ValueError:
            raise not_found("Resource") from None

    def _page(self, request: Request, rows: list[Any]) -> Response:
        try:
            page = int(request.arg("page") or 1)
            per_page = int(request.arg("per_page") or 100)
        except ValueError:
            raise IgestError(400, "bad_request", "page and per_page must be integers") from None
        if page < 1 or not 1 <= per_page <= 100:
            raise IgestError(400, "bad_request", "page starts at 1; per_page is 1 to 100")
        chunk = rows[(page - 1) * per_page : page * per_page]
        return Response.json(
            {"data": chunk, "page": page, "per_page": per_page, "total": len(rows)}
        )

    # Reference data and products ------------------------------------------------------------

    def list_series(self, request: Request) -> Response:
        doc_type = request.arg("document_type")
        return Response.json(
            [s for s in self.state.series if doc_type is None or s["document_type"] == doc_type]
        )

    def list_products(self, request: Request) -> Response:
        reference = request.arg("reference")
        with self.state.lock:
            if reference is not None:
                product = self.state.product_by_reference(reference)
                rows = [] if product is None else [product]
            else:
                rows = [self.state.products[i] for i in sorted(self.state.products)]
            return self._page(request, [product_wire(p) for p in rows])

    def _product_fields(
        self, body: dict[str, Any], problems: Problems, current: dict[str, Any] | None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if current is None or "description" in body:
            fields["description"] = problems.text(body, "description", "description")
        if current is None or "price" in body:
            fields["price"] = problems.decimal(body, "price", "price", places=6, minimum=Decimal(0))
        if current is None or "vat_rate" in body:
            rate = problems.decimal(body, "vat_rate", "vat_rate", minimum=Decimal(0))
            if rate is not None and rate not in self.state.legal_rates():
                problems.add("vat_rate", f"{body['vat_rate']} is not a rate of the taxes table")
            fields["vat_rate"] = rate
        rate = fields.get("vat_rate", current["vat_rate"] if current else None)
        code = body.get("exemption_code", current["exemption_code"] if current else None)
        if current is not None and rate != 0 and "exemption_code" not in body:
            code = None  # a rate above 0 drops the old exemption
        fields["exemption_code"] = problems.exemption(rate, code, "exemption_code")
        if "barcode" in body:
            fields["barcode"] = body["barcode"] or None
        if "active" in body:
            fields["active"] = bool(body["active"])
        return fields

    def create_product(self, request: Request) -> Response:
        body = self._body(request)
        problems = Problems()
        reference = problems.text(body, "reference", "reference", max_length=60)
        kind = body.get("type", "P")
        if kind not in ("P", "S"):
            problems.add("type", "must be P (product) or S (service)")
        fields = self._product_fields(body, problems, None)
        problems.raise_if_any("The product is not valid")
        with self.state.lock:
            if reference in self.state.by_reference:
                raise conflict(f"A product with reference {reference!r} exists already")
            product = self.state.add_product(
                reference or "",
                fields["description"],
                fields["price"],
                fields["vat_rate"],
                type=kind,
                unit=body.get("unit") or "UN",
                exemption_code=fields["exemption_code"],
                barcode=fields.get("barcode"),
                active=fields.get("active", True),
            )
            return Response.json(product_wire(product), 201)

    def update_product(self, request: Request) -> Response:
        body = self._body(request)
        problems = Problems()
        allowed = {"description", "price", "vat_rate", "barcode", "exemption_code", "active"}
        for key in body:
            if key not in allowed:
                problems.add(key, "cannot be changed")
        with self.state.lock:
            product = self.state.products.get(self._id(request))
            if product is None:
                raise not_found("Product")
            fields = self._product_fields(body, problems, product)
            problems.raise_if_any("The product is not valid")
            product.update(fields)
            return Response.json(product_wire(product))

    # Stock ----------------------------------------------------------------------------------

    def _warehouse(self, code: Any) -> str:
        if code is None:
            return self.state.default_warehouse
        if code not in self.state.warehouse_codes():
            raise IgestError(
                422,
                "validation_failed",
                "Unknown warehouse",
                {"warehouse": f"unknown warehouse {code!r}"},
            )
        return code

    def list_stock(self, request: Request) -> Response:
        warehouse = request.arg("warehouse")
        if warehouse is not None:
            self._warehouse(warehouse)
        with self.state.lock:
            rows = [
                {"reference": ref, "quantity": number_text(self.state.stock(ref, warehouse))}
                for ref in self.state.stock_references()
            ]
        return self._page(request, rows)

    def put_stock(self, request: Request) -> Response:
        reference = request.params["reference"]
        body = self._body(request)
        problems = Problems()
        quantity = problems.decimal(body, "quantity", "quantity", minimum=Decimal(0))
        problems.raise_if_any("The stock is not valid")
        warehouse = self._warehouse(body.get("warehouse"))
        with self.state.lock:
            product = self.state.product_by_reference(reference)
            if product is None:
                raise not_found(f"Product {reference!r}")
            if product["type"] == "S":
                raise IgestError(
                    422,
                    "validation_failed",
                    "Services have no stock",
                    {"reference": "is a service"},
                )
            assert quantity is not None
            self.state.set_stock(reference, warehouse, quantity)
        return Response.json(
            {"reference": reference, "warehouse": warehouse, "quantity": number_text(quantity)}
        )

    # Documents ------------------------------------------------------------------------------

    def create_document(self, request: Request) -> Response:
        doc = self.state.create_document(self._body(request))
        return Response.json(document_wire(doc), 201)

    def list_documents(self, request: Request) -> Response:
        filters = {k: request.arg(k) for k in ("external_reference", "type", "status")}
        related = request.arg("related_document")
        try:
            first = date.fromisoformat(request.arg("date_from") or "0001-01-01")
            last = date.fromisoformat(request.arg("date_to") or "9999-12-31")
        except ValueError:
            raise IgestError(400, "bad_request", "date_from/date_to must be YYYY-MM-DD") from None
        with self.state.lock:
            rows = [
                document_wire(d)
                for d in self.state.documents
                if all(v is None or d[k] == v for k, v in filters.items())
                and first <= date.fromisoformat(d["date"]) <= last
                and (related is None or (d["related_document"] or {}).get("number") == related)
            ]
        return self._page(request, rows)

    def get_document(self, request: Request) -> Response:
        return Response.json(document_wire(self.state.document(self._id(request))))

    def delete_document(self, request: Request) -> Response:
        self.state.delete_document(self._id(request))
        return Response(204)

    def finalize_document(self, request: Request) -> Response:
        return Response.json(document_wire(self.state.finalize_document(self._id(request))))

    def email_document(self, request: Request) -> Response:
        body = self._body(request)
        sent = self.state.email_document(self._id(request), body.get("to"))
        return Response.json({"id": sent["document_id"], "to": sent["to"], "status": "sent"})

    def pdf(self, request: Request) -> Response:
        doc = self.state.document(self._id(request))
        if doc["status"] != "final":
            raise not_found("PDF")
        return Response(200, _PDF, content_type="application/pdf")


__all__ = ["IgestApp", "document_wire", "product_wire"]
