"""serve's per-store worker in-process, against fakes: it works the inbox under the run lock,
waits while a cron run holds the lock (the hints stay), and sweeps like `invoice`."""

from __future__ import annotations

import dataclasses
import os
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from igest_sync.config import AlertsConfig, Config, IgestConfig, InvoiceConfig, JumpsellerConfig
from igest_sync.serve import worker as worker_module
from igest_sync.serve.worker import StoreSetup, StoreWorker
from igest_sync.state.inbox import LAST_SWEEP, ORDER, SERVE_STARTED
from igest_sync.state.lock import run_lock
from tests.support.alert_receivers import ChatReceiver
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order
from tests.support.webhooks import wait_for

PAID = datetime(2026, 11, 20, 14, 3, tzinfo=UTC)


def config() -> Config:
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig("http://js", "loja", "token", "loja", hooks_token="h"),
        igest=IgestConfig("http://ig", "key", "code"),
        invoice=InvoiceConfig(start_date=date(2026, 11, 1), concurrency=2),
    )


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(worker_module, "LOCKED_RETRY", 0.05)
    monkeypatch.setattr(worker_module, "IDLE_WAKE", 0.05)


def make_worker(tmp_path: Path, js, ig, *, sweep: bool, alerts: AlertsConfig | None = None):
    stop = threading.Event()
    reports, problems = [], []
    store_config = config()
    if alerts is not None:
        store_config = dataclasses.replace(store_config, alerts=alerts)
    setup = StoreSetup("loja", store_config, tmp_path / "state.sqlite3", js, ig)
    worker = StoreWorker(
        setup,
        stop,
        on_report=lambda store, report: reports.append(report),
        on_error=lambda store, exc: problems.append(exc),
        sweep=sweep,
    )
    return worker, stop, reports, problems


def finish(worker: StoreWorker, stop: threading.Event) -> None:
    stop.set()
    worker.wake()
    worker.join(10)
    assert not worker.thread.is_alive()
    worker.close()


def test_a_recorded_hint_is_worked_and_a_cron_lock_only_delays_it(tmp_path, monkeypatch, caplog):
    tries = []

    def counted_lock(*args, **kwargs):
        tries.append(kwargs.get("serve"))
        return run_lock(*args, **kwargs)

    js, ig = FakeJumpseller(orders=[paid_order(10, paid_at=PAID)]), FakeIgest()
    worker, stop, reports, problems = make_worker(tmp_path, js, ig, sweep=False)
    monkeypatch.setattr(worker_module, "run_lock", counted_lock)
    assert worker.store_codes == {"loja"}
    worker.start()
    try:
        with run_lock(worker.setup.state_path):  # a cron run holds it
            worker.record(ORDER, 10, "order_paid", None, PAID)
            worker.wake()
            # The worker tries, finds the lock taken, keeps the hint and tries again.
            with caplog.at_level("INFO", "igest_sync"):
                wait_for(lambda: len(tries) >= 3, what="the worker's tries")
            assert ig.finals() == [] and worker.inbox.hints_count() == 1
            assert caplog.text.count("the hints wait") == 1  # said once, not every try
        wait_for(lambda: len(ig.finals()) == 1, what="the invoice once the lock is free")
        wait_for(lambda: worker.inbox.hints_count() == 0, what="the inbox to empty")
    finally:
        finish(worker, stop)
    assert problems == [] and len(ig.finals()) == 1
    assert [o.action for r in reports for o in r.outcomes] == ["issued"]


def test_the_sweep_invoices_what_no_webhook_announced(tmp_path):
    js = FakeJumpseller(orders=[paid_order(20, paid_at=PAID), paid_order(21, paid_at=PAID)])
    ig = FakeIgest()
    worker, stop, reports, _ = make_worker(tmp_path, js, ig, sweep=True)
    worker.start()
    try:
        wait_for(lambda: len(ig.finals()) == 2, what="the sweep")
        wait_for(lambda: worker.inbox.get_meta(LAST_SWEEP), what="the sweep's time")
    finally:
        finish(worker, stop)
    assert sorted(o.key for r in reports for o in r.outcomes) == ["20", "21"]
    assert {d.external_reference for d in ig.finals()} == {
        "jumpseller:loja:20",
        "jumpseller:loja:21",
    }


def test_refused_credentials_are_told_once_and_the_hints_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.05)
    js = FakeJumpseller(orders=[paid_order(30, paid_at=PAID)])
    js.faults.add("order", "auth", times=None)
    ig = FakeIgest()
    worker, stop, _, problems = make_worker(tmp_path, js, ig, sweep=False)
    worker.start()
    try:
        worker.record(ORDER, 30, "order_paid", None, PAID)
        worker.wake()
        wait_for(lambda: len(js.called("order")) >= 3, what="a few tries")
    finally:
        finish(worker, stop)
    assert len(problems) == 1 and ig.finals() == []
    with worker_module.Ledger(tmp_path / "state.sqlite3") as ledger:
        assert ledger.hints_count() == 1  # kept for when the credentials are fixed


def test_serve_sends_its_alerts_once_as_a_cron_run_would(tmp_path, monkeypatch):
    """A stopped unit (refused credentials) and an order that failed are alerts, sent from the
    worker under the lock; the unit tried again does not send the same alert twice."""
    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.05)
    chat = ChatReceiver().start()
    try:
        js = FakeJumpseller(orders=[paid_order(40, paid_at=PAID)])
        js.faults.add("order", "auth", times=3)  # refused three times, then accepted
        ig = FakeIgest()
        ig.faults.add("create_document", "422", times=None)  # iGEST refuses the document
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json")
        worker, stop, _, problems = make_worker(tmp_path, js, ig, sweep=False, alerts=alerts)
        worker.start()
        try:
            worker.record(ORDER, 40, "order_paid", None, PAID)
            worker.wake()
            wait_for(lambda: worker.inbox.hints_count() == 0, what="the hint worked")
        finally:
            finish(worker, stop)
        kinds = [e["kind"] for post in chat.posts for e in post.json()["events"]]
        assert kinds.count("run") == 1, chat.posts  # the credentials, told once
        assert kinds.count("failed") == 1, chat.posts  # the order that iGEST refused
        [failed] = [
            e for post in chat.posts for e in post.json()["events"] if e["kind"] == "failed"
        ]
        assert failed["order_id"] == 40
        assert len(problems) == 1 and ig.finals() == []
    finally:
        chat.stop()


# -- on the virtual clock: the worker's loop, one step at a time ------------------------------

HOOKS_URL = "https://shop.example.pt/hooks/loja"


def turns(worker, clock, next_sweep, count: int, *, seconds: int):
    """``count`` turns of the worker's loop, the virtual clock ``seconds`` on after each; the
    next sweep's time."""
    for _ in range(count):
        next_sweep = worker.step(next_sweep)
        clock.advance(seconds=seconds)
    return next_sweep


def virtual_worker(tmp_path, js, ig, clock, *, public_url=None, alerts=None, sweep=False):
    from igest_sync.config import ServeConfig

    stop = threading.Event()
    seen: dict[str, list] = {"reports": [], "problems": [], "degraded": [], "fixes": []}
    store_config = dataclasses.replace(config(), serve=ServeConfig(public_url=public_url))
    if alerts is not None:
        store_config = dataclasses.replace(store_config, alerts=alerts)
    setup = StoreSetup("loja", store_config, tmp_path / "state.sqlite3", js, ig)
    worker = StoreWorker(
        setup,
        stop,
        on_report=lambda store, report: seen["reports"].append(report),
        on_error=lambda store, exc: seen["problems"].append(exc),
        on_degraded=lambda store, state, *fix: (
            seen["degraded"].append(state),
            seen["fixes"].append(fix),
        ),
        clock=clock.wall,
        sweep=sweep,
    )
    return worker, seen


def steps_until(worker, clock, done, *, every: float = 0.5, limit: int = 400):
    """Step the worker, the virtual clock moving ``every`` seconds between steps, until
    ``done()``; the virtual seconds it took."""
    started, next_sweep = clock.wall(), clock.wall()
    for _ in range(limit):
        if done():
            return (clock.wall() - started).total_seconds()
        next_sweep = worker.step(next_sweep)
        clock.advance(seconds=every)
    raise AssertionError("never done")


@pytest.fixture
def no_idle(monkeypatch):
    monkeypatch.setattr(worker_module, "IDLE_WAKE", 0.0)  # the loop never waits in real time


def test_a_store_code_unread_at_start_is_read_again_with_backoff(tmp_path, no_idle):
    from igest_sync.serve.server import health
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js = FakeJumpseller(info={"name": "Loja", "code": "loja-real"})
    js.faults.add("store_info", "5xx", times=3)  # the start's read and two more fail
    worker, _ = virtual_worker(tmp_path, js, FakeIgest(), clock)
    try:
        assert not worker.code_known and worker.current_codes() is None
        assert health([worker])()["store_code"] == "unknown"
        took = steps_until(worker, clock, lambda: worker.code_known)
        # Read again 5 s, 10 s, then 20 s after each failure: the fourth read (35 s) works.
        assert 35 <= took <= 36 and len(js.called("store_info")) == 4
        assert worker.current_codes() == {"loja", "loja-real"}
        assert health([worker])()["store_code"] == "known"
    finally:
        worker.close()


def test_one_stores_unreadable_state_file_degrades_healthz_not_a_500_for_all(tmp_path, monkeypatch):
    """serve --homes: one store's state file corrupt while serve runs made every /healthz a
    500, so a load balancer or monitor took the process, every store with it, for down."""
    from igest_sync.errors import StateError
    from igest_sync.serve.server import health
    from tests.support.clock import FakeClock

    clock = FakeClock()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = virtual_worker(tmp_path / "a", FakeJumpseller(), FakeIgest(), clock)
    b, _ = virtual_worker(tmp_path / "b", FakeJumpseller(), FakeIgest(), clock)
    try:
        a.inbox.set_meta(LAST_SWEEP, "2026-11-20T14:00:00+00:00")

        def unreadable(*args, **kwargs):
            raise StateError("State file b cannot be read: file is not a database.")

        monkeypatch.setattr(b.inbox, "get_meta", unreadable)
        answer = health([a, b])()
        assert answer["status"] == "degraded" and answer["stores"] == 2
        assert answer["reason"] == "the state file of 1 store(s) cannot be read"
        assert answer["last_sweep_at"] == "2026-11-20T14:00:00+00:00"
        assert answer["webhooks_waiting"] == 0
    finally:
        monkeypatch.undo()
        a.close()
        b.close()


def test_a_lost_draft_answer_costs_the_invoice_seconds_not_a_sweep(tmp_path, no_idle):
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js, ig = FakeJumpseller(orders=[paid_order(60, paid_at=PAID)]), FakeIgest()
    ig.faults.add("create_document", "5xx", after=True)  # drafted in iGEST, answer lost
    worker, seen = virtual_worker(tmp_path, js, ig, clock)
    try:
        worker.record(ORDER, 60, "order_paid", None, clock.wall())
        took = steps_until(worker, clock, lambda: len(ig.finals()) == 1)
        assert took < 15, took  # the sweep (10 minutes) is not waited for
        assert len(ig.called("create_document")) == 1 and worker.inbox.hints_count() == 0
        # Retried by serve itself: logged, never a "Needs attention" table.
        assert all(not r.failed and not r.still_failed for r in seen["reports"])
        assert seen["problems"] == []
    finally:
        worker.close()


def test_real_time_degraded_is_seen_said_once_alerted_once_and_healed(tmp_path, no_idle):
    """Jumpseller paused the hooks: the sweep finds a paid order no webhook announced. serve
    says so once, /healthz answers "degraded" (200), one alert goes out, the hooks are saved
    again (PUT); the next delivery heals it."""
    from datetime import timedelta

    from igest_sync.serve.server import health
    from tests.support.clock import WALL_START, FakeClock

    clock = FakeClock()
    chat = ChatReceiver().start()
    try:
        paid = WALL_START + timedelta(minutes=1)  # after serve started watching
        js = FakeJumpseller(orders=[paid_order(70, paid_at=paid, created_at=paid)])
        ig = FakeIgest()
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json")
        worker, seen = virtual_worker(
            tmp_path, js, ig, clock, public_url=HOOKS_URL, alerts=alerts, sweep=True
        )
        try:
            took = steps_until(worker, clock, lambda: len(js.hook_list) == 3)
            assert took < 2 and [w[0] for w in js.writes] == ["create_hook"] * 3  # at start
            clock.advance(minutes=5)  # nothing announced order 70
            steps_until(worker, clock, lambda: seen["degraded"])
            [state] = seen["degraded"]
            assert "orders 70" in state.reason and "no webhook announced" in state.reason
            answer = health([worker])()
            assert answer["status"] == "degraded" and "no webhook announced" in answer["reason"]
            assert "70" not in answer["reason"]  # /healthz names no order
            # serve saves its hooks again by itself: a paused one resumes.
            steps_until(worker, clock, lambda: [w[0] for w in js.writes].count("update_hook") == 3)
            for _ in range(6):  # more units: no second alert, no second message
                worker.step(clock.wall() + timedelta(hours=1))
                clock.advance(seconds=40)
            events = [e for post in chat.posts for e in post.json()["events"]]
            assert [e["kind"] for e in events].count("realtime") == 1, chat.posts
            [realtime] = [e for e in events if e["kind"] == "realtime"]
            assert "hooks install" in realtime["fix"]
            assert len(seen["degraded"]) == 1
            # A delivery arrives: real time works again.
            worker.record(ORDER, 71, "order_updated", None, clock.wall())
            clock.advance(seconds=31)
            steps_until(worker, clock, lambda: health([worker])()["status"] == "ok")
            assert worker.inbox.realtime_degraded() is None
        finally:
            worker.close()
    finally:
        chat.stop()


def test_deliveries_that_keep_coming_late_are_said_once_and_alerted_once(tmp_path, no_idle):
    """Jumpseller's deliveries come five minutes late, each order after the sweep listed it:
    each late order degrades real time and its delivery heals it. Said once and alerted once
    (reminded after remind_failed_hours), not once per order."""
    from tests.support.clock import FakeClock

    clock = FakeClock()
    chat = ChatReceiver().start()
    try:
        js, ig = FakeJumpseller(orders=[]), FakeIgest()
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json")
        worker, seen = virtual_worker(
            tmp_path, js, ig, clock, public_url=HOOKS_URL, alerts=alerts, sweep=True
        )
        try:
            next_sweep, late = clock.wall(), []
            for minute in range(70):
                if minute % 20 == 9 and minute < 60:  # paid a minute before the sweep lists it
                    order_id = 80 + minute // 20
                    js.add(paid_order(order_id, paid_at=clock.wall(), created_at=clock.wall()))
                    late.append((clock.wall() + timedelta(minutes=5), order_id))
                for _ in range(3):
                    for due, order_id in [d for d in late if d[0] <= clock.wall()]:
                        worker.record(ORDER, order_id, "order_paid", None, clock.wall())
                        late.remove((due, order_id))
                    next_sweep = worker.step(next_sweep)
                    clock.advance(seconds=20)
            assert len(ig.finals()) == 3  # each order invoiced, by the sweep or its webhook
            assert len(seen["degraded"]) == 1, [s.since for s in seen["degraded"]]
            events = [e for post in chat.posts for e in post.json()["events"]]
            assert [e["kind"] for e in events].count("realtime") == 1, chat.posts
        finally:
            worker.close()
    finally:
        chat.stop()


def _order_70_paid_at(tmp_path, paid: datetime):
    """A worker on a virtual clock, with public_url, whose store has order 70 paid at
    ``paid``: the sweep finds it whether or not a webhook announced it."""
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js = FakeJumpseller(orders=[paid_order(70, paid_at=paid, created_at=paid)])
    worker, seen = virtual_worker(
        tmp_path, js, FakeIgest(), clock, public_url=HOOKS_URL, sweep=True
    )
    return clock, worker, seen


def test_degraded_with_deliveries_refused_names_the_hooks_token_and_the_path(tmp_path, no_idle):
    """A hooks token that is not the key Jumpseller signs with: every delivery is a 401, the
    hook is paused, the sweep finds the order. The reason says which key to check; /healthz
    only that deliveries are refused for their signature."""
    from igest_sync.serve.server import health
    from tests.support.clock import WALL_START

    paid = WALL_START + timedelta(minutes=1)
    clock, worker, seen = _order_70_paid_at(tmp_path, paid)
    try:
        for _ in range(3):  # Jumpseller's first delivery and its retries
            worker.keeper.refused_signature(paid + timedelta(seconds=2))
        worker.keeper.delivered_elsewhere("/", paid + timedelta(seconds=3))
        clock.advance(minutes=5)
        steps_until(worker, clock, lambda: seen["degraded"])
        [state] = seen["degraded"]
        assert "3 deliveries were refused for a wrong Jumpseller-Hmac-Sha256" in state.reason
        assert "[jumpseller] hooks_token" in state.reason
        assert "1 delivery signed with this store's hooks token came to /, where" in state.reason
        answer = health([worker])()["reason"]
        assert "refused for their signature" in answer and "hooks_token" not in answer
        assert "deliveries come to another path" in answer
    finally:
        worker.close()


def test_refusals_before_an_accepted_delivery_are_no_cause_of_a_later_degradation(
    tmp_path, no_idle
):
    """A forged request early on, then good deliveries, then a proxy outage: the degraded
    reason must not send the merchant to check a hooks token that works."""
    from tests.support.clock import WALL_START

    clock, worker, seen = _order_70_paid_at(tmp_path, WALL_START + timedelta(minutes=2))
    try:
        worker.keeper.refused_signature(WALL_START + timedelta(seconds=5))
        worker.keeper.delivered_elsewhere("/", WALL_START + timedelta(seconds=6))
        worker.record(ORDER, 69, "order_updated", None, WALL_START + timedelta(minutes=1))
        clock.advance(minutes=6)  # order 70, paid after that delivery, announced by none
        steps_until(worker, clock, lambda: seen["degraded"])
        [state] = seen["degraded"]
        assert "orders 70" in state.reason
        assert "hooks_token" not in state.reason and "came to /" not in state.reason
    finally:
        worker.close()


def test_a_hook_paused_right_after_a_delivery_is_seen_though_the_sweep_invoiced_at_once(
    tmp_path, no_idle
):
    """The last delivery, then the hook paused: order 70, paid 16 s later and invoiced by a
    sweep within a minute, was taken for the one that delivery announced, and /healthz said
    "ok" until another order came."""
    from igest_sync.serve.server import health
    from tests.support.clock import WALL_START

    delivery = WALL_START + timedelta(minutes=1)
    clock, worker, seen = _order_70_paid_at(tmp_path, delivery + timedelta(seconds=16))
    try:
        worker.record(ORDER, 69, "order_paid", None, delivery)
        clock.advance(minutes=2)
        steps_until(worker, clock, lambda: worker.ledger.work(70) is not None)
        clock.advance(minutes=3)
        steps_until(worker, clock, lambda: seen["degraded"])
        [state] = seen["degraded"]
        assert "orders 70" in state.reason and "no webhook announced" in state.reason
        assert health([worker])()["status"] == "degraded"
    finally:
        worker.close()


def test_without_public_url_serve_cannot_save_the_hooks_and_says_so_once(tmp_path, no_idle, caplog):
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js = FakeJumpseller()
    worker, _ = virtual_worker(tmp_path, js, FakeIgest(), clock)
    try:
        with caplog.at_level("WARNING", "igest_sync"):
            for _ in range(3):
                worker.step(clock.wall() + timedelta(hours=1))
        assert caplog.text.count("public_url is not set") == 1
        assert js.called("hooks") == []
    finally:
        worker.close()


def test_the_store_code_is_read_by_the_worker_not_before_serve_listens(tmp_path, no_idle):
    """serve listens once its workers are made: reading the store's code there kept the port
    closed for the read's retries and its 30 s timeout when Jumpseller was slow or failing,
    and each delivery refused meanwhile counted towards a paused hook."""
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js = FakeJumpseller(orders=[paid_order(80, paid_at=PAID)])
    js.faults.add("store_info", "5xx", times=None)
    worker, _ = virtual_worker(tmp_path, js, FakeIgest(), clock, sweep=True)
    try:
        assert js.called("store_info") == []  # made at once: the server may listen now
        assert worker.current_codes() is None  # meanwhile the signature decides
        worker.step(clock.wall())
        assert js.called("store_info") and worker.current_codes() is None
        assert worker.ledger.work(80) is not None  # the failing read took no turn from the sweep
        js.faults.clear()
        clock.advance(minutes=1)
        worker.step(clock.wall() + timedelta(hours=1))
        assert worker.current_codes() is not None
    finally:
        worker.close()


def test_a_service_down_is_the_logs_until_it_has_lasted_then_told_once(
    tmp_path, no_idle, monkeypatch
):
    """The sweep cannot list Jumpseller's orders (a 502): serve tries again by itself, and
    tells a person only once it has lasted [alerts] unreachable_minutes (60)."""
    from tests.support.clock import FakeClock

    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.0)
    clock = FakeClock()
    js = FakeJumpseller(orders=[paid_order(80, paid_at=PAID)])
    worker, seen = virtual_worker(tmp_path, js, FakeIgest(), clock, sweep=True)
    js.faults.add("*", "5xx", times=None)  # Jumpseller down from now on
    try:
        for _ in range(5):
            worker.step(clock.wall())
            clock.advance(minutes=10)
        assert seen["problems"] == []  # 40 minutes: serve's own business
        for _ in range(5):
            worker.step(clock.wall())
            clock.advance(minutes=10)
        assert len(seen["problems"]) == 1  # lasted an hour: told, once
        assert "Jumpseller" in str(seen["problems"][0])
    finally:
        worker.close()


def test_hooks_jumpseller_paused_are_turned_back_on_when_real_time_degrades(tmp_path, no_idle):
    """Against the sandbox's model of Jumpseller (in-process, on the virtual clock): serve
    registers its hooks at start; Jumpseller pauses them (8 failures); an order is paid and no
    webhook comes; the sweep finds it, real time is degraded and serve saves the hooks again
    (PUT), which resumes them."""
    import httpx

    from igest_sandbox import Sandbox
    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient
    from igest_sync.config import ServeConfig
    from tests.support.clock import FakeClock
    from tests.support.sandbox_clients import FAST_LIMITS
    from tests.support.webhooks import add_order, free_port

    clock = FakeClock()
    sb = Sandbox(seed=True, clock=clock.wall, **FAST_LIMITS)
    url = f"http://127.0.0.1:{free_port()}/hooks/loja"  # nobody listens: a delivery fails
    creds = sb.credentials
    login = creds["jumpseller"]["login"]
    store_config = dataclasses.replace(
        config(),
        jumpseller=JumpsellerConfig(
            creds["jumpseller"]["base_url"], login, creds["jumpseller"]["auth_token"], login
        ),
        serve=ServeConfig(public_url=url),
    )
    js = JumpsellerClient(
        creds["jumpseller"]["base_url"],
        creds["jumpseller"]["login"],
        creds["jumpseller"]["auth_token"],
        transport=httpx.WSGITransport(app=sb.jumpseller_app),
    )
    ig = IgestClient(
        creds["igest"]["base_url"],
        creds["igest"]["integration_key"],
        creds["igest"]["security_code"],
        transport=httpx.WSGITransport(app=sb.igest_app),
    )
    stop = threading.Event()
    degraded = []
    worker = StoreWorker(
        StoreSetup("loja", store_config, tmp_path / "state.sqlite3", js, ig),
        stop,
        on_report=lambda store, report: None,
        on_error=lambda store, exc: None,
        on_degraded=lambda store, state, fix: degraded.append(state),
        clock=clock.wall,
    )

    def ours():
        return [h for h in sb.webhooks.hooks() if h.url == url]

    try:
        steps_until(worker, clock, lambda: len(ours()) == 3)  # registered at start
        steps_until(worker, clock, lambda: worker.inbox.get_meta(LAST_SWEEP))  # the seed's
        for hook in ours():  # Jumpseller paused them after 8 failed deliveries
            hook.failures, hook.paused = 8, True
        order = add_order(sb, qty=2)  # paid now: no hook sends it
        clock.advance(minutes=11)  # the next sweep finds it, more than 3 minutes later
        steps_until(worker, clock, lambda: degraded)
        assert f"orders {order}" in degraded[0].reason
        steps_until(worker, clock, lambda: not any(h.paused for h in ours()))
        assert all(h.failures == 0 for h in ours())
        finals = sb.igest.final_documents_by_reference()
        assert len(finals[f"jumpseller:{login}:{order}"]) == 1  # the sweep invoiced it, once
    finally:
        stop.set()
        sb.webhooks.stop()
        worker.close()
        js.close()
        ig.close()


def test_jumpseller_down_while_webhooks_keep_coming_is_told_once_it_has_lasted(
    tmp_path, no_idle, monkeypatch
):
    """Jumpseller answers 502 to every read and a signed order_paid arrives every 25 s: each
    batch postpones its orders and returned normally, which ended the outage each time, so
    serve stayed silent and /healthz said "ok" for 12 minutes. The outage is counted from the
    first failure until Jumpseller answers: after [alerts] unreachable_minutes (1) it is
    printed once, alerted once with its real duration, and /healthz says "degraded"."""
    from igest_sync.serve.server import health
    from tests.support.clock import FakeClock

    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.0)
    clock = FakeClock()
    chat = ChatReceiver().start()
    try:
        js = FakeJumpseller(orders=[paid_order(100 + n, paid_at=PAID) for n in range(30)])
        js.faults.add("order", "5xx", times=None)
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json", unreachable_minutes=1)
        worker, seen = virtual_worker(tmp_path, js, FakeIgest(), clock, alerts=alerts)
        first_failure = clock.wall()
        try:
            for n in range(30):  # a delivery every 25 s: 12.5 minutes
                worker.record(ORDER, 100 + n, "order_paid", None, clock.wall())
                for _ in range(5):
                    worker.step(clock.wall())
                    clock.advance(seconds=5)
                if n == 1:  # 50 s: still serve's own business
                    assert seen["problems"] == [] and health([worker])()["status"] == "ok"
            assert len(js.called("order")) > 30  # the batches did run, and failed
            [problem] = seen["problems"]  # told once, not at every batch
            assert "Jumpseller has been unreachable for 1 minute;" in str(problem)
            answer = health([worker])()
            assert answer["status"] == "degraded", answer
            assert f"Jumpseller has not answered since {first_failure.isoformat()}" in str(
                answer["reason"]
            )
            events = [e for post in chat.posts for e in post.json()["events"]]
            unreachable = [e for e in events if e["kind"] == "unreachable"]
            assert len(unreachable) == 1, events  # alerted once
            # Counted from the first failure: no unit in between started it again.
            since = worker.ledger.meta.outage_since("Jumpseller", clock.wall())
            assert since == first_failure
            # Jumpseller answers again: the outage is over, /healthz is "ok" again.
            js.faults.clear()
            steps_until(worker, clock, lambda: worker.inbox.hints_count() == 0, every=5)
            assert health([worker])()["status"] == "ok"
        finally:
            worker.close()
    finally:
        chat.stop()


def test_igest_down_while_jumpseller_answers_is_told_once_it_has_lasted(
    tmp_path, no_idle, monkeypatch
):
    """iGEST answers 502 to everything; Jumpseller answers the order reads. Each batch counted
    as answered (Jumpseller did), so the outage was never counted: /healthz said "ok" for as
    long as iGEST was down and serve never said so. A batch whose every order met iGEST's
    silence is no answer: told once it has lasted, degraded, and over when iGEST answers."""
    from igest_sync.serve.server import health
    from tests.support.clock import FakeClock

    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.0)
    clock = FakeClock()
    js = FakeJumpseller(orders=[paid_order(199 + n, paid_at=PAID) for n in range(13)])
    ig = FakeIgest()
    alerts = AlertsConfig(unreachable_minutes=1)
    worker, seen = virtual_worker(tmp_path, js, ig, clock, alerts=alerts)
    try:
        # A store already invoicing (`invoice` ran: a checkpoint), then iGEST goes down.
        worker.ledger.meta.advance_checkpoint(198)
        worker.record(ORDER, 199, "order_paid", None, clock.wall())
        steps_until(worker, clock, lambda: len(ig.finals()) == 1)
        for method in ("find_documents", "create_document"):
            ig.faults.add(method, "5xx", times=None)
        for n in range(12):  # a delivery every 25 s: 5 minutes
            worker.record(ORDER, 200 + n, "order_paid", None, clock.wall())
            for _ in range(5):
                worker.step(clock.wall())
                clock.advance(seconds=5)
            if n == 1:  # 50 s: still serve's own business
                assert health([worker])()["status"] == "ok"
        outages = [p for p in seen["problems"] if "unreachable for" in str(p)]
        assert len(outages) == 1, seen["problems"]  # told once
        assert "iGEST has been unreachable for" in str(outages[0])
        # serve's own words: not the adapter's "the next run ... (a command you typed ...)"
        assert "command you typed" not in (outages[0].hint or "")
        assert "serve keeps trying" in (outages[0].hint or "")
        answer = health([worker])()
        assert answer["status"] == "degraded", answer
        assert "iGEST has not answered since" in str(answer["reason"])
        ig.faults.clear()  # the hints still waiting are worked: the outage is over
        steps_until(worker, clock, lambda: worker.inbox.hints_count() == 0, every=5)
        assert health([worker])()["status"] == "ok" and len(ig.finals()) > 1
    finally:
        worker.close()


def test_serve_holds_an_order_another_integration_invoiced_after_its_listing(tmp_path, no_idle):
    """serve listed iGEST once for its whole life: an invoice the hosted app (left on) made
    after that listing was never seen, and serve issued a second one. The listing of the
    orders' days is read again at most once a minute."""
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js = FakeJumpseller(orders=[paid_order(n, paid_at=PAID) for n in (401, 402)])
    ig = FakeIgest()
    worker, _ = virtual_worker(tmp_path, js, ig, clock)
    try:
        worker.ledger.meta.advance_checkpoint(400)  # a store already invoicing
        worker.record(ORDER, 401, "order_paid", None, clock.wall())
        steps_until(worker, clock, lambda: len(ig.finals()) == 1)  # serve's listing is made
        ig.hold("QI-402", "final", "12.30", day=PAID.date())  # the app invoices 402 meanwhile
        clock.advance(minutes=2)
        worker.record(ORDER, 402, "order_paid", None, clock.wall())
        steps_until(worker, clock, lambda: worker.inbox.hints_count() == 0)
        assert [d.external_reference for d in ig.finals()] == [
            "jumpseller:loja:401",
            "QI-402",
        ]  # no second invoice for 402
        work = worker.ledger.work(402)
        assert work is not None and work.state == "failed"
        assert "not issued by igest-sync" in (work.error or "")
    finally:
        worker.close()


def test_a_lock_held_as_serve_starts_keeps_no_delivery_out(tmp_path, no_idle):
    """serve waited for a run's lock before it listened: a person's `credit` at its question
    as serve (re)started refused every delivery meanwhile (a count towards Jumpseller pausing
    the hook; with --homes, every store's). Now the worker starts, the delivery is recorded in
    the inbox, and the order is invoiced once the lock is free."""
    from igest_sync.serve.server import health
    from igest_sync.state.ledger import Ledger
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js, ig = FakeJumpseller(orders=[paid_order(130, paid_at=PAID)]), FakeIgest()
    state = tmp_path / "state.sqlite3"
    with Ledger(state) as ledger:  # an earlier run's state file: this store's
        ledger.meta.require_store("loja", state, Path("config.toml"))
    with run_lock(state):
        made: list = []
        start = threading.Thread(
            target=lambda: made.append(virtual_worker(tmp_path, js, ig, clock)), daemon=True
        )
        start.start()
        start.join(10)
        assert made, "serve waited for the run's lock before it could receive a delivery"
        [(worker, seen)] = made
        try:
            worker.record(ORDER, 130, "order_paid", None, clock.wall())
            assert health([worker])()["webhooks_waiting"] == 1
            for _ in range(3):
                worker.step(clock.wall())
            assert ig.finals() == [] and seen["problems"] == []
            # The store's code needs no state file: read meanwhile (/healthz said "unknown").
            assert worker.code_known
        except BaseException:
            worker.close()
            raise
    try:
        steps_until(worker, clock, lambda: len(ig.finals()) == 1)
        assert worker.inbox.hints_count() == 0
    finally:
        worker.close()


def test_a_new_state_file_is_opened_under_the_lock_before_anything_writes_to_it(tmp_path):
    """No state file yet (or another store's, or an older version's): serve waits for the
    lock to create and check it, as every run does, rather than write hints into it."""
    from igest_sync.errors import RunLocked

    state = tmp_path / "state.sqlite3"
    js, ig = FakeJumpseller(), FakeIgest()
    setup = StoreSetup("loja", config(), state, js, ig)
    stop = threading.Event()
    with run_lock(state):
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(RunLocked):  # it waited until stopped
            StoreWorker(setup, stop, on_report=print, on_error=print, sweep=False)
    assert not state.exists() or state.stat().st_size == 0


def test_a_run_holding_the_lock_too_long_is_told_as_cron_tells_it_then_cleared(tmp_path, no_idle):
    """`credit ... --all` left at its [y/N] question holds the run lock: serve's hints waited
    in silence, /healthz "ok", only an INFO line. Past the rule a cron `invoice` follows (held
    for [alerts] unreachable_minutes, never less than 5 minutes), serve prints the lock's
    message, alerts once and /healthz says "degraded"; once the lock is free, the work runs
    and /healthz is "ok" again."""
    import os
    import re
    import time

    from igest_sync.errors import RunLocked
    from igest_sync.serve.server import health
    from igest_sync.state.lock import lock_path
    from igest_sync.state.meta import STORE_NAME
    from tests.support.clock import FakeClock

    clock = FakeClock()
    chat = ChatReceiver().start()
    try:
        js, ig = FakeJumpseller(orders=[paid_order(110, paid_at=PAID)]), FakeIgest()
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json", unreachable_minutes=1)
        worker, seen = virtual_worker(tmp_path, js, ig, clock, alerts=alerts)
        try:
            # The store's name, as the runs read it from Jumpseller: serve's alerts name it so.
            worker.ledger.set_meta(STORE_NAME, "Loja do Azulejo")
            with run_lock(worker.setup.state_path):  # the person's credit, at its question
                worker.record(ORDER, 110, "order_paid", None, clock.wall())
                for _ in range(3):  # just taken: an overlapping run, nothing to say
                    worker.step(clock.wall())
                assert seen["problems"] == [] and health([worker])()["status"] == "ok"
                # The holder took it 6 minutes ago (it wrote its pid then: the file's time).
                taken = time.time() - 6 * 60
                os.utime(lock_path(worker.setup.state_path), (taken, taken))
                for _ in range(5):
                    worker.step(clock.wall())
                    clock.advance(seconds=30)
                [problem] = seen["problems"]  # printed once, not at every try
                assert isinstance(problem, RunLocked)
                # 6 minutes, however long this machine took to get here
                assert re.search(r"held the lock for [67] minutes", str(problem)), problem
                assert "nothing else is invoiced until it ends" in str(problem)
                answer = health([worker])()
                assert answer["status"] == "degraded", answer
                assert "has held the lock since" in str(answer["reason"])
                assert ig.finals() == [] and answer["webhooks_waiting"] == 1
            steps_until(worker, clock, lambda: len(ig.finals()) == 1)
            assert health([worker])()["status"] == "ok"
            events = [e for post in chat.posts for e in post.json()["events"]]
            [held] = [e for e in events if e["kind"] == "run"]  # alerted once
            assert "`igest-sync serve` waits" in held["title"]
            assert re.search(r"held the lock for [67] minutes", held["reason"]), held
            assert len(seen["problems"]) == 1
            [text] = [
                p.json()["text"] for p in chat.posts if "`igest-sync serve` waits" in str(p.json())
            ]
            assert text.startswith("igest-sync Loja do Azulejo:"), text
        finally:
            worker.close()
    finally:
        chat.stop()


def test_at_restart_no_order_is_named_late_before_the_work_a_kill_left_is_recovered(
    tmp_path, no_idle
):
    """serve was killed during two finalizes, orders paid 21 hours ago: order 120's was made
    in iGEST (its answer lost), order 121's draft waits. At restart the first unit (saving the
    hooks) alerted "paid more than 20 hours ago, still no invoice" for both, and a second
    later 120 was adopted. The late check waits for the start's recovery (the first sweep):
    only 121, which iGEST still refuses to finalize, is named late."""
    from igest_sync.models import Kind, WorkState
    from igest_sync.references import external_reference
    from igest_sync.runs.invoicing.discover import record_order
    from tests.support.clock import WALL_START, FakeClock

    clock = FakeClock()
    chat = ChatReceiver().start()
    try:
        paid = WALL_START - timedelta(hours=21)
        orders = [paid_order(n, paid_at=paid, created_at=paid) for n in (120, 121)]
        js, ig = FakeJumpseller(orders=orders), FakeIgest()
        ig.faults.add("finalize_document", "5xx", times=None)  # 121 stays a draft
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json")
        worker, _ = virtual_worker(
            tmp_path, js, ig, clock, public_url=HOOKS_URL, alerts=alerts, sweep=True
        )
        try:
            # What the kill left: both orders finalizing, 120 final in iGEST, 121 a draft,
            # and 120's webhook still in the inbox.
            ledger = worker.ledger
            for order, held in zip(orders, ("final", "draft"), strict=True):
                ref = external_reference("loja", order.id)
                document = ig.hold(ref, held, "12.30", day=paid.date())
                record_order(ledger, order)
                ledger.ensure_work(order.id, Kind.INVOICE, ref)
                ledger.mark(order.id, Kind.INVOICE, WorkState.FINALIZING, document_id=document.id)
            worker.record(ORDER, 120, "order_paid", None, clock.wall())
            steps_until(worker, clock, lambda: worker.inbox.get_meta(LAST_SWEEP))
            assert [w[0] for w in js.writes][:3] == ["create_hook"] * 3  # the hooks came first
            work = worker.ledger.work(120)
            assert work is not None and work.state == WorkState.FINAL  # adopted
        finally:
            worker.close()
        events = [e for post in chat.posts for e in post.json()["events"]]
        late = [e["order_id"] for e in events if e["kind"] == "late"]
        assert late == [121], events
    finally:
        chat.stop()


def test_serve_started_again_is_not_said_stopped_before_its_first_sweep_ends(tmp_path, no_idle):
    """Stopped cleanly, then started again while its first sweep cannot end (Jumpseller down):
    status said "serve is not running: serve stopped at ..." while it ran and received."""
    from igest_sync.state.inbox import SERVE_STARTED, SERVE_STOPPED, serve_down
    from tests.support.clock import VirtualClock

    clock = VirtualClock(wall=datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
    worker, _ = virtual_worker(tmp_path, FakeJumpseller(orders=[]), FakeIgest(), clock)
    stopped_at = clock.wall() - timedelta(minutes=5)
    worker.inbox.set_meta(SERVE_STOPPED, stopped_at.isoformat(timespec="seconds"))
    worker.stop.set()  # the thread ends at once: only its start is recorded here
    worker.start()
    worker.join(10)
    get = worker.inbox.get_meta
    assert get(SERVE_STARTED) == clock.wall().isoformat(timespec="seconds")
    assert serve_down(get, clock.wall() + timedelta(minutes=1), 10) is None
    worker.close()


def test_serve_restarted_within_the_second_it_stopped_is_not_said_stopped(tmp_path, no_idle):
    """`systemctl restart`: the stop and the new start fall in the same second. Both were
    written to the second, so the start read as no later than the stop, and status said
    "serve is not running: serve stopped at ..." until the first sweep ended."""
    from igest_sync.state.inbox import serve_down
    from tests.support.clock import VirtualClock

    clock = VirtualClock(wall=datetime(2026, 11, 20, 14, 0, 0, 200000, tzinfo=UTC))
    before, _ = virtual_worker(tmp_path, FakeJumpseller(orders=[]), FakeIgest(), clock)
    before.stop.set()
    before.close()  # stopped cleanly at 14:00:00.2
    clock.advance(seconds=0.6)
    after, _ = virtual_worker(tmp_path, FakeJumpseller(orders=[]), FakeIgest(), clock)
    after.stop.set()  # the thread ends at once: only its start is recorded here
    after.start()  # at 14:00:00.8
    after.join(10)
    assert serve_down(after.inbox.get_meta, clock.wall() + timedelta(minutes=1), 10) is None
    after.close()


def test_an_error_between_units_does_not_end_the_worker(tmp_path, monkeypatch, caplog):
    """A read of the inbox between two units failed once (a disk hiccup: SQLite's "disk I/O
    error"): the worker's thread ended on it, while the receiver went on answering 202 and
    /healthz "ok", and nothing was invoiced again until serve was restarted by hand."""
    from igest_sync.errors import StateError

    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.05)
    js, ig = FakeJumpseller(orders=[paid_order(15, paid_at=PAID)]), FakeIgest()
    worker, stop, _, problems = make_worker(tmp_path, js, ig, sweep=False)
    real, reads = worker.ledger.waiting_hints, []

    def hiccup(now, limit, **kwargs):
        reads.append(now)
        if len(reads) == 2:
            raise StateError("State file state.sqlite3 could not be read: disk I/O error.")
        return real(now, limit, **kwargs)

    monkeypatch.setattr(worker.ledger, "waiting_hints", hiccup)
    worker.start()
    try:
        with caplog.at_level("INFO", "igest_sync"):
            wait_for(lambda: len(reads) >= 3 or not worker.thread.is_alive(), what="a read")
            worker.record(ORDER, 15, "order_paid", None, PAID)
            worker.wake()
            wait_for(lambda: len(ig.finals()) == 1, what="the invoice")
    finally:
        finish(worker, stop)
    assert "disk I/O error" in caplog.text  # logged, and told to a person once
    assert len(problems) == 1 and "disk I/O error" in str(problems[0])


def test_a_clock_stepped_back_puts_off_neither_the_sweep_nor_a_retry(tmp_path, no_idle):
    """The machine's clock ran an hour ahead and NTP stepped it back: the next sweep (and a
    webhook's retry, and the watch) had been set by the clock that was ahead, so for an hour
    and ten minutes no sweep came, a paid order no webhook announced waited all that time and
    a retry of two seconds took an hour, with nothing said. Due times further off than their
    own interval are due now."""
    from datetime import timedelta

    from igest_sync.state.lock import someone_waits, waiting_path
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js, ig = FakeJumpseller(), FakeIgest()
    worker, _ = virtual_worker(tmp_path, js, ig, clock, sweep=True)
    try:
        next_sweep = clock.wall()
        next_sweep = turns(worker, clock, next_sweep, 3, seconds=1)  # the first sweep
        assert worker.inbox.get_meta(LAST_SWEEP)
        # A webhook's work fails once (iGEST refused the draft): retried 2 s later.
        js.add(paid_order(81, paid_at=clock.wall(), created_at=clock.wall()))
        ig.faults.add("create_document", "5xx")
        worker.record(ORDER, 81, "order_paid", None, clock.wall())
        next_sweep = worker.step(next_sweep)
        assert ig.finals() == [] and worker.inbox.hints_count() == 1
        clock.wall_now -= timedelta(hours=1)  # the clock stepped back an hour
        stepped_back = clock.wall()
        late = stepped_back - timedelta(minutes=1)
        js.add(paid_order(82, paid_at=late, created_at=late))  # its webhook never came
        retried = None
        for _ in range(15 * 60):
            if retried is None and len(ig.finals()) >= 1:
                retried = clock.wall() - stepped_back
            if len(ig.finals()) == 2:
                break
            next_sweep = worker.step(next_sweep)
            clock.advance(seconds=1)
        swept = clock.wall() - stepped_back
        assert len(ig.finals()) == 2, "no sweep within 15 minutes of the step back"
        assert retried is not None and retried <= timedelta(seconds=61), retried
        assert swept <= timedelta(minutes=10, seconds=5), swept
    finally:
        worker.close()
    # A "waiting" file dated in the future is no run waiting now (serve would make way for it,
    # doing nothing, until the clock caught up).
    path = waiting_path(worker.setup.state_path)
    path.touch()
    future = path.stat().st_mtime + 3600
    os.utime(path, (future, future))
    assert not someone_waits(worker.setup.state_path)


def test_without_public_url_real_time_degraded_does_not_say_serve_saves_the_hooks(
    tmp_path, no_idle
):
    """Hooks registered with `hooks install --url` and no [serve] public_url (as the README's
    set-up allows): serve cannot save them again, yet the line printed and the alert said
    "serve re-saves its hooks by itself": the merchant waited for a paused hook to resume,
    which it never did. They now say what to run."""
    from tests.support.clock import WALL_START, FakeClock

    clock = FakeClock()
    chat = ChatReceiver().start()
    try:
        paid = WALL_START + timedelta(minutes=1)
        js = FakeJumpseller(orders=[paid_order(75, paid_at=paid, created_at=paid)])
        alerts = AlertsConfig(webhook_url=chat.url, webhook_format="json")
        worker, seen = virtual_worker(tmp_path, js, FakeIgest(), clock, alerts=alerts, sweep=True)
        try:
            clock.advance(minutes=5)
            steps_until(worker, clock, lambda: seen["degraded"])
        finally:
            worker.close()
        [realtime] = [
            e for post in chat.posts for e in post.json()["events"] if e["kind"] == "realtime"
        ]
        assert "re-saves its hooks by itself" not in realtime["fix"]
        assert "hooks install --url" in realtime["fix"] and "public_url" in realtime["fix"]
        assert seen["fixes"] == [(realtime["fix"],)]  # the line printed says the same
        assert js.called("hooks") == []  # indeed never saved
    finally:
        chat.stop()


def test_webhooks_that_never_stop_coming_do_not_keep_the_sweep_and_the_watch_out(tmp_path, no_idle):
    """A busy store (deliveries one after another: order_updated, product_stock_updated for
    each sale) always had a hint waiting when a unit ended: the hints went first every time,
    so the sweep (the backstop for what a webhook missed) and the watch (a paused hook) never
    came, with nothing said. An overdue sweep now takes its turn."""
    from tests.support.clock import WALL_START, FakeClock

    clock = FakeClock()
    missed = WALL_START + timedelta(minutes=1)
    js = FakeJumpseller(orders=[paid_order(90, paid_at=PAID)])
    ig = FakeIgest()
    worker, seen = virtual_worker(tmp_path, js, ig, clock, sweep=True)
    try:
        next_sweep = clock.wall()
        # The first sweep: order 90 invoiced
        next_sweep = turns(worker, clock, next_sweep, 3, seconds=1)
        first = worker.inbox.get_meta(LAST_SWEEP)
        assert first and len(ig.finals()) == 1
        js.add(paid_order(91, paid_at=missed, created_at=missed))  # its webhook is lost
        # A delivery about order 90 at every turn of the loop (one each 5 s), for 15 minutes:
        # a hint always waits when a unit ends.
        for _ in range(15 * 60 // 5):
            worker.record(ORDER, 90, "order_updated", None, clock.wall())
            next_sweep = worker.step(next_sweep)
            clock.advance(seconds=5)
        assert worker.inbox.get_meta(LAST_SWEEP) != first, "no sweep in 15 minutes"
        assert len(ig.finals()) == 2  # the order no webhook announced, by the sweep
        assert "orders 91" in seen["degraded"][0].reason  # and the watch saw it
    finally:
        worker.close()


def test_healthz_says_degraded_once_serve_has_not_swept_for_as_long_as_status_says_stuck(
    tmp_path, no_idle, monkeypatch
):
    """Every sweep fails (the disk is full: nothing can be recorded) while the receiver still
    answers: `status` says serve is "not sweeping" after two intervals and five minutes, but
    /healthz went on answering "ok", so a monitor saw nothing while nothing was invoiced."""
    from igest_sync.errors import StateError
    from igest_sync.serve.server import health
    from tests.support.clock import FakeClock

    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.0)
    clock = FakeClock()
    worker, _ = virtual_worker(tmp_path, FakeJumpseller(), FakeIgest(), clock, sweep=True)

    def full() -> worker_module.Done:
        raise StateError("State file state.sqlite3 could not be written: database or disk is full.")

    monkeypatch.setattr(worker, "_sweep", full)
    worker.inbox.set_meta(SERVE_STARTED, clock.wall().isoformat())  # as start() records it
    try:
        next_sweep = clock.wall()
        # 20 minutes: within two intervals and five minutes
        next_sweep = turns(worker, clock, next_sweep, 20 * 60 // 5, seconds=5)
        assert health([worker])()["status"] == "ok"
        # 30 minutes: past them
        next_sweep = turns(worker, clock, next_sweep, 10 * 60 // 5, seconds=5)
        answer = health([worker])()
        assert answer["status"] == "degraded", answer
        assert "no sweep since" in answer["reason"] and "loja" not in answer["reason"]
    finally:
        worker.close()


def test_a_clock_minutes_behind_jumpsellers_does_not_call_announced_orders_missed(
    tmp_path, no_idle
):
    """The machine's clock two minutes behind Jumpseller's (no NTP): each delivery arrived,
    by our clock, "before" its order's payment (Jumpseller's clock), so every order its
    webhook announced counted as missed, and real time was said degraded (printed, alerted,
    hooks saved again) while it worked. Jumpseller-Triggered-At, on Jumpseller's own clock,
    says the delivery came after the payment."""
    from tests.support.clock import WALL_START, FakeClock

    clock = FakeClock()
    paid = WALL_START + timedelta(minutes=3)  # Jumpseller's clock: ours reads 12:01 then
    js = FakeJumpseller(orders=[paid_order(95, paid_at=paid, created_at=paid)])
    worker, seen = virtual_worker(tmp_path, js, FakeIgest(), clock, sweep=True)
    try:
        clock.advance(minutes=1)
        triggered = (paid + timedelta(milliseconds=200)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        worker.record(ORDER, 95, "order_paid", f"{triggered} UTC", clock.wall())
        steps_until(worker, clock, lambda: worker.inbox.hints_count() == 0)
        clock.advance(minutes=15)  # the sweep has listed it; the watch has looked
        next_sweep = clock.wall()
        next_sweep = turns(worker, clock, next_sweep, 120, seconds=5)
        assert seen["degraded"] == [] and worker.inbox.realtime_degraded() is None
    finally:
        worker.close()


def test_a_sweep_that_keeps_failing_does_not_keep_the_webhooks_out(tmp_path, no_idle, monkeypatch):
    """Every sweep fails (a bug in its path, Jumpseller's listing answering 500 while one
    order's read works): due again at once, it came before the watch's check at each turn,
    so that check, never made, stayed overdue, and an overdue check kept the hints out: a
    paid order its webhook announced waited for good, while the sweep failed on and on."""
    from tests.support.clock import FakeClock

    monkeypatch.setattr(worker_module, "FAILED_RETRY", 0.0)
    clock = FakeClock()
    js, ig = FakeJumpseller(orders=[paid_order(97, paid_at=PAID)]), FakeIgest()
    worker, _ = virtual_worker(tmp_path, js, ig, clock, sweep=True)

    def broken() -> worker_module.Done:
        raise RuntimeError("a bug in the sweep's path")

    monkeypatch.setattr(worker, "_sweep", broken)
    try:
        next_sweep = clock.wall()
        # Three minutes of failed sweeps
        next_sweep = turns(worker, clock, next_sweep, 3 * 60 // 5, seconds=5)
        worker.record(ORDER, 97, "order_paid", None, clock.wall())
        # Two minutes more: the hint has its turns
        next_sweep = turns(worker, clock, next_sweep, 2 * 60 // 5, seconds=5)
        assert len(ig.finals()) == 1, "the announced order was never worked"
    finally:
        worker.close()


def test_a_clock_stepped_back_after_serve_started_does_not_blind_the_watch(tmp_path, no_idle):
    """serve started while the machine's clock ran an hour ahead (a VM restored, a clock read
    from a wrong RTC at boot), then NTP stepped it back: the watch looked only at the orders
    paid since serve started by the clock that was ahead, so for the hour of the step a paid
    order no webhook announced (a hook Jumpseller paused) was invoiced by the sweep and real
    time was never said degraded. The watch now starts from the step."""
    from tests.support.clock import FakeClock

    clock = FakeClock()
    js, ig = FakeJumpseller(), FakeIgest()
    worker, seen = virtual_worker(tmp_path, js, ig, clock, sweep=True)
    try:
        next_sweep = clock.wall()
        next_sweep = turns(worker, clock, next_sweep, 3, seconds=1)  # the first sweep
        clock.wall_now -= timedelta(hours=1)  # the clock stepped back an hour
        stepped_back = clock.wall()
        next_sweep = worker.step(next_sweep)
        paid = stepped_back + timedelta(minutes=1)
        clock.advance(minutes=1)
        js.add(paid_order(83, paid_at=paid, created_at=paid))  # its webhook never came
        next_sweep = turns(worker, clock, next_sweep, 15 * 60 // 5, seconds=5)
        assert len(ig.finals()) == 1  # invoiced by the sweep
        assert seen["degraded"] and "orders 83" in seen["degraded"][0].reason, seen["degraded"]
    finally:
        worker.close()
