"""status: which paid orders are late for their invoice (``--fail-if-late``)."""

from __future__ import annotations

from dataclasses import replace
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


def test_status_says_serve_is_not_running_once_stopped_or_silent_past_its_sweeps(capsys) -> None:
    """serve killed (or stopped) looked healthy: "realtime: ok", the last sweep's time and
    nothing more, while paid orders waited for no one."""
    from igest_sync.render.invoicing import status_report
    from igest_sync.state.inbox import LAST_SWEEP, SERVE_STARTED, SERVE_STOPPED

    def serve(ledger: Ledger, at: datetime, every: int = 10) -> dict:
        return build_status(ledger, now=at, sweep_minutes=every).to_json()["serve"]

    with Ledger(Path(":memory:")) as ledger:
        assert serve(ledger, NOW)["realtime"] == "ok"  # never served: nothing to say
        ledger.set_meta(LAST_SWEEP, NOW.isoformat(timespec="seconds"))
        assert serve(ledger, NOW + timedelta(minutes=24))["realtime"] == "ok"  # 2 sweeps + 5 min
        silent = serve(ledger, NOW + timedelta(minutes=26))
        assert (silent["realtime"], silent["degraded_since"]) == (
            "stopped",
            silent["last_sweep_at"],
        )
        assert "every 10 minutes" in silent["reason"] and "not running" in silent["reason"]
        assert serve(ledger, NOW + timedelta(minutes=4), every=1)["realtime"] == "ok"
        every_minute = serve(ledger, NOW + timedelta(minutes=8), every=1)
        assert every_minute["realtime"] == "stopped"
        # Lisbon's wall clock to the minute, as the rest of status; one minute, not "1 minutes".
        assert (
            "no sweep since 2026-11-25 12:00, and serve sweeps every 1 minute:"
            in (every_minute["reason"])
        )
        ledger.set_meta(SERVE_STOPPED, (NOW + timedelta(minutes=1)).isoformat(timespec="seconds"))
        stopped = serve(ledger, NOW + timedelta(minutes=2))
        assert stopped["realtime"] == "stopped" and "stopped at" in stopped["reason"]
        # Started again, its first sweep not ended yet (Jumpseller down): it runs. Before, it
        # read "serve is not running: serve stopped at ..." until a sweep ended.
        ledger.set_meta(SERVE_STARTED, (NOW + timedelta(minutes=2)).isoformat(timespec="seconds"))
        assert serve(ledger, NOW + timedelta(minutes=3))["realtime"] == "ok"
        late = serve(ledger, NOW + timedelta(minutes=28))  # and no sweep since: stuck
        assert late["realtime"] == "stopped" and "no sweep since 2026-11-25 12:02" in late["reason"]
        # Its first sweep is later than the stop.
        ledger.set_meta(LAST_SWEEP, (NOW + timedelta(minutes=3)).isoformat(timespec="seconds"))
        assert serve(ledger, NOW + timedelta(minutes=4))["realtime"] == "ok"
        status_report(build_status(ledger, now=NOW + timedelta(hours=1)))
    text = capsys.readouterr().out
    assert "serve is not running" in text and "igest-sync invoice" in text


def test_a_long_list_of_credit_notes_wraps_and_leaves_the_names_whole(monkeypatch, capsys) -> None:
    """At 120 columns: an invoice credited by four notes once took the width of the customer's
    name, which came out as "Beatr / iz / Gomes"."""
    from igest_sync import render
    from igest_sync.render.invoicing import status_report
    from igest_sync.runs.setup.status import empty_status
    from igest_sync.state.ledger import DocumentRecord

    def document(order_id: int, number: str, customer: str) -> DocumentRecord:
        kind, doc_type = ("credit", "NC") if number.startswith("NC") else ("invoice", "FR")
        return DocumentRecord(
            number, order_id, kind, doc_type, number, None, "2026-12-06", customer,
            Decimal("70.20"), "final", None, NOW.isoformat(), False, True, None, 0, 0, None,
        )  # fmt: skip

    report = replace(
        empty_status(),
        issued_yet=True,
        documents=[document(7, "FR A/2", "Beatriz Gomes"), document(8, "FR A/3", "João Ferreira")],
        credit_notes={7: ["NC A/1", "NC A/2", "NC A/3", "NC A/4"]},
        credit_state={7: "credited"},
    )
    monkeypatch.setenv("COLUMNS", "120")
    with render.rendering():
        status_report(report)
    text = capsys.readouterr().out
    assert "Beatriz Gomes" in text and "João Ferreira" in text
    assert "NC A/1" in text and "NC A/4" in text  # every credit note is still listed


def test_status_of_one_order_without_a_document_says_why_not_an_empty_table(capsys) -> None:
    from igest_sync.render.invoicing import status_report
    from igest_sync.runs.setup.status import DocumentFilter

    paid = NOW - timedelta(days=40)
    note = "paid 2026-10-16, before the start date 2026-11-01: not issued"
    with Ledger(Path(":memory:")) as ledger:
        ledger.record_order(
            9005, "paid", created_at=paid, paid_at=paid, total=None, customer=None, note=note
        )
        skipped = build_status(ledger, now=NOW, selection=DocumentFilter(order_id=9005))
    assert skipped.to_json()["order"] == {
        "order_id": 9005,
        "seen": True,
        "status": "paid",
        "paid_at": paid.isoformat(),
        "note": note,
        "paid_again": None,
    }
    status_report(skipped)
    text = " ".join(capsys.readouterr().out.split())
    assert f"Order 9005 (paid): no document: {note}." in text
    assert "Documents issued" not in text


def test_status_of_an_order_the_state_file_does_not_know_is_a_usage_error() -> None:
    # Before: a report saying "no run of igest-sync has seen this order", exit 0: a script
    # asking about a mistyped number read it as an answer.
    import pytest

    from igest_sync.errors import ExitCode, UsageError
    from igest_sync.runs.setup.status import DocumentFilter, empty_status

    paid = NOW - timedelta(days=1)
    with Ledger(Path(":memory:")) as ledger:
        ledger.record_order(
            10001, "paid", created_at=paid, paid_at=paid, total=Decimal("10"), customer="A"
        )
        with pytest.raises(UsageError) as unknown:
            build_status(ledger, now=NOW, selection=DocumentFilter(order_id=99999))
        for failed_only in (False, True):
            known = DocumentFilter(order_id=10001, failed_only=failed_only)
            assert build_status(ledger, now=NOW, selection=known).to_json()["order"]["seen"]
    assert unknown.value.exit_code == ExitCode.USAGE
    assert unknown.value.message == (
        "Order 99999: the state file knows no such order (no run of igest-sync has listed it)."
    )
    assert "Check the number" in (unknown.value.hint or "")
    assert "igest-sync invoice" in (unknown.value.hint or "")
    # Before the first run there is no state file: no order is known yet, and it says so.
    with pytest.raises(UsageError) as fresh:
        empty_status(store="azulejo", order_id=99999)
    assert "igest-sync has not run yet" in fresh.value.message
    assert "igest-sync invoice" in (fresh.value.hint or "")
    assert empty_status(store="azulejo").issued_yet is False


def test_an_order_status_is_said_in_words_cancelled_as_british_english_spells_it() -> None:
    # Jumpseller's status_enum says "canceled" and "pending_payment"; every message says the
    # same words (status, resend, credit, the dry run).
    from igest_sync.models import OrderStatus, status_words

    assert [status_words(s) for s in OrderStatus] == [
        "paid",
        "pending payment",
        "cancelled",
        "abandoned",
    ]
