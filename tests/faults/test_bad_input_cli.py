"""Bad input where the command line's message matters: state files, config files, bad orders.

A state file that cannot be used stops the run with exit 4 and a message naming the file; it
is never replaced or repaired silently (its bytes are checked). A config file with a wrong
type exits 2 naming the file and the key. A bad order fails alone (exit 1), named with the
product at fault in the run's output and in `status`; the other orders are issued.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from .conftest import Cli, add_paid_orders, assert_all_done, make_cli, one_line


def _stops_with_4(cli: Cli, *args: str, path: Path, words: str) -> None:
    result = cli(*args)
    assert result.code == 4, result.stdout + result.stderr
    assert str(path) in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # (one line plus a hint: see the two xfail tests at the end of this file)


@pytest.mark.parametrize(
    "content", [b"this is not a database\n" * 50, b"SQLite format 3\x00" + b"\xff" * 4080]
)
def test_a_corrupt_state_file_stops_every_command_and_is_left_byte_for_byte(
    sb, cli: Cli, content: bytes
):
    add_paid_orders(sb, 1)
    cli.state.parent.mkdir(parents=True, exist_ok=True)
    cli.state.write_bytes(content)
    for args in (("invoice",), ("status",), ("resend", "--failed")):
        _stops_with_4(cli, *args, path=cli.state, words="cannot be read")
    assert cli.state.read_bytes() == content
    assert sb.igest.documents == []  # nothing issued on top of a state it cannot read


def test_a_state_file_from_a_newer_version_is_refused_and_left_alone(sb, cli: Cli):
    add_paid_orders(sb, 1)
    assert cli("invoice").code == 0
    with sqlite3.connect(cli.state) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    before = cli.state.read_bytes()
    _stops_with_4(cli, "invoice", path=cli.state, words="newer igest-sync (schema 99")
    _stops_with_4(cli, "status", path=cli.state, words="newer igest-sync (schema 99")
    assert cli.state.read_bytes() == before


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_a_state_path_that_cannot_be_written_stops_with_4(sb, cli: Cli, tmp_path: Path, where: str):
    # We run as root, so permissions would not stop us: make the path itself impossible.
    add_paid_orders(sb, 1)
    if where == "a directory":
        state = tmp_path / "state-dir"
        state.mkdir()
    else:
        blocker = tmp_path / "plain-file"
        blocker.write_text("not a directory")
        state = blocker / "state.sqlite3"
    result = cli("--state", str(state), "invoice")
    assert result.code == 4, result.stdout + result.stderr
    assert str(state) in result.stderr and "Traceback" not in result.stderr
    assert sb.igest.documents == []


def test_a_config_with_a_wrong_type_exits_2_naming_file_and_key(sb, tmp_path: Path):
    cli = make_cli(sb, tmp_path, invoice={"concurrency": "four", "move_stock": "sim"})
    result = cli("invoice")
    assert result.code == 2
    assert str(cli.config) in result.stderr
    assert "[invoice] concurrency: expected an integer, got 'four'" in result.stderr
    assert "[invoice] move_stock: expected true or false" in result.stderr
    assert "Traceback" not in result.stderr
    assert sb.requests() == []  # nothing contacted


# -- bad orders through the CLI ---------------------------------------------------------------


def test_bad_orders_fail_alone_named_with_their_product_and_the_rest_is_issued(sb, tmp_path: Path):
    # Reminders every run (remind_failed_hours 0), so the last run below reports them again.
    cli = make_cli(sb, tmp_path, invoice={"concurrency": 1, "remind_failed_hours": 0})
    good, bad_tax, zero_qty, strings = add_paid_orders(sb, 4)
    sb.store.order(bad_tax)["products"][0]["taxes"][0]["rate"] = Decimal(21)
    sb.store.order(zero_qty)["products"][0]["qty"] = 0
    # Every money field of this one as a numeric string: read as the same amounts.
    raw = sb.store.order(strings)
    for key in ("subtotal", "tax", "shipping_tax", "shipping", "total", "discount"):
        raw[key] = str(raw[key])
    for line in raw["products"]:
        line["price"], line["qty"], line["discount"] = (
            str(line["price"]),
            str(line["qty"]),
            str(line["discount"]),
        )
    result = cli("invoice")
    assert result.code == 1, result.stdout + result.stderr
    for order_id, words in ((bad_tax, "VAT rate 21 %"), (zero_qty, "quantity 0")):
        assert str(order_id) in result.stdout
        assert words in " ".join(result.stdout.split()), result.stdout
    failed = {f["order_id"]: f for f in cli.status()["failed"]}
    assert set(failed) == {bad_tax, zero_qty}
    for item in failed.values():
        assert 'product "Caneca de grés - Azul" (SKU CAN-AZU)' in item["error"]
        assert one_line(item["error"]) and not item["transient"]
    finals = sb.igest.final_documents_by_reference()
    issued = {int(ref.rsplit(":", 1)[1]): docs for ref, docs in finals.items()}
    assert set(issued) == {good, strings}
    # qty 4 x 9.99 + 3.90 shipping, from strings
    assert Decimal(str(issued[strings][0]["gross_total"])) == Decimal("43.86")
    assert cli("invoice").code == 1  # data failures wait for a person, still reported


def test_skus_with_spaces_and_unicode_reach_igest_exactly(sb, cli: Cli):
    skus = ["CAN AZU 12", "AZULEJO-Nº5-AÇÚCAR", "🐓 GALO"]
    ids = [
        sb.store.add_order(
            lines=[{"sku": sku, "name": f"Artigo {i}", "price": "4.50", "qty": 1, "rate": 23}],
            shipping="3.90",
        )
        for i, sku in enumerate(skus)
    ]
    result = cli("invoice")
    assert result.code == 0, result.stdout + result.stderr
    assert_all_done(sb, cli)
    finals = sb.igest.final_documents_by_reference()
    for order_id, sku in zip(ids, skus):
        [doc] = [d for ref, docs in finals.items() if ref.endswith(f":{order_id}") for d in docs]
        assert next(line["reference"] for line in doc["lines"]) == sku


# -- how an error reads where there is no terminal (cron mail, a log collector) -----------------


def test_an_error_off_a_terminal_keeps_its_path_on_one_line(sb, cli: Cli, tmp_path: Path):
    state = tmp_path / ("a-long-directory-name-" * 4) / "state.sqlite3"
    state.parent.mkdir()
    state.write_bytes(b"not a database\n" * 20)
    cli.env.pop("COLUMNS")  # as under cron: no terminal, no COLUMNS
    result = cli("--state", str(state), "invoice")
    assert result.code == 4
    first = result.stderr.splitlines()[0]
    assert str(state) in first, result.stderr


def test_status_prints_its_error_once(sb, cli: Cli):
    cli.state.write_bytes(b"not a database\n" * 20)
    result = cli("status")
    assert result.code == 4
    assert result.stderr.count("cannot be read") == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # the message and its hint


def test_an_internal_error_in_status_keeps_its_traceback_in_the_log_file(sb, cli: Cli):
    add_paid_orders(sb, 1)
    assert cli("invoice").code == 0
    with sqlite3.connect(cli.state) as db:  # a row no code path can read
        db.execute("UPDATE documents SET gross_total='not money'")
    db.close()
    result = cli("status")
    assert result.code == 70
    assert "internal error" in result.stderr and "Traceback" not in result.stderr
    assert "Traceback" in cli.log_text()
    said = " ".join(result.stderr.split())
    assert f"the traceback is in the log file {cli.home / 'logs'}" in said  # named, to find it


def test_an_answer_that_cannot_be_read_says_what_to_do_as_a_5xx_does(sb, cli: Cli):
    # "error: Jumpseller sent an order that is not an object: 'unexpected'" and no advice, at
    # a terminal; only the log's line said the next run would try again.
    add_paid_orders(sb, 1)
    sb.faults.add("jumpseller", "bad_shape", method="GET", path=r"/orders", times=None)
    result = cli("invoice", "--json")
    assert result.code == 5, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert "Jumpseller sent" in error["message"], error
    assert error["hint"] and "the next run will retry" in error["hint"], error
    assert sb.igest.documents == []
