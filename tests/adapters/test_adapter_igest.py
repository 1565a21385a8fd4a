"""iGEST adapter: exact requests per the contract (igest-api.md) and parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from igest_sync.errors import (
    AuthError,
    BadResponse,
    Conflict,
    NotFound,
    Rejected,
    ServerError,
    TransportError,
)
from igest_sync.models import (
    Customer,
    DocumentDraft,
    DocumentLine,
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
from tests.support.adapter_data import IG_BASE, IG_CODE, IG_KEY, max_in_any_window

AUTH = {"X-Integration-Key": IG_KEY, "X-Security-Code": IG_CODE}


def draft(**overrides) -> DocumentDraft:
    values = dict(
        order_id=10452,
        external_reference="jumpseller:mystore:10452",
        type="FR",
        series="A",
        date=date(2026, 11, 27),
        customer=Customer(
            nif="123456789",
            name="Ana Silva",
            email="ana@example.pt",
            address="Rua A, 1",
            postal_code="1000-100",
            city="Lisboa",
        ),
        lines=(
            DocumentLine(
                reference="SKU-1",
                description="Mug",
                quantity=Decimal("2"),
                unit_price=Decimal("10.000001"),
                discount_percent=Decimal("0"),
                vat_rate=Decimal("23.00"),
            ),
            DocumentLine(
                reference="PORTES",
                description="Shipping",
                quantity=Decimal("1"),
                unit_price=Decimal("1E+1"),
                discount_percent=Decimal("12.5"),
                vat_rate=Decimal("0"),
                exemption_code="M07",
                is_service=True,
            ),
        ),
        prices_include_vat=True,
        payment_method="CC",
        warehouse="ARM1",
        move_stock=True,
        notes="Encomenda 10452",
        net_total=Decimal("25.01"),
        vat_total=Decimal("3.74"),
        gross_total=Decimal("28.75"),
        vat_breakdown=(),
    )
    values.update(overrides)
    return DocumentDraft(**values)


def document_json(**overrides) -> dict:
    doc = {
        "id": "doc-1",
        "type": "FR",
        "series": "A",
        "number": None,
        "atcud": None,
        "status": "draft",
        "date": "2026-11-27",
        "external_reference": "jumpseller:mystore:10452",
        "customer": {"nif": "123456789", "name": "Ana Silva"},
        "lines": [],
        "net_total": "25.01",
        "vat_total": "3.74",
        "gross_total": "28.75",
        "vat_breakdown": [{"rate": "23.00", "base": "16.26", "vat": "3.74"}],
        "pdf_url": None,
        "at_communication": None,
        "created_at": "2026-11-27T10:00:00Z",
    }
    doc.update(overrides)
    return doc


EXPECTED_BODY = {
    "type": "FR",
    "series": "A",
    "date": "2026-11-27",
    "external_reference": "jumpseller:mystore:10452",
    "customer": {
        "nif": "123456789",
        "name": "Ana Silva",
        "email": "ana@example.pt",
        "address": "Rua A, 1",
        "postal_code": "1000-100",
        "city": "Lisboa",
        "country": "PT",
    },
    "lines": [
        {
            "reference": "SKU-1",
            "description": "Mug",
            "quantity": "2",
            "unit_price": "10.000001",
            "discount_percent": "0",
            "vat_rate": "23.00",
            "exemption_code": None,
        },
        {
            "reference": "PORTES",
            "description": "Shipping",
            "quantity": "1",
            "unit_price": "10",
            "discount_percent": "12.5",
            "vat_rate": "0",
            "exemption_code": "M07",
        },
    ],
    "currency": "EUR",
    "prices_include_vat": True,
    "payment_method": "CC",
    "warehouse": "ARM1",
    "move_stock": True,
    "notes": "Encomenda 10452",
    "related_document": None,
    "finalize": False,
}


# -- documents ---------------------------------------------------------------------------------


def test_create_document_sends_the_contract_body(ig, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=f"{IG_BASE}/documents",
        match_json=EXPECTED_BODY,
        match_headers=AUTH,
        status_code=201,
        json=document_json(),
    )
    doc = ig.create_document(draft())
    assert doc == IssuedDocument(
        id="doc-1",
        type="FR",
        series="A",
        number=None,
        atcud=None,
        status="draft",
        date=date(2026, 11, 27),
        external_reference="jumpseller:mystore:10452",
        customer_nif="123456789",
        customer_name="Ana Silva",
        net_total=Decimal("25.01"),
        vat_total=Decimal("3.74"),
        gross_total=Decimal("28.75"),
        customer=Customer(nif="123456789", name="Ana Silva"),
        # VAT by rate as iGEST computed it (what `approve` shows before finalizing).
        vat_breakdown=(VatSummary(Decimal("23.00"), Decimal("16.26"), Decimal("3.74")),),
    )
    assert type(doc.gross_total) is Decimal
    request = httpx_mock.get_request()
    assert IG_KEY not in str(request.url) and IG_CODE not in str(request.url)


def test_no_warehouse_configured_leaves_the_key_out_not_null(ig, httpx_mock):
    # The contract has no null warehouse; a server that checks its type refused every
    # document of a config without [invoice] warehouse (init writes none).
    body = {k: v for k, v in EXPECTED_BODY.items() if k != "warehouse"}
    httpx_mock.add_response(method="POST", match_json=body, status_code=201, json=document_json())
    httpx_mock.add_response(method="PUT", match_json={"quantity": "4"})
    ig.create_document(draft(warehouse=None))
    ig.set_stock("SKU-1", None, Decimal("4"))


def test_final_consumer_omits_the_nif_and_finalize_flag_is_sent(ig, httpx_mock):
    body = {
        **EXPECTED_BODY,
        "finalize": True,
        "customer": {
            "name": "Consumidor final",
            "email": None,
            "address": None,
            "postal_code": None,
            "city": None,
            "country": "PT",
        },
    }
    httpx_mock.add_response(
        method="POST",
        url=f"{IG_BASE}/documents",
        match_json=body,
        json=document_json(status="final", number="FR A/1", atcud="JFX7K2M9-1"),
    )
    doc = ig.create_document(
        draft(customer=Customer(nif=None, name="Consumidor final")), finalize=True
    )
    assert (doc.number, doc.atcud, doc.status) == ("FR A/1", "JFX7K2M9-1", "final")


def test_credit_note_carries_the_related_document(ig, httpx_mock):
    body = {
        **EXPECTED_BODY,
        "type": "NC",
        "series": "NC",
        "related_document": {"number": "FR A/123", "reason": "Encomenda cancelada"},
    }
    httpx_mock.add_response(
        method="POST", url=f"{IG_BASE}/documents", match_json=body, json=document_json(type="NC")
    )
    ig.create_document(
        draft(type="NC", series="NC", related_document=("FR A/123", "Encomenda cancelada"))
    )


def test_create_document_is_never_retried_after_it_may_have_arrived(ig, httpx_mock):
    httpx_mock.add_response(method="POST", status_code=500, html="<h1>oops</h1>")
    with pytest.raises(ServerError):
        ig.create_document(draft())
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError):
        ig.create_document(draft())
    assert len(httpx_mock.get_requests()) == 2


def test_create_document_is_retried_after_429_with_retry_after(ig, httpx_mock, clock):
    httpx_mock.add_response(
        method="POST",
        status_code=429,
        headers={"Retry-After": "2"},
        json={"error": {"code": "rate_limited", "message": "Slow down"}},
    )
    httpx_mock.add_response(method="POST", match_json=EXPECTED_BODY, json=document_json())
    assert ig.create_document(draft()).id == "doc-1"
    # The first wait is the start-up pause (the previous second may be used up); then 2 s as told.
    assert clock.sleeps[1:] == [2.0]
    assert ig.request_count == 2


def test_a_new_client_assumes_the_current_second_is_used_up(ig, httpx_mock, clock):
    # iGEST sends no rate-limit headers; a run right after another must not get a 429.
    httpx_mock.add_response(
        method="GET",
        json={"nif": "509999995", "name": "E", "currency": "EUR", "stock_by_warehouse": True},
    )
    ig.entity()
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 1.15


def test_validation_error_carries_message_code_and_fields(ig, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        status_code=422,
        json={
            "error": {
                "code": "validation_failed",
                "message": "Exemption code required",
                "fields": {"lines[1].exemption_code": "required when vat_rate is 0"},
            }
        },
    )
    with pytest.raises(Rejected) as caught:
        ig.create_document(draft())
    error = caught.value
    assert str(error) == "iGEST POST /documents: Exemption code required (422)"
    assert error.code == "validation_failed"
    assert error.fields == {"lines[1].exemption_code": "required when vat_rate is 0"}


def test_finalize_get_delete_email(ig, httpx_mock):
    final = document_json(
        status="final",
        number="FR A/7",
        atcud="X-7",
        pdf_url="https://igest.test/d/doc-1.pdf",
        at_communication="pending",
    )
    httpx_mock.add_response(
        method="POST", url=f"{IG_BASE}/documents/doc-1/finalize", match_headers=AUTH, json=final
    )
    httpx_mock.add_response(method="GET", url=f"{IG_BASE}/documents/doc-1", json=final)
    httpx_mock.add_response(method="DELETE", url=f"{IG_BASE}/documents/doc-2", status_code=204)
    httpx_mock.add_response(
        method="POST",
        url=f"{IG_BASE}/documents/doc-1/email",
        match_json={"to": "ana@example.pt"},
        json={"sent": True},
    )
    doc = ig.finalize_document("doc-1")
    assert doc.number == "FR A/7" and doc.pdf_url.endswith(".pdf")
    assert doc.at_communication == "pending"
    assert ig.get_document("doc-1") == doc
    assert ig.delete_document("doc-2") is None
    assert ig.email_document("doc-1", "ana@example.pt") is None


@pytest.mark.parametrize(
    "answer",
    [{"status_code": 204}, {"json": {"status": "final"}}, {"text": "OK"}, {"json": []}],
    ids=["nothing", "a-status", "text", "a-list"],
)
def test_a_finalize_that_answers_less_than_the_document_is_read_back(ig, httpx_mock, answer):
    # The contract gives finalize no answer: a 204, a status alone or text failed a document
    # iGEST had finalized ("expected an object").
    final = document_json(status="final", number="FR A/7", atcud="X-7")
    httpx_mock.add_response(method="POST", url=f"{IG_BASE}/documents/doc-1/finalize", **answer)
    httpx_mock.add_response(method="GET", url=f"{IG_BASE}/documents/doc-1", json=final)
    assert ig.finalize_document("doc-1").number == "FR A/7"


def test_a_finalize_whose_read_back_is_not_final_is_an_error_never_a_success(ig, httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{IG_BASE}/documents/doc-1/finalize", json=[])
    httpx_mock.add_response(
        method="GET", url=f"{IG_BASE}/documents/doc-1", json=document_json(status="draft")
    )
    with pytest.raises(BadResponse, match="the document is draft"):
        ig.finalize_document("doc-1")


def test_a_delete_answered_with_text_is_done(ig, httpx_mock):
    httpx_mock.add_response(method="DELETE", url=f"{IG_BASE}/documents/doc-2", text="Deleted")
    assert ig.delete_document("doc-2") is None


def test_finalizing_twice_is_a_conflict(ig, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        status_code=409,
        json={"error": {"code": "already_final", "message": "Document is already final"}},
    )
    with pytest.raises(Conflict) as caught:
        ig.finalize_document("doc-1")
    assert caught.value.code == "already_final"


def test_find_documents_filters_and_pages(ig, httpx_mock):
    query = (
        "external_reference=jumpseller%3Amystore%3A10452&type=FR&status=final"
        "&date_from=2026-11-01&date_to=2026-11-30"
    )
    docs = [document_json(id=f"d{i}") for i in range(100)]
    httpx_mock.add_response(
        url=f"{IG_BASE}/documents?{query}&page=1&per_page=100",
        json={"data": docs, "page": 1, "per_page": 100, "total": 101},
    )
    httpx_mock.add_response(
        url=f"{IG_BASE}/documents?{query}&page=2&per_page=100",
        json={"data": [document_json(id="d100")], "page": 2, "per_page": 100, "total": 101},
    )
    found = list(
        ig.find_documents(
            external_reference="jumpseller:mystore:10452",
            type="FR",
            status="final",
            date_from=date(2026, 11, 1),
            date_to=date(2026, 11, 30),
        )
    )
    assert [d.id for d in found] == [f"d{i}" for i in range(101)]


def test_find_documents_stops_at_total_without_an_empty_page(ig, httpx_mock):
    httpx_mock.add_response(
        url=f"{IG_BASE}/documents?external_reference=r&page=1&per_page=100",
        json={
            "data": [document_json(id=f"d{i}") for i in range(100)],
            "page": 1,
            "per_page": 100,
            "total": 100,
        },
    )
    assert len(list(ig.find_documents(external_reference="r"))) == 100
    assert len(httpx_mock.get_requests()) == 1


def test_missing_document_is_not_found(ig, httpx_mock):
    httpx_mock.add_response(
        status_code=404, json={"error": {"code": "not_found", "message": "No such document"}}
    )
    with pytest.raises(NotFound):
        ig.get_document("nope")


def test_document_ids_are_one_path_segment(ig, httpx_mock):
    httpx_mock.add_response(
        method="GET", url=f"{IG_BASE}/documents/a%2Fb%3Fc", json=document_json(id="a/b?c")
    )
    assert ig.get_document("a/b?c").id == "a/b?c"


# -- reference data ----------------------------------------------------------------------------


def test_reference_data(ig, httpx_mock):
    httpx_mock.add_response(
        url=f"{IG_BASE}/entity",
        match_headers=AUTH,
        json={
            "nif": "500000000",
            "name": "Loja Lda",
            "currency": "EUR",
            "stock_by_warehouse": True,
        },
    )
    httpx_mock.add_response(
        url=f"{IG_BASE}/series?document_type=FR",
        json=[{"code": "A", "document_type": "FR", "atcud_code": "JFX7K2M9", "active": True}],
    )
    httpx_mock.add_response(url=f"{IG_BASE}/warehouses", json=[{"code": "ARM1", "name": "Armazém"}])
    httpx_mock.add_response(
        url=f"{IG_BASE}/taxes", json=[{"region": "PT", "kind": "NOR", "rate": "23.00"}]
    )
    httpx_mock.add_response(
        url=f"{IG_BASE}/exemption-reasons",
        json=[
            {
                "code": "M10",
                "description": "Regime de isenção",
                "legal_reference": "Artigo 53.º do CIVA",
            }
        ],
    )
    assert ig.entity() == Entity("500000000", "Loja Lda", "EUR", True)
    assert ig.series("FR") == [Series("A", "FR", "JFX7K2M9", True)]
    assert ig.warehouses() == [("ARM1", "Armazém")]
    [tax] = ig.taxes()
    assert tax == TaxRate("PT", "NOR", Decimal("23.00")) and type(tax.rate) is Decimal
    assert ig.exemption_reasons() == [
        ExemptionReason("M10", "Regime de isenção", "Artigo 53.º do CIVA")
    ]


def test_wrong_credentials_hint_at_the_config_keys(ig, httpx_mock):
    httpx_mock.add_response(
        status_code=401, json={"error": {"code": "unauthorized", "message": "Invalid key"}}
    )
    with pytest.raises(AuthError) as caught:
        ig.entity()
    assert "igest.integration_key" in caught.value.hint
    assert "igest.security_code" in caught.value.hint


# -- products and stock ------------------------------------------------------------------------


def product_json(pid: str, reference: str, **overrides) -> dict:
    product = {
        "id": pid,
        "reference": reference,
        "description": f"Item {reference}",
        "type": "P",
        "unit": "UN",
        "price": "8.130081",
        "vat_rate": "23.00",
        "exemption_code": None,
        "barcode": None,
        "active": True,
    }
    product.update(overrides)
    return product


def test_a_listed_product_whose_price_cannot_be_read_is_that_products_alone(ig, httpx_mock):
    # One product of price null failed the whole listing ("iGEST sent product p1 price =
    # None, not a decimal"): sync-products neither created nor updated anything, every run.
    httpx_mock.add_response(
        url=f"{IG_BASE}/products?page=1&per_page=100",
        json={
            "data": [product_json("p1", "S1", price=None), product_json("p2", "S2")],
            "page": 1,
            "per_page": 100,
            "total": 2,
        },
    )
    bad, good = ig.products()
    assert bad.reference == "S1" and "price" in (bad.unread or "")
    assert good.reference == "S2" and good.unread is None


def test_products_are_paged(ig, httpx_mock):
    httpx_mock.add_response(
        url=f"{IG_BASE}/products?page=1&per_page=100",
        json={
            "data": [product_json(f"p{i}", f"S{i}") for i in range(100)],
            "page": 1,
            "per_page": 100,
            "total": 150,
        },
    )
    httpx_mock.add_response(
        url=f"{IG_BASE}/products?page=2&per_page=100",
        json={"data": [product_json("p100", "S100")], "page": 2, "per_page": 100, "total": 150},
    )
    products = list(ig.products())
    assert len(products) == 101
    assert products[0] == IgestProduct(
        "p0", "S0", "Item S0", "P", "UN", Decimal("8.130081"), Decimal("23.00"), None, None, True
    )
    assert type(products[0].price) is Decimal


def test_product_by_reference_matches_exactly(ig, httpx_mock):
    httpx_mock.add_response(
        url=f"{IG_BASE}/products?reference=SKU-1",
        json={
            "data": [product_json("p9", "SKU-10"), product_json("p1", "SKU-1")],
            "page": 1,
            "per_page": 100,
            "total": 2,
        },
    )
    httpx_mock.add_response(
        url=f"{IG_BASE}/products?reference=NONE",
        json={"data": [], "page": 1, "per_page": 100, "total": 0},
    )
    assert ig.product_by_reference("SKU-1").id == "p1"
    assert ig.product_by_reference("NONE") is None


def test_create_product_sends_decimal_strings(ig, httpx_mock):
    body = {
        "reference": "SKU-1",
        "description": "Mug",
        "type": "P",
        "unit": "UN",
        "price": "8.130081",
        "vat_rate": "23",
        "exemption_code": None,
        "barcode": "5600000000017",
    }
    httpx_mock.add_response(
        method="POST",
        url=f"{IG_BASE}/products",
        match_json=body,
        status_code=201,
        json=product_json("p1", "SKU-1"),
    )
    product = ig.create_product(
        IgestProductDraft(
            reference="SKU-1",
            description="Mug",
            type="P",
            price=Decimal("8.130081"),
            vat_rate=Decimal("23"),
            barcode="5600000000017",
        )
    )
    assert product.id == "p1"


def test_duplicate_product_is_a_conflict(ig, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        status_code=409,
        json={"error": {"code": "duplicate_reference", "message": "Reference already exists"}},
    )
    with pytest.raises(Conflict):
        ig.create_product(IgestProductDraft("SKU-1", "Mug", "P", Decimal("1"), Decimal("23")))


def test_update_product_patches_only_the_changes(ig, httpx_mock):
    httpx_mock.add_response(
        method="PATCH",
        url=f"{IG_BASE}/products/p1",
        match_json={"price": "9.5", "description": "Big mug"},
        json=product_json("p1", "SKU-1", price="9.5"),
    )
    product = ig.update_product("p1", {"price": Decimal("9.5"), "description": "Big mug"})
    assert product.price == Decimal("9.5")


def test_stock_with_and_without_warehouse(ig, httpx_mock):
    httpx_mock.add_response(
        url=f"{IG_BASE}/stock?warehouse=ARM1&page=1&per_page=100",
        json={
            "data": [{"reference": "SKU-1", "quantity": "4"}],
            "page": 1,
            "per_page": 100,
            "total": 1,
        },
    )
    httpx_mock.add_response(
        url=f"{IG_BASE}/stock?page=1&per_page=100",
        json={
            "data": [{"reference": "SKU-1", "quantity": "6.5"}],
            "page": 1,
            "per_page": 100,
            "total": 1,
        },
    )
    assert list(ig.stock("ARM1")) == [StockLevel("SKU-1", Decimal("4"))]
    [level] = ig.stock(None)
    assert level.quantity == Decimal("6.5") and type(level.quantity) is Decimal


def test_stock_answered_as_a_bare_list_is_read_as_the_whole_answer(ig, httpx_mock):
    # The contract writes GET /stock's answer as "[{reference, quantity}]": sync-stock
    # failed every run on "expected an object, got list".
    httpx_mock.add_response(
        url=f"{IG_BASE}/stock?warehouse=ARM1&page=1&per_page=100",
        json=[{"reference": "SKU-1", "quantity": "4"}, {"reference": "SKU-2", "quantity": "0"}],
    )
    assert [s.reference for s in ig.stock("ARM1")] == ["SKU-1", "SKU-2"]
    assert len(httpx_mock.get_requests()) == 1  # no second page asked


def test_a_stock_row_whose_quantity_cannot_be_read_names_its_reference(ig, httpx_mock):
    # One row of quantity null failed the whole read ("GET /stock quantity = None, not a
    # decimal", no reference named): no stock synced at all, on every run.
    httpx_mock.add_response(
        url=f"{IG_BASE}/stock?warehouse=ARM1&page=1&per_page=100",
        json=[{"reference": "SKU-1", "quantity": None}, {"reference": "SKU-2", "quantity": "3"}],
    )
    bad, good = ig.stock("ARM1")
    assert bad.reference == "SKU-1" and "None" in (bad.quantity_unread or "")
    assert good == StockLevel("SKU-2", Decimal("3"))


def test_set_stock_puts_the_absolute_quantity(ig, httpx_mock):
    httpx_mock.add_response(
        method="PUT",
        url=f"{IG_BASE}/stock/A%2FB%201",
        match_json={"warehouse": "ARM1", "quantity": "12"},
        match_headers=AUTH,
        json={"reference": "A/B 1", "quantity": "12"},
    )
    ig.set_stock("A/B 1", "ARM1", Decimal("12"))


ENTITY = {"nif": "509999995", "name": "E", "currency": "EUR", "stock_by_warehouse": True}


def test_the_sandboxs_own_per_second_limit_is_followed(ig, httpx_mock, clock):
    # iGEST's contract has no such header (10/s is assumed); our sandbox says its own, so 30
    # calls after the start-up pause need no further wait at 100/s.
    httpx_mock.add_response(
        method="GET",
        headers={"X-Igest-Sandbox-Per-Second": "100"},
        json=ENTITY,
        is_reusable=True,
    )
    for _ in range(30):
        ig.entity()
    assert len(clock.sleeps) <= 1  # only the start-up pause


@pytest.mark.parametrize(("limit", "most"), [("600", 10), ("5", 5)])
def test_a_generic_rate_limit_header_only_ever_slows_the_client(ig, httpx_mock, clock, limit, most):
    """X-RateLimit-Limit says no window (600 an hour, a minute?): followed as per second it
    had the client send 600 a second, into 429s. It is followed only below the 10/s."""
    sent: list[float] = []

    def respond(request):
        sent.append(clock.now)
        return httpx.Response(200, headers={"X-RateLimit-Limit": limit}, json=ENTITY)

    httpx_mock.add_callback(respond, is_reusable=True)
    for _ in range(30):
        ig.entity()
    assert max_in_any_window(sent, 1.0) <= most


def test_a_refusal_names_the_field_for_the_failure_reason(ig, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        status_code=422,
        json={
            "error": {
                "code": "validation_failed",
                "message": "The document is not valid",
                "fields": {"lines[0].description": "is longer than 200 characters"},
            }
        },
    )
    with pytest.raises(Rejected) as caught:
        ig.create_document(draft())
    assert caught.value.with_fields() == (
        "iGEST POST /documents: The document is not valid (422): "
        "lines[0].description: is longer than 200 characters"
    )


def test_an_oss_line_carries_its_tax_country_and_a_portuguese_one_none(ig, httpx_mock):
    httpx_mock.add_response(method="POST", json=document_json())
    base = draft()
    oss_line = replace(base.lines[0], vat_rate=Decimal("21.00"), tax_country="ES")
    ig.create_document(replace(base, lines=(oss_line, base.lines[0])))
    body = json.loads(httpx_mock.get_requests()[-1].content)
    assert body["lines"][0]["tax_country"] == "ES"
    assert "tax_country" not in body["lines"][1]


def test_the_notes_lines_travel_as_one_line(ig, httpx_mock):
    # iGEST refuses control characters, line breaks included.
    httpx_mock.add_response(method="POST", json=document_json())
    ig.create_document(draft(notes="Encomenda Jumpseller n.º 1\nPago em 2026-11-18"))
    body = json.loads(httpx_mock.get_requests()[-1].content)
    assert body["notes"] == "Encomenda Jumpseller n.º 1 | Pago em 2026-11-18"


def test_a_documents_customer_is_read_as_igest_holds_it(ig, httpx_mock):
    """A credit note names the very customer of its original: a foreign VAT number keeps
    its country and the address stays; iGEST's final consumer has no NIF of its own."""
    held = {
        "nif": "ESB12345678",
        "name": "Cerámica SL",
        "email": "compras@ceramica.es",
        "address": "Calle Mayor 1",
        "postal_code": "28001",
        "city": "Madrid",
        "country": "ES",
    }
    httpx_mock.add_response(
        method="GET", url=f"{IG_BASE}/documents/doc-1", json=document_json(customer=held)
    )
    doc = ig.get_document("doc-1")
    assert doc.customer == Customer(
        nif="ESB12345678",
        name="Cerámica SL",
        email="compras@ceramica.es",
        address="Calle Mayor 1",
        postal_code="28001",
        city="Madrid",
        country="ES",
    )
    consumer = {"nif": "999999990", "name": "Consumidor final", "country": "PT"}
    httpx_mock.add_response(
        method="GET", url=f"{IG_BASE}/documents/doc-2", json=document_json(customer=consumer)
    )
    assert ig.get_document("doc-2").customer == Customer(nif=None, name="Consumidor final")


def test_a_documents_vat_breakdown_keeps_an_oss_country_and_refuses_a_bad_entry(ig, httpx_mock):
    rows = [
        {"rate": "23.00", "base": "10.00", "vat": "2.30", "tax_country": "PT"},
        {"rate": "21.00", "base": "10.00", "vat": "2.10", "tax_country": "ES"},
    ]
    httpx_mock.add_response(method="GET", json=document_json(vat_breakdown=rows))
    doc = ig.get_document("doc-1")
    assert [(v.rate, v.tax_country) for v in doc.vat_breakdown] == [
        (Decimal("23.00"), None),
        (Decimal("21.00"), "ES"),
    ]
    httpx_mock.add_response(method="GET", json=document_json(vat_breakdown=["23%"]))
    with pytest.raises(BadResponse, match="vat_breakdown"):
        ig.get_document("doc-1")


def test_a_document_listing_answered_as_a_bare_list_stays_an_error(ig, httpx_mock):
    # Only GET /stock may answer a bare list: a look-up read as "[]" would issue again.
    httpx_mock.add_response(json=[])
    with pytest.raises(BadResponse):
        list(ig.find_documents(external_reference="jumpseller:s:1"))
