"""The iGEST entity behind the emulator: articles, stock, documents, series counters.

Documents are stored as dicts holding every field (Decimal money; the wire renders strings)
plus what the request carried (``prices_include_vat``, ``warehouse``, ``move_stock``,
``notes``, ``payment_method``, ``related_document``, ``currency``). ``documents`` keeps them
in creation order; a deleted draft disappears. The server does not deduplicate
``external_reference``: two POSTs make two documents.

Numbering: per (series, type) the next number on finalize ("FR A/7", ATCUD
"<atcud_code>-7"); a document may not be dated before the last finalized one of its series
and type, nor after today (Europe/Lisbon, from the sandbox clock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from igest_sandbox.igest.credits import already_credited, check_credit
from igest_sandbox.igest.rules import (
    DOCUMENT_TYPES,
    HOME_COUNTRY,
    IgestError,
    Problems,
    check_payment,
    conflict,
    not_found,
    parse_customer,
    parse_date,
    parse_flag,
    parse_lines,
    parse_notes,
)
from igest_sandbox.money import document_totals

try:
    _LISBON: Any = ZoneInfo("Europe/Lisbon")
except ZoneInfoNotFoundError:  # no tz database: Lisbon is UTC in winter, near enough here
    _LISBON = UTC


class IgestState:
    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        entity: dict[str, Any],
        series: Iterable[dict[str, Any]],
        warehouses: Iterable[dict[str, Any]],
        taxes: Iterable[dict[str, Any]],
        exemption_reasons: Iterable[dict[str, Any]],
        default_warehouse: str = "ARM1",
        base_url: str = "http://igest.sandbox/v1",
    ):
        self.clock = clock
        self.lock = threading.RLock()
        self.entity = dict(entity)
        self.series = [dict(s) for s in series]
        self.warehouses = [dict(w) for w in warehouses]
        self.taxes = [dict(t) for t in taxes]
        self.exemption_reasons = [dict(r) for r in exemption_reasons]
        self.default_warehouse = default_warehouse
        self.base_url = base_url
        self.products: dict[int, dict[str, Any]] = {}
        self.by_reference: dict[str, int] = {}
        # reference -> warehouse -> quantity: a product's total is one small sum, not a scan of
        # every product's stock (a 20,000-item catalogue asks it per product).
        self.stock_levels: dict[str, dict[str, Decimal]] = {}
        self.documents: list[dict[str, Any]] = []
        self._by_id: dict[int, dict[str, Any]] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.last_final_date: dict[tuple[str, str], date] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.emails: list[dict[str, Any]] = []
        self.adjustments: list[dict[str, Any]] = []  # PUT /stock (inventory adjustments)
        self.stock_moves: list[dict[str, Any]] = []  # by finalized documents
        self._next_document_id = 1
        self._next_product_id = 1

    # Look-ups -------------------------------------------------------------------------------

    def today(self) -> date:
        return self.clock().astimezone(_LISBON).date()

    def legal_rates(self) -> set[Decimal]:
        return {Decimal(t["rate"]) for t in self.taxes} | {Decimal(0)}

    def warehouse_codes(self) -> set[str]:
        return {w["code"] for w in self.warehouses}

    def active_series(self, code: object, doc_type: str) -> dict[str, Any] | None:
        # ``code`` is whatever the request sent (absent, a number): it simply matches no series.
        for series in self.series:
            if series["code"] == code and series["document_type"] == doc_type and series["active"]:
                return series
        return None

    def document(self, document_id: int) -> dict[str, Any]:
        with self.lock:
            try:
                return self._by_id[document_id]
            except KeyError:
                raise not_found("Document") from None

    def product_by_reference(self, reference: str) -> dict[str, Any] | None:
        with self.lock:
            product_id = self.by_reference.get(reference)
            return None if product_id is None else self.products[product_id]

    def final_documents_by_reference(self) -> dict[str, list[dict[str, Any]]]:
        """external_reference -> its final documents (tests assert "exactly one")."""
        with self.lock:
            found: dict[str, list[dict[str, Any]]] = {}
            for doc in self.documents:
                if doc["status"] == "final" and doc["external_reference"]:
                    found.setdefault(doc["external_reference"], []).append(doc)
            return found

    # Products and stock ---------------------------------------------------------------------

    def add_product(
        self,
        reference: str,
        description: str,
        price: Decimal | str,
        vat_rate: Decimal | str = "23",
        *,
        type: str = "P",
        unit: str = "UN",
        exemption_code: str | None = None,
        barcode: str | None = None,
        active: bool = True,
        stock: dict[str, Decimal | int | str] | None = None,
    ) -> dict[str, Any]:
        """Create an article (no validation: a test helper); ``stock`` by warehouse."""
        with self.lock:
            if reference in self.by_reference:
                raise conflict(f"A product with reference {reference!r} exists already")
            product: dict[str, Any] = {
                "id": self._next_product_id,
                "reference": reference,
                "description": description,
                "type": type,
                "unit": unit,
                "price": Decimal(price),
                "vat_rate": Decimal(vat_rate),
                "exemption_code": exemption_code,
                "barcode": barcode,
                "active": active,
            }
            self._next_product_id += 1
            self.products[product["id"]] = product
            self.by_reference[reference] = product["id"]
            for warehouse, quantity in (stock or {}).items():
                self.stock_levels.setdefault(reference, {})[warehouse] = Decimal(quantity)
            return product

    def stock(self, reference: str, warehouse: str | None = None) -> Decimal:
        """Stock of ``reference`` in ``warehouse``, or the sum over all warehouses."""
        with self.lock:
            levels = self.stock_levels.get(reference, {})
            if warehouse is not None:
                return levels.get(warehouse, Decimal(0))
            return sum(levels.values(), Decimal(0))

    def stock_references(self) -> list[str]:
        with self.lock:
            refs = {p["reference"] for p in self.products.values() if p["type"] == "P"}
            refs |= self.stock_levels.keys()
            return sorted(refs)

    def set_stock(self, reference: str, warehouse: str, quantity: Decimal) -> None:
        with self.lock:
            before = self.stock(reference, warehouse)
            self.stock_levels.setdefault(reference, {})[warehouse] = quantity
            self.adjustments.append(
                {
                    "reference": reference,
                    "warehouse": warehouse,
                    "before": before,
                    "after": quantity,
                    "at": self.clock().isoformat(),
                }
            )

    # Documents ------------------------------------------------------------------------------

    def create_document(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and store a draft; finalize it too when ``finalize`` is true (atomically:
        a document that cannot be finalized is not stored)."""
        problems = Problems()
        doc_type = body.get("type")
        if doc_type not in DOCUMENT_TYPES:
            problems.add("type", f"must be one of {', '.join(DOCUMENT_TYPES)}")
            doc_type = None
        with self.lock:
            series_code = body.get("series")
            series = self.active_series(series_code, doc_type) if doc_type else None
            if doc_type and series is None:
                problems.add("series", f"no active series {series_code!r} for {doc_type}")
            doc_date = parse_date(body.get("date"), "date", problems)
            warehouse = body.get("warehouse")
            if warehouse is not None and warehouse not in self.warehouse_codes():
                problems.add("warehouse", f"unknown warehouse {warehouse!r}")
            if body.get("currency", "EUR") != "EUR":
                problems.add("currency", "this entity invoices in EUR only")
            reference = body.get("external_reference")
            if reference is not None and not isinstance(reference, str):
                problems.add("external_reference", "must be a string")
            related = self._related(body.get("related_document"), doc_type, problems)
            doc: dict[str, Any] = {
                "id": self._next_document_id,
                "type": doc_type,
                "series": series_code,
                "number": None,
                "atcud": None,
                "status": "draft",
                "date": doc_date.isoformat() if doc_date else None,
                "external_reference": reference,
                "customer": parse_customer(body.get("customer"), problems),
                "lines": parse_lines(body.get("lines"), self.legal_rates(), problems),
                "prices_include_vat": parse_flag(body, "prices_include_vat", problems, False),
                "move_stock": parse_flag(body, "move_stock", problems, False),
                "payment_method": check_payment(body.get("payment_method"), doc_type, problems),
                "warehouse": warehouse,
                "currency": "EUR",
                "notes": parse_notes(body.get("notes"), problems),
                "related_document": related,
                "pdf_url": None,
                "at_communication": None,
                "created_at": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            finalize = parse_flag(body, "finalize", problems, False)
            if doc_type == "FS" and any(
                ln["tax_country"] != HOME_COUNTRY for ln in doc["lines"] if ln
            ):
                # OSS: the VAT is not due in Portugal, so art. 40 CIVA's FS does not apply.
                problems.add("type", "a document with a foreign tax_country line cannot be an FS")
            problems.raise_if_any()
            self._check_credit(doc, None)
            totals = document_totals(
                (
                    (
                        ln["quantity"],
                        ln["unit_price"],
                        ln["discount_percent"],
                        ln["vat_rate"],
                        ln["tax_country"],
                    )
                    for ln in doc["lines"]
                ),
                doc["prices_include_vat"],
            )
            doc.update(
                net_total=totals.net_total,
                vat_total=totals.vat_total,
                gross_total=totals.gross_total,
                vat_breakdown=[
                    {"rate": r.rate, "base": r.base, "vat": r.vat, "tax_country": r.tax_country}
                    for r in totals.breakdown
                ],
            )
            if finalize:
                self._check_finalizable(doc)
            self._next_document_id += 1
            self.documents.append(doc)
            self._by_id[doc["id"]] = doc
            nif = doc["customer"]["nif"]
            self.customers.setdefault(nif, dict(doc["customer"]))
            if finalize:
                self._finalize(doc)
            return doc

    def _related(
        self, data: Any, doc_type: str | None, problems: Problems
    ) -> dict[str, Any] | None:
        if doc_type != "NC":
            if data:
                problems.add("related_document", "only a credit note (NC) has one")
            return None
        if not isinstance(data, dict):
            problems.add("related_document", "an NC needs {number, reason}")
            return None
        number, reason = data.get("number"), data.get("reason")
        if not reason or not isinstance(reason, str):
            problems.add("related_document.reason", "is required")
        original = self._final_by_number(number)
        if original is None or original["type"] == "NC":
            problems.add("related_document.number", f"no final sales document {number!r}")
        return {"number": number, "reason": reason}

    def _check_credit(
        self, doc: dict[str, Any], leave_out: int | None, problems: Problems | None = None
    ) -> None:
        """An NC may not take the credits of its original past what it invoiced (422)."""
        if doc["type"] != "NC" or not doc["related_document"]:
            return
        original = self._final_by_number(doc["related_document"]["number"])
        if original is None:
            return
        given = problems
        problems = problems or Problems()
        check_credit(
            doc,
            original,
            already_credited(self.documents, original["number"], leave_out=leave_out),
            self._is_goods,
            problems,
        )
        if given is None:
            problems.raise_if_any("The credit note exceeds what is left to credit")

    def _is_goods(self, reference: str) -> bool:
        product = self.product_by_reference(reference)
        return product is not None and product["type"] == "P"

    def _final_by_number(self, number: Any) -> dict[str, Any] | None:
        for doc in self.documents:
            if doc["number"] == number and doc["status"] == "final":
                return doc
        return None

    def _check_finalizable(self, doc: dict[str, Any]) -> None:
        if doc["status"] != "draft":
            raise conflict(f"Document {doc['id']} is {doc['status']}: only drafts can be finalized")
        doc_date = date.fromisoformat(doc["date"])
        problems = Problems()
        if doc_date > self.today():
            problems.add("date", f"{doc['date']} is in the future")
        last = self.last_final_date.get((doc["series"], doc["type"]))
        if last is not None and doc_date < last:
            problems.add(
                "date",
                f"{doc['date']} is earlier than the last finalized "
                f"{doc['type']} of series {doc['series']} ({last})",
            )
        self._check_credit(doc, doc["id"], problems)
        if doc["type"] == "NC" and doc["related_document"] and not problems.fields:
            original = self._final_by_number(doc["related_document"]["number"])
            credited = sum(
                (
                    d["gross_total"]
                    for d in self.documents
                    if d["type"] == "NC"
                    and d["status"] == "final"
                    and (d["related_document"] or {}).get("number")
                    == doc["related_document"]["number"]
                ),
                Decimal(0),
            )
            if original is not None and credited + doc["gross_total"] > original["gross_total"]:
                problems.add(
                    "gross_total",
                    f"the credit notes would exceed the original {original['number']}",
                )
        problems.raise_if_any("The document cannot be finalized")

    def _finalize(self, doc: dict[str, Any]) -> None:
        key = (doc["series"], doc["type"])
        number = self.counters.get(key, 0) + 1
        self.counters[key] = number
        series = self.active_series(doc["series"], doc["type"])
        atcud_code = series["atcud_code"] if series else "0"
        doc.update(
            number=f"{doc['type']} {doc['series']}/{number}",
            atcud=f"{atcud_code}-{number}",
            status="final",
            pdf_url=f"{self.base_url}/documents/{doc['id']}/pdf",
            at_communication="communicated",
            finalized_at=self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self.last_final_date[key] = date.fromisoformat(doc["date"])
        if doc["move_stock"]:
            warehouse = doc["warehouse"] or self.default_warehouse
            sign = 1 if doc["type"] == "NC" else -1
            for line in doc["lines"]:
                product = self.product_by_reference(line["reference"])
                if product is None or product["type"] == "S":
                    continue  # services, and references with no product (shipping), have no stock
                moved = sign * line["quantity"]
                levels = self.stock_levels.setdefault(line["reference"], {})
                levels[warehouse] = levels.get(warehouse, Decimal(0)) + moved
                self.stock_moves.append(
                    {
                        "document": doc["number"],
                        "reference": line["reference"],
                        "warehouse": warehouse,
                        "quantity": moved,
                    }
                )

    def finalize_document(self, document_id: int) -> dict[str, Any]:
        with self.lock:
            doc = self.document(document_id)
            self._check_finalizable(doc)
            self._finalize(doc)
            return doc

    def delete_document(self, document_id: int) -> None:
        with self.lock:
            doc = self.document(document_id)
            if doc["status"] != "draft":
                raise conflict(
                    f"Document {doc['number']} is {doc['status']}: only drafts can be deleted"
                )
            self.documents.remove(doc)
            del self._by_id[document_id]

    def email_document(self, document_id: int, to: Any) -> dict[str, Any]:
        with self.lock:
            doc = self.document(document_id)
            if doc["status"] != "final":
                raise conflict("Only finalized documents can be emailed")
            if not isinstance(to, str) or "@" not in to:
                raise IgestError(
                    422,
                    "validation_failed",
                    "The address is not valid",
                    {"to": "must be an email address"},
                )
            sent = {
                "document_id": document_id,
                "number": doc["number"],
                "to": to,
                "at": self.clock().isoformat(),
            }
            self.emails.append(sent)
            return sent
