"""`credit` with partial credit notes: the real CLI against the sandbox (whose iGEST enforces the
partial-NC rules on its own: a 422 when the NCs of an original would exceed it)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from igest_sync.references import key_of_reference

from .conftest import Cli
from .test_cli_output import _validate

D = Decimal


def _three_line_order(sb) -> int:
    from igest_sandbox.jumpseller.orders import Buyer

    return sb.store.add_order(
        lines=[
            {
                "sku": "CAN-AZU",
                "name": "Caneca de grés - Azul",
                "price": "9.99",
                "qty": 3,
                "rate": 23,
            },
            {"sku": "TAB-CAR", "name": "Tábua de carvalho", "price": "24.90", "qty": 1, "rate": 23},
            {"sku": "LIV-RCT", "name": "Livro de receitas", "price": "12.00", "qty": 2, "rate": 6},
        ],
        shipping="3.90",
        buyer=Buyer("Carla", "Nunes", "carla@example.pt", "911111111", taxid="123456789"),
    )


def _refs(sb, order_id: int) -> dict[str, list[dict]]:
    code = sb.credentials["jumpseller"]["login"]
    base = f"jumpseller:{code}:{order_id}"
    return {
        ref: docs
        for ref, docs in sb.igest.final_documents_by_reference().items()
        if ref == base or ref.startswith(base + ":")
    }


def _invoice(sb, order_id: int) -> dict:
    code = sb.credentials["jumpseller"]["login"]
    [doc] = _refs(sb, order_id)[f"jumpseller:{code}:{order_id}"]
    return doc


def _credit_notes(sb, order_id: int) -> list[dict]:
    return [d for ref, docs in _refs(sb, order_id).items() if ":credit" in ref for d in docs]


def _invoiced(sb, cli: Cli) -> int:
    order_id = _three_line_order(sb)
    assert cli("invoice").code == 0
    return order_id


def test_partial_credits_then_the_rest_add_up_to_the_invoice(sandbox, cli: Cli):
    order_id = _invoiced(sandbox, cli)
    invoice = _invoice(sandbox, order_id)
    one = cli(
        "credit", str(order_id), "--reason", "Devolução de 1 caneca", "--line", "CAN-AZU:1", "--yes"
    )
    assert one.code == 0, one.stdout + one.stderr
    ship = cli("credit", str(order_id), "--reason", "Portes", "--shipping", "--yes", "--json")
    assert ship.code == 0, ship.stdout + ship.stderr
    assert ship.json()["plan"]["this_credit"] == "3.90"
    _validate("credit", ship.json())
    rest = cli("credit", str(order_id), "--reason", "Devolução do resto", "--all", "--yes")
    assert rest.code == 0, rest.stdout + rest.stderr
    notes = _credit_notes(sandbox, order_id)
    assert len(notes) == 3
    assert all(n["related_document"]["number"] == invoice["number"] for n in notes)
    assert [n["gross_total"] for n in notes][:2] == [D("9.99"), D("3.90")]
    assert sum(D(n["gross_total"]) for n in notes) == D(invoice["gross_total"])
    # A fourth credit is refused, saying what was credited and by which notes.
    fourth = cli("credit", str(order_id), "--reason", "Mais uma", "--line", "CAN-AZU:1", "--yes")
    assert fourth.code == 1
    first_number = notes[0]["number"]
    assert f"CAN-AZU: 3 invoiced, 3 already credited ({first_number}, " in fourth.stdout
    assert len(_credit_notes(sandbox, order_id)) == 3
    # Each note is attached to the Jumpseller order as a credit note (document_type 0).
    attached = sandbox.store.documents[order_id]
    assert [d["document_type"] for d in attached] == [1, 0, 0, 0]
    # status shows the invoice fully credited, with its notes
    status = cli.status()
    [row] = [d for d in status["documents"] if d["order_id"] == order_id and d["kind"] == "invoice"]
    assert row["credit_state"] == "credited"
    assert row["credit_notes"] == [n["number"] for n in notes]


def test_it_asks_first_and_a_dry_run_writes_nothing(sandbox, cli: Cli):
    order_id = _invoiced(sandbox, cli)
    refused = cli("credit", str(order_id), "--reason", "x", "--line", "CAN-AZU:1")
    assert refused.code == 2 and "--yes" in refused.stderr
    as_json = cli("credit", str(order_id), "--reason", "x", "--shipping", "--json")
    assert as_json.code == 2 and "--yes" in as_json.json()["error"]["hint"]
    dry = cli("credit", str(order_id), "--reason", "x", "--line", "TAB-CAR", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    _validate("credit", dry.json())
    plan = dry.json()["plan"]
    assert plan["original"]["number"] == _invoice(sandbox, order_id)["number"]
    [tab] = [line for line in plan["lines"] if line["reference"] == "TAB-CAR"]
    assert (tab["invoiced"], tab["this_credit"], tab["remaining"]) == ("1", "1", "0")
    shown = cli("credit", str(order_id), "--reason", "x", "--line", "TAB-CAR", "--dry-run")
    assert "TAB-CAR" in shown.stdout and "24.90" in shown.stdout
    assert _credit_notes(sandbox, order_id) == []
    assert not any(w["kind"] == "credit" for w in cli.status()["failed"])


def _killed_credit(cli: Cli, order_id: int, step: str, *specs: str) -> None:
    """A ``credit`` that dies just before the issuer's ``step`` (the crash hook), as a kill."""
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient
    from igest_sync.config import load_config
    from igest_sync.fiscal.credit import CreditRequest
    from igest_sync.runs.wiring import credit_run
    from igest_sync.state.ledger import Ledger

    config, _ = load_config(cli.config)

    def killed(at: str) -> None:
        if at == step:
            raise SystemExit(f"killed before {at}")

    with (
        JumpsellerClient(
            config.jumpseller.base_url, config.jumpseller.login, config.jumpseller.auth_token
        ) as js,
        IgestClient(
            config.igest.base_url, config.igest.integration_key, config.igest.security_code
        ) as ig,
        Ledger(cli.state) as ledger,
    ):
        run = credit_run(config, ledger, js, ig, crash_hook=killed)
        with pytest.raises(SystemExit):
            run.credit(order_id, CreditRequest.parse(specs), "Devolução", confirm=lambda p: True)


@pytest.mark.real_day
@pytest.mark.parametrize("step", ["request", "drafted", "finalize", "record"])
def test_a_credit_killed_midway_is_finished_by_the_rerun_and_issued_once(sandbox, cli: Cli, step):
    order_id = _invoiced(sandbox, cli)
    _killed_credit(cli, order_id, step, "CAN-AZU:2")
    if step in ("drafted", "finalize"):
        # Another request is refused while this one is unfinished, pointing at it.
        other = cli("credit", str(order_id), "--reason", "x", "--shipping", "--yes")
        assert other.code == 2 and "--line CAN-AZU:2" in other.stderr, other.stderr
    again = cli("credit", str(order_id), "--reason", "Devolução", "--line", "CAN-AZU:2", "--yes")
    assert again.code == 0, again.stdout + again.stderr
    if step == "record":  # finalized before the kill: found in iGEST, nothing issued again
        text = " ".join(again.stdout.split())
        assert "finished NC A/1" in text and "an earlier run left unfinished" in text
        assert "found it final in iGEST; nothing issued twice" in text
    cans = [n for n in _credit_notes(sandbox, order_id) if n["lines"][0]["reference"] == "CAN-AZU"]
    assert len(cans) == 1 and cans[0]["gross_total"] == D("19.98")
    assert [d for d in sandbox.igest.documents if d["status"] == "draft"] == []
    assert cli("credit", str(order_id), "--reason", "x", "--line", "CAN-AZU:2", "--yes").code == 1


def test_the_same_credit_again_is_reported_and_names_again_for_a_second_one(sandbox, cli: Cli):
    # A second mug returned later, typed as the first: exactly once per request, so it only
    # reports the first NC, and says that a second, separate credit is --again.
    order_id = _invoiced(sandbox, cli)
    asked = ("credit", str(order_id), "--reason", "Devolução", "--line", "CAN-AZU:1", "--yes")
    assert cli(*asked).code == 0
    [first] = _credit_notes(sandbox, order_id)
    repeated = cli(*asked)
    assert repeated.code == 0, repeated.stdout + repeated.stderr
    text = " ".join(repeated.stdout.split())
    assert f"already issued: {first['number']} of " in text and "nothing issued" in text
    command = f'igest-sync credit {order_id} --reason "Devolução" --line CAN-AZU:1 --again'
    assert f"add --again: `{command}`" in text, text
    assert len(_credit_notes(sandbox, order_id)) == 1
    second = cli(*asked, "--again")
    assert second.code == 0, second.stdout + second.stderr
    assert len(_credit_notes(sandbox, order_id)) == 2


def test_a_lost_state_file_cannot_credit_twice(sandbox, cli: Cli):
    order_id = _invoiced(sandbox, cli)
    assert cli("credit", str(order_id), "--reason", "x", "--line", "LIV-RCT", "--yes").code == 0
    cli.state.unlink()
    again = cli("credit", str(order_id), "--reason", "x", "--line", "LIV-RCT:1", "--yes")
    assert again.code == 1
    assert "LIV-RCT: 2 invoiced, 2 already credited" in again.stdout
    assert len(_credit_notes(sandbox, order_id)) == 1
    # A new request after the loss gets a reference of its own (not the lost first one's).
    ship = cli("credit", str(order_id), "--reason", "x", "--shipping", "--yes")
    assert ship.code == 0, ship.stdout + ship.stderr
    refs = [r for r in _refs(sandbox, order_id) if ":credit" in r]
    code = sandbox.credentials["jumpseller"]["login"]
    assert len(refs) == 2 and all(key_of_reference(code, order_id, r) for r in refs)


def test_a_cancellation_after_a_partial_credit_credits_the_remainder_only(sandbox, cli: Cli):
    order_id = _invoiced(sandbox, cli)
    invoice = _invoice(sandbox, order_id)
    assert cli("credit", str(order_id), "--reason", "x", "--line", "CAN-AZU:1", "--yes").code == 0
    sandbox.store.cancel_order(order_id)
    assert cli("invoice").code == 0
    assert cli("invoice").code == 0  # nothing more
    notes = _credit_notes(sandbox, order_id)
    assert len(notes) == 2
    assert D(notes[1]["gross_total"]) == D(invoice["gross_total"]) - D("9.99")
    day = str(invoice["date"])
    reconcile = cli("reconcile", "--from", day, "--to", day, "--json")
    assert reconcile.code == 0, reconcile.stdout
    assert [p for p in reconcile.json()["problems"] if p["order_id"] == order_id] == []


def _on_a_terminal(cli: Cli, answer: str, *args: str) -> tuple[int, str]:
    """Run the CLI with a terminal for stdin (a pty) and type ``answer`` at the question."""
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            cli.command(*args),
            env=cli.env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        os.write(master, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return proc.returncode, out


@pytest.mark.real_day
def test_on_a_terminal_it_shows_the_credit_and_asks(sandbox, cli: Cli):
    order_id = _invoiced(sandbox, cli)
    number = _invoice(sandbox, order_id)["number"]
    args = ("credit", str(order_id), "--reason", "Devolução", "--line", "TAB-CAR")
    code, out = _on_a_terminal(cli, "n", *args)
    assert code == 0, out
    assert number in out and "Carla Nunes" in out and "TAB-CAR" in out
    assert "Issue this credit note?" in out and "Not confirmed" in out
    assert _credit_notes(sandbox, order_id) == []
    code, out = _on_a_terminal(cli, "y", *args)
    assert code == 0, out
    [note] = _credit_notes(sandbox, order_id)
    assert note["gross_total"] == D("24.90") and note["number"] in out


def test_bad_credit_options_are_usage_errors(sandbox, cli: Cli):
    order_id = _invoiced(sandbox, cli)
    mixed = cli("credit", str(order_id), "--reason", "x", "--all", "--shipping", "--yes")
    assert mixed.code == 2 and "--all" in mixed.stderr
    zero = cli("credit", str(order_id), "--reason", "x", "--line", "CAN-AZU:0", "--yes")
    assert zero.code == 2 and "positive" in zero.stderr
    unknown = cli("credit", str(order_id), "--reason", "x", "--line", "NOPE", "--yes")
    # A usage error, said as the others are: on stderr, after "error:".
    assert unknown.code == 2 and "NOPE is not a line of" in unknown.stderr
    assert unknown.stderr.startswith("error: Order ") and unknown.stdout == ""
    assert _credit_notes(sandbox, order_id) == []


def _net_order(sb, lines: list[tuple[str, str, int, int]], shipping: str = "0", rate: int = 23):
    return sb.store.add_order(
        lines=[
            {"sku": sku, "name": f"Artigo {sku}", "price": price, "qty": qty, "rate": vat}
            for sku, price, qty, vat in lines
        ],
        prices_include_tax=False,
        shipping=shipping,
        shipping_rate=rate,
    )


def _credit_steps(sb, cli: Cli, order_id: int, steps: list[list[str]]) -> list[dict]:
    assert cli("invoice").code == 0
    assert _invoice(sb, order_id)["prices_include_vat"] is False
    for i, step in enumerate(steps):
        done = cli("credit", str(order_id), "--reason", f"Devolução {i}", *step, "--yes")
        assert done.code == 0, (step, done.stdout + done.stderr)
    return _credit_notes(sb, order_id)


def test_units_credited_one_by_one_with_net_prices_finish_within_their_value(sandbox, cli: Cli):
    # No article in iGEST for these SKUs: the sandbox limits them by value. 3 x 0.50 at 23 % is
    # worth 1.85; each unit alone 0.62: the third unit credited 0.62 where 0.61 was left, and
    # iGEST refused it (and --all after it) every time.
    order_id = _net_order(sandbox, [("SKU-1", "0.50", 3, 23), ("SKU-2", "1.00", 1, 23)])
    step = ["--line", "SKU-1:1"]
    notes = _credit_steps(sandbox, cli, order_id, [step, step, step, ["--all"]])
    assert sum(n["gross_total"] for n in notes) == _invoice(sandbox, order_id)["gross_total"]


def test_all_after_partial_credits_with_net_prices_never_takes_the_shipping_beyond_it(
    sandbox, cli: Cli
):
    # --all fitted the 6 % rate with the shipping at 0.57 where 0.56 was left: refused always.
    order_id = _net_order(
        sandbox,
        [("S1", "18.78", 3, 23), ("S2", "8.41", 3, 6), ("S3", "1.85", 1, 23)],
        shipping="0.53",
        rate=6,
    )
    steps = [["--line", "S1:3"], ["--line", "S2:3"], ["--all"]]
    notes = _credit_steps(sandbox, cli, order_id, steps)
    # A cent of the 6 % rate's VAT rounding is left that no line can take within its value.
    assert _invoice(sandbox, order_id)["gross_total"] == D("98.88")
    assert sum(n["gross_total"] for n in notes) == D("98.87")


def test_goods_left_after_the_shipping_with_net_prices_are_credited_to_the_cent(sandbox, cli):
    # The audit's order: X-CLIP has no article in iGEST (limited by value). Four clips and the
    # shipping left the 23 % rate 1.05 where the five clips left are worth 1.04; --all credited
    # 1.04 and the NCs ended at 6.67 of 6.68.
    order_id = _net_order(sandbox, [("X-CLIP", "0.17", 9, 23)], shipping="3.90", rate=23)
    steps = [["--line", "X-CLIP:4", "--shipping"], ["--all"]]
    notes = _credit_steps(sandbox, cli, order_id, steps)
    assert _invoice(sandbox, order_id)["gross_total"] == D("6.68")
    assert sum(n["gross_total"] for n in notes) == D("6.68")
