"""iGEST adapter, partial credit notes: the NCs of an original, a document's lines, the NC body
(related document, partial lines by reference, move_stock for a restock)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from igest_sync.errors import BadResponse
from igest_sync.models import DocumentLine
from tests.adapters.test_adapter_igest import EXPECTED_BODY, document_json, draft
from tests.support.adapter_data import IG_BASE

LINES = [
    {
        "reference": "SKU-1",
        "description": "Mug",
        "quantity": "3",
        "unit_price": "9.99",
        "discount_percent": "0",
        "vat_rate": "23.00",
        "exemption_code": None,
    },
    {
        "reference": "PORTES",
        "description": "Portes",
        "quantity": "1",
        "unit_price": "4.95",
        "discount_percent": "12.5",
        "vat_rate": "0.00",
        "exemption_code": "M07",
    },
]


def test_a_document_is_read_with_its_lines(ig, httpx_mock):
    httpx_mock.add_response(
        url=f"{IG_BASE}/documents/d1",
        json=document_json(id="d1", status="final", number="FR A/12", lines=LINES),
    )
    doc = ig.get_document("d1")
    assert doc.lines == (
        DocumentLine("SKU-1", "Mug", Decimal(3), Decimal("9.99"), Decimal(0), Decimal("23.00")),
        DocumentLine(
            "PORTES", "Portes", Decimal(1), Decimal("4.95"), Decimal("12.5"), Decimal(0), "M07"
        ),
    )
    # The contract's document does not echo the price mode nor the relation: unknown, not False.
    assert doc.prices_include_vat is None and doc.related_number is None


def test_a_line_with_a_bad_quantity_is_a_bad_response(ig, httpx_mock):
    bad = [{**LINES[0], "quantity": "three"}]
    httpx_mock.add_response(url=f"{IG_BASE}/documents/d1", json=document_json(lines=bad))
    with pytest.raises(BadResponse, match=r"document doc-1 lines\[0\].quantity"):
        ig.get_document("d1")


def test_credit_notes_of_an_original_are_listed_by_related_document(ig, httpx_mock):
    nc = document_json(
        id="n1",
        type="NC",
        number="NC A/2",
        status="final",
        lines=LINES[:1],
        prices_include_vat=True,
        related_document={"number": "FR A/12", "reason": "Devolução"},
    )
    other = {**nc, "id": "n2", "related_document": {"number": "FR A/120", "reason": "x"}}
    silent = {**nc, "id": "n3", "related_document": None}
    httpx_mock.add_response(
        url=f"{IG_BASE}/documents?related_document=FR+A%2F12&type=NC&page=1&per_page=100",
        json={"data": [nc, other, silent], "page": 1, "per_page": 100, "total": 3},
    )
    notes = ig.credit_notes_of("FR A/12")
    # A note naming another original is dropped; one that does not say is kept (the server
    # chose it): hiding a refund could let a second one through.
    assert [n.id for n in notes] == ["n1", "n3"]
    assert notes[0].related_number == "FR A/12" and notes[0].prices_include_vat is True
    assert notes[0].lines[0].reference == "SKU-1"


def test_a_partial_credit_note_body(ig, httpx_mock):
    line = draft().lines[0]
    partial = draft(
        type="NC",
        external_reference="jumpseller:mystore:10452:credit:2",
        payment_method=None,
        move_stock=False,  # --no-restock: the goods do not come back to the warehouse
        lines=(
            DocumentLine(
                line.reference,
                line.description,
                Decimal(1),
                line.unit_price,
                line.discount_percent,
                line.vat_rate,
            ),
        ),
        related_document=("FR A/12", "Devolução de 1 unidade"),
    )
    body = {
        **EXPECTED_BODY,
        "type": "NC",
        "external_reference": "jumpseller:mystore:10452:credit:2",
        "payment_method": None,
        "move_stock": False,
        "lines": [{**EXPECTED_BODY["lines"][0], "quantity": "1"}],
        "related_document": {"number": "FR A/12", "reason": "Devolução de 1 unidade"},
    }
    httpx_mock.add_response(
        method="POST", url=f"{IG_BASE}/documents", match_json=body, json=document_json(type="NC")
    )
    ig.create_document(partial)
