"""status: which paid orders are late for their invoice (``--fail-if-late``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from igest_sync.models import Kind
from igest_sync.runs.setup.status import build_status
from igest_sync.state.ledger import Ledger

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_failed_invoice_is_late_but_a_failed_credit_note_is_not() -> None:
    paid = NOW - timedelta(days=5)
    with Ledger(Path(":memory:")) as ledger:
        for order_id in (7, 8):
            ledger.record_order(
                order_id, "paid", created_at=paid, paid_at=paid, total=Decimal("10"), customer="A"
            )
        ledger.ensure_work(7, Kind.INVOICE, "jumpseller:s:7")
        ledger.fail(7, Kind.INVOICE, "refused", transient=False)
        # Order 8's invoice was issued (elsewhere in this story); its second credit note failed.
        ledger.ensure_work(8, Kind.CREDIT, "jumpseller:s:8:credit:2", seq=2)
        ledger.fail(8, Kind.CREDIT, "refused", transient=False, seq=2)
        report = build_status(ledger, now=NOW)
    assert [order_id for order_id, _, _ in report.late_beyond(24)] == [7]


def test_status_is_titled_by_the_stores_name_remembered_by_the_runs() -> None:
    from igest_sync.runs.setup.status import remember_store_name
    from tests.support.fakes import FakeJumpseller

    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    js = FakeJumpseller(info={"name": "Loja do Azulejo", "code": "azulejo"})
    with Ledger(Path(":memory:")) as ledger:
        # Before any run has asked Jumpseller: the login the config falls back to.
        assert build_status(ledger, now=now, store="azulejo-login").store == "azulejo-login"
        remember_store_name(ledger, js, now)
        assert build_status(ledger, now=now, store="azulejo-login").store == "Loja do Azulejo"
        remember_store_name(ledger, js, now + timedelta(days=6))  # remembered: not asked
        assert js.calls.count("store_info") == 1
        js.info = {"name": "Azulejos & Companhia"}
        remember_store_name(ledger, js, now + timedelta(days=8))  # a week on: asked again
        assert build_status(ledger, now=now).store == "Azulejos & Companhia"
        js.faults.add("store_info", "5xx")
        remember_store_name(ledger, js, now + timedelta(days=16))  # a failure keeps the name
        assert build_status(ledger, now=now).store == "Azulejos & Companhia"


def test_status_says_real_time_is_degraded_and_what_to_do(capsys) -> None:
    from igest_sync.render.invoicing import status_report
    from igest_sync.serve import watch

    with Ledger(Path(":memory:")) as ledger:
        ledger.record_hint("order", 1, "order_paid", triggered_at=None, received_at=NOW)
        assert build_status(ledger, now=NOW).to_json()["serve"]["realtime"] == "ok"
        reason = "no webhook delivery has arrived since 12:00, though orders 7 were paid since"
        watch.degrade(ledger, (reason, "no webhook delivery has arrived"), NOW)
        report = build_status(ledger, now=NOW)
        serve = report.to_json()["serve"]
        assert (serve["realtime"], serve["reason"]) == ("degraded", reason)
        assert serve["degraded_since"] == NOW.isoformat(timespec="seconds")
        status_report(report)
    text = capsys.readouterr().out
    assert "Real time degraded" in text and "orders 7 were paid" in text
    assert "igest-sync hooks install" in text
