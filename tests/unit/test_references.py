"""igest_sync.references is the one module that spells and reads external references."""

from __future__ import annotations

from pathlib import Path

from igest_sync.fiscal.credit import CreditRequest
from igest_sync.fiscal.credit.identity import RequestIdentity
from igest_sync.references import (
    external_reference,
    is_credit_reference,
    key_of_reference,
    parse_reference,
)

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "igest_sync"


def test_what_is_written_reads_back() -> None:
    invoice = external_reference("shop", 10452)
    assert invoice == "jumpseller:shop:10452"
    assert parse_reference(invoice, "shop") == (10452, "invoice")
    identity = RequestIdentity.of(10452, CreditRequest(everything=True), "Devolução")
    note = identity.reference("shop")
    assert note.startswith("jumpseller:shop:10452:credit:r")
    assert key_of_reference("shop", 10452, note) == identity.key()
    assert is_credit_reference("shop", 10452, note)
    assert parse_reference(note, "shop") == (10452, "credit")
    assert parse_reference(note, "other") is None
    assert not is_credit_reference("shop", 10453, note)


def test_no_other_module_spells_a_reference() -> None:
    spelled = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "references.py" and 'f"jumpseller:{' in path.read_text(encoding="utf-8")
    ]
    assert spelled == []
