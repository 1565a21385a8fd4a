"""serve's per-store worker in-process, against fakes: it works the inbox under the run lock,
waits while a cron run holds the lock (the hints stay), and sweeps like `invoice`."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from igest_sync.config import AlertsConfig, Config, IgestConfig, InvoiceConfig, JumpsellerConfig
from igest_sync.serve import worker as worker_module
from igest_sync.serve.worker import StoreSetup, StoreWorker
from igest_sync.state.inbox import LAST_SWEEP, ORDER
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


def test_a_recorded_hint_is_worked_and_a_cron_lock_only_delays_it(tmp_path, monkeypatch):
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
            wait_for(lambda: len(tries) >= 3, what="the worker's tries")
            assert ig.finals() == [] and worker.inbox.hints_count() == 1
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
