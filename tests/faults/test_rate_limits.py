"""Rate limits: Jumpseller's real ones (20/s, 800/min), iGEST's 10/s.

A normal run paces itself and is never refused: these sandboxes ban the client at the first
rate-limit 429 (``ban_after=1``), so a single one would also fail the run. When 429s are
forced, the client waits what Retry-After says (1 s, then 2 s ..., when it says nothing),
every request behind it waits too, and a 429 that never stops is given up after a bounded
number of tries, long before any ban.

Every run here is in-process, on a virtual clock that the client's pacing and the sandbox's rate
limiters share, with one worker thread: time moves only when the client waits, so what the
limiters count is the same on an idle and a busy machine, and a run of 400 iGEST writes at 10/s
costs no wall time. (Whether four workers stay under the limits over a real network, with real
scheduling, is a timing claim: ``bench/bench.py``'s ``backlog`` and ``catalogue`` scenarios
measure it, no 429 among their targets. The gate's sharing between threads is tested in
tests/adapters.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from igest_sandbox import Sandbox
from igest_sync.cli.session import pace_file
from tests.support.clock import VirtualClock, one_worker

from .conftest import (
    DRAFT_POST,
    FINALIZE_POST,
    LINK_POST,
    Cli,
    add_paid_orders,
    assert_all_done,
    make_cli,
    recorded_sandbox,
    requests_to,
)

ORDERS_LIST = r"^/v1/orders\.json$"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    one_worker(monkeypatch)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """The real limits (the other fault tests run with high ones): pacing is what is tested,
    on a clock that moves only when someone waits."""
    with recorded_sandbox(virtual_clock=VirtualClock()) as sandbox:
        yield sandbox


def previous_run_clients(sb: Sandbox, cli: Cli) -> dict[str, object]:
    """What a run that ended just before ``cli``'s builds its clients with: the sandbox's
    emulators, the virtual clock, and the pace files beside ``cli``'s state."""
    clock = sb.virtual_clock  # type: ignore[attr-defined]
    cli.state.parent.mkdir(parents=True, exist_ok=True)
    return {"clock": clock, "sleep": clock.sleep, "wall_clock": clock.time}


def _no_429(sb) -> None:
    stats = sb.stats()
    assert stats["jumpseller"]["429"] == 0 and stats["igest"]["429"] == 0, stats
    assert not sb.jumpseller_limiter.banned
    assert all(
        not any(h[0].startswith("Jumpseller-Banned") for h in seen.headers)
        for seen in sb.requests()
    )


def test_200_orders_in_one_run_see_no_429_even_with_a_timeout_among_them(tmp_path: Path):
    with recorded_sandbox(ban_after=1, virtual_clock=VirtualClock()) as sb:
        sb.load_generated({"orders": 235, "seed": 7})
        paid = sum(1 for i in sb.store.order_ids() if sb.store.order(i)["status_enum"] == "paid")
        assert 190 <= paid <= 215
        start = sb.virtual_clock()  # type: ignore[attr-defined]
        # One draft is made but answered after 31 s (on the virtual clock): the client gives
        # up on it as its 30 s read timeout would, and the run goes on.
        sb.faults.add(
            "igest", "timeout", method="POST", path=DRAFT_POST, nth=50, after=True, seconds=31
        )
        # The timed-out order is shown at once (not quiet while it could pass by itself).
        cli = make_cli(sb, tmp_path, alerts={"unreachable_minutes": 0})
        first = cli("invoice", "--json")
        assert first.code == 1, first.stderr
        report = first.json()
        assert report["issued"] == paid - 1 and report["failed"] == 1
        [failed] = cli.status()["failed"]
        assert "timed out waiting for the response" in failed["error"] and failed["transient"]
        _no_429(sb)
        # 400 writes at 10/s, and the 31 s answer: the virtual clock went by all of it.
        assert sb.virtual_clock() - start >= 400 / 10 + 31  # type: ignore[attr-defined]
        second = cli("invoice", "--json")
        assert second.code == 0, second.stdout + second.stderr
        assert second.json()["issued"] == 1  # the timed-out draft, found and finalized
        assert len(requests_to(sb, "igest", "POST", DRAFT_POST)) == paid
        assert_all_done(sb, cli)
        _no_429(sb)


def test_sync_stock_of_a_large_catalogue_sees_no_429(tmp_path: Path):
    with recorded_sandbox(ban_after=1, virtual_clock=VirtualClock()) as sb:
        loaded = sb.load_generated({"variants": 3000, "seed": 5})
        assert loaded["variants"] == 3000
        references = sb.igest.stock_references()
        changed = references[::25]
        for quantity, reference in enumerate(changed, start=1):
            sb.igest.set_stock(reference, "ARM1", Decimal(quantity))
        cli = make_cli(sb, tmp_path)  # stock from iGEST's ARM1 to Jumpseller
        result = cli("sync-stock", "--json")
        assert result.code == 0, result.stdout + result.stderr
        counts = result.json()["counts"]
        assert counts["failed"] == 0 and 0 < counts["updated"] <= len(changed)
        for reference in changed:
            product, variant = sb.store.item_by_sku(reference)
            assert (variant or product).stock == sb.igest.stock(reference, "ARM1"), reference
        _no_429(sb)
        again = cli("sync-stock", "--json")
        assert again.code == 0 and again.json()["counts"]["updated"] == 0
        _no_429(sb)


def test_forced_429s_are_waited_out_as_told_and_nothing_is_done_twice(sb, cli: Cli):
    add_paid_orders(sb, 2)
    forced = [
        ("jumpseller", "GET", ORDERS_LIST, 2),
        ("igest", "POST", DRAFT_POST, 1),
        ("igest", "POST", FINALIZE_POST, None),
        ("jumpseller", "POST", LINK_POST, None),
    ]
    for service, method, path, retry_after in forced:
        sb.faults.add(service, "429", method=method, path=path, retry_after=retry_after)
    result = cli("invoice")
    assert result.code == 0, result.stdout + result.stderr
    assert_all_done(sb, cli)  # the refused POSTs were repeated, and made nothing twice
    seen = sb.requests()
    refusals = [(i, s) for i, s in enumerate(seen) if s.status == 429]
    assert len(refusals) == len(forced)
    for index, refused in refusals:
        told = dict(refused.headers).get("Retry-After")
        wait = float(told) if told is not None else 1.0  # no header: the client's first backoff
        following = [s for s in seen[index + 1 :] if s.service == refused.service]
        assert following, refused
        # Nothing at all is sent to that service before the wait is over, not only the retry.
        assert following[0].received - refused.answered >= wait - 0.05, (refused, following[0])
        retry = next(s for s in following if (s.method, s.path) == (refused.method, refused.path))
        assert retry.status in (200, 201), retry
    assert sb.jumpseller_limiter.hits == 0 and not sb.jumpseller_limiter.banned


def test_a_429_that_never_stops_is_given_up_after_bounded_tries_before_any_ban(sb, cli: Cli):
    add_paid_orders(sb, 1)
    sb.faults.add("jumpseller", "429", method="GET", path=ORDERS_LIST, times=None, retry_after=1)
    result = cli("invoice")
    assert result.code == 5
    assert "too many requests (429) after 4 tries" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(requests_to(sb, "jumpseller", "GET", ORDERS_LIST)) == 4
    assert sb.jumpseller_limiter.hits == 0 and not sb.jumpseller_limiter.banned
    assert sb.igest.documents == []
    sb.faults.clear()
    assert cli("invoice").code == 0
    assert_all_done(sb, cli)


def test_a_429_that_never_stops_during_sync_stock_stops_it_with_exit_5(sb, cli: Cli):
    """Not every remaining item tried 4 times: the first write the client gives up on stops
    the run; the rest are reported not attempted, and the run exits 5, as a service problem."""
    sb.load_generated({"variants": 300, "seed": 5})
    for quantity, reference in enumerate(sb.igest.stock_references()[::5][:60], start=1):
        sb.igest.set_stock(reference, "ARM1", Decimal(quantity + 200))
    sb.faults.add(
        service="jumpseller", kind="429", method="PUT", path="products_locations", nth=2, times=None
    )
    result = cli("sync-stock", "--json")
    assert result.code == 5, result.stdout + result.stderr
    report = result.json()
    assert report["counts"]["updated"] == 1 and report["failed"] == 1
    left = [i for i in report["items"] if i.get("reason") == "not_attempted"]
    assert len(left) >= 58 and all(i["transient"] for i in left)
    assert "too many requests (429) after 4 tries" in report["stopped"]["message"]
    assert "Wait a minute and run again" in report["stopped"]["hint"]
    schema = json.loads((REPO / "docs" / "json" / "sync-stock.schema.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(report))
    assert len(requests_to(sb, "jumpseller", "PUT", "products_locations")) == 1 + 4
    assert sb.jumpseller_limiter.hits == 0 and not sb.jumpseller_limiter.banned
    # Without --json the same run says why it stopped, on stderr, once.
    sb.faults.clear()
    sb.faults.add("jumpseller", "429", method="PUT", path="products_locations", times=None)
    plain = cli("sync-stock")
    assert plain.code == 5
    assert plain.stderr.count("too many requests (429) after 4 tries") == 1, plain.stderr
    assert "Traceback" not in plain.stderr
    sb.faults.clear()
    assert cli("sync-stock").code == 0  # the next run writes what was left


def test_a_run_started_right_after_a_burst_sees_no_429(sb, cli: Cli):
    """`invoice && sync-stock`, cron chains: the earlier igest-sync run may have used the
    current second; it leaves the time of its last request next to the state file."""
    from igest_sync.adapters.jumpseller.client import JumpsellerClient

    add_paid_orders(sb, 2)
    js = sb.credentials["jumpseller"]
    pace = pace_file(cli.state, "jumpseller")
    cli.state.parent.mkdir(parents=True, exist_ok=True)
    # The previous run: 20 requests in a burst, as RateGate allows, just before exiting.
    with JumpsellerClient(
        js["base_url"],
        js["login"],
        js["auth_token"],
        pace_file=pace,
        transport=httpx.WSGITransport(app=sb.jumpseller_app),
        **previous_run_clients(sb, cli),  # type: ignore[arg-type]
    ) as prev:
        for _ in range(20):
            prev.store_info()
    assert cli("invoice").code == 0
    _no_429(sb)


def test_a_run_restarted_right_after_a_killed_one_sees_no_429(sb, cli: Cli):
    import subprocess
    import sys

    add_paid_orders(sb, 2)
    js = sb.credentials["jumpseller"]
    pace = pace_file(cli.state, "jumpseller")
    cli.state.parent.mkdir(parents=True, exist_ok=True)
    # The previous run: a burst of 20 requests, then SIGKILL before it can close anything.
    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from igest_sync.adapters.jumpseller.client import JumpsellerClient\n"
        f"client = JumpsellerClient({js['base_url']!r}, {js['login']!r}, "
        f"{js['auth_token']!r}, pace_file=Path({str(pace)!r}))\n"
        "for _ in range(20):\n"
        "    client.store_info()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert killed.returncode == -9
    assert cli("invoice").code == 0
    _no_429(sb)


def test_a_run_right_after_an_igest_burst_sees_no_429(sb, cli: Cli):
    """iGEST sends no rate-limit headers: the earlier run's pace file says how much of the
    current second it used, and the next run waits for what is left of it."""
    from igest_sync.adapters.igest import IgestClient

    add_paid_orders(sb, 2)
    ig = sb.credentials["igest"]
    pace = pace_file(cli.state, "igest")
    cli.state.parent.mkdir(parents=True, exist_ok=True)
    # The previous run: iGEST's whole second (10 requests), just before exiting.
    with IgestClient(
        ig["base_url"],
        ig["integration_key"],
        ig["security_code"],
        pace_file=pace,
        transport=httpx.WSGITransport(app=sb.igest_app),
        **previous_run_clients(sb, cli),  # type: ignore[arg-type]
    ) as prev:
        for _ in range(10):
            prev.entity()
    assert cli("invoice").code == 0
    _no_429(sb)
    assert_all_done(sb, cli)
