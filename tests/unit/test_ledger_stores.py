"""The ledger as small stores over one database: each store has only its own methods, no name
is defined by two stores, the facade forwards the old names, serve's receiver holds the inbox
alone, and every time state writes comes from the one clock it was given."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.models import EmailState, ViesCheck, ViesStatus
from igest_sync.serve.worker import StoreSetup, StoreWorker
from igest_sync.state import ledger as ledger_module
from igest_sync.state.database import SHARED, Database, Store
from igest_sync.state.inbox import ORDER, InboxStore
from igest_sync.state.ledger import OWNERS, STORES, Ledger, own_names
from igest_sync.state.work import WorkStore
from tests.support.clock import WALL_START, FakeClock
from tests.support.fakes import FakeIgest, FakeJumpseller
from tests.unit.test_ledger import _doc
from tests.unit.test_serve_worker import config

FACADE = {"path", "db", "close", "run_lock"} | {attribute for attribute, _ in STORES}


def test_each_store_has_only_the_methods_it_defines() -> None:
    for _, store in STORES:
        # No store borrows another's methods: what it has beyond Store is its own class's.
        assert store.__bases__ == (Store,), store
        defined = {name for name in vars(store) if not name.startswith("_")}
        assert own_names(store) == defined, store
    assert {"order", "record_order", "work"} <= own_names(WorkStore)
    assert not {"documents", "record_hint", "checkpoint"} & own_names(WorkStore)


def test_no_public_name_is_defined_by_two_stores_nor_hides_behind_the_facade() -> None:
    seen: dict[str, str] = {}
    for attribute, store in STORES:
        for name in own_names(store):
            assert name not in seen, f"{name}: {seen.get(name)} and {attribute}"
            assert name not in FACADE and name not in SHARED, name
            seen[name] = attribute
    assert set(OWNERS) == set(seen) | SHARED


def test_a_name_in_two_stores_is_refused_when_the_table_is_built(monkeypatch) -> None:
    class Orders(Store):
        def order(self) -> None: ...

    monkeypatch.setattr(ledger_module, "STORES", (*STORES, ("orders", Orders)))
    with pytest.raises(TypeError, match=r"Orders\.order is also in ledger\.works"):
        ledger_module._owners()


def test_the_facade_forwards_each_old_name_to_the_store_that_owns_it(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        for attribute, store in STORES:
            part = getattr(ledger, attribute)
            assert type(part) is store and part.db is ledger.db
        for name, owner in OWNERS.items():
            if callable(getattr(type(getattr(ledger, owner)), name)):
                assert getattr(ledger, name).__self__ is getattr(ledger, owner), name
        # Properties too, read when asked.
        assert ledger.checkpoint is None
        ledger.advance_checkpoint(7)
        assert ledger.checkpoint == ledger.meta.checkpoint == 7
        ledger.set_meta("last_run_at", "x")
        assert ledger.meta.get_meta("last_run_at") == "x"
        ledger.record_order(
            1, "paid", created_at=None, paid_at=None, total=Decimal("5"), customer="A"
        )
        assert ledger.works.order(1) == ledger.order(1) is not None
        with pytest.raises(AttributeError, match=r"'record_ordr'.*meta, works, docs"):
            ledger.record_ordr  # noqa: B018


def test_the_receivers_inbox_store_reaches_nothing_but_the_inbox(tmp_path: Path) -> None:
    clock = FakeClock()
    setup = StoreSetup("loja", config(), tmp_path / "s.db", FakeJumpseller(), FakeIgest())
    worker = StoreWorker(
        setup, threading.Event(), on_report=print, on_error=print, clock=clock.wall, sweep=False
    )
    try:
        assert type(worker.inbox) is InboxStore
        assert worker.inbox.db is not worker.ledger.db  # its own connection
        for name in ("record_order", "work", "documents", "record_final", "checkpoint"):
            assert not hasattr(worker.inbox, name), name
        worker.record(ORDER, 10, "order_paid", None, WALL_START)
        assert [h.subject_id for h in worker.ledger.waiting_hints(WALL_START, 10)] == [10]
        # The worker's clock is state's clock: what its ledger stamps is the worker's time.
        clock.advance(days=3)
        worker.ledger.record_order(
            10, "paid", created_at=None, paid_at=None, total=None, customer=None
        )
        stamped = worker.ledger.db.rows("SELECT updated_at FROM orders")[0][0]
        assert stamped == (WALL_START + timedelta(days=3)).isoformat()
    finally:
        worker.close()


def test_every_time_state_writes_is_the_clock_it_was_given(tmp_path: Path) -> None:
    clock = FakeClock()
    with Ledger(tmp_path / "s.db", clock=clock.wall) as ledger:

        def one(sql: str) -> str:
            return str(ledger.db.rows(sql)[0][0])

        def at(days: int) -> str:
            return (WALL_START + timedelta(days=days)).isoformat()

        ledger.record_order(
            1, "paid", created_at=None, paid_at=None, total=Decimal("5"), customer="A"
        )
        assert one("SELECT updated_at FROM orders") == at(0)
        clock.advance(days=1)
        ledger.ensure_work(1, "invoice", "jumpseller:s:1")
        assert one("SELECT updated_at FROM work") == at(1)
        clock.advance(days=1)
        ledger.record_final(1, "invoice", _doc(), email=True)
        assert one("SELECT issued_at FROM documents") == at(2)
        assert one("SELECT updated_at FROM work") == at(2)
        assert ledger.unemailed_documents()[0].emailed == EmailState.PENDING
        clock.advance(days=1)
        ledger.ensure_work(1, "credit", "jumpseller:s:1:credit")
        ledger.mark_answered(1, 1)
        assert one("SELECT answered_at FROM work WHERE kind='credit'") == at(3)
        clock.advance(days=1)
        ledger.mark_fully_credited(1)
        assert ledger.get_meta("fully_credited:1") == at(4)
        clock.advance(days=1)
        ledger.record_vies_check(
            ViesCheck("ES", "B1", ViesStatus.VALID, date(2026, 12, 1), "c-1", None)
        )
        assert one("SELECT checked_at FROM vies_checks") == at(5)


def test_a_clock_in_another_zone_is_written_in_utc(tmp_path: Path) -> None:
    from datetime import timezone

    lisbon_summer = timezone(timedelta(hours=1))
    with Database(tmp_path / "s.db", clock=lambda: WALL_START.astimezone(lisbon_summer)) as db:
        store = WorkStore(db)
        store.record_order(1, "paid", created_at=None, paid_at=None, total=None, customer=None)
        assert db.rows("SELECT updated_at FROM orders")[0][0] == WALL_START.isoformat()
