"""The iGEST emulator: auth, reference data, totals, numbering, validation, stock."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from igest_sandbox import Sandbox
from tests.support.sandbox_clients import body, draft, igest_client, line


def test_wrong_or_missing_credentials_are_401(sb: Sandbox) -> None:
    with igest_client(sb, headers={"X-Integration-Key": "nope", "X-Security-Code": "0"}) as c:
        response = c.get("/entity")
    assert response.status_code == 401
    assert body(response)["error"]["code"] == "unauthorized"
    with igest_client(sb, headers={}) as client:
        assert client.post("/documents", json=draft()).status_code == 401


def test_reference_data(ig: httpx.Client) -> None:
    entity = body(ig.get("/entity"))
    assert entity["currency"] == "EUR" and len(entity["nif"]) == 9
    series = body(ig.get("/series", params={"document_type": "FR"}))
    assert {s["document_type"] for s in series} == {"FR"}
    assert any(s["code"] == "A" and s["active"] and s["atcud_code"] for s in series)
    assert [w["code"] for w in body(ig.get("/warehouses"))] == ["ARM1", "ARM2"]
    taxes = {(t["region"], t["kind"]): t["rate"] for t in body(ig.get("/taxes"))}
    assert taxes[("PT", "NOR")] == "23.00" and taxes[("PT-MA", "RED")] == "4.00"
    assert taxes[("PT-AC", "NOR")] == "16.00"
    codes = {r["code"] for r in body(ig.get("/exemption-reasons"))}
    assert {"M07", "M10", "M16"} <= codes and "M08" not in codes


def test_inclusive_totals_match_the_worked_example(ig: httpx.Client) -> None:
    doc = body(ig.post("/documents", json=draft()))
    assert (doc["net_total"], doc["vat_total"], doc["gross_total"]) == ("24.37", "5.60", "29.97")
    assert doc["vat_breakdown"] == [{"rate": "23.00", "base": "24.37", "vat": "5.60"}]
    assert doc["status"] == "draft" and doc["number"] is None and doc["atcud"] is None


def test_exclusive_totals_round_vat_once_per_rate(ig: httpx.Client) -> None:
    # Nets 0.03 + 0.03 at 23 %: per line VAT would be 0.01 + 0.01; per rate it is
    # round2(0.06 x 0.23) = 0.01. Plus 2 x 4.175 at 6 % with a 10 % discount:
    # round2(2 x 4.175 x 0.9) = 7.52, VAT round2(7.52 x 0.06) = 0.45.
    doc = body(
        ig.post(
            "/documents",
            json=draft(
                prices_include_vat=False,
                lines=[
                    line("A", "1", "0.03", "23.00"),
                    line("B", "1", "0.03", "23.00"),
                    line("C", "2", "4.175", "6.00", discount="10"),
                ],
            ),
        )
    )
    assert doc["vat_breakdown"] == [
        {"rate": "23.00", "base": "0.06", "vat": "0.01"},
        {"rate": "6.00", "base": "7.52", "vat": "0.45"},
    ]
    assert (doc["net_total"], doc["vat_total"], doc["gross_total"]) == ("7.58", "0.46", "8.04")


def test_inclusive_mode_with_discount_and_several_rates(ig: httpx.Client) -> None:
    # 2 x 12.90 at 23 % less 10 %: 23.22 gross, VAT round2(23.22 x 23/123) = 4.34.
    # 1 x 8.75 at 6 %: VAT round2(8.75 x 6/106) = 0.50. Exempt book 18.00 at 0 %.
    doc = body(
        ig.post(
            "/documents",
            json=draft(
                lines=[
                    line("AZL-LIS", "2", "12.90", "23.00", discount="10"),
                    line(),
                    line("LIV-AZP", "1", "18.00", "0.00", exemption_code="M07"),
                ]
            ),
        )
    )
    assert doc["vat_breakdown"] == [
        {"rate": "23.00", "base": "18.88", "vat": "4.34"},
        {"rate": "6.00", "base": "8.25", "vat": "0.50"},
        {"rate": "0.00", "base": "18.00", "vat": "0.00"},
    ]
    assert doc["gross_total"] == "49.97"


def test_finalize_numbers_per_series_and_type_with_atcud(sb: Sandbox, ig: httpx.Client) -> None:
    atcud = {s["document_type"]: s["atcud_code"] for s in sb.igest.series if s["code"] == "A"}
    first = body(ig.post("/documents", json=draft(finalize=True)))
    second_draft = body(ig.post("/documents", json=draft()))
    second = body(ig.post(f"/documents/{second_draft['id']}/finalize"))
    invoice = body(ig.post("/documents", json=draft(type="FT", finalize=True)))
    assert (first["number"], first["atcud"]) == ("FR A/1", f"{atcud['FR']}-1")
    assert (second["number"], second["atcud"]) == ("FR A/2", f"{atcud['FR']}-2")
    assert (invoice["number"], invoice["atcud"]) == ("FT A/1", f"{atcud['FT']}-1")
    assert first["status"] == "final" and first["pdf_url"].endswith(f"/documents/{first['id']}/pdf")
    assert ig.get(first["pdf_url"]).content.startswith(b"%PDF")


def test_finalize_twice_is_409_and_delete_is_for_drafts_only(ig: httpx.Client) -> None:
    doc = body(ig.post("/documents", json=draft()))
    assert ig.post(f"/documents/{doc['id']}/finalize").status_code == 200
    again = ig.post(f"/documents/{doc['id']}/finalize")
    assert again.status_code == 409 and body(again)["error"]["code"] == "conflict"
    assert ig.delete(f"/documents/{doc['id']}").status_code == 409
    other = body(ig.post("/documents", json=draft()))
    assert ig.delete(f"/documents/{other['id']}").status_code == 204
    assert ig.get(f"/documents/{other['id']}").status_code == 404
    assert ig.post("/documents/999/finalize").status_code == 404


def test_no_deduplication_of_external_reference(sb: Sandbox, ig: httpx.Client) -> None:
    ig.post("/documents", json=draft(finalize=True))
    ig.post("/documents", json=draft(finalize=True))
    found = body(ig.get("/documents", params={"external_reference": draft()["external_reference"]}))
    assert found["total"] == 2
    assert len(sb.igest.final_documents_by_reference()[draft()["external_reference"]]) == 2


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"customer": {"nif": "123456788", "name": "X"}}, "customer.nif"),
        ({"lines": [line(rate="0.00")]}, "lines[0].exemption_code"),
        ({"lines": [line(rate="0.00", exemption_code="M08")]}, "lines[0].exemption_code"),
        ({"lines": [line(rate="23.00", exemption_code="M07")]}, "lines[0].exemption_code"),
        ({"lines": [line(rate="21.00")]}, "lines[0].vat_rate"),
        ({"lines": [line(quantity=2)]}, "lines[0].quantity"),
        ({"lines": [line(unit_price="1.1234567")]}, "lines[0].unit_price"),
        ({"lines": []}, "lines"),
        ({"series": "Z"}, "series"),
        ({"series": "2025"}, "series"),
        ({"warehouse": "ARM9"}, "warehouse"),
        ({"date": "27-11-2026"}, "date"),
        ({"payment_method": None}, "payment_method"),
        (
            {"type": "NC", "related_document": {"number": "FR A/99", "reason": "x"}},
            "related_document.number",
        ),
    ],
)
def test_validation_is_422_naming_the_field(ig: httpx.Client, changes: dict, field: str) -> None:
    response = ig.post("/documents", json=draft(**changes))
    assert response.status_code == 422
    error = body(response)["error"]
    assert error["code"] == "validation_failed" and field in error["fields"]


def test_valid_nif_and_final_consumer(ig: httpx.Client) -> None:
    with_nif = body(
        ig.post("/documents", json=draft(customer={"nif": "123456789", "name": "João Ferreira"}))
    )
    without = body(ig.post("/documents", json=draft(customer={"name": "Tiago"})))
    assert with_nif["customer"]["nif"] == "123456789"
    assert without["customer"]["nif"] == "999999990"
    spanish = ig.post(
        "/documents", json=draft(customer={"nif": "B12345678", "name": "SL", "country": "ES"})
    )
    assert spanish.status_code == 201


def test_date_rule_future_and_earlier_than_last_final(clock, ig: httpx.Client) -> None:
    future = ig.post("/documents", json=draft(date="2026-11-28", finalize=True))
    assert future.status_code == 422 and "date" in body(future)["error"]["fields"]
    assert ig.get("/documents").json()["total"] == 0  # nothing stored by a failed finalize
    ig.post("/documents", json=draft(date="2026-11-26", finalize=True))
    earlier = body(ig.post("/documents", json=draft(date="2026-11-25")))
    refused = ig.post(f"/documents/{earlier['id']}/finalize")
    assert refused.status_code == 422
    # Another type has its own sequence and its own last date.
    assert (
        ig.post("/documents", json=draft(type="FT", date="2026-11-25", finalize=True)).status_code
        == 201
    )
    clock.advance(days=1)
    assert ig.post("/documents", json=draft(date="2026-11-28", finalize=True)).status_code == 201


def test_stock_moves_on_finalize_and_returns_on_credit_note(sb: Sandbox, ig: httpx.Client) -> None:
    before = sb.igest.stock("CAN-AZU", "ARM1")
    doc = body(ig.post("/documents", json=draft()))
    assert sb.igest.stock("CAN-AZU", "ARM1") == before  # a draft moves nothing
    invoice = body(ig.post(f"/documents/{doc['id']}/finalize"))
    assert sb.igest.stock("CAN-AZU", "ARM1") == before - 3
    credit = ig.post(
        "/documents",
        json=draft(
            type="NC",
            payment_method=None,
            lines=[draft()["lines"][0] | {"quantity": "1"}],
            related_document={"number": invoice["number"], "reason": "Devolução"},
            finalize=True,
        ),
    )
    assert credit.status_code == 201 and body(credit)["number"] == "NC A/1"
    assert sb.igest.stock("CAN-AZU", "ARM1") == before - 2
    too_much = ig.post(
        "/documents",
        json=draft(
            type="NC",
            payment_method=None,
            related_document={"number": invoice["number"], "reason": "Devolução"},
            finalize=True,
        ),
    )
    assert too_much.status_code == 422  # 1 + 3 units would exceed the 3 invoiced
    no_warehouse = body(ig.post("/documents", json=draft(warehouse=None, finalize=True)))
    assert no_warehouse["status"] == "final" and sb.igest.stock("CAN-AZU", "ARM1") == before - 5


def test_stock_get_with_and_without_warehouse_and_put(sb: Sandbox, ig: httpx.Client) -> None:
    def quantities(**params) -> dict:
        rows = body(ig.get("/stock", params={"per_page": 100, **params}))["data"]
        return {r["reference"]: Decimal(r["quantity"]) for r in rows}

    arm1, arm2, total = quantities(warehouse="ARM1"), quantities(warehouse="ARM2"), quantities()
    assert total["CAN-AZU"] == arm1["CAN-AZU"] + arm2["CAN-AZU"] and arm2["CAN-AZU"] > 0
    assert ig.put("/stock/CAN-AZU", json={"warehouse": "ARM2", "quantity": "9"}).status_code == 200
    assert quantities()["CAN-AZU"] == arm1["CAN-AZU"] + 9
    assert sb.igest.adjustments[-1]["after"] == Decimal(9)
    assert ig.put("/stock/NOPE", json={"quantity": "1"}).status_code == 404
    assert ig.put("/stock/CAN-AZU", json={"quantity": 5}).status_code == 422
    assert ig.get("/stock", params={"warehouse": "ARM7"}).status_code == 422


def test_a_reference_with_a_slash_has_its_stock_set_like_any_other(ig: httpx.Client) -> None:
    # WSGI hands the path over decoded: "/stock/AUD%2F1" arrived as /stock/AUD/1, a 404, and
    # the client (which encodes it, as it must) could never set that product's stock.
    new = {"reference": "AUD/1 ?x", "description": "Caneca", "type": "P", "price": "1.00"}
    assert ig.post("/products", json=new | {"vat_rate": "23.00"}).status_code == 201
    put = ig.put("/stock/AUD%2F1%20%3Fx", json={"warehouse": "ARM1", "quantity": "4"})
    assert put.status_code == 200, put.text
    rows = body(ig.get("/stock", params={"warehouse": "ARM1", "per_page": 100}))["data"]
    assert {r["reference"]: r["quantity"] for r in rows}["AUD/1 ?x"] in ("4", "4.000")


def test_products_lookup_create_conflict_patch(ig: httpx.Client) -> None:
    found = body(ig.get("/products", params={"reference": "CAN-AZU"}))
    assert found["total"] == 1 and found["data"][0]["vat_rate"] == "23.00"
    assert body(ig.get("/products", params={"reference": "SAC-LIS"}))["data"] == []
    new = {
        "reference": "SAC-LIS",
        "description": "Saco de pano",
        "type": "P",
        "price": "6.097561",
        "vat_rate": "23.00",
    }
    created = ig.post("/products", json=new)
    assert created.status_code == 201
    assert ig.post("/products", json=new).status_code == 409
    patched = ig.patch(f"/products/{body(created)['id']}", json={"price": "6.50"})
    assert body(patched)["price"] == "6.50"
    assert ig.patch(f"/products/{body(created)['id']}", json={"reference": "X"}).status_code == 422
    assert (
        ig.post("/products", json=new | {"reference": "Z", "vat_rate": "0.00"}).status_code == 422
    )


def test_pagination_envelope_and_limits(ig: httpx.Client) -> None:
    for _ in range(5):
        ig.post("/documents", json=draft())
    page = body(ig.get("/documents", params={"per_page": 2, "page": 3}))
    assert (page["page"], page["per_page"], page["total"], len(page["data"])) == (3, 2, 5, 1)
    assert ig.get("/documents", params={"per_page": 101}).status_code == 400
    drafts = body(
        ig.get(
            "/documents",
            params={
                "status": "draft",
                "type": "FR",
                "date_from": "2026-11-27",
                "date_to": "2026-11-27",
            },
        )
    )
    assert drafts["total"] == 5
    assert body(ig.get("/documents", params={"date_to": "2026-11-26"}))["total"] == 0


def test_email_only_final_documents(sb: Sandbox, ig: httpx.Client) -> None:
    doc = body(ig.post("/documents", json=draft()))
    assert ig.post(f"/documents/{doc['id']}/email", json={"to": "a@b.pt"}).status_code == 409
    ig.post(f"/documents/{doc['id']}/finalize")
    assert ig.post(f"/documents/{doc['id']}/email", json={"to": "nope"}).status_code == 422
    assert ig.post(f"/documents/{doc['id']}/email", json={"to": "a@b.pt"}).status_code == 200
    assert sb.igest.emails[-1]["to"] == "a@b.pt"


def test_malformed_body_is_400(ig: httpx.Client) -> None:
    response = ig.post(
        "/documents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and body(response)["error"]["code"] == "bad_request"
