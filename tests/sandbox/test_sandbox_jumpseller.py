"""The Jumpseller emulator: auth, pagination, filters, spec shapes, writes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from igest_sandbox import Sandbox
from tests.support.openapi_subset import resolve, response_schema, spec, validate
from tests.support.sandbox_clients import body, jumpseller_client

SEED_IDS = list(range(10001, 10017))


def test_wrong_or_missing_credentials_are_401(sb: Sandbox) -> None:
    with jumpseller_client(sb, auth=("nobody", "x" * 32)) as client:
        response = client.get("/orders.json")
    assert response.status_code == 401
    assert body(response) == {"message": "Unauthorized"}
    with jumpseller_client(sb, auth=None) as client:
        assert client.get("/store/info.json").status_code == 401


def test_deprecated_query_parameters_authenticate(sb: Sandbox) -> None:
    creds = sb.credentials["jumpseller"]
    with jumpseller_client(sb, auth=None) as client:
        ok = client.get(
            "/store/info.json", params={"login": creds["login"], "authtoken": creds["auth_token"]}
        )
        bad = client.get("/store/info.json", params={"login": creds["login"], "authtoken": "no"})
    assert ok.status_code == 200 and body(ok)["currency"] == "EUR"
    assert bad.status_code == 401


def test_credentials_are_random_per_sandbox() -> None:
    first, second = Sandbox(seed=False).credentials, Sandbox(seed=False).credentials
    assert len(first["jumpseller"]["auth_token"]) == 32
    assert first["jumpseller"]["auth_token"] != second["jumpseller"]["auth_token"]
    assert first["igest"]["security_code"] != second["igest"]["security_code"]


@pytest.mark.parametrize("newest_first", [True, False])
def test_orders_are_paged_newest_first_with_default_50_and_max_100(
    sb: Sandbox, js: httpx.Client, newest_first: bool
) -> None:
    # Jumpseller lists newest first; the other order is there so clients are tried with both.
    sb.store.newest_first = newest_first
    sb.load_generated({"orders": 130, "seed": 3})
    total = len(sb.store.orders)
    default = body(js.get("/orders.json"))
    assert len(default) == 50
    seen = []
    page = 1
    while True:
        chunk = body(js.get("/orders.json", params={"limit": 1000, "page": page}))
        assert len(chunk) <= 100
        if not chunk:
            break
        seen += [o["order"]["id"] for o in chunk]
        page += 1
    assert seen == sorted(seen, reverse=newest_first)
    assert len(seen) == total == body(js.get("/orders/count.json"))["count"]


def test_orders_after_returns_later_orders_ascending_in_pages(js: httpx.Client) -> None:
    first = body(js.get("/orders/after/10010.json", params={"limit": 3}))
    second = body(js.get("/orders/after/10010.json", params={"limit": 3, "page": 2}))
    ids = [o["order"]["id"] for o in first + second]
    assert ids == [10011, 10012, 10013, 10014, 10015, 10016]
    assert body(js.get("/orders/after/10016.json")) == []


def test_status_filters_and_status_route(js: httpx.Client) -> None:
    pending = body(js.get("/orders.json", params={"status_filters[]": "pending_payment"}))
    assert [o["order"]["id"] for o in pending] == [10016, 10015]
    both = body(
        js.get(
            "/orders.json",
            params=[("status_filters[]", "canceled"), ("status_filters[]", "abandoned")],
        )
    )
    assert {o["order"]["status_enum"] for o in both} == {"canceled", "abandoned"}
    paid = body(js.get("/orders/status/paid.json", params={"limit": 100}))
    assert all(o["order"]["status"] == "Paid" for o in paid) and len(paid) == 11
    invalid = js.get("/orders/status/shipped.json")
    assert invalid.status_code == 404 and "message" in body(invalid)


def test_custom_date_filter_uses_lisbon_dates_inclusive(js: httpx.Client) -> None:
    found = body(
        js.get(
            "/orders.json",
            params={
                "dateFilter": "customDate",
                "initialDate": "2026-11-18",
                "finalDate": "2026-11-19",
            },
        )
    )
    assert [o["order"]["id"] for o in found] == [10016, 10015, 10014]
    bad = js.get("/orders.json", params={"dateFilter": "customDate", "initialDate": "18/11"})
    assert bad.status_code == 400


def test_404_bodies_follow_the_spec(js: httpx.Client) -> None:
    for path in (
        "/orders/999.json",
        "/products/999.json",
        "/products/1001/variants/1.json",
        "/nothing-here.json",
    ):
        response = js.get(path)
        assert response.status_code == 404
        assert validate(body(response), resolve({"$ref": "#/components/schemas/NotFound"})) == []


@pytest.mark.parametrize(
    "path,spec_path",
    [
        ("/store/info.json", "/store/info.json"),
        ("/orders.json?limit=100", "/orders.json"),
        ("/orders/status/pending_payment.json", "/orders/status/{status}.json"),
        ("/orders/10003.json", "/orders/{id}.json"),
        ("/orders/count.json", "/orders/count.json"),
        ("/products.json?limit=100", "/products.json"),
        ("/products/1003.json", "/products/{id}.json"),
        ("/products/1003/variants.json", "/products/{id}/variants.json"),
        ("/products/1003/variants/5008.json", "/products/{id}/variants/{variant_id}.json"),
        ("/locations.json", "/locations.json"),
        ("/products_locations?location_ids=1,2&product_ids=1001,1004", "/products_locations"),
    ],
)
def test_responses_validate_against_the_spec(js: httpx.Client, path: str, spec_path: str) -> None:
    response = js.get(path)
    assert response.status_code == 200
    assert validate(body(response), response_schema(spec_path)) == []


def test_orders_after_items_validate_as_orders(js: httpx.Client) -> None:
    orders = body(js.get("/orders/after/10000.json", params={"limit": 100}))
    assert len(orders) == 16
    schema = {"type": "array", "items": response_schema("/orders/after/{id}.json")}
    assert validate(orders, schema) == []


def test_validator_catches_a_missing_field_and_a_wrong_type(js: httpx.Client) -> None:
    order = body(js.get("/orders/10001.json"))
    del order["order"]["shipping_taxes"]
    order["order"]["total"] = "36.78"
    problems = validate(order, response_schema("/orders/{id}.json"))
    assert any("shipping_taxes: missing" in p for p in problems)
    assert any("total: str is not number" in p for p in problems)


def test_update_order_status_and_documents(sb: Sandbox, js: httpx.Client) -> None:
    updated = js.put("/orders/10015.json", json={"order": {"status": "Paid"}})
    assert body(updated)["order"]["status_enum"] == "paid"
    assert body(updated)["order"]["completed_at"] == "2026-11-27 12:00:00 UTC"
    created = js.post(
        "/orders/10001/documents.json",
        json={
            "document": {
                "document_type": 1,
                "external_id": "17",
                "public_id": "FR A/1",
                "url": "http://igest.sandbox/v1/documents/17/pdf",
            }
        },
    )
    assert created.status_code == 200
    listed = body(js.get("/orders/10001/documents.json"))
    assert listed == [
        {
            "document": {
                "document_type": 1,
                "external_id": "17",
                "public_id": "FR A/1",
                "url": "http://igest.sandbox/v1/documents/17/pdf",
                "order_id": 10001,
                "app_code": None,
            }
        }
    ]
    assert validate(listed, response_schema("/orders/{id}/documents.json")) == []
    bad = js.post("/orders/10001/documents.json", json={"document": {"document_type": 7}})
    assert bad.status_code == 400


def test_store_helpers_pay_and_cancel(sb: Sandbox) -> None:
    at = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    sb.store.pay_order(10016, at=at)
    assert sb.store.order(10016)["completed_at"] == "2026-11-21 09:30:00 UTC"
    sb.store.cancel_order(10016)
    order = sb.store.order(10016)
    assert order["status_enum"] == "canceled" and order["completed_at"] == "2026-11-21 09:30:00 UTC"
    with pytest.raises(ValueError):
        sb.store.pay_order(10001)
    new_id = sb.store.add_order(
        lines=[{"name": "Caneca", "price": "9.99", "qty": 2}], status="pending_payment"
    )
    assert new_id == 10017 and sb.store.order(new_id)["total"] == Decimal("19.98")
    paid_now = sb.store.order(sb.store.add_order(lines=[{"name": "Mel", "price": "6.40"}]))
    assert paid_now["created_at"] == paid_now["completed_at"] == "2026-11-27 12:00:00 UTC"


def test_product_and_variant_updates(sb: Sandbox, js: httpx.Client) -> None:
    put = js.put("/products/1003/variants/5008.json", json={"variant": {"stock": 3, "price": 18.5}})
    assert body(put)["variant"]["stock"] == 3
    product = body(js.get("/products/1003.json"))["product"]
    assert [v["stock"] for v in product["variants"]] == [12, 3, 18, 5]
    assert product["stock"] == 38
    js.put("/products/1004.json", json={"product": {"stock": 7, "sku": "AVL-002"}})
    assert body(js.get("/products/1004.json"))["product"]["sku"] == "AVL-002"
    assert sb.store.product(1004).stock == 7
    created = body(
        js.post(
            "/products.json",
            json={"product": {"name": "Novo", "price": 5, "sku": "NOV-1", "stock": 4}},
        )
    )
    assert created["product"]["sku"] == "NOV-1"
    assert body(js.get("/products/count.json"))["count"] == 13
    assert js.post("/products.json", json={"product": {"name": "Sem preço"}}).status_code == 400


def test_stock_by_location_sums_to_the_item_stock(sb: Sandbox, js: httpx.Client) -> None:
    rows = body(
        js.get("/products_locations", params={"location_ids": "1,2", "product_ids": "1002"})
    )
    by_key = {(r["location_id"], r["variant_id"]): r["stock"] for r in rows}
    assert by_key[(1, 5004)] + by_key[(2, 5004)] == 60 and by_key[(2, 5004)] == 6
    put = js.put(
        "/products_locations",
        json={
            "location_id": 2,
            "product_id": 1002,
            "variant_id": 5004,
            "stock_unlimited": False,
            "stock": 10,
        },
    )
    assert put.status_code == 200
    assert sb.store.variant(1002, 5004).stock == 64
    assert js.get("/products_locations", params={"location_ids": "1"}).status_code == 400
    assert (
        js.get(
            "/products_locations", params={"location_ids": "9", "product_ids": "1002"}
        ).status_code
        == 404
    )


def test_spec_is_the_reference_file() -> None:
    assert spec()["servers"][0]["url"].endswith("/v1")


def test_basic_auth_header_with_garbage_is_401(sb: Sandbox) -> None:
    with jumpseller_client(
        sb, auth=None, headers={"Authorization": "Basic " + base64.b64encode(b"x").decode()}
    ) as client:
        assert client.get("/orders.json").status_code == 401
