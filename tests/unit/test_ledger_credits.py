"""The ledger with several credit notes per order: work per (order, kind, seq), the request of a
partial credit, and the queries that once assumed one credit note per order."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from test_ledger import _doc

from igest_sync.state.ledger import Ledger

REF = "jumpseller:s:1:credit"


def _nc(doc_id: str, number: str, total: str):
    return replace(_doc(doc_id, number, total), type="NC")


def test_each_credit_is_its_own_work_with_its_request(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.next_credit_seq(1) == 1
        first = ledger.ensure_work(1, "credit", REF, request='{"lines": [["SKU-1", "1"]]}')
        assert (first.seq, first.request) == (1, '{"lines": [["SKU-1", "1"]]}')
        ledger.mark(1, "credit", "requested", seq=1)
        ledger.record_final(1, "credit", _nc("n1", "NC A/1", "9.99"), email=False, seq=1)
        assert ledger.next_credit_seq(1) == 2
        second = ledger.ensure_work(1, "credit", REF + ":2", seq=2, request='{"shipping": true}')
        # Steps of the second credit touch it alone; the first stays final.
        ledger.mark(1, "credit", "draft", document_id="n2", seq=2)
        ledger.fail(1, "credit", "iGEST said no", transient=True, seq=2)
        assert ledger.work(1, "credit", 1).state == "final"
        assert ledger.work(1, "credit", 1).document_id == "n1"
        again = ledger.work(1, "credit", 2)
        assert (again.state, again.phase, again.document_id) == ("failed", "draft", "n2")
        assert again.external_reference == REF + ":2" and second.request == '{"shipping": true}'
        assert ledger.unfinished_credit(1).seq == 2
        ledger.clear_phase(1, "credit", seq=2)
        assert ledger.work(1, "credit", 2).phase is None
        assert ledger.work(1, "credit", 1).document_id == "n1"
        assert [w.seq for w in ledger.credit_works(1)] == [1, 2]
        assert [w.seq for w in ledger.work_in_states("failed", kind="credit")] == [2]
        ledger.record_final(1, "credit", _nc("n2", "NC A/2", "4.95"), email=False, seq=2)
        assert ledger.unfinished_credit(1) is None
        assert [d.number for d in ledger.credit_documents(1)] == ["NC A/1", "NC A/2"]
        assert ledger.document("n2").gross_total == Decimal("4.95")


def test_an_invoice_is_without_credit_until_its_credits_cover_it(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.ensure_work(1, "invoice", "jumpseller:s:1")
        ledger.record_final(1, "invoice", _doc("i1", "FR A/1", "20.00"), email=False)
        ledger.ensure_work(2, "invoice", "jumpseller:s:2")
        ledger.record_final(2, "invoice", _doc("i2", "FR A/2", "5.00"), email=False)
        assert set(ledger.invoiced_without_credit()) == {1, 2}
        # A partial credit of order 1 leaves it in the list: something is left to credit.
        ledger.ensure_work(1, "credit", REF, request='{"lines": [["SKU-1", "1"]]}')
        ledger.record_final(1, "credit", _nc("n1", "NC A/1", "9.99"), email=False)
        assert set(ledger.invoiced_without_credit()) == {1, 2}
        ledger.ensure_work(1, "credit", REF + ":2", seq=2, request='{"all": true}')
        ledger.record_final(1, "credit", _nc("n2", "NC A/2", "10.01"), email=False, seq=2)
        assert set(ledger.invoiced_without_credit()) == {2}
        # A whole credit recorded by an older version (no request) covers its invoice.
        ledger.ensure_work(2, "credit", "jumpseller:s:2:credit")
        ledger.mark(2, "credit", "requested")
        ledger.record_final(2, "credit", _nc("n3", "NC A/3", "5.00"), email=False)
        assert ledger.invoiced_without_credit() == {}
