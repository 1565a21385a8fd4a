"""`invoice`, `resend`, `status`, `credit`: the real CLI against the sandbox over loopback."""

from __future__ import annotations

import os
import time
from datetime import date
from decimal import Decimal

import pytest

from igest_sync.adapters.jumpseller.parse import parse_order
from igest_sync.fiscal.mapping import expected_gross
from igest_sync.timeutil import lisbon_date

from .conftest import Cli, make_cli

START = date(2026, 11, 1)


def _orders(sb, status: str) -> list[dict]:
    return [
        sb.store.order(i)
        for i in sb.store.order_ids()
        if sb.store.order(i)["status_enum"] == status
    ]


def _should_be_invoiced(sb) -> dict[str, Decimal]:
    """external reference -> the gross the document must carry, computed from the store."""
    code = sb.credentials["jumpseller"]["login"]
    wanted = {}
    for raw in _orders(sb, "paid"):
        order = parse_order({"order": raw})
        if order.completed_at and lisbon_date(order.completed_at) >= START:
            wanted[f"jumpseller:{code}:{order.id}"] = expected_gross(order)
    return wanted


def _finals(sb) -> dict[str, list[dict]]:
    return sb.igest.final_documents_by_reference()


def _credits(sb, base: str) -> list[dict]:
    """The final credit notes whose reference is ``base`` or one of its request keys."""
    return [d for ref, docs in _finals(sb).items() if ref.startswith(base) for d in docs]


def _assert_exactly_once(sb) -> None:
    finals = _finals(sb)
    wanted = _should_be_invoiced(sb)
    invoices = {ref: docs for ref, docs in finals.items() if ":credit" not in ref}
    assert set(invoices) == set(wanted)
    for ref, docs in invoices.items():
        assert len(docs) == 1, f"{ref} has {len(docs)} final documents"
        assert Decimal(str(docs[0]["gross_total"])) == wanted[ref], ref
    assert [d for d in sb.igest.documents if d["status"] == "draft"] == []


def test_each_paid_order_gets_exactly_one_final_document_with_its_total(sandbox, cli: Cli):
    result = cli("invoice")
    assert result.code == 0, result.stderr
    assert result.stdout == ""  # cron: quiet when nothing needs a person
    _assert_exactly_once(sandbox)
    never = {
        o["id"]
        for o in _orders(sandbox, "pending_payment")
        + _orders(sandbox, "abandoned")
        + _orders(sandbox, "canceled")
    }
    refs = "".join(_finals(sandbox))
    assert all(f":{i}" not in refs for i in never)
    # every final document is attached once to its Jumpseller order
    for ref, docs in _finals(sandbox).items():
        order_id = int(ref.rsplit(":", 1)[1])
        attached = sandbox.store.documents.get(order_id, [])
        assert [d["public_id"] for d in attached] == [docs[0]["number"]]
    log = cli.log_text()
    assert "Finalized FR A/1 for order" in log


def test_status_lists_documents_newest_first_and_open_orders(sandbox, cli: Cli):
    assert cli("invoice").code == 0
    status = cli("status", "--json").json()
    numbers = [d["number"] for d in status["documents"]]
    assert len(numbers) == len(_should_be_invoiced(sandbox))
    assert all(d["gross_total"] for d in status["documents"])
    assert status["failed"] == []
    assert {o["order_id"] for o in status["open"]} == {
        o["id"] for o in _orders(sandbox, "pending_payment")
    }
    assert status["checkpoint"] == max(sandbox.store.order_ids())
    table = cli("status")
    assert table.code == 0 and "Documents issued" in table.stdout and "FR A/1" in table.stdout


def test_late_payment_is_invoiced_by_the_next_run_and_nothing_else(sandbox, cli: Cli):
    assert cli("invoice").code == 0
    before = len(_finals(sandbox))
    [pending, *_] = _orders(sandbox, "pending_payment")
    sandbox.store.pay_order(pending["id"])
    assert cli("invoice").code == 0
    assert len(_finals(sandbox)) == before + 1
    _assert_exactly_once(sandbox)
    assert cli("invoice").code == 0
    assert len(_finals(sandbox)) == before + 1


def test_a_lost_state_file_issues_nothing_new(sandbox, cli: Cli):
    assert cli("invoice").code == 0
    before = {ref: [d["number"] for d in docs] for ref, docs in _finals(sandbox).items()}
    for suffix in ("", "-wal", "-shm"):
        path = cli.state.with_name(cli.state.name + suffix)
        if path.exists():
            path.unlink()
    result = cli("invoice", "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["issued"] == 0 and report["adopted"] == len(before)
    after = {ref: [d["number"] for d in docs] for ref, docs in _finals(sandbox).items()}
    assert after == before
    # the ledger knows them again, so status is complete
    assert len(cli("status", "--json").json()["documents"]) == len(before)


@pytest.mark.real_day
def test_two_runs_at_the_same_moment_issue_each_document_once(sandbox, cli: Cli):
    sandbox.jumpseller_app.latency = 0.05  # keep the first run busy while the second starts
    first, second = cli.start("invoice"), cli.start("invoice")
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 3])
    for code, _, err in results:
        if code == 3:  # silent off a terminal (issue 11.2); the reason is in the log
            assert err == "" and "Another igest-sync run" in cli.log_text()
    _assert_exactly_once(sandbox)


def test_dry_run_shows_documents_and_writes_nothing(sandbox, cli: Cli):
    result = cli("invoice", "--dry-run")
    assert result.code == 0, result.stderr
    assert "would issue" in result.stdout.lower() and "total 29.97 EUR" in result.stdout
    assert sandbox.igest.documents == []
    assert not cli.state.exists()
    data = cli("invoice", "--dry-run", "--json").json()
    assert data["dry_run"] and len(data["documents"]) == len(_should_be_invoiced(sandbox))
    assert sum(1 for o in data["orders"] if o["action"] == "would issue") == len(data["documents"])


def test_without_start_date_or_checkpoint_the_run_refuses(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, invoice={"start_date": ""})
    result = cli("invoice")
    assert result.code == 2
    assert "start_date" in result.stderr and "--since" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.igest.documents == []
    backfill = cli("invoice", "--since", "2026-11-10")
    assert backfill.code == 0, backfill.stderr
    assert len(_finals(sandbox)) == 5  # only orders paid on or after the 10th
    for docs in _finals(sandbox).values():
        order_id = int(docs[0]["external_reference"].rsplit(":", 1)[1])
        paid = parse_order({"order": sandbox.store.order(order_id)}).completed_at
        assert lisbon_date(paid) >= date(2026, 11, 10)


def test_a_backfill_from_a_day_to_come_is_refused_before_anything_is_asked(sandbox, cli):
    # The in-process CLI lives in the sandbox's day, 27 November 2026: 2062 is a mistyped year.
    result = cli("invoice", "--since", "2062-11-01")
    assert result.code == 2
    assert "--since 2062-11-01 is after today (2026-11-27)" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.igest.documents == []
    assert cli("invoice", "--since", "2026-11-27").code == 0  # today is a day that has begun


def _add_paid_order(sb, **kwargs) -> int:
    from igest_sandbox.jumpseller.orders import Buyer

    buyer = kwargs.pop("buyer", None) or Buyer(
        "Carla", "Nunes", "carla@example.pt", "911111111", taxid=kwargs.pop("taxid", None)
    )
    return sb.store.add_order(
        lines=[
            {
                "sku": "CAN-AZU",
                "name": "Caneca de grés - Azul",
                "price": "9.99",
                "qty": 2,
                "rate": 23,
            }
        ],
        shipping="3.90",
        buyer=buyer,
        **kwargs,
    )


def test_a_bad_nif_fails_the_order_until_resend_decides(sandbox, tmp_path):
    # Reminders every run (remind_failed_hours 0), so the second run reports it again.
    cli = make_cli(sandbox, tmp_path, invoice={"remind_failed_hours": 0})
    assert cli("invoice").code == 0
    order_id = _add_paid_order(sandbox, taxid="123456788")  # wrong check digit
    result = cli("invoice")
    assert result.code == 1
    assert str(order_id) in result.stdout and "123456788" in result.stdout
    failed = cli("status", "--json").json()["failed"]
    assert [f["order_id"] for f in failed] == [order_id]
    assert "--nif" in failed[0]["error"] and "--as-consumer" in failed[0]["error"]
    # a later run does not retry a data failure by itself, and never records it as a success
    assert cli("invoice").code == 1
    assert f":{order_id}" not in "".join(_finals(sandbox))
    resend = cli("resend", str(order_id), "--nif", "123456789")
    assert resend.code == 0, resend.stdout + resend.stderr
    [doc] = _finals(sandbox)[f"jumpseller:{sandbox.credentials['jumpseller']['login']}:{order_id}"]
    assert doc["customer"]["nif"] == "123456789"
    assert cli("status", "--json").json()["failed"] == []
    again = cli("resend", str(order_id))
    assert again.code == 0 and doc["number"] in again.stdout
    assert len(sandbox.igest.documents) == len(_finals(sandbox))


def test_a_series_igest_does_not_have_fails_the_order_naming_the_setting_to_correct(
    sandbox, tmp_path
):
    # "iGEST refused the document: ... no active series 'Z' for FR": the merchant was not told
    # that the config, not the order, was wrong, nor what to do.
    wrong = make_cli(sandbox, tmp_path, invoice={"series": "Z"})
    assert wrong("invoice").code == 1
    order_id = _add_paid_order(sandbox)
    # The dry run says so first, rather than promise the document the real run cannot issue.
    dry = wrong("invoice", "--dry-run", "--json").json()
    [mine] = [o for o in dry["orders"] if o["order_id"] == order_id]
    assert mine["action"] == "would fail" and "[invoice] series in the config" in mine["detail"]
    assert dry["would_issue"] == 0
    assert wrong("invoice").code == 1
    [reason] = [
        f["error"] for f in wrong("status", "--json").json()["failed"] if f["order_id"] == order_id
    ]
    assert "series" in reason and "[invoice] series in the config" in reason
    assert f"`igest-sync resend {order_id}`" in reason and "igest-sync check" in reason
    right = make_cli(sandbox, tmp_path, invoice={"series": "A"})
    assert right("resend", str(order_id)).code == 0
    assert f":{order_id}" in "".join(_finals(sandbox))


def test_cron_mails_a_stuck_order_once_then_stays_quiet(sandbox, cli: Cli):
    # Off a terminal (as under cron) a run prints only a problem it has not shown yet.
    assert cli("invoice").code == 0
    order_id = _add_paid_order(sandbox, taxid="123456788")  # wrong check digit: stuck
    first = cli("invoice")
    assert first.code == 1 and str(order_id) in first.stdout
    for _ in range(2):
        quiet = cli("invoice")
        # Quiet (told already), but exit 1: a paid order is still not issued.
        assert (quiet.code, quiet.stdout) == (1, ""), quiet.stdout + quiet.stderr
    assert [f["order_id"] for f in cli("status", "--json").json()["failed"]] == [order_id]
    assert cli("invoice", "--json").json()["quiet"] == [
        {"order_id": order_id, "error": cli.status()["failed"][0]["error"]}
    ]


def test_an_answer_lost_after_the_draft_post_is_recovered_without_a_duplicate(sandbox, cli: Cli):
    sandbox.faults.add("igest", "reset", method="POST", path=r"^/v1/documents$", after=True)
    first = cli("invoice")
    # A failure the next run retries by itself is the log's: cron mails nothing; exit 1, as
    # the order is not issued yet.
    assert (first.code, first.stdout) == (1, ""), first.stdout + first.stderr
    failed = cli("status", "--json").json()["failed"]
    assert len(failed) == 1 and failed[0]["transient"]
    assert f"Order {failed[0]['order_id']} not invoiced" in cli.log_text()
    second = cli("invoice")
    assert second.code == 0, second.stdout + second.stderr
    _assert_exactly_once(sandbox)


def test_an_answer_lost_after_finalize_is_adopted_not_repeated(sandbox, cli: Cli):
    sandbox.faults.add(
        "igest", "reset", method="POST", path=r"^/v1/documents/\d+/finalize$", after=True
    )
    lost = cli("invoice")
    assert (lost.code, lost.stdout) == (1, "")  # retried by the next run: nothing to mail
    assert cli("invoice").code == 0
    _assert_exactly_once(sandbox)


def test_a_cancelled_invoiced_order_gets_one_credit_note(sandbox, cli: Cli):
    # An order paid now: the seed's are dated November 2026 and the run's day is the real one,
    # so a seed order would leave [invoice] credit_lookback_days (90) one day.
    order_id = _add_paid_order(sandbox)
    assert cli("invoice").code == 0
    code = sandbox.credentials["jumpseller"]["login"]
    [invoice] = _finals(sandbox)[f"jumpseller:{code}:{order_id}"]
    sandbox.store.cancel_order(order_id)
    assert cli("invoice").code == 0
    assert cli("invoice").code == 0  # a second run credits nothing more
    [credit] = _credits(sandbox, f"jumpseller:{code}:{order_id}:credit")
    assert credit["type"] == "NC"
    assert Decimal(str(credit["gross_total"])) == Decimal(str(invoice["gross_total"]))
    assert credit["related_document"]["number"] == invoice["number"]
    attached = sandbox.store.documents[order_id]
    assert [(d["document_type"], d["public_id"]) for d in attached] == [
        (1, invoice["number"]),
        (0, credit["number"]),
    ]
    by_hand = cli("credit", str(order_id), "--reason", "Devolução")
    assert by_hand.code == 0 and credit["number"] in by_hand.stdout
    assert len(_credits(sandbox, f"jumpseller:{code}:{order_id}:credit")) == 1


def test_report_only_credit_setting_issues_no_credit_note(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, invoice={"credit_cancelled": False})
    assert cli("invoice").code == 0
    ref = next(iter(_finals(sandbox)))
    order_id = int(ref.rsplit(":", 1)[1])
    sandbox.store.cancel_order(order_id)
    result = cli("invoice")
    assert result.code == 0
    assert f"igest-sync credit {order_id}" in result.stdout
    assert not any(":credit" in r for r in _finals(sandbox))


def test_fail_if_late_exits_1_only_when_a_paid_order_waits_too_long(sandbox, cli: Cli):
    assert cli("invoice").code == 0
    assert cli("status", "--fail-if-late", "24").code == 0
    order_id = _add_paid_order(sandbox, taxid="123456788")
    from datetime import timedelta

    old = sandbox.clock() - timedelta(hours=30)
    sandbox.store.order(order_id)["completed_at"] = old.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert cli("invoice").code == 1
    late = cli("status", "--fail-if-late", "24")
    assert late.code == 1 and "Late" in late.stdout and str(order_id) in late.stdout
    assert cli("status", "--fail-if-late", "48").code == 0


def test_fail_if_late_exits_1_when_no_run_has_ended_for_that_long(sandbox, cli: Cli):
    """A broken timer or a dead serve lists nothing: the orders paid since are in no list,
    so the check must read the last run's end too, or it stays green while sales go unseen."""
    assert cli("invoice").code == 0
    sandbox.virtual_clock.advance(hours=23)
    assert cli("status", "--fail-if-late", "24").code == 0
    sandbox.virtual_clock.advance(hours=2)
    _add_paid_order(sandbox)  # paid, and no run has seen it
    blind = cli("status", "--fail-if-late", "24")
    assert blind.code == 1
    assert "No invoice run has ended for 25 hours" in blind.stderr
    assert "`igest-sync invoice` looks now" in blind.stderr
    assert cli("status", "--fail-if-late", "48").code == 0
    assert cli("invoice").code == 0  # it looks, and invoices the order in time
    assert cli("status", "--fail-if-late", "24").code == 0


def test_the_log_file_is_written_and_secrets_never_appear(sandbox, cli: Cli):
    sandbox.faults.add("igest", "502", method="POST", path=r"^/v1/documents$")
    cli("--verbose", "invoice")
    cli("invoice")
    cli("status")
    secrets = [
        sandbox.credentials["jumpseller"]["auth_token"],
        sandbox.credentials["igest"]["security_code"],
        sandbox.credentials["igest"]["integration_key"],
    ]
    captured = "".join(cli.outputs) + cli.log_text()
    assert "502" in captured
    for secret in secrets:
        assert secret not in captured
    assert os.stat(cli.home / "logs" / "igest-sync.log").st_mode & 0o077 == 0
    time.sleep(0)  # keep the import used in every path


def test_status_shows_the_credit_note_of_a_credited_invoice(sandbox, cli: Cli):
    order_id = _add_paid_order(sandbox)  # paid now: within credit_lookback_days on any day
    assert cli("invoice").code == 0
    sandbox.store.cancel_order(order_id)
    assert cli("invoice").code == 0
    documents = cli("status", "--json").json()["documents"]
    [row] = [d for d in documents if d["order_id"] == order_id and d["kind"] == "invoice"]
    [credit] = [d for d in documents if d["order_id"] == order_id and d["kind"] == "credit"]
    assert row["credited_by"] == credit["number"] and credit["type"] == "NC"
    assert credit["number"] in cli("status").stdout


def test_a_failed_link_back_never_touches_the_invoice_and_is_retried_once(sandbox, cli: Cli):
    sandbox.faults.add(
        "jumpseller", "500", method="POST", path=r"/orders/\d+/documents\.json$", times=None
    )
    first = cli("invoice")
    assert first.code == 0  # the invoices are fine; the note says what was not attached
    assert "could not be attached" in first.stdout
    _assert_exactly_once(sandbox)
    posts = sandbox.stats()["jumpseller"]["by_route"]["POST /v1/orders/{id}/documents.json"]
    assert cli("invoice").code == 0
    again = sandbox.stats()["jumpseller"]["by_route"]["POST /v1/orders/{id}/documents.json"]
    assert again == 2 * posts  # one retry per document on the next run
    sandbox.faults.clear()
    assert cli("invoice").code == 0
    assert (
        sandbox.stats()["jumpseller"]["by_route"]["POST /v1/orders/{id}/documents.json"] == again
    )  # never a third time
    _assert_exactly_once(sandbox)


def test_documents_are_emailed_once_and_never_for_old_orders(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, invoice={"email_customer": True, "email_max_age_days": 3})
    fresh = _add_paid_order(sandbox)
    assert cli("invoice").code == 0
    assert cli("invoice").code == 0
    emailed = [e for e in sandbox.igest.emails]
    assert len(emailed) == 1  # the seeded orders were paid weeks ago: no backfill spam
    assert emailed[0]["to"] == sandbox.store.order(fresh)["customer"]["email"]


def _killed_run(cli: Cli) -> int | None:
    """An invoice run that dies right after classifying the orders, before issuing any."""
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient
    from igest_sync.config import load_config
    from igest_sync.runs.invoicing.invoice import InvoiceRun
    from igest_sync.state.ledger import Ledger

    config, _ = load_config(cli.config)
    with (
        JumpsellerClient(
            config.jumpseller.base_url, config.jumpseller.login, config.jumpseller.auth_token
        ) as js,
        IgestClient(
            config.igest.base_url, config.igest.integration_key, config.igest.security_code
        ) as ig,
        Ledger(cli.state) as ledger,
    ):

        def killed(step: str) -> None:
            raise SystemExit(f"killed before {step}")

        run = InvoiceRun.build(config, ledger, js, ig, crash_hook=killed)
        try:
            run.run()
        except SystemExit:
            pass
        return ledger.checkpoint


def test_orders_seen_by_a_killed_run_are_not_forgotten(sandbox, cli: Cli):
    assert _killed_run(cli) == max(sandbox.store.order_ids())
    assert sandbox.igest.documents == []
    assert cli("invoice").code == 0
    _assert_exactly_once(sandbox)


def test_a_lost_state_file_then_a_killed_run_still_issues_nothing_twice(sandbox, cli: Cli):
    assert cli("invoice").code == 0
    issued = len(sandbox.igest.documents)
    for suffix in ("", "-wal", "-shm"):
        path = cli.state.with_name(cli.state.name + suffix)
        if path.exists():
            path.unlink()
    _killed_run(cli)  # the new ledger now has a checkpoint but knows no documents
    result = cli("invoice", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["issued"] == 0
    assert len(sandbox.igest.documents) == issued
    _assert_exactly_once(sandbox)


def test_a_backfill_over_days_this_ledger_never_saw_adopts_what_iGEST_has(sandbox, tmp_path):
    first = make_cli(sandbox, tmp_path / "one")
    assert first("invoice").code == 0
    issued = len(sandbox.igest.documents)
    # A new ledger that started later (the earlier orders were skipped as before its start)...
    assert (
        make_cli(sandbox, tmp_path / "two", invoice={"start_date": "2026-11-12"})("invoice").code
        == 0
    )
    # ... then the merchant moves the start back and backfills the days it never invoiced.
    second = make_cli(sandbox, tmp_path / "two", invoice={"start_date": "2026-11-01"})
    backfill = second("invoice", "--since", "2026-11-01", "--json")
    assert backfill.code == 0, backfill.stderr
    assert backfill.json()["issued"] == 0
    assert len(sandbox.igest.documents) == issued
    _assert_exactly_once(sandbox)


def test_an_open_order_deleted_in_jumpseller_does_not_stop_the_run(sandbox, cli: Cli):
    assert cli("invoice").code == 0
    [pending, *_] = _orders(sandbox, "pending_payment")
    del sandbox.store.orders[pending["id"]]
    sandbox.store._order_ids.remove(pending["id"])
    result = cli("invoice")
    assert result.code == 0, result.stdout + result.stderr
    assert pending["id"] not in {o["order_id"] for o in cli("status", "--json").json()["open"]}
    assert "gone from Jumpseller" in cli.log_text()


def test_a_failed_hand_credit_for_an_invoice_this_ledger_never_issued_does_not_break_runs(
    sandbox, tmp_path
):
    assert make_cli(sandbox, tmp_path / "one")("invoice").code == 0
    later = make_cli(sandbox, tmp_path / "two", invoice={"start_date": "2026-11-12"})
    assert later("invoice").code == 0  # this ledger holds only the invoices from the 12th on
    sandbox.store.cancel_order(10002)
    # Refused three times (the attempt, and the two lookups-and-retries a lost answer gets).
    sandbox.faults.add("igest", "502", method="POST", path=r"^/v1/documents$", times=3)
    assert later("credit", "10002", "--reason", "Devolução", "--yes").code == 1
    result = later("invoice")
    # The credit still waits, retried by every run (quiet until it lasts); no internal error.
    assert result.code == 0, result.stdout + result.stderr
    assert "internal error" not in result.stderr + later.log_text()
    assert 10002 in {f["order_id"] for f in later.status()["failed"]}
    again = later("credit", "10002", "--reason", "Devolução", "--yes")
    assert again.code == 0, again.stdout + again.stderr
    code = sandbox.credentials["jumpseller"]["login"]
    assert len(_credits(sandbox, f"jumpseller:{code}:10002:credit")) == 1


def test_a_state_file_is_one_stores_and_another_stores_config_is_stopped(sandbox, cli: Cli):
    # The sandbox tried with the default state file, then the real store's config: its
    # checkpoint was taken for the new store's and every order of it was skipped, silently.
    assert cli("invoice").code == 0
    other = make_cli(sandbox, cli.home, jumpseller={"store": "outra-loja"})
    for args in (["invoice"], ["invoice", "--dry-run"], ["status"]):
        result = other(*args)
        assert result.code == 4, (args, result.stdout + result.stderr)
        login = sandbox.credentials["jumpseller"]["login"]
        assert f"belongs to store '{login}', not to 'outra-loja'" in result.stderr
        assert "--state" in result.stderr and "Traceback" not in result.stderr
    fresh = make_cli(sandbox, cli.home / "outra", jumpseller={"store": "outra-loja"})
    assert fresh("invoice").code in (0, 1)  # its own state file: a first run of its own


def test_under_quiet_a_product_created_with_no_stock_is_still_said(cli: Cli):
    # cron runs -q: the note that a new product has no stock in iGEST (the next sync-stock
    # would show it sold out) was printed only on a terminal; the shop then sold out silently.
    quiet = cli("-q", "sync-products")
    assert quiet.code == 0, quiet.stdout + quiet.stderr
    assert "Created in iGEST with no stock while the shop has some:" in quiet.stdout
    assert "before the next sync-stock" in quiet.stdout
    assert cli("-q", "sync-products").stdout == ""  # nothing new: quiet again


def test_under_quiet_a_product_that_cannot_be_synced_is_said(sandbox, cli: Cli):
    # cron runs -q: a SKU left alone because it cannot be made in iGEST as it stands (here too
    # long for an iGEST reference) needs a person; it was printed only on a terminal.
    long_sku = "AZULEJO-PINTADO-A-MAO-" + "X" * 45
    sandbox.store.add_product(name="Azulejo pintado", price="12.00", sku=long_sku, stock=3)
    quiet = cli("-q", "sync-products")
    assert "Left alone, a person's to fix:" in quiet.stdout
    assert long_sku in quiet.stdout and "give it a shorter SKU" in " ".join(quiet.stdout.split())


def test_under_quiet_a_sku_igest_holds_twice_is_said_and_neither_is_written(sandbox, cli: Cli):
    # iGEST holds "PRATO-1 " and "PRATO-1": --update rewrote the first listed, another article.
    sandbox.store.add_product(name="Prato novo", price="20.00", sku="PRATO-1", stock=1)
    sandbox.igest.add_product("PRATO-1 ", "Prato antigo (outro artigo)", "1.00")
    sandbox.igest.add_product("PRATO-1", "Prato", "1.00")
    quiet = cli("-q", "sync-products", "--update")
    assert quiet.code == 0, quiet.stdout + quiet.stderr
    said = " ".join(quiet.stdout.split())
    assert "Left alone, a person's to fix:" in said
    assert "PRATO-1: iGEST holds 2 products under this reference" in said
    held = {p["reference"]: p["description"] for p in sandbox.igest.products.values()}
    assert held["PRATO-1 "] == "Prato antigo (outro artigo)" and held["PRATO-1"] == "Prato"


def test_under_quiet_a_product_igest_holds_as_a_service_is_said_with_the_fix(sandbox, cli: Cli):
    sandbox.store.add_product(name="Caneca grande", price="12.30", sku="TYPE-1", stock=4)
    sandbox.igest.add_product("TYPE-1", "Caneca grande", "10.00", type="S")
    quiet = cli("-q", "sync-products", "--update")
    assert quiet.code == 0, quiet.stdout + quiet.stderr
    said = " ".join(quiet.stdout.split())
    assert "Left alone, a person's to fix:" in said
    assert "TYPE-1: In iGEST; iGEST has it as a service (S) while the shop sells goods" in said
    stock = " ".join(cli("sync-stock", "--dry-run").stdout.split())
    assert "or a service there?" in stock  # not only "missing in iGEST?"


def test_under_quiet_a_sku_missing_or_shared_in_the_shop_is_warned_of_on_stderr(sandbox, cli: Cli):
    # cron runs -q: a second product with AZL-LIS, and one without a SKU, were left out of
    # every sync (product and stock) with exit 0 and not a word.
    sandbox.store.add_product(name="Azulejo Lisboa (cópia)", price="12.90", sku="AZL-LIS", stock=2)
    nameless = sandbox.store.add_product(name="Postal sem SKU", price="1.50", sku=None, stock=9)
    for command in ("sync-products", "sync-stock"):
        quiet = cli("-q", command)
        assert quiet.code == 0, quiet.stdout + quiet.stderr
        err = " ".join(quiet.stderr.split())
        assert "warning: AZL-LIS: SKU used by 2 Jumpseller items" in err, command
        assert "give each its own SKU in Jumpseller" in err
        assert f"product {nameless}: No SKU in Jumpseller (Postal sem SKU); add one" in err
