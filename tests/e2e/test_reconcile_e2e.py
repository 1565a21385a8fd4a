"""reconcile, end to end: the real CLI against the sandbox, with inconsistencies planted in it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.config import load_config
from igest_sync.fiscal.mapping import build_document
from igest_sync.references import external_reference

from .conftest import make_cli

FIRST_DAY = "2026-11-01"  # the sandbox config's start_date; the seed orders are later


def problems(result) -> set[tuple[str, int | None]]:
    return {(p["kind"], p["order_id"]) for p in result.json()["problems"]}


def final_numbers(sandbox, reference: str) -> list[str]:
    return [d["number"] for d in sandbox.igest.final_documents_by_reference().get(reference, [])]


@pytest.mark.slow(3)
def test_reconcile_finds_each_planted_problem_and_fix_issues_only_the_missing(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, invoice={"credit_cancelled": False})
    config, _ = load_config(cli.config)
    store = config.jumpseller.store
    today = sandbox.igest.today()
    period = ("--from", FIRST_DAY, "--to", today.isoformat())

    def ref(order_id: int, kind: str = "") -> str:
        return f"jumpseller:{store}:{order_id}" + (f":{kind}" if kind else "")

    assert cli("invoice").code == 0
    clean = cli("reconcile", *period, "--json")
    assert clean.code == 0, clean.stdout + clean.stderr
    assert clean.json()["clean"] is True and clean.json()["problems"] == []
    paid_ever = [o for o in sandbox.store.orders.values() if o.get("completed_at")]
    assert clean.json()["orders_checked"] == len(paid_ever)
    assert clean.json()["documents_checked"] == len(sandbox.igest.final_documents_by_reference())

    # Uncredited: an invoiced order is cancelled and the next run, told not to, issues no NC.
    sandbox.store.cancel_order(10003)
    assert cli("invoice").code == 0
    assert final_numbers(sandbox, ref(10003, "credit")) == []
    # Missing: paid after the last run, no run since.
    sandbox.store.pay_order(10015)
    # Wrong total, duplicate, unknown order, another store's document: posted to iGEST by hand.
    sandbox.store.pay_order(10016)
    with JumpsellerClient(**_js(sandbox)) as js, IgestClient(**_ig(sandbox)) as ig:

        def draft(order_id: int):
            return build_document(
                js.order(order_id),
                config.invoice,
                reference=external_reference(store, order_id),
                issue_date=today,
            )

        wrong = draft(10016)
        first = wrong.lines[0]
        ig.create_document(
            replace(wrong, lines=(replace(first, quantity=first.quantity + 1), *wrong.lines[1:])),
            finalize=True,
        )
        ig.create_document(draft(10002), finalize=True)
        ig.create_document(replace(draft(10001), external_reference=ref(99999)), finalize=True)
        ig.create_document(
            replace(draft(10005), external_reference="jumpseller:other:10005"), finalize=True
        )
    planted = {
        ("missing", 10015),
        ("duplicate", 10002),
        ("wrong_total", 10016),
        ("uncredited", 10003),
        ("unknown_order", 99999),
    }

    found = cli("reconcile", *period, "--json")
    assert found.code == 1, found.stderr
    assert problems(found) == planted
    assert sum(found.json()["counts"].values()) == len(planted)
    by_kind = {p["kind"]: p for p in found.json()["problems"]}
    assert by_kind["duplicate"]["documents"] == final_numbers(sandbox, ref(10002))
    assert by_kind["wrong_total"]["found"] != by_kind["wrong_total"]["expected"]

    table = cli("reconcile", *period)
    assert table.code == 1
    for kind, order_id in planted:
        assert kind.replace("_", " ") in table.stdout and str(order_id) in table.stdout

    documents_before = len(sandbox.igest.documents)
    fixed = cli("reconcile", *period, "--fix", "--json")
    assert fixed.code == 1, fixed.stderr  # the rest needs a person
    assert [(f["order_id"], f["action"]) for f in fixed.json()["fixes"]] == [(10015, "issued")]
    assert len(final_numbers(sandbox, ref(10015))) == 1
    assert len(sandbox.igest.documents) == documents_before + 1  # nothing credited or deleted
    assert final_numbers(sandbox, ref(10003, "credit")) == []
    assert len(final_numbers(sandbox, ref(10002))) == 2

    after = cli("reconcile", *period, "--json")
    assert after.code == 1
    assert problems(after) == planted - {("missing", 10015)}


@pytest.mark.slow(2)
def test_an_order_paid_again_after_its_credit_is_a_problem_fix_leaves_to_a_person(
    sandbox, tmp_path
):
    # Invoiced, cancelled (the next run credits it in full), then set back to paid: the
    # customer paid and iGEST holds nothing net. The runs say it once; reconcile every time.
    cli = make_cli(sandbox, tmp_path)
    assert cli("invoice").code == 0
    sandbox.store.cancel_order(10002)
    assert cli("invoice").code == 0
    sandbox.store.set_status(10002, "paid")
    told = cli("invoice", "--json")
    assert any("Order 10002: paid again" in n for n in told.json()["notices"]), told.stdout

    found = cli("reconcile", "--from", FIRST_DAY, "--json")
    assert found.code == 1, found.stdout + found.stderr
    [problem] = found.json()["problems"]
    assert (problem["kind"], problem["order_id"]) == ("paid_again", 10002)
    assert problem["found"] == "0.00" and problem["expected"] not in (None, "0.00")
    assert "by hand in iGEST" in problem["hint"] and not problem["fixable"]
    table = cli("reconcile", "--from", FIRST_DAY)
    assert table.code == 1 and "paid again" in table.stdout and "Clean" not in table.stdout

    documents = len(sandbox.igest.documents)
    fixed = cli("reconcile", "--from", FIRST_DAY, "--fix", "--json")
    assert fixed.code == 1, fixed.stderr
    assert fixed.json()["fixes"] == [] and len(sandbox.igest.documents) == documents

    status = cli("status", "--order", "10002", "--json")
    assert "issue this sale's invoice by hand" in status.json()["order"]["paid_again"]
    assert "issue this sale's invoice by hand" in cli("status", "--order", "10002").stdout


def _refused_orders(sb) -> dict[str, int]:
    """Paid orders the mapping refuses, each for a cause a person must fix."""
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}
    usd = sb.store.add_order(lines=[line], currency="USD")
    none = sb.store.add_order(lines=[line, {**line, "sku": "TAB-CAR", "qty": 0}])
    rate = sb.store.add_order(lines=[{**line, "rate": 22}])  # a Madeira rate, in the mainland
    off = sb.store.add_order(lines=[line])
    order = sb.store.order(off)
    order["total"] = D(str(order["total"])) + D("0.01")  # a cent off its lines
    return {"usd": usd, "qty 0": none, "rate": rate, "cent": off}


@pytest.mark.slow(2)
def test_an_order_the_runs_refused_is_not_sent_to_fix_but_to_its_cause(sandbox, tmp_path):
    # Before: each was "missing", fixable, "igest-sync reconcile --fix, or igest-sync resend
    # N"; --fix then failed on every one. The ledger knows why: the person must fix that.
    cli = make_cli(sandbox, tmp_path)
    refused = _refused_orders(sandbox)
    assert cli("invoice").code != 0
    failed = {f["order_id"]: f for f in cli("status", "--failed", "--json").json()["failed"]}
    assert set(refused.values()) <= set(failed)
    # A service that did not answer: the next run retries it by itself.
    sandbox.store.pay_order(10015)
    sandbox.faults.add("igest", "502", method="POST", path=r"^/v1/documents$", times=None)
    cli("invoice")
    sandbox.faults.clear()

    found = cli("reconcile", "--from", FIRST_DAY, "--json")
    assert found.code == 1, found.stdout + found.stderr
    by_order = {p["order_id"]: p for p in found.json()["problems"]}
    assert {o for o, p in by_order.items() if p["kind"] == "missing"} == {
        *refused.values(),
        10015,
    }
    for order_id in refused.values():
        problem = by_order[order_id]
        assert not problem["fixable"], problem
        assert "reconcile --fix" not in problem["hint"]
        assert problem["hint"].startswith("fix the cause") and problem["hint"].endswith(
            f"igest-sync resend {order_id}`"
        )
        assert "; failed in igest-sync: " in problem["detail"]
    assert "USD" in by_order[refused["usd"]]["detail"]
    assert "22" in by_order[refused["rate"]]["detail"]
    retried = by_order[10015]
    assert retried["fixable"] and "tries again by itself" in retried["hint"]
    assert "not issued yet: could not reach iGEST" in retried["detail"]

    fixed = cli("reconcile", "--from", FIRST_DAY, "--fix", "--json")
    assert [(f["order_id"], f["action"]) for f in fixed.json()["fixes"]] == [(10015, "issued")]


def test_an_order_whose_total_cannot_be_read_is_not_said_paid_0(sandbox, tmp_path):
    # Before: "paid on 2026-11-27 (0.00 EUR)" and expected "0.00": the parser's neutral value.
    cli = make_cli(sandbox, tmp_path)
    line = {"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}
    broken = sandbox.store.add_order(lines=[line])
    sandbox.store.order(broken)["total"] = "abc"
    assert cli("invoice").code != 0

    found = cli("reconcile", "--from", FIRST_DAY, "--json")
    assert found.code == 1, found.stdout + found.stderr
    [problem] = [p for p in found.json()["problems"] if p["order_id"] == broken]
    assert problem["expected"] is None
    assert problem["detail"].startswith(
        "paid on 2026-11-27 (its total cannot be read: total is 'abc', not a number); "
    )
    assert "0.00" not in problem["detail"]
    table = cli("reconcile", "--from", FIRST_DAY)
    assert "0.00 EUR" not in table.stdout and "abc" in table.stdout


def test_reconcile_refuses_a_period_that_ends_before_it_starts(cli):
    result = cli("reconcile", "--from", "2026-11-30", "--to", "2026-11-01")
    assert result.code == 2
    assert "before" in result.stderr


def test_reconcile_without_to_checks_up_to_today(cli):
    # The in-process CLI lives in the sandbox's day, 27 November 2026 (tests/support/clock.py).
    assert cli("invoice").code == 0
    result = cli("reconcile", "--from", FIRST_DAY, "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["from"], report["to"]) == (FIRST_DAY, "2026-11-27")
    assert report["clean"] and report["invoices_checked"] > 0


def test_reconcile_without_to_refuses_a_period_that_starts_after_today(cli):
    result = cli("reconcile", "--from", "2026-11-28")
    assert result.code == 2
    assert "(2026-11-27) before it starts (2026-11-28)" in result.stderr
    assert "today, when --to is not given" in result.stderr


def _js(sandbox) -> dict:
    c = sandbox.credentials["jumpseller"]
    return {"base_url": c["base_url"], "login": c["login"], "auth_token": c["auth_token"]}


def _ig(sandbox) -> dict:
    c = sandbox.credentials["igest"]
    return {
        "base_url": c["base_url"],
        "integration_key": c["integration_key"],
        "security_code": c["security_code"],
    }
