"""Switching from the hosted app, through the real CLI against the sandbox: the first
`invoice` stops, `adopt` records what the app invoiced, `invoice` then never invoices those
orders, `credit` credits an adopted invoice once, and `status` counts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox

from .conftest import Cli, make_cli
from .test_cli_output import _validate


@pytest.fixture
def switched() -> Iterator:
    with started_sandbox(seed=True, hosted_app=True, **FAST_LIMITS) as sb:
        yield sb


def test_switch_from_the_hosted_app(switched, tmp_path: Path):
    sb = switched
    cli: Cli = make_cli(sb, tmp_path)
    stopped = cli("invoice")
    assert stopped.code == 2, stopped.stdout + stopped.stderr
    assert "FR QI/8" in stopped.stderr and "igest-sync adopt --from 2026-11-02" in stopped.stderr
    preview = cli("adopt", "--from", "2026-10-01", "--to", "2026-11-30", "--dry-run", "--json")
    assert preview.code == 0, preview.stderr
    _validate("adopt", preview.json())
    assert preview.json()["recorded"] == 0
    unasked = cli("adopt", "--from", "2026-10-01", "--to", "2026-11-30")
    assert unasked.code == 2 and "--yes" in unasked.stderr  # no terminal: never recorded unasked
    # ... but what it found is shown, for the script's log or mail to say what awaits --yes.
    assert "FR QI/8" in unasked.stdout and "10001" in unasked.stdout, unasked.stdout
    done = cli("adopt", "--from", "2026-10-01", "--to", "2026-11-30", "--yes", "--json")
    assert done.code == 0, done.stderr
    _validate("adopt", done.json())
    assert done.json()["counts"] == {"sure": 6, "ambiguous": 2, "unmatched": 1, "adopted": 0}
    assert done.json()["recorded"] == 6
    issued = cli("invoice", "--json")
    assert issued.code == 0, issued.stdout + issued.stderr
    code = sb.credentials["jumpseller"]["login"]
    ours = sb.igest.final_documents_by_reference()
    assert f"jumpseller:{code}:10001" not in ours and f"jumpseller:{code}:10002" not in ours
    assert f"jumpseller:{code}:10003" in ours
    credit = cli("credit", "10001", "--reason", "Encomenda devolvida", "--all", "--yes", "--json")
    assert credit.code == 0, credit.stdout + credit.stderr
    again = cli("credit", "10001", "--reason", "Encomenda devolvida", "--all", "--yes", "--json")
    assert again.code == 0, again.stdout + again.stderr
    assert "already issued" in again.json()["orders"][0]["detail"]
    notes = [d for d in sb.igest.documents if d["type"] == "NC" and d["status"] == "final"]
    assert [n["related_document"]["number"] for n in notes] == ["FR QI/8"]
    status = cli.status()
    _validate("status", status)
    assert status["issued_elsewhere"] == 6
    # A second run of invoice changes nothing.
    assert cli("invoice").code == 0
    assert len(sb.igest.final_documents_by_reference()) == len(ours) + 1  # the NC's reference


def test_a_refused_pick_exits_2_and_records_nothing(switched, tmp_path: Path):
    # Before: FR QI/9 picked for order 10001, which FR QI/8 names too, was listed "ambiguous",
    # the sure matches were recorded and adopt exited 0: a script read the refusal as done.
    cli: Cli = make_cli(switched, tmp_path)
    period = ("adopt", "--from", "2026-10-01", "--to", "2026-11-30")
    refused = cli(*period, "--pick", "FR QI/9=10001", "--yes")
    assert refused.code == 2, refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert "--pick FR QI/9=10001: order 10001 is named by 2 documents (FR QI/8, FR QI/9)" in said
    assert "nothing was recorded" in said and "Order 10001 has one invoice" in said
    as_json = cli(*period, "--pick", "FR QI/9=10001", "--yes", "--json")
    assert as_json.code == 2 and as_json.stderr == ""
    _validate("error", as_json.json())
    assert as_json.json()["error"]["exit_code"] == 2
    assert "order 10001" in as_json.json()["error"]["message"]
    preview = cli(*period, "--dry-run", "--json")
    assert preview.code == 0 and preview.json()["counts"]["adopted"] == 0
