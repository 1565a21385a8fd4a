"""Sales beyond Portugal through the real CLI: the sandbox's cross-border orders 10101-10109
(Spanish business via VIES, French OSS sale, UK and Canary Islands exports, an invalid and an
unavailable VAT number, a 300-character name, a checkout note, a POS sale)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.support.sandbox_clients import started_sandbox

from .conftest import Cli, make_cli

REPO = Path(__file__).resolve().parents[2]
CROSS_BORDER = {
    "exemptions": {
        "domestic_goods": "M07",  # the demo's domestic pair, kept beside the cross-border codes
        "domestic_shipping": "M07",
        "eu_goods": "M16",
        "eu_shipping": "M16",
        "export_goods": "M05",
        "export_shipping": "M05",
    },
    "oss": True,
    "copy_order_notes": True,
}


@pytest.fixture
def sandbox() -> Iterator:
    # The real limits: their waits cost no wall time.
    with started_sandbox(seed=True, cross_border=True) as sb:
        yield sb


@pytest.fixture
def cli(sandbox, tmp_path: Path) -> Cli:
    return make_cli(
        sandbox, tmp_path, invoice=CROSS_BORDER, vies={"base_url": sandbox.vies_base_url}
    )


def _final(sb, order_id: int) -> dict | None:
    for ref, docs in sb.igest.final_documents_by_reference().items():
        if ref.endswith(f":{order_id}"):
            assert len(docs) == 1
            return docs[0]
    return None


def test_each_cross_border_order_is_issued_waits_fails_or_is_skipped(sandbox, cli: Cli):
    first = cli("invoice", "--json")
    report = first.json()
    schema = json.loads((REPO / "docs" / "json" / "invoice.schema.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(report))
    by_order = {int(o["order_id"]): o for o in report["orders"]}

    spanish = _final(sandbox, 10101)  # VIES valid: M16 with the consultation number
    assert spanish is not None
    assert {line["exemption_code"] for line in spanish["lines"]} == {"M16"}
    assert "válido no VIES" in spanish["notes"] and "consulta n.º" in spanish["notes"]

    french = _final(sandbox, 10102)  # OSS at FR 20 %
    assert french is not None and french["type"] == "FR"
    assert {line.get("tax_country") for line in french["lines"]} == {"FR"}
    assert {str(line["vat_rate"]) for line in french["lines"]} <= {"20.00", "5.50"}

    for export in (10103, 10104):  # UK, Canary Islands
        doc = _final(sandbox, export)
        assert doc is not None
        assert {line["exemption_code"] for line in doc["lines"]} == {"M05"}

    assert by_order[10105]["action"] == "failed"
    assert "not valid" in by_order[10105]["detail"]
    assert by_order[10106]["action"] == "waiting" and _final(sandbox, 10106) is None
    assert report["waiting"] == 1

    long_name = _final(sandbox, 10107)
    assert long_name is not None
    assert all(len(line["description"]) <= 200 for line in long_name["lines"])
    assert any(line["description"].endswith("…") for line in long_name["lines"])

    noted = _final(sandbox, 10108)
    assert noted is not None and "Nota do cliente: Por favor, embrulhar" in noted["notes"]

    assert by_order[10109]["action"] == "skipped" and "pos" in by_order[10109]["detail"]
    assert _final(sandbox, 10109) is None

    # VIES answers for 10106 after its Member State comes back: later runs issue it, never twice.
    for _ in range(4):
        cli("invoice")
        if _final(sandbox, 10106) is not None:
            break
    assert _final(sandbox, 10106) is not None
    skipped_again = cli("invoice", "--json").json()
    assert 10109 not in {int(o["order_id"]) for o in skipped_again["orders"]}  # reported once


def test_a_business_charged_another_states_vat_under_oss_is_issued_as_paid_and_said(
    sandbox, cli: Cli
):
    # OSS is for consumers: Spain's 21 % on a Spanish business (VIES-valid ESB87654323) is
    # issued as paid, to the cent, and the person is told what to check.
    from igest_sandbox.cross_border import BUYERS

    order_id = sandbox.store.add_order(
        lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "10.00", "qty": 1, "rate": 21}],
        buyer=BUYERS["es_business"],
        shipping_rate=None,
    )
    result = cli("invoice", "--json")
    [outcome] = [o for o in result.json()["orders"] if int(o["order_id"]) == order_id]
    assert outcome["action"] == "issued", outcome
    doc = _final(sandbox, order_id)
    assert doc is not None and str(doc["gross_total"]) == "10.00"
    assert [(str(line["vat_rate"]), line.get("tax_country")) for line in doc["lines"]] == [
        ("21.00", "ES")
    ]
    [warning] = [w for w in outcome["warnings"] if "OSS" in w]
    assert "a business in ES (VAT number ESB87654323)" in warning
    assert "OSS scheme covers sales to consumers only; issued as paid" in warning


def test_a_run_that_leaves_an_order_waiting_for_vies_exits_1_until_it_is_issued(sandbox, cli):
    # README: a run exits 1 while it leaves any paid order without its invoice. One waiting
    # for VIES (10106's Member State does not answer) exited 0: a systemd unit or a script
    # read the run as done while a paid order had no invoice, day after day.
    sandbox.store.cancel_order(10105)  # its VAT number is invalid: a failure of its own
    first = cli("invoice", "--json")
    waiting = {int(o["order_id"]) for o in first.json()["orders"] if o["action"] == "waiting"}
    assert waiting == {10106} and first.code == 1
    for _ in range(4):  # its Member State answers again after a few checks
        run = cli("invoice")
        if _final(sandbox, 10106) is not None:
            break
        assert run.code == 1
    assert _final(sandbox, 10106) is not None and run.code == 0


def test_an_order_waiting_for_vies_is_printed_once_the_wait_has_lasted(sandbox, cli):
    # README: a failure that passes by itself (VIES silent among them) is kept quiet, and
    # printed once it has lasted [alerts] unreachable_minutes (default 60), then reminded like
    # any failure. A wait for VIES was never printed: cron stayed silent for days while a paid
    # order had no invoice (the exit code alone said so).
    sandbox.store.cancel_order(10105)  # its VAT number is invalid: a failure of its own
    [number] = [o for o in sandbox.vies.unavailable_for if o[0] == "ES"]
    sandbox.vies.set_unavailable(*number, 1000)  # its Member State stays silent
    first = cli("invoice")
    assert first.code == 1 and first.stdout == "", first.stdout
    sandbox.virtual_clock.advance(minutes=30)
    early = cli("invoice")
    assert early.code == 1 and early.stdout == "", early.stdout  # not lasting yet
    sandbox.virtual_clock.advance(minutes=31)
    lasted = cli("invoice")
    assert lasted.code == 1
    assert "10106" in lasted.stdout and "VIES" in lasted.stdout, lasted.stdout
    again = cli("invoice")  # told: quiet until its reminder
    assert again.code == 1 and again.stdout == "", again.stdout


def test_a_lasting_wait_for_vies_is_not_printed_again_when_only_vies_words_change(sandbox, cli):
    # Told once, a wait that lasts is reminded after [invoice] remind_failed_hours, like any
    # failure: VIES's answer varies (MS_UNAVAILABLE, a 502 of its gateway), and each new
    # wording was printed as if new, a mail every cron run while VIES flapped.
    sandbox.store.cancel_order(10105)  # its VAT number is invalid: a failure of its own
    [number] = [o for o in sandbox.vies.unavailable_for if o[0] == "ES"]
    sandbox.vies.set_unavailable(*number, 1000)
    assert cli("invoice").stdout == ""
    sandbox.virtual_clock.advance(minutes=61)
    lasted = cli("invoice")
    assert "10106" in lasted.stdout and "MS_UNAVAILABLE" in lasted.stdout, lasted.stdout
    sandbox.faults.add(service="vies", kind="502", method="*", path="", times=None)
    sandbox.virtual_clock.advance(minutes=10)
    reworded = cli("invoice", "--json").json()
    [waits] = [o for o in reworded["quiet"] if str(o["order_id"]) == "10106"]
    assert "502" in waits["error"] and "MS_UNAVAILABLE" not in waits["error"]
    assert cli("invoice").stdout == ""  # quiet until its reminder
    sandbox.virtual_clock.advance(hours=24)
    assert "10106" in cli("invoice").stdout  # the reminder
