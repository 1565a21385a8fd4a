"""The CLI's contracts that need no process: exit codes in help and README, option hoisting,
status's document selection, and the JSON envelope."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync import render
from igest_sync.cli import app
from igest_sync.cli.session import exit_codes_help, hoist_global_options
from igest_sync.errors import ExitCode
from igest_sync.models import IssuedDocument
from igest_sync.runs.setup.status import DocumentFilter, build_status
from igest_sync.state.ledger import Ledger

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_exit_code_table_lists_exactly_the_exit_codes():
    text = README.read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE))
    assert {int(code): meaning for code, meaning in rows.items()} == {
        int(code): code.meaning for code in ExitCode
    }


def test_the_help_epilog_is_made_from_exit_code():
    text = " ".join(exit_codes_help().split())
    for code in ExitCode:
        assert f"{int(code)} {code.meaning.replace('`', '')}" in text


def test_serve_help_names_the_listening_defaults_the_settings_use():
    # The help said "default [serve] host" without saying what that is when it is not set.
    from igest_sync.config.settings import DEFAULT_SERVE_HOST, DEFAULT_SERVE_PORT

    group, ctx = _group()
    params = {p.name: p.help or "" for p in group.get_command(ctx, "serve").params}
    assert f"else {DEFAULT_SERVE_HOST})" in params["host"]
    assert f"else {DEFAULT_SERVE_PORT})" in params["port"]


def _group():
    import typer

    command = typer.main.get_command(app)
    return command, command.make_context("igest-sync", ["status"], resilient_parsing=True)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "-q"], ["-q", "status"]),
        (["status", "--config", "c.toml", "--json"], ["--config", "c.toml", "status", "--json"]),
        (["--state", "s", "invoice", "--state=t"], ["--state", "s", "--state=t", "invoice"]),
        # A value of the command's own option is never taken for a global option.
        (["credit", "1", "--reason", "-v"], ["credit", "1", "--reason", "-v"]),
        (["resend", "--", "-q"], ["resend", "--", "-q"]),
        (["--help"], ["--help"]),
    ],
)
def test_global_options_move_before_the_subcommand(args, expected):
    group, ctx = _group()
    assert hoist_global_options(group, ctx, args) == expected


def _doc(n: int, day: date) -> IssuedDocument:
    return IssuedDocument(
        id=f"d{n}",
        type="FR",
        series="A",
        number=f"FR A/{n}",
        atcud=f"X-{n}",
        status="final",
        date=day,
        external_reference=f"jumpseller:s:{n}",
        customer_nif=None,
        customer_name="Ana",
        net_total=Decimal("10.00"),
        vat_total=Decimal("2.30"),
        gross_total=Decimal("12.30"),
    )


def test_status_lists_the_newest_20_and_counts_the_rest(tmp_path):
    with Ledger(tmp_path / "s.db") as ledger:
        for n in range(1, 26):
            ledger.record_final(n, "invoice", _doc(n, date(2026, 11, n)), email=False)
        default = build_status(ledger)
        assert len(default.documents) == 20 and default.documents_not_listed == 5
        assert default.documents[0].number == "FR A/25"
        every = build_status(ledger, selection=DocumentFilter(limit=None))
        assert len(every.documents) == 25 and every.documents_not_listed == 0
        since = build_status(ledger, selection=DocumentFilter(limit=None, since=date(2026, 11, 20)))
        assert [d.order_id for d in since.documents] == [25, 24, 23, 22, 21, 20]
        one = build_status(ledger, selection=DocumentFilter(order_id=7))
        assert [d.number for d in one.documents] == ["FR A/7"]
        ledger.ensure_work(30, "invoice", "jumpseller:s:30")
        ledger.fail(30, "invoice", "bad NIF", transient=False)
        failed = build_status(ledger, selection=DocumentFilter(failed_only=True))
        assert failed.documents == [] and [w.order_id for w, _ in failed.failed] == [30]


def test_status_failed_without_failures_says_so_instead_of_an_empty_table(tmp_path, capsys):
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.record_final(1, "invoice", _doc(1, date(2026, 11, 1)), email=False)
        report = build_status(ledger, selection=DocumentFilter(failed_only=True))
    render.status_report(report)
    out = capsys.readouterr().out
    assert "No failed orders." in out
    assert "Documents issued" not in out and "FR A/1" not in out


def test_status_puts_what_the_next_run_retries_apart_from_the_failures_for_a_person(
    tmp_path, capsys
):
    """A VIES or service wait is not work for the merchant: it used to sit in "Failed orders"."""
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.ensure_work(30, "invoice", "jumpseller:s:30")
        ledger.fail(30, "invoice", "the customer's NIF 123 is not valid", transient=False)
        ledger.ensure_work(31, "invoice", "jumpseller:s:31")
        ledger.fail(31, "invoice", "VIES could not check ES B12345674 yet", transient=True)
        report = build_status(ledger, selection=DocumentFilter(failed_only=True))
    render.status_report(report)
    out = " ".join(capsys.readouterr().out.split())  # a title may wrap
    failures, _, retried = out.partition("Waiting to retry")
    assert "Failed orders" in failures and "igest-sync resend" in failures
    assert "30" in failures and "NIF 123" in failures and "31" not in failures
    assert "31" in retried and "VIES" in retried and "30" not in retried


def test_status_of_a_state_file_without_documents_says_so_instead_of_an_empty_table(
    tmp_path, capsys
):
    """A first run killed before its first document leaves a state file: status printed an
    empty "Documents issued" table, where a fresh install says "nothing issued yet"."""
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.ensure_work(30, "invoice", "jumpseller:s:30")
        empty = build_status(ledger)
        ledger.record_final(1, "invoice", _doc(1, date(2026, 11, 1)), email=False)
        none_since = build_status(ledger, selection=DocumentFilter(since=date(2026, 11, 2)))
    render.status_report(empty)
    out = capsys.readouterr().out
    assert "No documents issued yet." in out and "Documents issued" not in out
    render.status_report(none_since)
    assert "No documents issued since 2026-11-02." in capsys.readouterr().out


def test_json_envelope_carries_the_schema_and_integer_order_ids():
    data = render.json_document({"orders": [{"order_id": "10452", "key": "SKU-1"}], "x": 1})
    assert data == {
        "schema": "igest-sync/1",
        "orders": [{"order_id": 10452, "key": "SKU-1"}],
        "x": 1,
    }


def test_local_times_are_short_and_in_lisbon():
    assert render.local_time("2026-07-13T14:07:59+00:00") == "2026-07-13 15:07"  # summer: UTC+1
    assert render.local_time("2026-11-13T15:07:10+00:00") == "2026-11-13 15:07"
    assert render.local_time(None) == ""


def test_every_command_of_the_listing_is_summed_up_whole_at_80_columns():
    # Before: click cut each docstring's first sentence to the room left at 80 columns
    # ("Serve emulators of Jumpseller, iGEST and VIES on..."), at any terminal width.
    import typer

    root = typer.main.get_command(app)
    groups = [root] + [c for c in root.commands.values() if hasattr(c, "commands")]
    for group in groups:
        widest = max(len(name) for name in group.commands)
        for name, command in group.commands.items():
            summary = command.get_short_help_str(limit=80 - 6 - widest)
            assert not summary.endswith("..."), f"{group.name} {name}: {summary}"


def test_serve_home_without_a_config_says_how_to_make_that_stores(tmp_path, monkeypatch):
    # It said "Create it with `igest-sync init`", which writes the default home's config.
    from typer.testing import CliRunner

    from igest_sync.errors import ConfigError

    monkeypatch.setenv("IGEST_SYNC_HOME", str(tmp_path / "default"))
    store = tmp_path / "shop a"
    store.mkdir()
    result = CliRunner().invoke(app, ["serve", "--home", str(store)])
    assert isinstance(result.exception, ConfigError), result.exception
    assert result.exception.hint == f"Create it with `IGEST_SYNC_HOME='{store}' igest-sync init`."
