"""Jumpseller adapter: exact requests, pagination, parsing, defects, pacing and bans."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from igest_sync.errors import (
    AuthError,
    BadResponse,
    Conflict,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
)
from igest_sync.models import Address, CatalogueItem, LocationStock, StoreLocation, Tax
from tests.support.adapter_data import JS_BASE, JS_LOGIN, JS_TOKEN, max_in_any_window

BASIC = "Basic " + base64.b64encode(f"{JS_LOGIN}:{JS_TOKEN}".encode()).decode()


def order_json(order_id: int, **overrides) -> dict:
    """An order as Jumpseller's API sends it (numbers as JSON numbers, wrapped)."""
    order = {
        "id": order_id,
        "created_at": "2026-11-20 14:03:11 UTC",
        "completed_at": "2026-11-20 14:05:00 UTC",
        "currency": "EUR",
        "subtotal": 24.6,
        "tax": 4.6,
        "shipping_tax": 0.0,
        "shipping": 0.0,
        "total": 24.6,
        "discount": 0.0,
        "shipping_discount": 0.0,
        "gift_cards_discount": 0.0,
        "shipping_required": True,
        "shipping_method_name": "CTT",
        "payment_method_name": "MB Way",
        "payment_method_type": "mbway",
        "status": "Paid",
        "status_enum": "paid",
        "customer": {"id": 9, "email": "ana@example.pt", "fullname": "Ana"},
        "billing_address": {
            "name": "Ana",
            "surname": "Silva",
            "taxid": "123456789",
            "address": "Rua A, 1",
            "city": "Lisboa",
            "postal": "1000-100",
            "region": "Lisboa",
            "country": "Portugal",
            "country_code": "PT",
        },
        "products": [
            {
                "id": 11,
                "variant_id": None,
                "sku": "SKU-1",
                "name": "Mug",
                "qty": 2,
                "price": 12.3,
                "discount": 0.0,
                "taxes": [
                    {
                        "id": 1,
                        "name": "IVA",
                        "rate": 23.0,
                        "fixed": False,
                        "tax_on_product_price": True,
                    }
                ],
            }
        ],
        "additional_fields": [{"label": "NIF", "value": "123456789", "id": 1, "area": "billing"}],
        "shipping_taxes": [],
    }
    order.update(overrides)
    return {"order": order}


def page_url(path: str, page: int, **params) -> str:
    query = "&".join([*(f"{k}={v}" for k, v in params.items()), f"limit=100&page={page}"])
    return f"{JS_BASE}{path}?{query}"


# -- auth and headers --------------------------------------------------------------------------


def test_basic_auth_and_no_credentials_in_the_url(js, httpx_mock):
    httpx_mock.add_response(
        method="GET",
        url=f"{JS_BASE}/store/info.json",
        match_headers={"Authorization": BASIC, "User-Agent": "igest-sync/0.1.0"},
        json={"name": "My Store", "code": "mystore", "currency": "EUR", "country": "PT"},
    )
    info = js.store_info()
    assert info == {"name": "My Store", "code": "mystore", "currency": "EUR", "country": "PT"}
    request = httpx_mock.get_request()
    assert JS_TOKEN not in str(request.url) and "login" not in str(request.url)
    assert not request.url.params
    assert js.request_count == 1


def test_auth_error_names_the_config_keys(js, httpx_mock):
    httpx_mock.add_response(status_code=401, json={"message": "Unauthorized"})
    with pytest.raises(AuthError) as caught:
        js.store_info()
    assert str(caught.value) == "Jumpseller GET /store/info.json: Unauthorized (401)"
    assert "jumpseller.login" in caught.value.hint
    assert "jumpseller.auth_token" in caught.value.hint


# -- orders and pagination ---------------------------------------------------------------------


def test_orders_after_pages_until_a_short_page_and_yields_ascending(js, httpx_mock):
    first = list(range(101, 201))
    random.Random(3).shuffle(first)  # the spec promises no order within a page
    httpx_mock.add_response(
        url=page_url("/orders/after/100.json", 1), json=[order_json(i) for i in first]
    )
    httpx_mock.add_response(
        url=page_url("/orders/after/100.json", 2), json=[order_json(i) for i in (202, 201, 200)]
    )  # 200 again
    orders = list(js.orders_after(100))
    assert [o.id for o in orders] == list(range(101, 203))
    assert len(httpx_mock.get_requests()) == 2


def test_orders_after_skips_ids_not_after_the_checkpoint(js, httpx_mock):
    httpx_mock.add_response(
        url=page_url("/orders/after/50.json", 1),
        json=[order_json(50), order_json(49), order_json(51)],
    )
    assert [o.id for o in js.orders_after(50)] == [51]


@pytest.mark.parametrize("body", [[], None])
def test_empty_first_page_is_one_request(js, httpx_mock, body):
    httpx_mock.add_response(url=page_url("/orders/after/7.json", 1), json=body)
    assert list(js.orders_after(7)) == []
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize("end", ["empty", "404"])
def test_a_server_answering_one_object_is_asked_again_after_it(js, httpx_mock, end):
    # The spec's schema for /orders/after/{id} is one Order ("5001, 5002, 5003, etc." in its
    # description): such a server gave one order per run, the rest waiting for later runs.
    httpx_mock.add_response(url=page_url("/orders/after/7.json", 1), json=order_json(8))
    httpx_mock.add_response(url=page_url("/orders/after/8.json", 1), json=order_json(9))
    if end == "empty":
        httpx_mock.add_response(url=page_url("/orders/after/9.json", 1), json=[])
    else:
        httpx_mock.add_response(
            url=page_url("/orders/after/9.json", 1), status_code=404, json={"message": "Not Found"}
        )
    assert [o.id for o in js.orders_after(7)] == [8, 9]
    assert len(httpx_mock.get_requests()) == 3


def test_a_server_that_ignores_limit_is_read_in_pages_of_50_to_the_end(js, httpx_mock):
    # Newest first, 50 a page: the first page of 50 was taken for the last, and the checkpoint
    # moved past the 100 older orders, never to be read again.
    newest_first = list(range(250, 100, -1))
    for page in (1, 2, 3):
        chunk = newest_first[(page - 1) * 50 : page * 50]
        httpx_mock.add_response(
            url=page_url("/orders/after/100.json", page), json=[order_json(i) for i in chunk]
        )
    httpx_mock.add_response(url=page_url("/orders/after/100.json", 4), json=[])
    assert [o.id for o in js.orders_after(100)] == [
        *range(201, 251),
        *range(151, 201),
        *range(101, 151),
    ]
    assert len(httpx_mock.get_requests()) == 4


def test_a_server_that_ignores_page_is_asked_once_more_not_forever(js, httpx_mock):
    everything = [order_json(i) for i in range(101, 221)]  # 120, all on every page
    httpx_mock.add_response(url=page_url("/orders/after/100.json", 1), json=everything)
    httpx_mock.add_response(url=page_url("/orders/after/100.json", 2), json=everything)
    assert [o.id for o in js.orders_after(100)] == list(range(101, 221))
    assert len(httpx_mock.get_requests()) == 2


def test_a_server_that_ignores_page_ends_its_listing_while_new_orders_come_in(js, httpx_mock):
    # Every page is the whole listing as it is when asked, newest first: an order placed while
    # page 1 was read makes page 2 differ from it, and every later page repeats page 2 (asked
    # forever when only page 1 again ended the listing).
    listing = [order_json(i) for i in range(220, 100, -1)]  # 120, all on every page
    asked: list[int] = []

    def answer(request):
        asked.append(int(request.url.params["page"]))
        if len(asked) > 6:
            raise AssertionError(f"asked for pages {asked}")
        if len(asked) == 2:
            listing.insert(0, order_json(221))  # a new order, placed meanwhile
        return httpx.Response(200, json=listing)

    httpx_mock.add_callback(answer, is_reusable=True)
    assert sorted(o.id for o in js.orders_after(100)) == list(range(101, 222))
    assert asked == [1, 2, 3]


def test_a_404_past_the_last_page_ends_the_listing(js, httpx_mock):
    httpx_mock.add_response(
        url=page_url("/orders/after/0.json", 1), json=[order_json(i) for i in range(1, 101)]
    )
    httpx_mock.add_response(
        url=page_url("/orders/after/0.json", 2), status_code=404, json={"message": "Not Found"}
    )
    assert len(list(js.orders_after(0))) == 100
    httpx_mock.add_response(
        url=page_url("/orders/after/5.json", 1), status_code=404, json={"message": "Not Found"}
    )
    with pytest.raises(NotFound):  # on the first page it is the caller's: order 5 may be gone
        list(js.orders_after(5))


@pytest.mark.parametrize(("size", "requests"), [(49, 1), (50, 2), (51, 1), (99, 1)])
def test_a_short_page_is_the_last_unless_it_holds_the_default_50(js, httpx_mock, size, requests):
    httpx_mock.add_response(
        url=page_url("/orders/after/0.json", 1), json=[order_json(i) for i in range(1, size + 1)]
    )
    if requests == 2:
        httpx_mock.add_response(url=page_url("/orders/after/0.json", 2), json=[])
    assert len(list(js.orders_after(0))) == size
    assert len(httpx_mock.get_requests()) == requests


def test_orders_created_between_sends_the_custom_date_filter(js, httpx_mock):
    params = dict(dateFilter="customDate", initialDate="2026-11-01", finalDate="2026-11-30")
    httpx_mock.add_response(
        url=page_url("/orders.json", 1, **params), json=[order_json(i) for i in range(300, 200, -1)]
    )
    httpx_mock.add_response(
        url=page_url("/orders.json", 2, **params), json=[order_json(201), order_json(200)]
    )
    orders = list(js.orders_created_between(date(2026, 11, 1), date(2026, 11, 30)))
    assert sorted(o.id for o in orders) == list(range(200, 301))
    assert len(orders) == 101  # order 201, repeated on page 2 as the list shifted, once only


def test_orders_with_status(js, httpx_mock):
    httpx_mock.add_response(
        url=page_url("/orders/status/pending_payment.json", 1),
        json=[order_json(5, status_enum="pending_payment")],
    )
    [order] = js.orders_with_status("pending_payment")
    assert order.status == "pending_payment"


def test_a_steady_status_listing_reads_each_page_again_after_the_next(js, httpx_mock):
    # 101 waiting orders, newest first; order 300 is paid once page 1 is read, so the listing
    # is one shorter and order 200, first of page 2 before, is now the last of page 1.
    url = "/orders/status/pending_payment.json"
    waiting = [order_json(i, status_enum="pending_payment") for i in range(300, 199, -1)]
    httpx_mock.add_response(url=page_url(url, 1), json=waiting[:100])
    httpx_mock.add_response(url=page_url(url, 2), json=[])
    httpx_mock.add_response(url=page_url(url, 1), json=waiting[1:101])
    ids = [o.id for o in js.orders_with_status("pending_payment", steady=True)]
    assert sorted(ids) == list(range(200, 301))  # once each


def test_a_steady_listing_ended_by_a_404_reads_its_last_page_again(js, httpx_mock):
    # 101 waiting orders on a server that answers 404 past the last page: order 300 is paid
    # once page 1 is read, so the listing is 100 long, page 2 is past it (404), and order
    # 200, first of page 2 before, is now the last of page 1, read already.
    url = "/orders/status/pending_payment.json"
    waiting = [order_json(i, status_enum="pending_payment") for i in range(300, 199, -1)]
    httpx_mock.add_response(url=page_url(url, 1), json=waiting[:100])
    httpx_mock.add_response(url=page_url(url, 2), status_code=404, json={"message": "Not Found"})
    httpx_mock.add_response(url=page_url(url, 1), json=waiting[1:101])
    ids = [o.id for o in js.orders_with_status("pending_payment", steady=True)]
    assert sorted(ids) == list(range(200, 301))  # once each


def test_order_is_parsed_into_the_model(js, httpx_mock):
    httpx_mock.add_response(
        method="GET", url=f"{JS_BASE}/orders/10452.json", json=order_json(10452)
    )
    order = js.order(10452)
    assert order.id == 10452 and order.status == "paid" and order.defects == ()
    assert order.created_at == datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)
    assert order.completed_at == datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    assert order.total == Decimal("24.6") and type(order.total) is Decimal
    assert type(order.subtotal) is Decimal and type(order.tax) is Decimal
    assert order.currency == "EUR" and order.shipping_required is True
    assert order.customer_email == "ana@example.pt"
    assert order.payment_method_type == "mbway" and order.shipping_method_name == "CTT"
    assert order.billing == Address(
        name="Ana",
        surname="Silva",
        company=None,
        taxid="123456789",
        address="Rua A, 1",
        city="Lisboa",
        postal="1000-100",
        region="Lisboa",
        country_code="PT",
    )
    assert order.additional_fields == (("NIF", "123456789"),)
    [line] = order.lines
    assert (line.product_id, line.variant_id, line.sku, line.name) == (11, None, "SKU-1", "Mug")
    assert line.qty == 2 and type(line.qty) is Decimal
    assert line.price == Decimal("12.3") and type(line.price) is Decimal
    assert line.taxes == (Tax(name="IVA", rate=Decimal("23.0"), fixed=False, included=True),)
    assert type(line.taxes[0].rate) is Decimal
    assert order.shipping_taxes == ()


def test_order_fallbacks_and_null_lists(js, httpx_mock):
    httpx_mock.add_response(
        json=order_json(
            1,
            status_enum=None,
            status="Pending Payment",
            products=None,
            additional_fields=None,
            shipping_taxes=[{"name": "IVA", "rate": "23", "tax_on_shipping_price": True}],
            created_at="2026-11-20T15:03:11+01:00",
            shipping_required=False,
            customer=None,
            billing_address={
                "name": "Loja Lda",
                "company": "Loja Lda",
                "country": "es",
                "country_code": None,
                "postal": 28001,
            },
            discount=None,
            total="12.30",
        )
    )
    order = js.order(1)
    assert order.status == "pending_payment"
    assert order.lines == () and order.additional_fields == ()
    assert order.shipping_taxes == (
        Tax(name="IVA", rate=Decimal("23"), fixed=False, included=True),
    )
    assert order.created_at == datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)
    assert order.shipping_required is False and order.customer_email is None
    assert order.billing.company == "Loja Lda" and order.billing.country_code == "ES"
    assert order.billing.postal == "28001"
    assert order.discount == 0 and order.total == Decimal("12.30")
    assert order.defects == ()


def test_the_company_is_read_where_the_spec_keeps_it(js, httpx_mock):
    # OrderFields.billing_information.company_name (the spec has no company in the address):
    # a business's invoice went to the person who typed the order, not to the company.
    httpx_mock.add_response(
        json=order_json(1, billing_information={"company_name": "Cerámicas del Levante, S.L."})
    )
    assert js.order(1).billing.company == "Cerámicas del Levante, S.L."


def test_bad_order_fields_become_defects_not_exceptions(js, httpx_mock):
    products = [
        {"id": 1, "sku": "A", "name": "A", "qty": 1, "price": "5.00", "discount": 0, "taxes": []},
        {
            "id": 2,
            "sku": "B",
            "name": "B",
            "qty": "abc",
            "price": None,
            "discount": "x",
            "taxes": [{"name": "IVA", "rate": "n/a", "tax_on_product_price": True}],
        },
    ]
    httpx_mock.add_response(
        json=order_json(77, products=products, total=None, created_at="yesterday", shipping=True)
    )
    order = js.order(77)
    assert order.defects == (
        "products[1].qty is 'abc', not a number",
        "products[1].price is missing",
        "products[1].discount is 'x', not a number",
        "products[1].taxes[0].rate is 'n/a', not a number",
        "created_at is 'yesterday', not a date",
        "shipping is True, not a number",
        "total is missing",
    )
    assert order.lines[0].price == Decimal("5.00")  # numeric strings are numbers
    assert order.lines[1].qty == 0 and order.lines[1].price == 0
    assert order.lines[1].taxes[0].rate is None
    assert order.total == 0 and order.created_at is None


@pytest.mark.parametrize("bad_id", [None, "abc", True, 1.5])
def test_order_without_a_valid_id_is_bad_response(js, httpx_mock, bad_id):
    body = order_json(1)
    body["order"]["id"] = bad_id
    httpx_mock.add_response(text=json.dumps(body))
    with pytest.raises(BadResponse):
        js.order(1)


def test_order_not_found(js, httpx_mock):
    httpx_mock.add_response(status_code=404, json={"message": "Order Not Found."})
    with pytest.raises(NotFound) as caught:
        js.order(9)
    assert str(caught.value) == "Jumpseller GET /orders/9.json: Order Not Found. (404)"


# -- documents ---------------------------------------------------------------------------------


@pytest.mark.parametrize("credit_note, document_type", [(False, 1), (True, 0)])
def test_add_order_document_posts_the_document(js, httpx_mock, credit_note, document_type):
    expected = {
        "document": {
            "document_type": document_type,
            "external_id": "doc-1",
            "public_id": "FR A/123",
            "url": "https://igest.test/d/1.pdf",
            "app_code": "igest-sync",
        }
    }
    httpx_mock.add_response(
        method="POST",
        url=f"{JS_BASE}/orders/10452/documents.json",
        match_json=expected,
        match_headers={"Authorization": BASIC},
        json=expected,
    )
    assert (
        js.add_order_document(
            10452,
            credit_note=credit_note,
            external_id="doc-1",
            public_id="FR A/123",
            url="https://igest.test/d/1.pdf",
        )
        is None
    )


def test_add_order_document_without_url(js, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=f"{JS_BASE}/orders/5/documents.json",
        match_json={
            "document": {
                "document_type": 1,
                "external_id": "d",
                "public_id": "FR A/1",
                "app_code": "igest-sync",
            }
        },
        json={
            "document": {
                "document_type": 1,
                "external_id": "d",
                "public_id": "FR A/1",
                "url": None,
                "order_id": 5,
                "app_code": "igest-sync",
            }
        },
    )
    js.add_order_document(5, credit_note=False, external_id="d", public_id="FR A/1", url=None)


def test_add_order_document_answered_with_something_else_is_a_bad_response(js, httpx_mock):
    # A 200 that is not the document is no proof of the link: the run must check and retry.
    httpx_mock.add_response(method="POST", json={"unexpected": ["shape"]})
    with pytest.raises(BadResponse):
        js.add_order_document(5, credit_note=False, external_id="d", public_id="FR A/1", url=None)


def test_add_order_document_is_not_retried_on_502(js, httpx_mock):
    httpx_mock.add_response(method="POST", status_code=502)
    with pytest.raises(ServerError):
        js.add_order_document(5, credit_note=False, external_id="d", public_id="p", url=None)
    assert len(httpx_mock.get_requests()) == 1


def test_order_documents_are_unwrapped(js, httpx_mock):
    httpx_mock.add_response(
        method="GET",
        url=f"{JS_BASE}/orders/5/documents.json",
        json=[{"document": {"document_type": 1, "public_id": "FR A/1"}}],
    )
    assert js.order_documents(5) == [{"document_type": 1, "public_id": "FR A/1"}]


# -- catalogue and stock -----------------------------------------------------------------------


def product_json(pid: int, **overrides) -> dict:
    product = {
        "id": pid,
        "name": f"Product {pid}",
        "type": "physical",
        "price": 10.0,
        "sku": f"P{pid}",
        "barcode": None,
        "stock": 5,
        "stock_unlimited": False,
        "variants": [],
    }
    product.update(overrides)
    return {"product": product}


def test_catalogue_yields_products_and_variants(js, httpx_mock):
    variants = [
        {
            "id": 71,
            "sku": "TS-RED-M",
            "price": 15.5,
            "stock": 3,
            "stock_unlimited": False,
            "barcode": "560000000001",
            "options": [{"name": "Color", "value": "Red"}, {"name": "Size", "value": "M"}],
        },
        {
            "id": 72,
            "sku": None,
            "price": None,
            "stock": None,
            "stock_unlimited": True,
            "options": [],
        },
    ]
    httpx_mock.add_response(
        url=page_url("/products.json", 1),
        json=[
            product_json(1, price="9.99", barcode="123"),
            product_json(2, name="T-shirt", price=14.0, variants=variants),
            product_json(3, type="digital", sku="", stock_unlimited=True, stock=None),
        ],
    )
    items = list(js.catalogue())
    assert items == [
        CatalogueItem(1, None, "P1", "Product 1", Decimal("9.99"), "123", False, 5, False),
        CatalogueItem(
            2, 71, "TS-RED-M", "T-shirt - Red / M", Decimal("15.5"), "560000000001", False, 3, False
        ),
        CatalogueItem(2, 72, None, "T-shirt", Decimal("14.0"), None, False, 0, True),
        CatalogueItem(3, None, None, "Product 3", Decimal("10.0"), None, True, 0, True),
    ]
    assert all(type(i.price) is Decimal for i in items)


def test_catalogue_streams_page_by_page(js, httpx_mock):
    httpx_mock.add_response(
        url=page_url("/products.json", 1), json=[product_json(i) for i in range(1, 101)]
    )
    httpx_mock.add_response(url=page_url("/products.json", 2), json=[product_json(101)])
    items = js.catalogue()
    assert next(items).product_id == 1
    assert len(httpx_mock.get_requests()) == 1  # page 2 not fetched before it is needed
    assert [i.product_id for i in items][-1] == 101
    assert len(httpx_mock.get_requests()) == 2


def test_a_price_or_stock_that_cannot_be_read_marks_that_item_not_the_whole_catalogue(
    js, httpx_mock
):
    # It stopped both sync-products and sync-stock (exit 5, "service unreachable") for one
    # product; the item now says what it holds, and the plans skip it, named.
    httpx_mock.add_response(
        json=[
            product_json(1, price="free"),
            product_json(2, price=None, stock=None),
            product_json(3, stock="2.5"),
            product_json(4),
            product_json(5, price=-1.0),
        ]
    )
    one, two, three, four, five = js.catalogue()
    assert one.price_unread == "its price in Jumpseller is 'free', not a price"
    # As Jumpseller shows it, not as Python writes a Decimal ("Decimal('-1.0')").
    assert five.price_unread == "its price in Jumpseller is negative (-1.0); give it a price"
    assert two.price_unread and two.stock_unread == "Jumpseller gives no stock for it"
    assert three.price_unread is None and "'2.5', not a whole number" in three.stock_unread
    assert (four.price_unread, four.stock_unread) == (None, None)


def item(pid: int, vid: int | None = None, **kw) -> CatalogueItem:
    values = dict(
        sku=f"S{pid}",
        name="x",
        price=Decimal("1"),
        barcode=None,
        digital=False,
        stock=0,
        stock_unlimited=False,
    )
    values.update(kw)
    return CatalogueItem(product_id=pid, variant_id=vid, **values)


def test_set_stock_for_a_product_and_a_variant(js, httpx_mock):
    # ProductEditFields requires name and price (the spec): sent beside the stock as the
    # product holds them just before the write, not as the catalogue read them earlier.
    httpx_mock.add_response(
        method="GET", url=f"{JS_BASE}/products/1.json", json=product_json(1, name="Caneca")
    )
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/products/1.json",
        match_json={"product": {"stock": 7, "name": "Caneca", "price": 10.0}},
        json=product_json(1),
    )
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/products/2/variants/9.json",
        match_json={"variant": {"stock": 0}},
        json={"variant": {"id": 9}},
    )
    js.set_stock(item(1, name="Caneca", price=Decimal("10")), 7)
    js.set_stock(item(2, 9), 0)  # VariantEditFields requires nothing: the stock alone
    assert [(r.method, r.url.path) for r in httpx_mock.get_requests()] == [
        ("GET", "/v1/products/1.json"),
        ("PUT", "/v1/products/1.json"),
        ("PUT", "/v1/products/2/variants/9.json"),
    ]


def test_set_stock_never_puts_back_a_name_or_price_changed_since_the_catalogue_was_read(
    js, httpx_mock
):
    # Read as "Azeite" at 8.75 when the run started; the merchant renamed it and changed its
    # price in the admin since. The write carries what the product holds now.
    httpx_mock.add_response(
        method="GET",
        url=f"{JS_BASE}/products/1005.json",
        json=product_json(1005, name="Azeite novo", price=9.5),
    )
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/products/1005.json",
        match_json={"product": {"stock": 72, "name": "Azeite novo", "price": 9.5}},
        json=product_json(1005, name="Azeite novo", price=9.5, stock=72),
    )
    js.set_stock(item(1005, name="Azeite", price=Decimal("8.75")), 72)


def test_set_stock_of_a_product_whose_price_cannot_be_read_now_sends_the_stock_alone(
    js, httpx_mock
):
    # Never a price made up (0) for it: the stock alone, as for one read so at the start.
    httpx_mock.add_response(
        method="GET", url=f"{JS_BASE}/products/1.json", json=product_json(1, price="free")
    )
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/products/1.json",
        match_json={"product": {"stock": 3}},
        json=product_json(1),
    )
    js.set_stock(item(1, name="Caneca", price=Decimal("10")), 3)


def test_set_stock_of_a_product_given_variants_since_the_read_writes_nothing(js, httpx_mock):
    variants = [{"id": 71, "sku": "P1-M", "price": 10.0, "stock": 3, "options": []}]
    httpx_mock.add_response(
        method="GET", url=f"{JS_BASE}/products/1.json", json=product_json(1, variants=variants)
    )
    with pytest.raises(Conflict) as caught:
        js.set_stock(item(1), 3)
    assert "product 1 has variants now" in str(caught.value)
    assert "next sync-stock" in (caught.value.hint or "")
    assert [r.method for r in httpx_mock.get_requests()] == ["GET"]


def test_set_stock_is_retried_on_502_because_put_is_idempotent(js, httpx_mock):
    httpx_mock.add_response(method="GET", json=product_json(1))
    httpx_mock.add_response(method="PUT", status_code=502)
    httpx_mock.add_response(method="PUT", json={})
    js.set_stock(item(1), 3)
    assert [r.method for r in httpx_mock.get_requests()] == ["GET", "PUT", "PUT"]


def test_location_stock_batches_of_50(js, httpx_mock):
    simple = [item(p) for p in range(1, 61)]  # 60 products without variants
    varied = [item(1000, v) for v in range(1, 4)]
    first = ",".join(str(p) for p in range(1, 51))
    second = ",".join(str(p) for p in range(51, 61))
    httpx_mock.add_response(
        url=f"{JS_BASE}/products_locations?location_ids=4&product_ids={first}",
        json=[
            {"location_id": 4, "product_id": 1, "variant_id": None, "stock": 2},
            {"location_id": 4, "product_id": 999, "stock": 1},
        ],
    )
    httpx_mock.add_response(
        url=f"{JS_BASE}/products_locations?location_ids=4&product_ids={second}", json=[]
    )
    httpx_mock.add_response(
        url=f"{JS_BASE}/products_locations?location_ids=4&product_ids=1000&variant_ids=1,2,3",
        json=[{"location_id": 4, "product_id": 1000, "variant_id": 2, "stock": 8}],
    )
    rows = list(js.location_stock([*simple[:30], *varied, *simple[30:]], 4))
    assert rows == [LocationStock(4, 1, None, 2), LocationStock(4, 1000, 2, 8)]
    assert len(httpx_mock.get_requests()) == 3


def test_a_location_row_whose_stock_cannot_be_read_says_so(js, httpx_mock):
    # Never dropped as if it were not there (the run then took the item for 0 at the location).
    httpx_mock.add_response(
        json=[
            {"location_id": 4, "product_id": 1, "variant_id": None, "stock": "many"},
            {"location_id": 4, "product_id": 2, "variant_id": None, "stock": 3},
        ]
    )
    rows = list(js.location_stock([item(1), item(2), item(3)], 4))
    assert rows == [
        LocationStock(
            4, 1, None, 0, "its stock in Jumpseller is 'many', not a whole number (at location 4)"
        ),
        LocationStock(4, 2, None, 3),
    ]  # product 3: no row, nothing said; the run leaves it alone


@pytest.mark.parametrize(
    "answer", [{"unexpected": ["shape"]}, ["unexpected", {"shape": True}], None]
)
def test_a_location_answer_that_is_not_a_list_of_rows_is_a_bad_response(js, httpx_mock, answer):
    # The spec's answer is an array of row objects; anything else (a proxy's JSON, an error
    # body sent with 200) gives no stock at all, which must not read as "none at the location".
    httpx_mock.add_response(json=answer)
    with pytest.raises(BadResponse) as err:
        list(js.location_stock([item(1), item(2)], 4))
    assert "products_locations" in str(err.value) and err.value.transient


def test_set_location_stock(js, httpx_mock):
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/products_locations",
        match_json={
            "location_id": 4,
            "product_id": 2,
            "variant_id": 9,
            "stock_unlimited": False,
            "stock": 12,
        },
        text="",
    )
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/products_locations",
        match_json={"location_id": 4, "product_id": 3, "stock_unlimited": False, "stock": 0},
        json={},
    )
    js.set_location_stock(4, item(2, 9), 12)
    js.set_location_stock(4, item(3), 0)


def test_rejected_update_carries_the_message(js, httpx_mock):
    httpx_mock.add_response(method="GET", json=product_json(1))
    httpx_mock.add_response(
        method="PUT", status_code=422, json={"message": "Stock must be positive"}
    )
    with pytest.raises(Rejected) as caught:
        js.set_stock(item(1), -1)
    assert str(caught.value) == "Jumpseller PUT /products/1.json: Stock must be positive (422)"


# -- pacing and bans ---------------------------------------------------------------------------


def test_25_quick_calls_never_exceed_20_in_a_second(js, httpx_mock, clock):
    sent: list[float] = []

    def respond(request):
        import httpx

        sent.append(clock.now)
        return httpx.Response(200, json={"name": "s"})

    httpx_mock.add_callback(respond, is_reusable=True)
    for _ in range(25):
        js.store_info()
    assert len(sent) == 25
    assert max_in_any_window(sent, 1.0) <= 20
    assert clock.sleeps and sent[-1] - sent[0] >= 1.0


def test_remaining_zero_header_makes_the_next_call_wait(js, httpx_mock, clock):
    httpx_mock.add_response(
        headers={
            "Jumpseller-PerSecondRateLimit-Remaining": "0",
            "Jumpseller-PerMinuteRateLimit-Remaining": "700",
        },
        json={},
    )
    httpx_mock.add_response(json={})
    start = clock.now
    js.store_info()
    js.store_info()
    assert clock.now - start >= 1.0


def test_a_ban_stops_at_once_blocks_later_calls_and_ends_at_its_reset(httpx_mock, clock):
    """The ban is temporary (info.description: "a temporary ban ... when will your ban be
    reseted"): a client kept for days (serve's) refused every call for good after one."""
    from datetime import timedelta

    from igest_sync.adapters.jumpseller.client import JumpsellerClient

    reset = (clock.wall() + timedelta(minutes=10)).isoformat()
    httpx_mock.add_response(
        status_code=429, headers={"Jumpseller-BannedByRateLimit-Reset": reset, "Retry-After": "1"}
    )
    httpx_mock.add_response(json={"name": "s"})
    with JumpsellerClient(
        JS_BASE,
        JS_LOGIN,
        JS_TOKEN,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: clock.wall().timestamp(),
    ) as js:
        with pytest.raises(RateLimited) as caught:
            js.order(1)
        assert reset in str(caught.value) and reset in caught.value.hint
        # invoice.concurrency does not govern it (every run is paced to the limits): the hint
        # names what does, the same API token spent elsewhere.
        assert "concurrency" not in caught.value.hint and "same API token" in caught.value.hint
        assert clock.sleeps == []
        clock.advance(minutes=9)
        with pytest.raises(RateLimited):
            js.store_info()  # refused locally: no request
        assert len(httpx_mock.get_requests()) == 1
        clock.advance(minutes=1)  # the reset time: asked again
        assert js.store_info() == {"name": "s"}
    assert len(httpx_mock.get_requests()) == 2


def test_locations_are_read_unwrapped_and_a_doubtful_one_counts_as_holding_stock(js, httpx_mock):
    httpx_mock.add_response(
        method="GET",
        url=f"{JS_BASE}/locations.json",
        json=[
            {"location": {"id": 1, "name": "Armazém", "main": True, "is_stock_origin": True}},
            {"location": {"id": 2, "name": "Recolha", "active": True, "is_stock_origin": False}},
            {"location": {"id": 3, "name": "Fechada", "active": False, "is_stock_origin": True}},
            {"id": "4", "name": "Loja"},  # bare and silent on both flags
            {"location": {"name": "no id"}},
        ],
    )
    assert js.locations() == [
        StoreLocation(1, "Armazém", main=True, holds_stock=True),
        StoreLocation(2, "Recolha", main=False, holds_stock=False),
        StoreLocation(3, "Fechada", main=False, holds_stock=False),
        StoreLocation(4, "Loja", main=False, holds_stock=True),
    ]
    assert httpx_mock.get_request().headers["Authorization"] == BASIC


def test_the_advertised_limits_are_followed(js, httpx_mock, clock):
    import httpx

    # Real Jumpseller advertises 20/s and 800/min, what we assume anyway; a server that
    # advertises more (the fast tests' sandbox) is not paced at 20/s.
    sent = []

    def respond(request):
        sent.append(clock.now)
        return httpx.Response(
            200,
            headers={
                "Jumpseller-PerSecondRateLimit-Limit": "200",
                "Jumpseller-PerMinuteRateLimit-Limit": "5000",
            },
            json={"name": "s"},
        )

    httpx_mock.add_callback(respond, is_reusable=True)
    for _ in range(60):
        js.store_info()
    assert clock.sleeps == [] and len(sent) == 60


def test_shipping_address_source_and_checkout_note_are_parsed(js, httpx_mock):
    httpx_mock.add_response(
        json=order_json(
            7,
            shipping_address={
                "name": "Ana",
                "address": "Calle Mayor 1",
                "city": "Madrid",
                "postal": "28001",
                "country": "Spain",
                "country_code": "es",
            },
            shipping_option="delivery",
            source={"created_from": "POS", "source_name": "store"},
            additional_information="Deixar na porta",
        )
    )
    order = js.order(7)
    assert order.shipping_address is not None
    assert (order.shipping_address.country_code, order.shipping_address.postal) == ("ES", "28001")
    assert (order.shipping_option, order.source, order.customer_note) == (
        "delivery",
        "pos",
        "Deixar na porta",
    )


def test_an_order_without_them_has_none(js, httpx_mock):
    httpx_mock.add_response(json=order_json(8, source=None, shipping_address=None))
    order = js.order(8)
    assert (order.shipping_address, order.source, order.customer_note) == (None, None, None)


def test_a_variant_without_its_own_flag_has_its_products_unlimited_stock(js, httpx_mock):
    variants = [
        {"id": 81, "sku": "UV-1", "price": None, "stock": None, "options": []},
        {"id": 82, "sku": "UV-2", "stock": 3, "stock_unlimited": False, "options": []},
    ]
    httpx_mock.add_response(json=[product_json(8, stock_unlimited=True, variants=variants)])
    first, second = js.catalogue()
    assert (first.stock_unlimited, first.stock_unread) == (True, None)
    assert (second.stock_unlimited, second.stock) == (False, 3)


@pytest.mark.parametrize("answer", [{"json": "Hook deleted"}, {"text": "Hook deleted"}, {}])
def test_deleting_a_hook_is_done_whatever_its_answer_says(js, httpx_mock, answer):
    # The spec answers a bare string; a plain-text one failed `hooks remove` with "not valid
    # JSON" though the hook was gone.
    httpx_mock.add_response(method="DELETE", url=f"{JS_BASE}/hooks/7.json", **answer)
    assert js.delete_hook(7) is None
