"""The command line as a new user meets it: help, set-up, bad config files, sandbox, demo."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_cli
from tests.support.forked import Finished

from .conftest import Cli, make_cli

COMMANDS = [
    "invoice",
    "resend",
    "status",
    "sync-products",
    "sync-stock",
    "init",
    "check",
    "sandbox",
    "demo",
    "hooks",
    "credit",
    "reconcile",
    "adopt",
]


def run(*args: str, env: dict | None = None, timeout: float = 60) -> Finished:
    return run_cli(*args, env=env or os.environ.copy(), timeout=timeout)


def test_help_lists_every_command_and_each_has_an_example():
    result = run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"  {command} " in result.stdout
        sub = run(command, "--help")
        assert sub.returncode == 0 and "Examples:" in sub.stdout, command
        assert f"igest-sync {command}" in sub.stdout


def test_console_script_and_module_are_the_same_program():
    script = Path(sys.executable).with_name("igest-sync")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Exit codes" in result.stdout


BAD_CONFIGS = {
    "unknown key": (
        (
            "[jumpseller]\nbase_url='https://api.jumpseller.com/v1'\nlogin='x'\n"
            "auth_token='t'\ncolour='blue'\n[igest]\nbase_url='https://i.example/v1'\n"
            "integration_key='k'\nsecurity_code='s'\n"
        ),
        "colour",
    ),
    "missing key": (
        (
            "[jumpseller]\nbase_url='https://api.jumpseller.com/v1'\nlogin='x'\n"
            "[igest]\nbase_url='https://i.example/v1'\nintegration_key='k'\n"
            "security_code='s'\n"
        ),
        "auth_token",
    ),
    "wrong type": (
        (
            "[jumpseller]\nbase_url='https://api.jumpseller.com/v1'\nlogin='x'\n"
            "auth_token='t'\n[igest]\nbase_url='https://i.example/v1'\n"
            "integration_key='k'\nsecurity_code='s'\n[invoice]\nmove_stock='yes'\n"
        ),
        "move_stock",
    ),
    "bad toml": ("[jumpseller\nlogin = \n", "line"),
    "http url": (
        (
            "[jumpseller]\nbase_url='http://api.jumpseller.com/v1'\nlogin='x'\n"
            "auth_token='t'\n[igest]\nbase_url='https://i.example/v1'\n"
            "integration_key='k'\nsecurity_code='s'\n"
        ),
        "http://",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_config_gives_one_clear_message_and_exit_2(case, tmp_path):
    text, must_name = BAD_CONFIGS[case]
    config = tmp_path / "config.toml"
    config.write_text(text)
    config.chmod(0o600)
    result = run(
        "--config", str(config), "invoice", env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(config.name) in result.stderr and must_name in result.stderr
    assert result.stdout == ""


def test_missing_config_points_to_init(tmp_path):
    result = run("invoice", env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path)})
    assert result.returncode == 2 and "igest-sync init" in result.stderr


def test_init_writes_a_private_config_that_loads(tmp_path):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    result = run(
        "init",
        "--jumpseller-login",
        "minhaloja",
        "--jumpseller-auth-token",
        "T" * 32,
        "--igest-base-url",
        "https://api.igest.example/v1",
        "--igest-integration-key",
        "KEY",
        "--igest-security-code",
        "SECRET",
        "--start-date",
        "2026-11-01",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    config = tmp_path / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "SECRET" not in result.stdout + result.stderr
    again = run(
        "init",
        "--jumpseller-login",
        "x",
        "--jumpseller-auth-token",
        "y",
        "--igest-base-url",
        "https://a.example/v1",
        "--igest-integration-key",
        "k",
        "--igest-security-code",
        "s",
        env=env,
    )
    assert again.returncode == 2 and "--force" in again.stderr  # never overwritten silently
    # The config loads; no state yet is not an error (issue 11.5): monitoring with
    # `status --fail-if-late` works on a fresh install.
    status = run("status", env=env)
    assert status.returncode == 0 and "igest-sync invoice" in status.stdout
    assert "nothing issued yet" in status.stdout and "minhaloja" in status.stdout


def test_a_world_readable_config_is_warned_about(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path)
    cli.config.chmod(0o644)
    result = cli("invoice")
    assert result.code == 0
    assert "chmod 600" in result.stderr


def test_check_against_the_sandbox(sandbox, cli: Cli):
    result = cli("check")
    assert result.code == 0, result.stdout
    assert "Series FR A" in result.stdout and "FAILED" not in result.stdout


def test_check_names_what_is_wrong(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, invoice={"series": "Z", "warehouse": "NOPE"})
    result = cli("check")
    assert result.code == 2  # the config must change: the same code as any config error
    assert "FAILED" in result.stdout and "Z" in result.stdout and "NOPE" in result.stdout


def test_check_exits_5_when_a_service_cannot_be_reached_naming_its_host(sandbox, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    cli = make_cli(sandbox, tmp_path, igest={"base_url": f"http://127.0.0.1:{port}/v1"})
    result = cli("check")
    assert result.code == 5, result.stdout + result.stderr
    assert f"could not connect to 127.0.0.1:{port}" in result.stdout
    assert "connection refused" in result.stdout
    # And the log keeps it, for whoever reads it later (a check run from a script, a timer).
    log = (cli.home / "logs" / "igest-sync.log").read_text()
    assert f"could not connect to 127.0.0.1:{port}" in log, log
    # Its advice is check's own, not a run's ("the next run will retry").
    assert "next run" not in result.stdout and "igest-sync check" in result.stdout


def test_check_and_sync_stock_ask_which_of_several_locations_to_write(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, stock={"jumpseller_location_id": None})
    check = cli("check")
    assert check.code == 2 and "Jumpseller stock location" in check.stdout
    assert "Loja Porto" in check.stdout
    sandbox.reset_stats()
    run = cli("sync-stock")
    assert run.code == 2, run.stdout + run.stderr
    assert "location 1: Armazém Lisboa (main)" in run.stderr
    assert "location 2: Loja Porto" in run.stderr
    assert "jumpseller_location_id" in run.stderr
    assert sandbox.stats()["jumpseller"]["by_route"] == {"GET /v1/locations.json": 1}


def test_stock_from_jumpseller_into_one_warehouse_asks_which_location_it_holds(sandbox, tmp_path):
    # The demo's config with the direction turned and the location removed: the store's
    # total over Lisboa and Porto would go into ARM1 alone while ARM2 keeps Porto's stock.
    stock = {"direction": "jumpseller_to_igest", "jumpseller_location_id": None}
    cli = make_cli(sandbox, tmp_path, stock=stock)
    check = cli("check")
    assert check.code == 2, check.stdout
    refused = [c for c in cli("check", "--json").json()["checks"] if not c["ok"]]
    assert [c["name"] for c in refused] == ["Stock by warehouse"]
    assert "1 Armazém Lisboa, 2 Loja Porto" in refused[0]["detail"]
    sandbox.reset_stats()
    run = cli("sync-stock")
    assert run.code == 2, run.stdout + run.stderr
    assert "1 Armazém Lisboa, 2 Loja Porto" in run.stderr and "ARM1" in run.stderr
    assert "jumpseller_location_id" in run.stderr
    writes = [r for s in sandbox.stats().values() for r in s["by_route"] if not r.startswith("GET")]
    assert writes == []
    assert cli("sync-stock", "--dry-run").code == 2


def test_sync_stock_dry_run_looks_before_stock_sync_is_turned_on(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, stock={"enabled": False})
    sandbox.reset_stats()
    result = cli("sync-stock", "--dry-run")
    assert result.code == 0, result.stdout + result.stderr
    assert "still off" in result.stdout and "Would set Jumpseller" in result.stdout
    # Its action column and summary say what it would do, as the detail does.
    assert "would update" in result.stdout and "updated" not in result.stdout
    writes = [r for r in sandbox.stats()["jumpseller"]["by_route"] if not r.startswith("GET")]
    assert writes == []
    assert cli("sync-stock").code == 2  # the real run still waits for enabled = true


def test_sync_stock_dry_run_shows_the_plan_the_brake_would_stop_and_names_its_skus(
    sandbox, tmp_path
):
    from decimal import Decimal

    cli = make_cli(sandbox, tmp_path)
    references = sorted(sandbox.igest.stock_references())
    for reference in references:  # a wrong export: iGEST says every item is gone
        for warehouse in ("ARM1", "ARM2"):
            sandbox.igest.set_stock(reference, warehouse, Decimal(0))
    sandbox.reset_stats()
    result = cli("sync-stock", "--dry-run")
    # The plan, as any dry run shows it, then the brake's warning: the brake's exit code.
    assert result.code == 6, result.stdout + result.stderr
    assert "Would set Jumpseller" in result.stdout and "would update" in result.stdout
    assert "would stop before writing anything" in result.stderr
    assert "sync-stock --force" in result.stderr
    zeroed = [line.split()[1] for line in result.stdout.splitlines() if "-> 0" in line]
    assert zeroed and all(sku in result.stderr for sku in zeroed[:10])
    as_json = cli("sync-stock", "--dry-run", "--json")
    assert as_json.code == 6 and as_json.json()["items"]
    assert "would set" in as_json.json()["info"]["brake"]
    writes = [r for r in sandbox.stats()["jumpseller"]["by_route"] if not r.startswith("GET")]
    assert writes == []


def test_sync_products_says_which_products_differ_and_how_to_update_them(sandbox, tmp_path):
    # VPT-10 costs 26.90 in iGEST and more in the shop: it was counted "unchanged", unsaid.
    cli = make_cli(sandbox, tmp_path)
    sandbox.reset_stats()
    result = cli("sync-products")
    assert result.code == 0, result.stdout + result.stderr
    routes = sandbox.stats()["igest"]["by_route"]
    assert not [r for r in routes if r.startswith(("PUT", "PATCH"))]  # nothing updated
    row = next(line for line in result.stdout.splitlines() if "VPT-10" in line)
    assert "differs" in row and "26.90 ->" in row
    assert "1 product differs from the shop" in result.stdout
    assert "`igest-sync sync-products --update` updates it in iGEST" in result.stdout
    as_json = cli("sync-products", "--json").json()
    [vpt] = [i for i in as_json["items"] if i["key"] == "VPT-10"]
    assert vpt["action"] == "unchanged" and vpt["differs"] == ["price"]


def test_wrong_credentials_exit_5_with_the_keys_to_fix(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path, jumpseller={"auth_token": "W" * 32})
    result = cli("invoice")
    assert result.code == 5
    assert "jumpseller.auth_token" in result.stderr and "W" * 32 not in result.stderr
    assert "Traceback" not in result.stderr


def test_sandbox_json_prints_one_line_then_serves_both_apis(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "igest_sync", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path)},
    )
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        js, ig = info["jumpseller"], info["igest"]
        assert set(js) == {"base_url", "login", "auth_token", "hooks_token"}  # serve needs it
        assert set(ig) == {"base_url", "integration_key", "security_code"}
        store = httpx.get(f"{js['base_url']}/store/info.json", auth=(js["login"], js["auth_token"]))
        assert store.status_code == 200 and "name" in store.json()
        entity = httpx.get(
            f"{ig['base_url']}/entity",
            headers={
                "X-Integration-Key": ig["integration_key"],
                "X-Security-Code": ig["security_code"],
            },
        )
        assert entity.status_code == 200 and entity.json()["currency"] == "EUR"
        assert httpx.get(f"{ig['base_url']}/entity").status_code == 401
        vies = httpx.post(
            f"{info['vies']['base_url']}/check-vat-number",
            json={"countryCode": "ES", "vatNumber": "B87654323"},
        )
        assert vies.status_code == 200 and vies.json()["valid"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.slow(2)
def test_an_init_refusal_is_printed_once(tmp_path):
    result = run(
        "init",
        "--jumpseller-login",
        "x",
        "--jumpseller-auth-token",
        "y",
        "--igest-base-url",
        "https://a.example/v1",
        "--igest-integration-key",
        "k",
        "--igest-security-code",
        "s",
        "--document-type",
        "XX",
        env={**os.environ, "IGEST_SYNC_HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.count("document_type") == 1, result.stderr
    assert not (tmp_path / "config.toml").exists()


TOO_LONG = "99999999999999999999"  # a pasted reference, not an order id


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--order", TOO_LONG),
        ("resend", TOO_LONG),
        ("credit", TOO_LONG, "--reason", "x", "--yes"),
        ("approve", TOO_LONG, "--yes"),
        ("adopt", "--from", "2026-11-01", "--pick", f"FR QI/5={TOO_LONG}", "--yes"),
    ],
)
def test_an_order_id_jumpseller_cannot_have_is_a_usage_error_not_an_internal_one(cli, args):
    # Jumpseller's order ids are int32; a longer number reached SQLite and ended as an
    # internal error (exit 70, "This is a bug in igest-sync").
    result = cli(*args)
    assert result.code == 2, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "typed"),
    [
        (("credit", "abc", "--reason", "x"), "abc"),
        (("resend", "10001", "A10002"), "A10002"),
        (("status", "--order", "0"), "0"),
    ],
)
def test_a_mistyped_order_id_is_named_with_what_to_type_instead(cli, args, typed):
    # Click said "Input should be a valid integer" without the value, or gave a range for 0.
    result = cli(*args)
    assert result.code == 2
    assert f"'{typed}' is not a Jumpseller order id" in result.stderr
    assert "order's number as Jumpseller shows it" in result.stderr


def test_status_of_an_order_no_run_has_seen_exits_2_and_says_what_to_do(cli):
    # Before: "no run of igest-sync has seen this order" on stdout and exit 0, which a script
    # or a monitoring check read as an answer about an order that is not there.
    fresh = cli("status", "--order", "99999")  # no state file yet
    assert fresh.code == 2, fresh.stdout + fresh.stderr
    assert "Order 99999" in fresh.stderr and "igest-sync invoice" in fresh.stderr
    assert cli("invoice").code == 0
    unknown = cli("status", "--order", "99999")
    assert unknown.code == 2, unknown.stdout + unknown.stderr
    said = " ".join(unknown.stderr.split())
    assert "Order 99999: the state file knows no such order" in said
    assert "Check the number" in said and "igest-sync invoice" in said
    assert unknown.stdout == ""
    known = cli("status", "--order", "10001")
    assert known.code == 0 and "10001" in known.stdout


def test_a_short_outage_stops_cron_runs_quietly_until_it_lasts(sandbox, tmp_path):
    # Jumpseller answering 502 for a few minutes: the runs retry it by themselves; cron (output
    # not a terminal) is told only once it has lasted [alerts] unreachable_minutes. The exit
    # code says every time that the run did not finish.
    cli = make_cli(sandbox, tmp_path, alerts={"unreachable_minutes": 30})
    sandbox.faults.add("jumpseller", "502", path=r"/orders/", times=None)
    first = cli("invoice")
    assert (first.code, first.stdout, first.stderr) == (5, "", "")
    log = (cli.home / "logs" / "igest-sync.log").read_text()
    assert "server error HTTP 502" in log and "the next run tries again" in log
    sandbox.virtual_clock.advance(minutes=29)
    assert (cli("invoice").code, cli("invoice").stderr) == (5, "")
    sandbox.virtual_clock.advance(minutes=2)
    lasted = cli("invoice")
    assert lasted.code == 5 and "server error HTTP 502" in lasted.stderr
    # Over: the next outage is counted from its own start.
    sandbox.faults.clear()
    assert cli("invoice").code == 0
    sandbox.faults.add("jumpseller", "502", path=r"/orders/", times=None)
    again = cli("invoice")
    assert (again.code, again.stderr) == (5, "")
    # A person's own command (from a script: no terminal either) always says why.
    [reference, *_] = sandbox.igest.final_documents_by_reference()
    sandbox.faults.add("igest", "502", path=r"/documents", times=None)
    person = cli("credit", reference.rsplit(":", 1)[1], "--all", "--reason", "Devolução", "--yes")
    assert person.code == 5 and "server error HTTP 502" in person.stderr


def test_a_state_file_that_refuses_the_outage_note_does_not_hide_the_outage(
    sandbox, tmp_path, monkeypatch
):
    # Noting since when a service has been down is a write: a state file that refuses it
    # (a full disk) must not replace the run's own error, nor keep cron quiet about it.
    from igest_sync.errors import StateError
    from igest_sync.state.meta import MetaStore

    def refused(self, *args):
        raise StateError("State file could not be written: database or disk is full.")

    cli = make_cli(sandbox, tmp_path)
    sandbox.faults.add("jumpseller", "502", path=r"/orders/", times=None)
    monkeypatch.setattr(MetaStore, "outage_since", refused)
    result = cli("invoice")
    assert result.code == 5 and "server error HTTP 502" in result.stderr
