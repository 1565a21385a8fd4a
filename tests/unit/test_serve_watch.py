"""Real time watches itself (serve/watch.py): paid orders that no delivery announced make it
degraded; a delivery after that heals it. Fixed moments, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.serve import watch
from igest_sync.state.inbox import ORDER
from igest_sync.state.ledger import Ledger

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # serve started watching


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as ledger:
        yield ledger


def paid(ledger: Ledger, order_id: int, at: datetime) -> None:
    ledger.record_order(
        order_id,
        "paid",
        created_at=at,
        paid_at=at,
        total=Decimal("12.30"),
        customer="Ana",
        email=None,
        note=None,
    )


def delivered(ledger: Ledger, order_id: int, at: datetime) -> None:
    ledger.record_hint(ORDER, order_id, "order_paid", triggered_at=None, received_at=at)


def test_a_paid_order_no_delivery_announced_degrades_once_past_the_grace(ledger):
    delivered(ledger, 1, START + timedelta(minutes=1))
    paid(ledger, 1, START + timedelta(minutes=1, seconds=20))  # Jumpseller's clock is ahead
    paid(ledger, 2, START + timedelta(minutes=3))  # recorded by cron's run: no delivery came
    heard = {1: START + timedelta(minutes=1)}
    quiet = START + timedelta(minutes=2, seconds=59)
    assert watch.unannounced(ledger, heard, START, quiet + watch.GRACE) is None  # 1 was
    soon = START + timedelta(minutes=3) + watch.GRACE - timedelta(seconds=1)
    assert watch.unannounced(ledger, heard, START, soon) is None  # it may still come
    later = START + timedelta(minutes=3) + watch.GRACE
    reason, public, orders = watch.unannounced(ledger, heard, START, later)
    assert orders == [2] and "(orders 2)" in reason and "orders 2" not in public
    assert "no webhook announced within 3 minutes" in public
    assert "the last delivery arrived at 2026-11-27T12:01:00+00:00" in public
    assert watch.unannounced(ledger, heard, START, later, counted=[2]) is None  # once


def test_a_hook_paused_seconds_after_the_last_delivery_is_seen(ledger):
    # The last delivery at 12:01:00, then the hook paused: order 2, paid 16 s later, was
    # skipped as "maybe the one that delivery announced" (clock skew), and the sweep that
    # invoiced it within 3 minutes of its payment never counted it either.
    delivered(ledger, 1, START + timedelta(minutes=1))
    paid(ledger, 1, START + timedelta(seconds=58))
    paid(ledger, 2, START + timedelta(minutes=1, seconds=16))
    heard = {1: START + timedelta(minutes=1)}
    now = START + timedelta(minutes=1, seconds=16) + watch.GRACE
    _reason, _public, orders = watch.unannounced(ledger, heard, START, now)
    assert orders == [2]


def test_a_delivery_before_the_payment_announced_nothing(ledger):
    # order_updated when the order was created; order_paid never came (that hook paused).
    paid(ledger, 3, START + timedelta(minutes=10))
    heard = {3: START + timedelta(minutes=2)}
    assert watch.unannounced(ledger, heard, START, START + timedelta(minutes=14))[2] == [3]
    heard[3] = START + timedelta(minutes=9, seconds=30)  # within the clock skew: announced
    assert watch.unannounced(ledger, heard, START, START + timedelta(minutes=14)) is None


def test_orders_paid_before_serve_started_watching_do_not_count(ledger):
    paid(ledger, 3, START - timedelta(hours=2))  # paid while serve was down
    assert watch.unannounced(ledger, {}, START, START + timedelta(hours=1)) is None
    public = watch.unannounced(ledger, {}, START - timedelta(hours=3), START)[1]
    assert "no delivery has arrived since serve started" in public


def test_degraded_once_until_a_delivery_arrives_after_it(ledger):
    seen = ("reason with orders 5", "public reason")
    at = START + timedelta(minutes=10)
    first = watch.degrade(ledger, seen, at)
    assert first is not None and first.since == "2026-11-27T12:10:00+00:00"
    assert watch.degrade(ledger, seen, at + timedelta(minutes=1)) is None  # already: once
    assert ledger.realtime_degraded() == first  # what status and /healthz read
    # Orders missed later, for another cause: still once, but the reason is today's (a
    # token fixed since must not be blamed on and on).
    assert watch.degrade(ledger, ("orders 8; hooks gone", "hooks gone"), at + timedelta(1)) is None
    now = ledger.realtime_degraded()
    assert now is not None and now.since == first.since
    assert (now.reason, now.public) == ("orders 8; hooks gone", "hooks gone")
    delivered(ledger, 6, at - timedelta(seconds=1))  # older than the degradation: not proof
    assert not watch.heal_on_delivery(ledger)
    delivered(ledger, 7, at + timedelta(minutes=3))
    assert watch.heal_on_delivery(ledger)
    assert ledger.realtime_degraded() is None


def test_orders_missed_while_degraded_bring_the_hooks_save_forward(ledger):
    # Degraded since before a restart, whose start saved the hooks; then the hooks were
    # deleted: the next save waited 30 minutes from the start while orders went unannounced.
    from tests.support.configs import fake_config

    config = fake_config()
    config = replace(config, serve=replace(config.serve, public_url="https://loja.example/hooks"))
    save = watch.hooks_saver(config, hooks=None)  # type: ignore[arg-type]
    keeper = watch.Keeper("loja", save, now=START)
    watch.degrade(ledger, ("an old cause", "old"), START - timedelta(hours=1))
    keeper.next_reinstall, keeper.last_reinstall = None, START  # saved at start
    paid(ledger, 9, START + timedelta(minutes=1))
    keeper.check(ledger, START + timedelta(minutes=4))  # missed: within 5 min of the save
    assert not keeper.reinstall_due(START + timedelta(minutes=4))
    reason = ledger.realtime_degraded()
    assert reason is not None and "(orders 9)" in reason.reason  # today's cause
    paid(ledger, 10, START + timedelta(minutes=3))
    keeper.check(ledger, START + timedelta(minutes=6))
    assert keeper.reinstall_due(START + timedelta(minutes=6))  # not 30 minutes after start


def test_orders_missed_while_a_failed_save_waits_keep_its_retry_time(ledger):
    from tests.support.configs import fake_config

    config = fake_config()
    config = replace(config, serve=replace(config.serve, public_url="https://loja.example/hooks"))
    save = watch.hooks_saver(config, hooks=None)  # type: ignore[arg-type]
    keeper = watch.Keeper("loja", save, now=START)
    watch.degrade(ledger, ("an old cause", "old"), START - timedelta(hours=1))
    retry = START + watch.REINSTALL_RETRY
    keeper.next_reinstall, keeper.last_reinstall = retry, None  # the save at start failed
    paid(ledger, 9, START + timedelta(minutes=1))
    keeper.check(ledger, START + timedelta(minutes=4))
    assert keeper.next_reinstall == retry and not keeper.reinstall_due(START + timedelta(minutes=4))


def test_lost_again_soon_after_it_healed_is_the_same_degradation(ledger):
    # Deliveries that keep coming minutes late: each late order degrades real time, the late
    # delivery heals it. Within `again_within` of the heal, it is the first one again (its
    # moment kept: one message, one alert reminded as any other), not a new one per order.
    first = watch.degrade(ledger, ("orders 5", "late"), START)
    assert first is not None
    delivered(ledger, 5, START + timedelta(minutes=2))
    assert watch.heal_on_delivery(ledger)
    within = timedelta(hours=24)
    later = START + timedelta(minutes=20)
    assert watch.degrade(ledger, ("orders 6", "late"), later, again_within=within) is None
    again = ledger.realtime_degraded()
    assert again is not None and (again.since, again.reason) == (first.since, "orders 6")
    assert not watch.heal_on_delivery(ledger)  # the delivery before it is no proof
    delivered(ledger, 6, later + timedelta(minutes=2))
    assert watch.heal_on_delivery(ledger)
    # Lost again long after it healed: a new degradation, told anew.
    much_later = later + timedelta(hours=25)
    new = watch.degrade(ledger, ("orders 7", "late"), much_later, again_within=within)
    assert new is not None and new.since == "2026-11-28T13:20:00+00:00"
