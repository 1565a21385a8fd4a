"""The simulated world: the sandbox's Jumpseller and iGEST models in this process, the real
adapters over an ``httpx`` transport that serves them, a real SQLite state file, a virtual
clock, and one fault injector (``Chaos``) at every HTTP call and every ledger write.

The models are the sandbox's own state machines (``igest_sandbox``: the store's listing
order and pages, late payments, cancellations and refunds; iGEST's drafts, numbering on
finalize, delete-a-draft-only, the totals check), reached through ``httpx.WSGITransport``: the
runs use the real ``JumpsellerClient`` and ``IgestClient``, so the adapters' paging, error
mapping and recovery are part of what is simulated. Nothing runs on a thread and nothing
sleeps: the clients pace on the virtual clock, and ``in_parallel`` runs its steps inline
(``inline_steps``), so one seed gives one sequence of operations and a replay is exact.

A crash (``Crash``, a ``BaseException``: no ``except Exception`` of the code under test
catches it) is raised *before* the operation it is placed at: an HTTP request that never left,
or a ledger transaction never begun. A crash "after" an operation is the crash before the
next one. Once crashed, the process is dead: every further operation raises too, until the
world starts a new process (``World.process``), which discards every object of the old one
and reopens the state file.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import httpx

from igest_sandbox import Sandbox
from igest_sandbox.jumpseller.orders import Buyer, LineSpec
from igest_sync.adapters import igest as igest_adapter
from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller import client as jumpseller_adapter
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.config import Config, IgestConfig, InvoiceConfig, JumpsellerConfig
from igest_sync.runs import parallel
from igest_sync.state import database as database_module
from igest_sync.state.database import Database
from tests.support.clock import FakeClock
from tests.support.sandbox_clients import FAST_LIMITS

START_DATE = date(2026, 11, 17)  # [invoice] start_date: orders paid before it are never invoiced
WALL = datetime.fromisoformat("2026-11-27T12:00:00+00:00")
# A few goods at 23 %, prices VAT included (the Portuguese case): every order maps as it is.
ITEMS = (
    LineSpec("Caneca azul", Decimal("9.99"), sku="CAN-AZU"),
    LineSpec("Azulejo 15x15", Decimal("8.75"), sku="AZU-15"),
    LineSpec("Prato fundo", Decimal("14.50"), sku="PRA-FUN"),
    LineSpec("Jarra grande", Decimal("32.00"), sku="JAR-GRA"),
)
BUYER = Buyer("Marta", "Silva", "marta.silva@example.pt")
# Fixed, so that a replay sends the very same requests (the sandbox draws them otherwise).
CREDENTIALS = {
    "jumpseller": {"login": "simloja", "auth_token": "s" * 32, "hooks_token": "h" * 32},
    "igest": {"integration_key": "ik_" + "k" * 24, "security_code": "12345678"},
}


class Crash(BaseException):
    """The process is killed here: nothing after it runs, no ``finally`` writes anything."""


@dataclass
class Chaos:
    """Counts every operation (HTTP call, ledger write) and decides which one fails how.

    ``kill_at``: the operation indexes at which the process is killed; ``lose_at``: the write
    requests (POST/PUT/DELETE) whose answer is lost after the service processed them;
    ``kill_rate``/``lose_rate``: the same at random (``rng``), for large schedules. ``armed``
    False: the faults have stopped (the clean end of a schedule), operations are still counted.
    """

    rng: random.Random
    kill_at: set[int] = field(default_factory=set)
    lose_at: set[int] = field(default_factory=set)
    kill_rate: float = 0.0
    lose_rate: float = 0.0
    armed: bool = True
    ops: int = 0
    dead: bool = False
    kills: int = 0
    losses: int = 0
    trace: list[str] = field(default_factory=list)
    keep_trace: bool = False

    def before(self, what: str) -> int:
        """An operation is about to happen: raise ``Crash`` if the process dies here."""
        if self.dead:
            raise Crash(what)
        index = self.ops
        self.ops += 1
        if self.keep_trace:
            self.trace.append(f"{index} {what}")
        if self.armed and (
            index in self.kill_at or (self.kill_rate and self.rng.random() < self.kill_rate)
        ):
            self.dead = True
            self.kills += 1
            if self.keep_trace:
                self.trace.append(f"    killed before {index}")
            raise Crash(what)
        return index

    def lose(self, index: int) -> bool:
        """Is the answer to this (processed) write lost?"""
        if not self.armed:
            return False
        lost = index in self.lose_at or bool(self.lose_rate and self.rng.random() < self.lose_rate)
        self.losses += lost
        return lost


class ChaosTransport(httpx.BaseTransport):
    """Serves a sandbox app in process, with the chaos's kills and lost answers; ``meanwhile``
    is what the store does as a request arrives (``World.churn``)."""

    def __init__(
        self,
        app: Any,
        chaos: Chaos,
        service: str,
        meanwhile: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self.inner = httpx.WSGITransport(app=app)
        self.chaos = chaos
        self.service = service
        self.meanwhile = meanwhile

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        what = f"{self.service} {request.method} {request.url.path}?{request.url.query.decode()}"
        index = self.chaos.before(what)
        if self.meanwhile is not None:
            self.meanwhile(request)
        response = self.inner.handle_request(request)
        if request.method != "GET" and self.chaos.lose(index):
            response.read()  # processed by the service; the answer never comes back
            raise httpx.ReadTimeout("simulated: answer lost", request=request)
        return response


class _Inline:
    """``ThreadPoolExecutor`` for ``in_parallel`` with the steps run one by one, lazily, in
    the calling thread: the simulation's operations come in one order for one seed."""

    def __init__(self, max_workers: int | None = None) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
        return map(fn, *iterables)


@contextlib.contextmanager
def instrumented(chaos: Chaos, page_size: int) -> Iterator[None]:
    """For one schedule: every ledger write goes through the chaos, pages have ``page_size``
    items, and the runs' steps run inline. Restored on the way out."""
    write_many = Database.write_many

    def chaotic_write(self: Database, *statements: Any) -> None:
        chaos.before("ledger " + statements[0][0].split("(")[0][:48])
        write_many(self, *statements)

    open_once = database_module._open_once

    def open_without_fsync(path: Path) -> sqlite3.Connection:
        # A simulated kill never loses what SQLite committed (the machine does not crash),
        # so waiting for the disk buys nothing here: the same file, without the fsyncs.
        db = open_once(path)
        db.execute("PRAGMA synchronous=OFF")
        return db

    saved = (jumpseller_adapter.PAGE_SIZE, igest_adapter.PER_PAGE, parallel.ThreadPoolExecutor)
    Database.write_many = chaotic_write  # type: ignore[method-assign]
    database_module._open_once = open_without_fsync
    jumpseller_adapter.PAGE_SIZE = igest_adapter.PER_PAGE = page_size
    parallel.ThreadPoolExecutor = _Inline  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        Database.write_many = write_many  # type: ignore[method-assign]
        database_module._open_once = open_once
        jumpseller_adapter.PAGE_SIZE, igest_adapter.PER_PAGE = saved[0], saved[1]
        parallel.ThreadPoolExecutor = saved[2]  # type: ignore[misc]


class World:
    """The two services, the state file and the clock of one schedule."""

    def __init__(self, workdir: Path, chaos: Chaos, *, newest_first: bool) -> None:
        self.clock = FakeClock(wall=WALL)
        self.chaos = chaos
        self.sb = Sandbox(seed=False, clock=self.clock.wall, credentials=CREDENTIALS, **FAST_LIMITS)
        self.sb.store.newest_first = newest_first
        self.events: list[tuple[str, int]] = []  # (event, order id) for the webhooks
        self.sb.store.on_event = lambda event, kind, item_id: (
            self.events.append((event, item_id)) if kind == "order" else None
        )
        self.state_path = workdir / "state.db"
        self.backups: list[Path] = []
        self.workdir = workdir
        # Orders change status while a run reads its listings (``churn``): the rate per page
        # after the first, the draws, and the orders so paid by the process under way.
        self.churn_rate = 0.0
        self.churn_rng = random.Random(0)
        self.paid_meanwhile: set[int] = set()
        creds = self.sb.credentials
        self.store_code = creds["jumpseller"]["login"]
        self.config = Config(
            path=workdir / "config.toml",
            jumpseller=JumpsellerConfig(
                creds["jumpseller"]["base_url"],
                creds["jumpseller"]["login"],
                creds["jumpseller"]["auth_token"],
                self.store_code,
            ),
            igest=IgestConfig(
                creds["igest"]["base_url"],
                creds["igest"]["integration_key"],
                creds["igest"]["security_code"],
            ),
            invoice=InvoiceConfig(start_date=START_DATE, concurrency=1, move_stock=False),
        )

    # -- the store -----------------------------------------------------------------------------

    def add_order(
        self, rng: random.Random, created: datetime, status: str, paid_at: datetime | None = None
    ) -> int:
        lines = [
            {"name": i.name, "price": i.price, "sku": i.sku, "qty": rng.randint(1, 3)}
            for i in rng.sample(ITEMS, rng.randint(1, 2))
        ]
        paid = created + timedelta(minutes=rng.randint(1, 30)) if status == "paid" else None
        paid = paid_at if status == "paid" and paid_at is not None else paid
        return self.sb.store.add_order(
            lines=lines,
            created_at=created,
            status=status,
            completed_at=paid,
            buyer=BUYER,
            shipping=rng.choice(("0", "3.90")),
        )

    def churn(self, request: httpx.Request) -> None:
        """As a page after the first of a listing is asked for, now and then an order changes
        status (``churn_rate``): a transfer comes in, a sale is refunded. A listing of one
        status shrinks under the pages it has given; a listing by day sees orders change.
        Only while the faults are armed: the clean end's run is the last, and must see all."""
        page = request.url.params.get("page", "1")
        if not (self.churn_rate and self.chaos.armed and request.method == "GET"):
            return
        if not page.isdigit() or int(page) < 2 or self.churn_rng.random() >= self.churn_rate:
            return
        store = self.sb.store
        by_status: dict[str, list[int]] = {"pending_payment": [], "paid": []}
        for order_id in store.order_ids():
            by_status.get(store.order(order_id)["status_enum"], []).append(order_id)
        kinds = [k for k in ("pending_payment", "paid") if by_status[k]]
        if not kinds:
            return
        kind = self.churn_rng.choice(kinds)
        order_id = self.churn_rng.choice(by_status[kind])
        if kind == "pending_payment":
            store.pay_order(order_id, at=self.clock.wall())
            self.paid_meanwhile.add(order_id)
        else:
            store.cancel_order(order_id)

    # -- a process -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def clients(self) -> Iterator[tuple[JumpsellerClient, IgestClient]]:
        c = self.config
        js = JumpsellerClient(
            c.jumpseller.base_url,
            c.jumpseller.login,
            c.jumpseller.auth_token,
            transport=ChaosTransport(self.sb.jumpseller_app, self.chaos, "js", self.churn),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        ig = IgestClient(
            c.igest.base_url,
            c.igest.integration_key,
            c.igest.security_code,
            transport=ChaosTransport(self.sb.igest_app, self.chaos, "ig"),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        with js, ig:
            yield js, ig

    def process(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``work`` as one process: (True, its result), or (False, None) when it was
        killed. Whatever it held is dropped; the next process starts from the state file."""
        self.paid_meanwhile = set()
        try:
            return True, work()
        except Crash:
            return False, None
        finally:
            self.chaos.dead = False

    # -- the state file ------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        return [self.state_path.with_name(self.state_path.name + s) for s in ("", "-wal", "-shm")]

    def lose_state(self) -> None:
        for f in self._files():
            f.unlink(missing_ok=True)

    def back_up(self) -> None:
        """A copy of the state file as a backup tool would take it (between runs)."""
        if not self.state_path.exists():
            return
        copy = self.workdir / f"backup-{len(self.backups)}.db"
        with (
            contextlib.closing(sqlite3.connect(self.state_path)) as src,
            contextlib.closing(sqlite3.connect(copy)) as dst,
        ):
            src.backup(dst)
        self.backups.append(copy)

    def restore(self, rng: random.Random) -> bool:
        """The state file put back from one of the older copies."""
        if not self.backups:
            return False
        self.lose_state()
        copy = rng.choice(self.backups)
        with (
            contextlib.closing(sqlite3.connect(copy)) as src,
            contextlib.closing(sqlite3.connect(self.state_path)) as dst,
        ):
            src.backup(dst)
        return True
