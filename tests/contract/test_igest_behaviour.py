"""What the engine relies on of iGEST, on every backend (``conftest.py``): drafts are not
final, a finalized document gets the next number of its series, a document is found by its
external reference (what recovery after a lost answer rests on), a final one cannot be deleted
or finalized again, and a credit note is found by the invoice it offsets."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from igest_sync.config import InvoiceConfig
from igest_sync.errors import Conflict, NotFound
from igest_sync.fiscal.mapping import build_document
from igest_sync.models import DocumentDraft
from igest_sync.references import external_reference

from .conftest import Services, money

DAY = date(2026, 11, 20)


def invoice_draft(services: Services, total: str = "12.30") -> DocumentDraft:
    """The real mapping's invoice for a new paid order of the backend's store."""
    order = services.jumpseller.order(services.add_order(total=total))
    return build_document(
        order,
        InvoiceConfig(),
        reference=external_reference(services.store, order.id),
        issue_date=DAY,
    )


def test_a_draft_is_not_final_until_it_is_finalized_then_it_has_a_number(services: Services):
    draft = invoice_draft(services)
    created = services.igest.create_document(draft)
    assert (created.status, created.number) == ("draft", None)
    assert money(created.gross_total) == money(draft.gross_total) == money("12.30")
    final = services.igest.finalize_document(created.id)
    assert final.status == "final" and final.number == f"{draft.type} {draft.series}/1"
    again = services.igest.get_document(created.id)
    assert (again.status, again.number) == ("final", final.number)


def test_each_final_document_takes_the_next_number_of_its_series(services: Services):
    numbers = [
        services.igest.create_document(invoice_draft(services), finalize=True).number
        for _ in range(3)
    ]
    assert [n.rsplit("/", 1)[1] for n in numbers] == ["1", "2", "3"]


def test_a_document_is_found_by_its_external_reference_draft_or_final(services: Services):
    first, second = invoice_draft(services), invoice_draft(services)
    draft = services.igest.create_document(first)
    final = services.igest.create_document(second, finalize=True)
    found = list(services.igest.find_documents(external_reference=first.external_reference))
    assert [(d.id, d.status) for d in found] == [(draft.id, "draft")]
    found = list(services.igest.find_documents(external_reference=second.external_reference))
    assert [(d.id, d.status, d.number) for d in found] == [(final.id, "final", final.number)]
    assert list(services.igest.find_documents(external_reference="jumpseller:x:1")) == []


def test_the_listing_filters_by_status_and_day(services: Services):
    services.igest.create_document(invoice_draft(services))
    final = services.igest.create_document(invoice_draft(services), finalize=True)
    finals = list(services.igest.find_documents(status="final", date_from=DAY, date_to=DAY))
    assert [d.id for d in finals] == [final.id]
    later = date(2026, 11, 21)
    assert list(services.igest.find_documents(status="final", date_from=later)) == []


def test_a_draft_can_be_deleted_a_final_document_never(services: Services):
    draft = services.igest.create_document(invoice_draft(services))
    services.igest.delete_document(draft.id)
    with pytest.raises(NotFound):
        services.igest.get_document(draft.id)
    final = services.igest.create_document(invoice_draft(services), finalize=True)
    with pytest.raises(Conflict):
        services.igest.delete_document(final.id)
    with pytest.raises(Conflict):
        services.igest.finalize_document(final.id)  # finalized once, never twice
    assert services.igest.get_document(final.id).status == "final"


def test_an_unknown_document_is_not_found(services: Services):
    with pytest.raises(NotFound):
        services.igest.get_document("999999")


def test_a_credit_note_is_found_by_the_invoice_it_offsets(services: Services):
    invoice = invoice_draft(services)
    issued = services.igest.create_document(invoice, finalize=True)
    note = replace(
        invoice,
        type="NC",
        external_reference=invoice.external_reference + ":credit:1",
        related_document=(issued.number, "Devolução"),
    )
    credit = services.igest.create_document(note, finalize=True)
    assert credit.number == f"NC {invoice.series}/1"
    found = services.igest.credit_notes_of(issued.number)
    assert [(d.id, d.type, d.status) for d in found] == [(credit.id, "NC", "final")]
    other = services.igest.create_document(invoice_draft(services), finalize=True)
    assert services.igest.credit_notes_of(other.number) == []
