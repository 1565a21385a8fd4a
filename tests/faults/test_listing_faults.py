"""Faults on the listings a run starts with (Jumpseller's orders, iGEST's documents).

A listing GET is safe to repeat: a 5xx, a reset, a timeout or a 429 is retried within the run.
A listing that cannot be read (cut short, the wrong shape, or failing on every try) stops the
run with exit 5 and a one-line message; the next run must still invoice every paid order,
including those the stopped run had already seen: the checkpoint must never skip a sale, and
a lost state file must never cause a second document.
"""

from __future__ import annotations

import signal
import time

import pytest

from .conftest import FINALIZE_POST, LOOKUP_GET, Cli, add_paid_orders, assert_all_done, requests_to

ORDERS_LIST = r"^/v1/orders\.json$"
PENDING_LIST = r"^/v1/orders/status/pending_payment\.json$"


def test_transient_faults_on_both_listings_are_retried_within_the_run(sb, cli: Cli):
    # Three faults in a row on each listing: the fourth try (the last one allowed) gets through.
    add_paid_orders(sb, 2)
    for kind in ("500", "reset", "timeout"):
        sb.faults.add("jumpseller", kind, method="GET", path=ORDERS_LIST, seconds=0.3)
    for kind in ("502", "429", "reset"):
        sb.faults.add("igest", kind, method="GET", path=LOOKUP_GET, retry_after=1)
    result = cli("invoice")
    assert result.code == 0, result.stdout + result.stderr
    listings = [
        r
        for r in requests_to(sb, "jumpseller", "GET", ORDERS_LIST)
        if "status_filters" not in r.query
    ]  # not the search for cancelled orders
    assert len(listings) == 4
    assert len(requests_to(sb, "igest", "GET", LOOKUP_GET)) == 4
    assert_all_done(sb, cli)


def test_unreadable_listings_stop_the_run_before_any_write_and_the_next_run_invoices(sb, cli: Cli):
    add_paid_orders(sb, 2)
    cases = [
        ("jumpseller", "truncated", ORDERS_LIST, "Jumpseller GET /orders.json"),
        ("jumpseller", "bad_shape", ORDERS_LIST, "Jumpseller sent an order"),
        ("igest", "truncated", LOOKUP_GET, "iGEST GET /documents"),
    ]
    for service, kind, path, message in cases:
        sb.faults.add(service, kind, method="GET", path=path)
        result = cli("invoice")
        assert result.code == 5, (kind, result.stdout + result.stderr)
        assert message in result.stderr, (kind, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr  # message + hint
        assert requests_to(sb, "igest", "POST", r"^/v1/documents$") == []
    # A first run lists iGEST's documents before it records anything (documents another
    # integration issued stop it: runs/invoicing/hold.py), so no run has recorded the orders yet: an
    # unreadable answer to that listing stops this one too (exit 5), still before any write.
    sb.faults.add("igest", "bad_shape", method="GET", path=LOOKUP_GET, times=1)
    result = cli("invoice")
    assert result.code == 5, result.stdout + result.stderr
    assert "expected an object" in result.stderr and "Traceback" not in result.stderr
    assert cli.status()["checkpoint"] is None
    assert requests_to(sb, "igest", "POST", r"^/v1/documents$") == []
    again = cli("invoice")
    assert again.code == 0, again.stdout + again.stderr
    assert_all_done(sb, cli)


def test_a_listing_that_fails_every_time_gives_up_after_bounded_tries(sb, cli: Cli):
    add_paid_orders(sb, 1)
    sb.faults.add("jumpseller", "502", method="GET", path=ORDERS_LIST, times=None)
    result = cli("invoice")
    assert result.code == 5
    assert "Jumpseller GET /orders.json: server error HTTP 502 Bad Gateway" in result.stderr
    assert len(requests_to(sb, "jumpseller", "GET", ORDERS_LIST)) == 4  # then it gives up
    sb.faults.clear()
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)


# -- the checkpoint must never skip a sale ------------------------------------------------------
# The three tests below failed before commit b7ad0bc (found by this suite and by the crash
# soak at the same time): the checkpoint passed an order before its work was recorded, so a
# run that stopped in between forgot the order for good.


def test_paid_orders_survive_a_failed_igest_listing_on_the_first_run(sb, cli: Cli):
    add_paid_orders(sb, 2)
    sb.faults.add("igest", "502", method="GET", path=LOOKUP_GET, times=None)
    first = cli("invoice")
    assert first.code == 5 and "the next run will retry" in first.stderr
    sb.faults.clear()
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)


def test_a_new_order_survives_a_failed_pending_listing(sb, cli: Cli):
    add_paid_orders(sb, 1)
    sb.store.add_order(
        lines=[{"sku": "VELA-1", "name": "Vela", "price": "5.00", "qty": 1, "rate": 23}],
        status="pending_payment",
    )
    assert cli("invoice").code == 0  # the ledger now knows one order waiting for payment
    add_paid_orders(sb, 1)
    sb.faults.add("jumpseller", "502", method="GET", path=PENDING_LIST, times=None)
    assert cli("invoice").code == 5  # the new order was seen, then the run stopped
    sb.faults.clear()
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)


@pytest.mark.real_day
def test_orders_survive_a_kill_while_the_first_of_them_is_issued(sb, cli: Cli):
    # A crash at a known moment: iGEST holds the first finalize; the run is killed while it
    # waits, with three orders seen and only the first one started.
    add_paid_orders(sb, 3)
    sb.faults.add("igest", "timeout", method="POST", path=FINALIZE_POST, after=True, seconds=20)
    process = cli.start("invoice")
    deadline = time.monotonic() + 30
    while not requests_to(sb, "igest", "POST", FINALIZE_POST) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests_to(sb, "igest", "POST", FINALIZE_POST), "the run never reached a finalize"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)


def test_a_lost_state_file_then_a_failed_first_run_issues_nothing_twice(sb, cli: Cli):
    # With the state file gone, the orders a stopped run has seen must still be checked
    # against iGEST's documents before anything is issued (fixed in 52a852a).
    add_paid_orders(sb, 2)
    assert cli("invoice").code == 0
    before = {
        ref: [d["number"] for d in docs]
        for ref, docs in sb.igest.final_documents_by_reference().items()
    }
    for suffix in ("", "-wal", "-shm"):
        cli.state.with_name(cli.state.name + suffix).unlink(missing_ok=True)
    sb.faults.add("igest", "502", method="GET", path=LOOKUP_GET, times=None)
    assert cli("invoice").code == 5
    sb.faults.clear()
    assert cli("invoice").code == 0
    after = {
        ref: [d["number"] for d in docs]
        for ref, docs in sb.igest.final_documents_by_reference().items()
    }
    assert after == before
    assert_all_done(sb, cli)


# -- a run killed while it lists (issue "never miss", point 1) ----------------------------------
# Jumpseller lists newest first. The checkpoint used to follow each order as it was read, so it
# jumped to the newest order on the first page: a first run killed on its second page left every
# older paid order behind it for good, and a rebuild after a lost state file killed the same way
# made the next run issue without looking in iGEST first.


def _kill_on_the_second_page(sb, cli: Cli) -> None:
    """Start `invoice`, hold the listing's second page, SIGKILL the run while it waits."""
    sb.faults.add("jumpseller", "timeout", method="GET", path=ORDERS_LIST, nth=2, after=True)
    process = cli.popen("invoice")
    deadline = time.monotonic() + 30
    while len(_listings(sb)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    # Else the kill would land somewhere else and the test would prove nothing.
    assert len(_listings(sb)) >= 2, "the run never asked for the listing's second page"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    sb.faults.clear()


def _listings(sb) -> list:
    return [
        r
        for r in requests_to(sb, "jumpseller", "GET", ORDERS_LIST)
        if "status_filters" not in r.query
    ]


@pytest.mark.real_day
@pytest.mark.parametrize("newest_first", [True, False])
def test_a_first_run_killed_on_its_second_page_misses_no_sale(sb, cli: Cli, newest_first):
    sb.store.newest_first = newest_first
    add_paid_orders(sb, 101)  # two pages of (at most) 100
    _kill_on_the_second_page(sb, cli)
    for _ in range(2):
        result = cli("invoice")
        assert result.code == 0, result.stdout + result.stderr
    assert_all_done(sb, cli)


@pytest.mark.real_day
@pytest.mark.parametrize("newest_first", [True, False])
def test_a_lost_state_file_then_a_rebuild_killed_on_its_second_page_issues_nothing_twice(
    sb, cli: Cli, newest_first
):
    sb.store.newest_first = newest_first
    add_paid_orders(sb, 101)
    assert cli("invoice").code == 0
    for suffix in ("", "-wal", "-shm"):
        cli.state.with_name(cli.state.name + suffix).unlink(missing_ok=True)
    _kill_on_the_second_page(sb, cli)
    add_paid_orders(sb, 1)  # a sale after the loss: issued once, like the others
    for _ in range(2):
        result = cli("invoice")
        assert result.code == 0, result.stdout + result.stderr
    assert_all_done(sb, cli)


@pytest.mark.parametrize(
    ("style", "new_orders"),
    [
        ("ignores_limit", 120),  # newest first, 50 a page: 70 were lost for good
        ("ignores_page", 120),  # every page the same: asked forever
        ("one_object", 4),  # the spec's schema: one order a run
        ("404_when_none", 3),  # every quiet run "Order N is gone", then a listing by date
    ],
)
def test_orders_after_the_checkpoint_as_another_server_could_list_them(
    sb, cli: Cli, style, new_orders
):
    # GET /orders/after/{id} declares neither limit nor page and shows one Order as its schema:
    # whichever way a server reads that, one run invoices every order after the checkpoint.
    add_paid_orders(sb, 1)
    assert cli("invoice").code == 0
    sb.store.after_listing = style
    add_paid_orders(sb, new_orders)
    result = cli("invoice")
    assert result.code == 0, result.stdout + result.stderr
    assert_all_done(sb, cli)

    def listings_by_day() -> int:  # (not the search for cancelled orders)
        seen = requests_to(sb, "jumpseller", "GET", ORDERS_LIST)
        return len([r for r in seen if "status_filters" not in r.query])

    before = listings_by_day()
    assert cli("invoice").code == 0
    assert listings_by_day() == before  # a quiet run: no "Order N is gone", no listing by day
