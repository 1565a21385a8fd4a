"""The daily gap check through the real CLI against the sandbox: a paid order that the listings
passed by (planted below the checkpoint) is found by the next day's run, shown by ``status``,
and issued exactly once by the run after it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from .conftest import make_cli


def test_a_paid_order_the_listings_missed_is_found_the_next_day_and_issued_once(sandbox, tmp_path):
    cli = make_cli(sandbox, tmp_path)
    first = cli("invoice")
    assert first.code in (0, 1), first.stderr  # the seed store has orders that fail on purpose
    # A paid order that the checkpoint passed by without recording it (whatever the cause):
    # no listing after the checkpoint shows it again.
    paid = sandbox.clock() - timedelta(hours=3)
    missing = sandbox.store.add_order(
        lines=[{"sku": "CAN-AZU", "name": "Caneca de grés - Azul", "price": "9.99", "rate": 23}],
        created_at=paid - timedelta(minutes=5),
        completed_at=paid,
    )
    with sqlite3.connect(cli.state) as db:
        db.execute("UPDATE meta SET value=? WHERE key='last_order_id'", (str(missing),))
    reference = f"jumpseller:{sandbox.credentials['jumpseller']['login']}:{missing}"
    again = cli("invoice")
    assert str(missing) not in again.stdout  # the day's check was the first run's rebuild
    # A day later (the last check moved back by a day): the check runs and finds it.
    with sqlite3.connect(cli.state) as db:
        day_ago = (sandbox.clock() - timedelta(days=1, minutes=1)).isoformat()
        db.execute("UPDATE meta SET value=? WHERE key='gap_check_at'", (day_ago,))
    found = cli("invoice")
    assert found.code == 1, found.stdout + found.stderr
    assert f"Order {missing} was paid on" in found.stdout
    [failed] = [f for f in cli.status()["failed"] if f["order_id"] == missing]
    assert (
        "no document was found" in failed["error"] and "the next run issues it" in failed["error"]
    )
    assert reference not in sandbox.igest.final_documents_by_reference()
    cli("invoice")
    assert len(sandbox.igest.final_documents_by_reference()[reference]) == 1
    assert [f for f in cli.status()["failed"] if f["order_id"] == missing] == []
    cli("invoice")
    assert len(sandbox.igest.final_documents_by_reference()[reference]) == 1
