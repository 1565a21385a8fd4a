"""What a person and a script see: every command at 80 columns, and every --json output
against its JSON Schema in docs/json (issue 11, points 3 and 7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.support.clock import WALL_START
from tests.support.hand_sales import sale_by_hand
from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox

from .conftest import Cli, make_cli

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "json"
COMMANDS_WITH_JSON = [
    "invoice",
    "resend",
    "approve",
    "status",
    "credit",
    "reconcile",
    "adopt",
    "sync-products",
    "sync-stock",
    "check",
    "error",
    "sandbox",
    "hooks",
    "digest",
]


def _add_order_with_bad_nif(sb) -> int:
    from igest_sandbox.jumpseller.orders import Buyer

    buyer = Buyer("Carla", "Nunes", "carla@example.pt", "911111111", taxid="123456788")
    return sb.store.add_order(
        lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}],
        shipping="3.90",
        buyer=buyer,
    )


def _validate(name: str, data: dict) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=str)
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors[:5])
    assert data["schema"] == "igest-sync/1"
    _assert_order_ids_are_integers(data)


def _assert_order_ids_are_integers(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "order_id":
                assert item is None or type(item) is int, f"order_id {item!r} is not an integer"
            _assert_order_ids_are_integers(item)
    elif isinstance(value, list):
        for item in value:
            _assert_order_ids_are_integers(item)


def test_every_schema_is_valid_draft_2020_12_and_every_command_has_one():
    names = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
    assert names == set(COMMANDS_WITH_JSON)
    for name in names:
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)


@pytest.mark.slow(3)
def test_real_json_outputs_match_their_schemas(sandbox, cli: Cli, tmp_path):
    fresh = cli("status", "--json", "--state", str(tmp_path / "none.sqlite3"))
    assert fresh.code == 0
    _validate("status", fresh.json())
    assert fresh.json()["issued_yet"] is False

    dry = cli("invoice", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    _validate("invoice", dry.json())
    assert dry.json()["documents"]
    issued = cli("invoice", "--json")
    _validate("invoice", issued.json())
    bad = _add_order_with_bad_nif(sandbox)
    failed = cli("invoice", "--json")
    assert failed.code == 1
    _validate("invoice", failed.json())
    assert bad in [o["order_id"] for o in failed.json()["orders"]]

    status = cli("status", "--json")
    _validate("status", status.json())
    # Titled by the store's name (Jumpseller's store info, remembered by the runs), not its login.
    assert status.json()["store"] == "Loja do Azulejo"
    assert [f["order_id"] for f in status.json()["failed"]] == [bad]
    one = cli("status", "--order", str(bad), "--json")
    _validate("status", one.json())
    assert one.json()["order"]["order_id"] == bad and one.json()["order"]["seen"] is True
    shown = cli("status", "--order", str(bad)).stdout
    assert f"Order {bad} (paid): no document: it failed, why and what to do below." in shown
    assert f"resend {bad} --nif" in shown  # the reason, in the failed orders' table

    resend = cli("resend", str(bad), "--nif", "123456789", "--json")
    assert resend.code == 0, resend.stdout
    _validate("resend", resend.json())
    first = next(o["order_id"] for o in issued.json()["orders"] if o["action"] == "issued")
    credit = cli("credit", str(first), "--reason", "Devolução", "--json", "--yes")
    assert credit.code == 0, credit.stdout
    _validate("credit", credit.json())

    reconcile = cli("reconcile", "--from", "2026-11-01", "--to", "2030-12-31", "--json")
    _validate("reconcile", reconcile.json())
    for command in ("sync-products", "sync-stock"):
        result = cli(command, "--dry-run", "--json")
        assert result.code == 0, result.stdout + result.stderr
        _validate(command, result.json())
    check = cli("check", "--json")
    assert check.code == 0
    _validate("check", check.json())
    assert check.json()["ok"] is True

    # Errors are JSON on stdout too, ours and the command line's.
    for args, code in [
        (("resend", "--json"), 2),
        (("status", "--order", "abc", "--json"), 2),
        (("status", "--order", "99999", "--json"), 2),  # no run has seen it
        (("invoice", "--since", "yesterday", "--json"), 2),
    ]:
        error = cli(*args)
        assert error.code == code, error.stdout + error.stderr
        _validate("error", error.json())
        assert error.json()["error"]["exit_code"] == code and error.stderr == ""


def test_sandbox_json_line_matches_its_schema(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "igest_sync", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path)},
    )
    try:
        _validate("sandbox", json.loads(proc.stdout.readline()))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


# -- 80 columns ---------------------------------------------------------------------------------


def _assert_fits(result, *, whole: tuple[str, ...] = ()) -> None:
    for line in result.stdout.splitlines():
        assert len(line) <= 80, f"{len(line)} columns: {line!r}"
    for text in whole:
        assert text in result.stdout, f"{text!r} is not whole in:\n{result.stdout}"


@pytest.mark.slow(3)
def test_every_command_fits_80_columns_without_cutting_keys_or_numbers(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, env={"COLUMNS": "80"})
    check = cli("check")
    _assert_fits(check, whole=("[invoice.exemptions] domestic_goods", "[stock] warehouse"))
    dry = cli("invoice", "--dry-run")
    _assert_fits(dry, whole=("Order 10001: FR A",))
    issued = cli("invoice")
    assert issued.code == 0
    _assert_fits(issued)
    bad = _add_order_with_bad_nif(sandbox)
    failed = cli("invoice")
    assert failed.code == 1
    _assert_fits(failed, whole=(str(bad), "123456788", "--as-consumer"))
    status = cli("status")
    _assert_fits(status, whole=("FR A/1", "FR A/11", "2026-", "--as-consumer", "Failed orders"))
    assert "Loja do Azulejo" in status.stdout  # names its store
    assert sandbox.credentials["jumpseller"]["login"] not in status.stdout
    # Failure reasons wrap between words: every word of the ledger's reason is printed whole.
    reason = cli("status", "--json").json()["failed"][0]["error"]
    words = status.stdout.split()
    for word in reason.split():
        assert word in words or any(word in w for w in words), word
    _assert_fits(cli("status", "--all"))
    _assert_fits(cli("status", "--order", str(bad)), whole=(str(bad),))
    _assert_fits(cli("resend", str(bad), "--nif", "123456789"), whole=("FR A/12",))
    credit = cli("credit", "10001", "--reason", "Devolução da encomenda", "--yes")
    _assert_fits(credit, whole=("NC A/1",))
    _assert_fits(cli("status"), whole=("NC A/1",))
    reconcile = cli("reconcile", "--from", "2026-11-01", "--to", "2030-12-31")
    _assert_fits(reconcile)
    _assert_fits(cli("sync-products", "--dry-run"))
    _assert_fits(cli("sync-stock", "--dry-run"))
    for command in ("invoice", "status", "reconcile", "init", "check"):
        _assert_fits(cli(command, "--help"))


def test_the_sandbox_banner_fits_80_columns(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "igest_sync", "sandbox"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path), "COLUMNS": "80"},
    )
    try:
        lines = []
        # Up to the last request it prints (the curl line after "see the webhooks sent").
        while len(lines) < 2 or "see the webhooks sent" not in lines[-2]:
            line = proc.stdout.readline()
            assert line, "\n".join(lines)
            lines.append(line.rstrip("\n"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert all(len(line) <= 80 for line in lines), lines
    assert any(line.startswith("security_code = ") for line in lines)


def test_a_wide_terminal_gets_the_wide_status_table(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, env={"COLUMNS": "140"})
    assert cli("invoice").code == 0
    wide = cli("status")
    assert "iGEST state" in wide.stdout and "Customer" in wide.stdout
    narrow = make_cli(sandbox, tmp_path, env={"COLUMNS": "80"})("status")
    assert "iGEST state" not in narrow.stdout and "FR A/1" in narrow.stdout


@pytest.mark.parametrize("columns", ["80", "100", "120"])
def test_status_tables_fit_each_layout(sandbox, tmp_path, columns):
    cli = make_cli(sandbox, tmp_path, env={"COLUMNS": columns})
    assert cli("invoice").code == 0
    for line in cli("status").stdout.splitlines():
        assert len(line) <= int(columns), line


def _order(sb, amount: str) -> None:
    sb.store.add_order(
        lines=[{"sku": "AZL", "name": "Azulejo", "price": amount, "qty": 1, "rate": None}],
        shipping=0,
    )


def test_an_art53_dry_run_tells_what_the_run_would_pass_in_text_and_in_json(tmp_path):
    with started_sandbox(seed=False, **FAST_LIMITS) as sb:
        sb.igest.series.append(
            {"code": "B", "document_type": "FR", "atcud_code": "JBFR", "active": True}
        )
        exempt = {"domestic_goods": "M10", "domestic_shipping": "M10"}
        cli = make_cli(sb, tmp_path, invoice={"vat_regime": "art53", "exemptions": exempt})
        sale_by_hand(sb.igest, "11000.00", day="2026-06-01")
        _order(sb, "10.00")
        assert cli("invoice").code == 0  # a state file: 11,010.00 EUR, no notice
        sale_by_hand(sb.igest, "3980.00", day=WALL_START.date().isoformat())  # the sandbox's day
        _order(sb, "10.01")  # 15,000.01 EUR
        rows = _dump(cli.state)
        text = cli("invoice", "--dry-run")
        assert text.code == 0, text.stderr
        said = " ".join(text.stdout.split())
        assert "would pass 15,000.00 EUR: 15,000.01 EUR with what this run would issue" in said
        dry = cli("invoice", "--dry-run", "--json")
        _validate("invoice", dry.json())
        [notice] = [n for n in dry.json()["notices"] if "art. 53" in n]
        assert "would pass 15,000.00 EUR" in notice
        assert _dump(cli.state) == rows  # neither run wrote the state file
        real = cli("invoice", "--json")
        [told] = [n for n in real.json()["notices"] if "art. 53" in n]
        assert "is 15,000.01 EUR, past 15,000.00 EUR" in told


def _dump(state: Path) -> list[str]:
    """The state file's every row, as SQL."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        return list(db.iterdump())
