"""Review mode with the real CLI against the sandbox: drafts that wait for a person, approved,
rejected and forgotten across a killed run and a lost state file, never made twice.

Dates come from the sandbox clock and the CLI's: nothing here depends on which day (or hour)
the test runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jsonschema import Draft202012Validator

from tests.support.cli import Cli, make_cli
from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "json" / "approve.schema.json"
INVOICE_SCHEMA = SCHEMA.with_name("invoice.schema.json")


def _add_orders(sb) -> list[int]:
    """Four paid orders a minute apart; the last one's goods are 0 % (exempt, M07)."""
    paid = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for i in range(4):
        rate = 0 if i == 3 else 23
        ids.append(
            sb.store.add_order(
                lines=[
                    {
                        "sku": "CAN-AZU",
                        "name": "Caneca",
                        "price": "9.99",
                        "qty": i + 1,
                        "rate": rate,
                    }
                ],
                shipping="3.90",
                created_at=paid - timedelta(minutes=10),
                completed_at=paid + timedelta(minutes=i),
            )
        )
    return ids


def _by_order(sb, status: str) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    for doc in sb.igest.documents:
        ref = doc["external_reference"] or ""
        if doc["status"] == status and ":credit" not in ref:
            found.setdefault(int(ref.rsplit(":", 1)[1]), []).append(doc)
    return found


def _forget_state(cli: Cli) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = cli.state.with_name(cli.state.name + suffix)
        if path.exists():
            path.unlink()


def _dump(state: Path) -> list[str]:
    """The state file's every row, as SQL."""
    with closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        return list(db.iterdump())


def _valid(data: dict, schema: Path = SCHEMA) -> dict:
    errors = list(Draft202012Validator(json.loads(schema.read_text())).iter_errors(data))
    assert not errors, [e.message for e in errors[:5]]
    return data


def test_drafts_wait_for_a_person_across_a_kill_and_a_lost_state_file(tmp_path):
    # The killed run is a real process, so the sandbox lives in the real day; the in-process
    # calls pace on a clock that flows with real time: their waits cost no wall time.
    with started_sandbox(real_day=True, seed=False, **FAST_LIMITS) as sb:
        cli = make_cli(sb, tmp_path, invoice={"review": True, "concurrency": 1})
        ids = _add_orders(sb)

        # A kill: the first draft reached iGEST, its answer is held, the run is killed.
        sb.faults.add(
            service="igest",
            kind="timeout",
            method="POST",
            path=r"^/v1/documents$",
            nth=1,
            times=1,
            after=True,
            seconds=60,
        )
        proc = cli.popen("invoice")
        deadline = time.monotonic() + 60
        while not _by_order(sb, "draft") and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        sb.faults.clear()
        assert len(_by_order(sb, "draft")) == 1

        first = cli("invoice", "--json")
        assert first.code == 0, first.stderr
        assert first.json()["drafted"] == 4 and first.json()["issued"] == 0
        drafts = _by_order(sb, "draft")
        assert sorted(drafts) == ids and all(len(d) == 1 for d in drafts.values())
        assert _by_order(sb, "final") == {}  # nothing finalized without a person
        ids_before = {o: d[0]["id"] for o, d in drafts.items()}

        # A lost state file: the drafts are found by their references, none is made again.
        _forget_state(cli)
        again = cli("invoice", "--json")
        assert again.code == 0, again.stderr
        assert {o: d[0]["id"] for o, d in _by_order(sb, "draft").items()} == ids_before
        assert [d["order_id"] for d in cli.status()["review"]] == ids

        # What waits, as iGEST holds it; the exempt line's code with iGEST's own text.
        listing = _valid(cli("approve", "--json").json())
        assert [d["order_id"] for d in listing["waiting"]] == ids
        assert {d["igest"] for d in listing["waiting"]} == {"waiting"}
        exempt = listing["waiting"][3]
        assert [e["code"] for e in exempt["exemptions"]] == ["M07"]
        reason = next(r for r in sb.igest.exemption_reasons if r["code"] == "M07")
        assert reason["description"] in exempt["exemptions"][0]["description"]
        assert {v["rate"] for v in listing["waiting"][0]["vat"]} == {"23.00"}

        text = cli("approve")  # the same list for a person
        assert text.code == 0, text.stderr
        assert f"M07: {reason['description']}" in " ".join(text.stdout.split())
        assert "igest-sync approve ORDER" in " ".join(text.stdout.split())
        # Two totals, each named: the invoice's (gift cards included) and Jumpseller's order's.
        assert "Invoice total (EUR)" in " ".join(text.stdout.split())
        assert "Order total (EUR)" in " ".join(cli("status").stdout.split())
        unknown = cli("approve", "99999", "--yes")
        assert unknown.code == 1 and "no draft waits for approval" in unknown.stdout

        # Without a terminal, finalizing needs --yes.
        refused = cli("approve", str(ids[0]))
        assert refused.code == 2 and "--yes" in refused.stderr
        assert _by_order(sb, "final") == {}

        # A draft deleted by hand in iGEST is noticed, and made again once approved.
        sb.igest.delete_document(ids_before[ids[1]])
        shown = _valid(cli("approve", "--json").json())
        assert [d["igest"] for d in shown["waiting"] if d["order_id"] == ids[1]] == ["deleted"]
        done = _valid(cli("approve", str(ids[0]), str(ids[1]), "--yes", "--json").json())
        assert done["finalized"] == 2, done
        finals = _by_order(sb, "final")
        assert sorted(finals) == ids[:2] and all(len(d) == 1 for d in finals.values())
        assert finals[ids[0]][0]["id"] == ids_before[ids[0]]  # the very draft approved

        # Rejected: the draft is deleted, the order waits for `resend`.
        rejected = _valid(cli("approve", "--reject", str(ids[2]), "--json").json())
        assert rejected["rejected"] == 1
        assert ids[2] not in _by_order(sb, "draft")
        [failed] = [f for f in cli.status()["failed"] if f["order_id"] == ids[2]]
        assert "rejected by a person" in failed["error"]
        assert f"igest-sync resend {ids[2]}" in failed["error"]
        cli("invoice")  # a run neither retries it nor drafts the others again
        assert ids[2] not in _by_order(sb, "draft") and len(_by_order(sb, "draft")) == 1

        resent = cli("resend", str(ids[2]), "--json")
        assert [o["action"] for o in resent.json()["orders"]] == ["drafted"]
        everything = _valid(cli("approve", "--all", "--yes", "--json").json())
        assert everything["finalized"] == 2
        finals = _by_order(sb, "final")
        assert sorted(finals) == ids and all(len(d) == 1 for d in finals.values())
        assert _by_order(sb, "draft") == {}
        assert cli.status()["review"] == [] and cli.status()["failed"] == []
        # Attached to their orders, as `invoice` would.
        assert all(len(sb.store.documents.get(i, [])) == 1 for i in ids)


def test_approve_shows_the_nif_it_finalizes_after_a_resend_with_another(tmp_path):
    # In this process, on the sandbox's virtual clock: no real process, no real day.
    with started_sandbox(seed=True, **FAST_LIMITS) as sb:
        cli = make_cli(sb, tmp_path, invoice={"review": True})
        sb.store.pay_order(10015)  # João's Multibanco payment: NIF 123456789 in its billing
        first = cli("invoice", "--json")
        assert first.code == 0, first.stdout + first.stderr
        assert 10015 in [o["order_id"] for o in first.json()["orders"]]

        def listed() -> dict:
            shown = _valid(cli("approve", "--json").json())
            return next(d for d in shown["waiting"] if d["order_id"] == 10015)

        assert listed()["nif"] == "123456789"
        resent = cli("resend", "10015", "--nif", "999999990", "--json")
        assert resent.code == 0, resent.stdout
        [outcome] = resent.json()["orders"]
        assert outcome["action"] == "drafted" and "NIF 999999990" in outcome["detail"]
        assert listed()["nif"] == "999999990"  # the draft a person sees carries the new NIF
        assert "999999990" in cli("approve").stdout
        done = _valid(cli("approve", "10015", "--yes", "--json").json())
        assert done["finalized"] == 1, done
        [final] = _by_order(sb, "final")[10015]
        assert final["customer"].get("nif") in (None, "999999990")  # the final consumer


def test_a_dry_run_after_review_is_turned_off_shows_the_drafts_the_next_run_finalizes(tmp_path):
    # The new user's path: drafts wait, review is turned off, `invoice --dry-run` looks first.
    with started_sandbox(seed=True, **FAST_LIMITS) as sb:
        reviewing = make_cli(sb, tmp_path, invoice={"review": True})
        first = reviewing("invoice", "--json")
        assert first.code == 0, first.stdout + first.stderr
        waiting = sorted(o["order_id"] for o in first.json()["orders"] if o["action"] == "drafted")
        assert waiting and _by_order(sb, "final") == {}
        drafts_before = {o: d[0]["id"] for o, d in _by_order(sb, "draft").items()}
        state_before = _dump(reviewing.state)

        cli = make_cli(sb, tmp_path, invoice={"review": False}, last_run_long_ago=False)
        dry = _valid(cli("invoice", "--dry-run", "--json").json(), INVOICE_SCHEMA)
        assert dry["would_finalize"] == len(waiting)
        finalizing = sorted(o["order_id"] for o in dry["orders"] if o["action"] == "would finalize")
        assert finalizing == waiting
        assert sorted(d["order_id"] for d in dry["documents"]) == waiting
        text = cli("invoice", "--dry-run")
        assert text.code == 0, text.stdout + text.stderr
        flat = " ".join(text.stdout.split())
        assert f"would finalize {len(waiting)} drafts waiting for approval" in flat
        assert "review is off" in flat
        # Nothing was written: iGEST holds the same drafts, the state file is as it was.
        assert {o: d[0]["id"] for o, d in _by_order(sb, "draft").items()} == drafts_before
        assert _by_order(sb, "final") == {} and _dump(cli.state) == state_before

        real = cli("invoice", "--json")
        assert real.code == 0, real.stdout + real.stderr
        issued = sorted(o["order_id"] for o in real.json()["orders"] if o["action"] == "issued")
        assert issued == finalizing


def test_approving_an_invoice_final_already_answers_json_its_schema_allows(tmp_path):
    # Found in review: `approve ORDER --json` of an order whose invoice is final said
    # "action": "already", which docs/json/approve.schema.json did not allow.
    with started_sandbox(seed=True, **FAST_LIMITS) as sb:
        cli = make_cli(sb, tmp_path, invoice={"review": True})
        sb.store.pay_order(10015)
        assert cli("invoice", "--json").code == 0
        assert cli("approve", "10015", "--yes", "--json").code == 0
        again = cli("approve", "10015", "--yes", "--json")
        assert again.code == 0, again.stdout
        [outcome] = _valid(again.json())["orders"]
        assert outcome["action"] == "already"


def test_approve_all_with_no_draft_waiting_says_so_rather_than_counting_nothing_done(tmp_path):
    # Before: "Finalized 0, rejected 0, failed 0", as if something had been tried.
    with started_sandbox(seed=True, **FAST_LIMITS) as sb:
        cli = make_cli(sb, tmp_path, invoice={"review": True})
        result = cli("approve", "--all", "--yes")
        assert result.code == 0, result.stderr
        assert "No invoice draft waits for approval." in result.stdout
        assert "Finalized" not in result.stdout + result.stderr
        assert _valid(cli("approve", "--all", "--yes", "--json").json())["waiting"] == []
