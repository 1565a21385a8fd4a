"""The iGEST emulator's rules for OSS lines (tax_country), text limits and partial credit notes
(igest-api.md)."""

from __future__ import annotations

import httpx

from igest_sandbox import Sandbox
from tests.support.sandbox_clients import body, draft, line


def _final(ig: httpx.Client, **changes) -> dict:
    response = ig.post("/documents", json=draft(finalize=True, **changes))
    assert response.status_code == 201, response.text
    return body(response)


def _credit(ig: httpx.Client, number: str, lines: list[dict], **changes) -> httpx.Response:
    return ig.post(
        "/documents",
        json=draft(
            type="NC",
            payment_method=None,
            lines=lines,
            related_document={"number": number, "reason": "Devolução"},
            finalize=True,
            **changes,
        ),
    )


def test_a_line_taxed_in_spain_carries_its_country_into_lines_and_breakdown(
    ig: httpx.Client,
) -> None:
    doc = _final(
        ig,
        lines=[
            line("CAN-AZU", "1", "12.10", "21.00", tax_country="ES"),
            line("AZT-500", "1", "8.75", "6.00"),
        ],
    )
    assert [ln["tax_country"] for ln in doc["lines"]] == ["ES", "PT"]
    assert doc["vat_breakdown"] == [
        {"rate": "6.00", "base": "8.25", "vat": "0.50"},
        {"rate": "21.00", "base": "10.00", "vat": "2.10", "tax_country": "ES"},
    ]
    assert doc["gross_total"] == "20.85"


def test_a_foreign_rate_must_be_one_of_that_country(ig: httpx.Client) -> None:
    wrong = ig.post(
        "/documents", json=draft(lines=[line("X", "1", "10", "23.00", tax_country="ES")])
    )
    assert wrong.status_code == 422
    assert "not a VAT rate of ES" in body(wrong)["error"]["fields"]["lines[0].vat_rate"]
    french = ig.post(
        "/documents", json=draft(lines=[line("X", "1", "10", "5.50", tax_country="FR")])
    )
    assert french.status_code == 201
    for country in ("EL", "GB", "es", 7):
        refused = ig.post(
            "/documents", json=draft(lines=[line("X", "1", "10", "21.00", tax_country=country)])
        )
        assert refused.status_code == 422
        assert "lines[0].tax_country" in body(refused)["error"]["fields"]


def test_a_document_with_a_foreign_line_cannot_be_an_fs(ig: httpx.Client) -> None:
    fs = ig.post(
        "/documents",
        json=draft(type="FS", lines=[line("X", "1", "12.10", "21.00", tax_country="ES")]),
    )
    assert fs.status_code == 422 and "type" in body(fs)["error"]["fields"]
    assert ig.post("/documents", json=draft(type="FS")).status_code == 201


def test_text_limits_name_the_field(ig: httpx.Client) -> None:
    long_line = line("X", "1", "10", "23.00") | {"description": "a" * 201}
    response = ig.post(
        "/documents",
        json=draft(
            lines=[long_line, line("R" * 61, "1", "1", "23.00")],
            customer={
                "name": "n" * 101,
                "address": "a" * 101,
                "city": "c" * 51,
                "postal_code": "p" * 21,
            },
            notes="x" * 501,
        ),
    )
    assert response.status_code == 422
    assert body(response)["error"]["fields"] == {
        "lines[0].description": "is longer than 200 characters",
        "lines[1].reference": "is longer than 60 characters",
        "customer.name": "is longer than 100 characters",
        "customer.address": "is longer than 100 characters",
        "customer.city": "is longer than 50 characters",
        "customer.postal_code": "is longer than 20 characters",
        "notes": "is longer than 500 characters",
    }
    at_limits = draft(
        lines=[line("R" * 60, "1", "1", "23.00") | {"description": "é" * 200}],
        customer={
            "name": "n" * 100,
            "address": "a" * 100,
            "city": "c" * 50,
            "postal_code": "p" * 20,
        },
        notes="ñ" * 500,
    )
    assert ig.post("/documents", json=at_limits).status_code == 201


def test_control_characters_are_refused(ig: httpx.Client) -> None:
    response = ig.post(
        "/documents",
        json=draft(
            lines=[line("X", "1", "10", "23.00") | {"description": "Caneca\tazul"}],
            notes="linha 1\r\nlinha 2",
            customer={"name": "Ana\x07"},
        ),
    )
    fields = body(response)["error"]["fields"]
    assert response.status_code == 422
    assert fields["lines[0].description"] == "contains a control character (U+0009)"
    assert fields["notes"] == "contains a control character (U+000D)"
    assert fields["customer.name"] == "contains a control character (U+0007)"
    # A line feed is the one control character notes may hold (their lines).
    assert (
        ig.post("/documents", json=draft(notes="Encomenda 1\nPago em 2026-11-27")).status_code
        == 201
    )


def test_partial_credits_never_exceed_the_original(sb: Sandbox, ig: httpx.Client) -> None:
    invoice = _final(
        ig,
        lines=[
            line("CAN-AZU", "3", "9.99", "23.00"),
            line("AZT-500", "2", "8.75", "6.00"),
            line("PORTES", "1", "4.90", "23.00"),
        ],
    )
    number = invoice["number"]
    before = sb.igest.stock("CAN-AZU", "ARM1")
    first = _credit(ig, number, [line("CAN-AZU", "1", "9.99", "23.00")])
    assert first.status_code == 201
    assert sb.igest.stock("CAN-AZU", "ARM1") == before + 1  # move_stock: the unit comes back
    shipping = _credit(ig, number, [line("PORTES", "1", "2.90", "23.00")], move_stock=False)
    assert shipping.status_code == 201
    too_much_shipping = _credit(ig, number, [line("PORTES", "1", "2.01", "23.00")])
    assert too_much_shipping.status_code == 422
    assert body(too_much_shipping)["error"]["fields"] == {
        "lines[0]": "credits 2.01 of PORTES but only 2.00 of 4.90 is left to credit on "
        f"{number} (2.90 already credited)"
    }
    too_many = _credit(ig, number, [line("CAN-AZU", "3", "9.99", "23.00")])
    assert body(too_many)["error"]["fields"] == {
        "lines[0].quantity": f"credits 3 of CAN-AZU but only 2 of 3 is left to credit on {number} "
        "(1 already credited)"
    }
    unknown = _credit(ig, number, [line("MEL-250", "1", "6.40", "6.00")])
    assert body(unknown)["error"]["fields"] == {
        "lines[0].reference": f"'MEL-250' is not a line of {number}"
    }
    rest = _credit(
        ig,
        number,
        [
            line("CAN-AZU", "2", "9.99", "23.00"),
            line("AZT-500", "2", "8.75", "6.00"),
            line("PORTES", "1", "2.00", "23.00"),
        ],
    )
    assert rest.status_code == 201
    listed = body(ig.get("/documents", params={"related_document": number}))
    assert [d["number"] for d in listed["data"]] == ["NC A/1", "NC A/2", "NC A/3"]
    assert all(d["related_document"]["number"] == number for d in listed["data"])
    credited = sum(float(d["gross_total"]) for d in listed["data"])
    assert round(credited, 2) == float(invoice["gross_total"])
    assert _credit(ig, number, [line("AZT-500", "1", "8.75", "6.00")]).status_code == 422
    # Refusals are not documents: nothing was stored for them.
    assert body(ig.get("/documents", params={"type": "NC"}))["total"] == 3


def test_a_draft_credits_nothing_until_it_is_finalized(ig: httpx.Client) -> None:
    number = _final(ig)["number"]
    two = draft(
        type="NC",
        payment_method=None,
        lines=[line("CAN-AZU", "2", "9.99", "23.00")],
        related_document={"number": number, "reason": "Devolução"},
    )
    first, second = (body(ig.post("/documents", json=two)) for _ in range(2))
    assert ig.post(f"/documents/{first['id']}/finalize").status_code == 200
    late = ig.post(f"/documents/{second['id']}/finalize")
    assert late.status_code == 422 and "lines[0].quantity" in body(late)["error"]["fields"]
    other = body(ig.get("/documents", params={"related_document": "FR A/999"}))
    assert other["total"] == 0
