"""One schedule: a store, a sequence of what happens to it and of the runs over it, with faults,
all drawn from one seed; then a clean end and the checks (``checks.py``).

    result = run_schedule(seed, workdir)                  # faults at random (rates from seed)
    result = run_schedule(seed, workdir, kill_at={17})    # killed before operation 17
    result.problems                                       # [] when every check holds

The steps (``STEPS``) are what a store and a merchant do: orders created, paid late, cancelled
(a refund when paid); and the runs: cron's ``invoice`` (and a ``--since`` backfill), a person's
``credit``, ``reconcile --fix``, ``serve``'s sweep and its webhook batches; and what happens to
the state file: lost, backed up, put back from an older copy. The run lock makes the runs
sequential (``serve`` takes it per unit of work: a sweep, a batch of hints), so runs that
overlap in time reach the state and the services one unit of work after another: the
simulation interleaves them at that grain, and a run killed in the middle of its unit leaves
the next one, of any kind, to find its half-done work.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from igest_sandbox.jumpseller.store import AFTER_LISTINGS
from igest_sync.errors import IgestSyncError
from igest_sync.fiscal.credit import CreditRequest
from igest_sync.models import Action
from igest_sync.runs.invoicing.invoice import InvoiceRun
from igest_sync.runs.reconcile import Period, ReconcileRun
from igest_sync.runs.wiring import credit_run
from igest_sync.serve.worker import BATCH, StoreSetup, StoreWorker
from igest_sync.state.inbox import ORDER
from igest_sync.state.ledger import Ledger
from igest_sync.state.lock import run_lock
from igest_sync.timeutil import lisbon_date
from tests.simulation import checks
from tests.simulation.world import START_DATE, Chaos, World, instrumented

# What may happen between two runs, and how often (weights).
STEPS: dict[str, int] = {
    "order": 6,
    "pay": 3,
    "cancel": 2,
    "invoice": 6,
    "backfill": 1,
    "credit": 2,
    "reconcile": 1,
    "sweep": 3,
    "webhooks": 3,
    "tick": 3,
    "backup": 1,
    "lose": 1,
    "restore": 1,
}
PAGE_SIZES = (1, 2, 3, 5, 7, 10, 25, 100)


class _NoWait(threading.Event):
    """serve's stop event for one unit run inline: never set, and its waits (a locked state
    file, a failed unit) return at once instead of sleeping."""

    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set()


@dataclass
class Shape:
    """What the seed decides before the first step."""

    orders: int
    steps: int
    newest_first: bool
    page_size: int
    kill_rate: float
    lose_rate: float
    after_listing: str = "pages"  # how Jumpseller answers /orders/after/{id} (AFTER_LISTINGS)
    # Orders placed before a first run's listing (waiting for payment, or paid since the start
    # date: read by its status listings), and how often an order changes status as a page
    # after the first is asked for (``World.churn``): those listings shrink while read.
    old_orders: int = 0
    churn: float = 0.0

    @classmethod
    def of(cls, seed: int, *, small: bool, churn: bool = False) -> Shape:
        rng = random.Random(f"shape:{seed}")
        # Drawn apart, so that adding it left every earlier seed's other choices as they were.
        listing = random.Random(f"listing:{seed}")
        # Drawn apart too, and only when asked (``churn``): every seed without it plays as it
        # did before, the regressions' among them.
        draws = random.Random(f"churn:{seed}")
        shape = cls(
            orders=rng.randint(1, 4) if small else rng.randint(3, 30),
            steps=rng.randint(3, 7) if small else rng.randint(8, 30),
            newest_first=rng.random() < 0.5,
            page_size=rng.choice(PAGE_SIZES) if rng.random() < 0.7 else rng.randint(1, 100),
            kill_rate=0.0 if small else rng.choice((0.002, 0.01, 0.03)),
            lose_rate=0.0 if small else rng.choice((0.0, 0.05, 0.2)),
            after_listing="pages" if listing.random() < 0.5 else listing.choice(AFTER_LISTINGS[1:]),
            old_orders=(draws.randint(1, 4) if small else draws.randint(3, 40)) if churn else 0,
            churn=draws.choice((0.05, 0.2, 0.5)) if churn else 0.0,
        )
        if churn:
            # Up to two status changes come between two pages of a listing (one as each
            # request arrives): a page of one or two would repeat the page before, which
            # ``_pages`` takes for a server that ignores ``page`` (it assumes fewer than a page
            # of orders enter a listing between two of its requests; 100 in real life).
            shape.page_size = max(shape.page_size, 3)
        return shape


@dataclass
class Result:
    seed: int
    shape: Shape
    ops: int  # operations of the faulty part (the kill points are 0 .. ops)
    kills: int
    losses: int
    problems: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"seed {self.seed}: {self.shape}",
            f"{self.ops} operations, {self.kills} kills, {self.losses} lost answers",
            "steps: " + " ".join(self.steps),
            *self.problems,
        ]
        return "\n".join(lines)


class Runner:
    """Executes one schedule in a world (``run``): the steps, then the clean end."""

    def __init__(self, world: World, rng: random.Random, shape: Shape) -> None:
        self.world = world
        self.rng = rng
        self.shape = shape
        self.log: list[str] = []
        self.problems: list[str] = []
        # A person's credit commands: (order id, request) asked, and those to run again
        # because the process was killed before it answered.
        self.asked: list[tuple[int, CreditRequest]] = []
        # The requests whose command answered with an NC issued or found (each its own NC).
        self.credited: set[tuple[int, CreditRequest]] = set()
        self.unanswered: list[tuple[int, CreditRequest]] = []
        self.delivered = 0  # store events already delivered as webhooks

    # -- the schedule --------------------------------------------------------------------------

    def run(self, seed: int) -> Result:
        w = self.world
        self._old_orders(random.Random(f"old:{seed}"))
        created = w.clock.wall() - timedelta(days=12)
        for _ in range(self.shape.orders):
            created += timedelta(hours=self.rng.randint(1, 60))
            self._new_order(min(created, w.clock.wall()))
        self.delivered = len(w.events)
        steps = ["invoice"] + self.rng.choices(
            list(STEPS), weights=list(STEPS.values()), k=self.shape.steps
        )
        for step in steps:
            self.log.append(step)
            getattr(self, "_" + step)()
        ops = w.chaos.ops
        # The faults stop; the person runs the commands that never answered; one clean run.
        w.chaos.armed = False
        self.log.append("| clean:")
        for order_id, request in list(self.unanswered):
            self._credit_command(order_id, request)
        self.log.append("invoice")
        if not self._invoice():
            self.problems.append("the clean invoice run was killed without faults")
        self.problems += checks.final(w, self.asked, self.credited)
        return Result(seed, self.shape, ops, w.chaos.kills, w.chaos.losses, self.problems, self.log)

    # -- the store -----------------------------------------------------------------------------

    def _new_order(self, created: Any = None) -> None:
        roll = self.rng.random()
        status = "paid" if roll < 0.6 else "pending_payment" if roll < 0.9 else "abandoned"
        self.world.add_order(self.rng, created or self.world.clock.wall(), status)

    def _old_orders(self, rng: random.Random) -> None:
        """Orders placed months before the start date, before any first run's listing: waiting
        for a transfer, paid by one since the start date, or paid long ago (none is due)."""
        w = self.world
        for _ in range(self.shape.old_orders):
            created = w.clock.wall() - timedelta(
                days=rng.randint(45, 300), hours=rng.randint(0, 23)
            )
            roll = rng.random()
            if roll < 0.5:
                w.add_order(rng, created, "pending_payment")
                continue
            late = roll < 0.8  # paid since the start date, by a late transfer
            first = START_DATE if late else created.date()
            paid = datetime.combine(first, time(10), UTC) + timedelta(hours=rng.randint(0, 200))
            w.add_order(rng, created, "paid", paid_at=min(paid, w.clock.wall()))

    def _order(self) -> None:
        self._new_order()

    def _orders(self, status: str) -> list[int]:
        store = self.world.sb.store
        return [i for i in store.order_ids() if store.order(i)["status_enum"] == status]

    def _pay(self) -> None:
        waiting = self._orders("pending_payment")
        if waiting:
            self.world.sb.store.pay_order(self.rng.choice(waiting))

    def _cancel(self) -> None:
        open_or_paid = self._orders("pending_payment") + self._orders("paid")
        if open_or_paid:
            self.world.sb.store.cancel_order(self.rng.choice(sorted(open_or_paid)))

    def _tick(self) -> None:
        self.world.clock.advance(minutes=self.rng.choice((1, 10, 60, 600, 1440)))

    # -- the state file ------------------------------------------------------------------------

    def _backup(self) -> None:
        self.world.back_up()

    def _lose(self) -> None:
        self.world.lose_state()

    def _restore(self) -> None:
        if not self.world.restore(self.rng):
            self.log[-1] = "restore(none)"

    # -- the runs ------------------------------------------------------------------------------

    def _cron(self, work: Callable[[Ledger, Any, Any], Any]) -> tuple[bool, Any]:
        """One command as cron or a person runs it: the run lock, then the state file."""
        w = self.world

        def process() -> Any:
            with run_lock(w.state_path), w.clients() as (js, ig), Ledger(w.state_path) as ledger:
                try:
                    return work(ledger, js, ig)
                except IgestSyncError as exc:  # the one error handler: a message, an exit code
                    return exc

        done, result = w.process(process)
        if not done:
            self.log[-1] += "!"
        return done, result

    def _invoice(self, since: date | None = None) -> bool:
        w = self.world
        now = w.clock.wall()
        done, report = self._cron(
            lambda ledger, js, ig: InvoiceRun.build(w.config, ledger, js, ig, now=now).run(
                since=since
            )
        )
        if done and not isinstance(report, IgestSyncError):
            self._exit_status("invoice", report, START_DATE)
        return done

    def _backfill(self) -> None:
        self._invoice(since=START_DATE)

    def _reconcile(self) -> None:
        w = self.world
        now = w.clock.wall()
        period = Period(lisbon_date(now) - timedelta(days=7), lisbon_date(now))
        done, report = self._cron(
            lambda ledger, js, ig: ReconcileRun(
                w.config.invoice,
                w.config.jumpseller.store,
                js,
                ig,
                ledger=ledger,
                now=now,
                # --fix as the CLI composes it: resend through an invoice run on the same parts.
                resend=lambda ids: InvoiceRun.build(w.config, ledger, js, ig, now=now).resend(ids),
            ).run(period, fix=True)
        )
        if done and not isinstance(report, IgestSyncError):
            self._exit_status("reconcile --fix", report, max(period.first, START_DATE))

    def _credit(self) -> None:
        invoiced = checks.invoiced_orders(self.world)
        candidates = []
        for order_id, doc in sorted(invoiced.items()):
            asked = {r for o, r in self.asked if o == order_id}
            for line in doc["lines"]:
                request = CreditRequest(lines=((line["reference"], Decimal(1)),))
                if request not in asked:
                    candidates.append((order_id, request))
            if CreditRequest(everything=True) not in asked:
                candidates.append((order_id, CreditRequest(everything=True)))
        if not candidates:
            self.log[-1] = "credit(none)"
            return
        order_id, request = self.rng.choice(candidates)
        self.asked.append((order_id, request))
        self.unanswered.append((order_id, request))
        self._credit_command(order_id, request)

    def _credit_command(self, order_id: int, request: CreditRequest) -> None:
        """``igest-sync credit ORDER ...``: answered, or to be run again by the person."""
        w = self.world
        now = w.clock.wall()

        def work(ledger: Ledger, js: Any, ig: Any) -> Any:
            credits = credit_run(w.config, ledger, js, ig, now=now)
            report = credits.credit(order_id, request, "Devolução", acknowledge=False)
            credits.acknowledge(report)  # the CLI, once it has printed the outcome
            return report

        self.log.append(f"credit:{order_id}")
        done, report = self._cron(work)
        if done:
            self.unanswered.remove((order_id, request))
            if isinstance(report, IgestSyncError):
                self.log[-1] += "(refused)"  # told why; nothing was asked of iGEST
                return
            outcome = report.outcome
            if outcome is not None and outcome.action is Action.FAILED and outcome.transient:
                self.unanswered.append((order_id, request))  # the person tries again later
            if outcome is not None and outcome.action in (Action.ISSUED, Action.ADOPTED):
                self.credited.add((order_id, request))

    # -- serve ---------------------------------------------------------------------------------

    def _worker(self, js: Any, ig: Any, reports: list[Any]) -> StoreWorker:
        w = self.world
        setup = StoreSetup(w.store_code, w.config, w.state_path, js, ig)
        return StoreWorker(
            setup,
            _NoWait(),
            on_report=lambda _name, report: reports.append(report),
            on_error=lambda _name, exc: reports.append(exc),
            clock=w.clock.wall,
        )

    def _serve(self, unit: Callable[[StoreWorker], None]) -> tuple[bool, list[Any]]:
        w = self.world
        reports: list[Any] = []

        def process() -> None:
            with w.clients() as (js, ig):
                worker = self._worker(js, ig, reports)
                try:
                    unit(worker)
                finally:
                    worker.close()

        done, _ = w.process(process)
        if not done:
            self.log[-1] += "!"
        return done, reports

    def _sweep(self) -> None:
        done, reports = self._serve(lambda worker: worker._unit(worker._sweep))
        for report in reports:
            if done and hasattr(report, "exit_code"):
                self._exit_status("serve's sweep", report, START_DATE)

    def _webhooks(self) -> None:
        """Jumpseller's deliveries since the last batch reach the receiver (some are lost:
        the sweep is the backstop), then serve's worker drains the inbox."""
        w = self.world
        events = w.events[self.delivered :]
        self.delivered = len(w.events)
        delivered = [e for e in events if self.rng.random() < 0.9]

        def unit(worker: StoreWorker) -> None:
            for event, order_id in delivered:
                worker.record(ORDER, order_id, event, None, w.clock.wall())
            for _ in range(3):
                hints = worker.ledger.waiting_hints(w.clock.wall(), BATCH)
                if not hints:
                    return
                worker._unit(functools.partial(worker._batch, hints))

        self._serve(unit)

    # -- the exit status -----------------------------------------------------------------------

    def _exit_status(self, command: str, report: Any, first: date) -> None:
        """A run that ends with success must have left no paid order without its invoice,
        whether a failure was printed or kept quiet (told before, or passing by itself)."""
        if report.exit_code != 0:
            return
        # Not those paid while the run read Jumpseller: the next run's.
        missing = [
            o
            for o in checks.paid_without_invoice(self.world, first)
            if o not in self.world.paid_meanwhile
        ]
        if missing:
            self.problems.append(
                f"{command} exited 0 after step {len(self.log)} ({' '.join(self.log)}) with "
                f"paid orders {missing} not invoiced"
            )


def run_schedule(
    seed: int,
    workdir: Path,
    *,
    small: bool = False,
    kill_at: set[int] | None = None,
    lose_at: set[int] | None = None,
    trace: bool = False,
    churn: bool = False,
) -> Result:
    """Play the schedule of ``seed`` in ``workdir`` (an empty folder) and check its outcome.

    ``kill_at``/``lose_at`` place faults at given operations (the exhaustive mode, on small
    shapes, which have no random faults); a larger shape's rates place them at random.
    ``churn``: orders placed months before, and status changes while listings are read.
    """
    shape = Shape.of(seed, small=small, churn=churn)
    chaos = Chaos(
        random.Random(f"chaos:{seed}"),
        kill_at=set(kill_at or ()),
        lose_at=set(lose_at or ()),
        kill_rate=shape.kill_rate,
        lose_rate=shape.lose_rate,
        keep_trace=trace,
    )
    world = World(workdir, chaos, newest_first=shape.newest_first)
    world.sb.store.after_listing = shape.after_listing
    world.churn_rate = shape.churn
    world.churn_rng = random.Random(f"churned:{seed}")
    with instrumented(chaos, shape.page_size):
        result = Runner(world, random.Random(f"steps:{seed}"), shape).run(seed)
    result.trace = chaos.trace
    return result
