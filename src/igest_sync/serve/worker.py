"""One store's worker: a thread that works the inbox in batches and runs the sweep.

Every unit of work (a batch of hints, a sweep) runs under the store's run lock, taken for that
unit and released after it, so ``serve`` never holds the lock while idle and a cron
``invoice``, ``credit``, ``resend`` or ``reconcile --fix`` beside it runs between two units (it
waits for serve's lock, ``state/lock.py``). When a cron run holds the lock, the hints simply
wait in the inbox and the unit is tried again shortly: whoever gets there first issues, the
other finds the document final (exactly once is the issuer's, not the lock's).

The worker uses the store's one Jumpseller and one iGEST client for the webhook work and the
sweep alike, one after the other in this thread: one pacing gate per service per store, the
same as ``invoice``'s (and the pace files beside the state file share it with cron runs).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from igest_sync.config import Config
from igest_sync.errors import IgestSyncError, RunLocked
from igest_sync.logsetup import store_context
from igest_sync.runs.catch_up import CatchUp
from igest_sync.runs.hints import work_hints
from igest_sync.runs.invoice import InvoiceRun, RunStopped
from igest_sync.runs.invoice_report import InvoiceReport
from igest_sync.runs.services import IgestApi, JumpsellerApi
from igest_sync.state.inbox import LAST_SWEEP, ORDER, PRODUCT, Hint
from igest_sync.state.ledger import Ledger
from igest_sync.state.lock import run_lock, someone_waits

log = logging.getLogger("igest_sync.serve")

# Orders per unit of work: a burst drains in units of some seconds each (about 20 s at iGEST's
# 10 requests/s), each releasing the lock for a cron run or a person waiting for it.
BATCH = 100
LOCKED_RETRY = 2.0  # seconds before trying again when a cron run holds the lock
FAILED_RETRY = 30.0  # seconds before trying again after a run-wide failure
MAKE_WAY = 2.0  # at most this long, a run waiting for the lock is let in first
IDLE_WAKE = 5.0  # the worker looks at the inbox at least this often (hints of another process)

Clock = Callable[[], datetime]
OnReport = Callable[[str, InvoiceReport], None]
OnError = Callable[[str, IgestSyncError], None]


@dataclass
class StoreSetup:
    """What one store brings to ``serve``: its config, its state file, its clients."""

    name: str  # for log lines and the person's messages: the store code, or the home
    config: Config
    state_path: Path
    jumpseller: JumpsellerApi
    igest: IgestApi
    home: Path | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)


class StoreWorker:
    """The background worker of one store (``start``, ``wake``, ``join``)."""

    def __init__(
        self,
        setup: StoreSetup,
        stop: threading.Event,
        *,
        on_report: OnReport,
        on_error: OnError,
        clock: Clock = lambda: datetime.now(UTC),
        sweep: bool = True,
    ) -> None:
        self.setup = setup
        self.stop = stop
        self.on_report = on_report
        self.on_error = on_error
        self.clock = clock
        self.sweep_enabled = sweep
        self.woken = threading.Event()
        self.ledger = self._open_ledger()
        # One listing of what iGEST issued, for all the units of this worker (runs/catch_up.py).
        self.catch_up = CatchUp(
            setup.igest, self.ledger, setup.config.jumpseller.store, setup.config.invoice.start_date
        )
        # The receiver's own connection: its short inbox writes never queue behind the
        # worker's statements.
        self.inbox = Ledger(setup.state_path)
        self.store_codes = self._store_codes()
        self.thread = threading.Thread(target=self._run, name=f"serve-{setup.name}", daemon=True)
        self._last_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def _open_ledger(self) -> Ledger:
        """Open (and migrate) the state file under the lock, as every run does."""
        while True:
            try:
                with run_lock(self.setup.state_path, serve=True):
                    return Ledger(self.setup.state_path)
            except RunLocked:
                if self.stop.wait(LOCKED_RETRY):
                    raise
                log.info(
                    "Store %s: a run holds the lock; opening the state when it ends",
                    self.setup.name,
                )

    def _store_codes(self) -> frozenset[str]:
        """The Jumpseller-Store-Code values that are this store: the configured store and
        login, and the code Jumpseller itself reports (GET /store/info.json)."""
        jumpseller = self.setup.config.jumpseller
        codes = {jumpseller.store, jumpseller.login}
        try:
            code = self.setup.jumpseller.store_info().get("code")
        except IgestSyncError as exc:
            log.warning("Store %s: could not read the store's code (%s)", self.setup.name, exc)
        else:
            if isinstance(code, str) and code.strip():
                codes.add(code.strip())
        return frozenset(codes)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self.woken.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def close(self) -> None:
        """The state file's connections (the clients are the caller's: ``setup.closers``)."""
        self.inbox.close()
        self.ledger.close()

    def record(
        self, subject: str, subject_id: int, event: str, triggered: str | None, at: datetime
    ) -> None:
        """The receiver's write (its thread, this store's inbox connection)."""
        self.inbox.record_hint(subject, subject_id, event, triggered_at=triggered, received_at=at)

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        with store_context(self.setup.name):
            # A sweep first: it finishes whatever a kill left (pending work, in-flight documents).
            next_sweep = self.clock()
            while not self.stop.is_set():
                if someone_waits(self.setup.state_path):
                    # A cron run or a person waits for the lock: let it in before going on.
                    self.stop.wait(MAKE_WAY)
                    continue
                now = self.clock()
                hints = self.ledger.waiting_hints(now, BATCH)
                if hints:
                    self._unit(functools.partial(self._batch, hints))
                    continue
                if self.sweep_enabled and now >= next_sweep:
                    if self._unit(self._sweep):
                        minutes = self.setup.config.serve.sweep_minutes
                        next_sweep = self.clock() + timedelta(minutes=minutes)
                    continue
                self._idle(next_sweep)

    def _idle(self, next_sweep: datetime) -> None:
        now = self.clock()
        wait = IDLE_WAKE
        if self.sweep_enabled:
            wait = min(wait, max(0.0, (next_sweep - now).total_seconds()))
        due = self.ledger.next_hint_due()
        if due is not None:
            wait = min(wait, max(0.0, (due - now).total_seconds()))
        self.woken.wait(wait)
        self.woken.clear()

    def _unit(self, work: Callable[[], list[str]]) -> bool:
        """``work`` under the run lock; False when it must be tried again later.

        ``work`` returns the notices of what it did. Its alerts ([alerts]) are recorded and
        sent before the lock is released, as every other command does (alerts/outbox.py).
        """
        try:
            with run_lock(self.setup.state_path, serve=True):
                try:
                    notices = work()
                except RunStopped:
                    raise
                except Exception as exc:
                    self._alert(error=exc)
                    raise
                self._alert(notices=notices)
        except RunLocked:
            log.info("A run holds the lock of %s; the hints wait", self.setup.state_path)
            self.stop.wait(LOCKED_RETRY)
            return False
        except RunStopped:
            return True
        except IgestSyncError as exc:
            # Refused credentials, an unusable state file, a config to fix: a person must act,
            # told once per distinct problem; the hints wait for the fix.
            text = str(exc)
            log.error("Store %s: %s", self.setup.name, text)
            if text != self._last_error:
                self._last_error = text
                self.on_error(self.setup.name, exc)
            self.stop.wait(FAILED_RETRY)
            return False
        except Exception:  # a bug must not end the worker: logged, tried again later
            log.exception("Store %s: unexpected error in serve's worker", self.setup.name)
            self.stop.wait(FAILED_RETRY)
            return False
        self._last_error = None
        return True

    def _alert(self, *, notices: Sequence[str] = (), error: BaseException | None = None) -> None:
        """The unit's alerts: the same events, once and reminded, as a cron run's (never raises,
        bounded to a few seconds whatever the channels do)."""
        if not self.setup.config.alerts.channels:
            return
        from igest_sync.alerts import dispatch

        dispatch(
            self.ledger,
            self.setup.config,
            now=self.clock(),
            notices=notices,
            error=error,
            command="serve",
            state_path=self.setup.state_path,
        )

    def _run_for(self) -> InvoiceRun:
        s = self.setup
        # The worker's clock, not the machine's: a unit's dates (today, the sweep's listing
        # window) are those of the clock the worker was given.
        return InvoiceRun(
            s.config,
            self.ledger,
            s.jumpseller,
            s.igest,
            now=self.clock(),
            stop=self.stop,
            catch_up=self.catch_up,
        )

    def _batch(self, hints: list[Hint]) -> list[str]:
        now = self.clock()
        notices: list[str] = []
        orders = [h for h in hints if h.subject == ORDER]
        products = [h for h in hints if h.subject == PRODUCT]
        started = time.monotonic()
        if orders:
            outcome = work_hints(self._run_for(), orders, now=now)
            if outcome.report.outcomes or outcome.report.notices or outcome.report.still_failed:
                self.on_report(self.setup.name, outcome.report)
            notices = outcome.report.notices + outcome.report.quiet_notices
            log.info(
                "Worked %d webhook orders in %.1f s (%d postponed)",
                outcome.finished,
                time.monotonic() - started,
                outcome.postponed,
            )
        if products:
            self._stock(products)
        return notices

    def _stock(self, products: list[Hint]) -> None:
        """A product's stock changed in Jumpseller: sync stock to iGEST (once per batch)."""
        from igest_sync.runs.stock import sync_stock

        stock = self.setup.config.stock
        if stock.enabled and stock.direction == "jumpseller_to_igest":
            report = sync_stock(
                self.setup.jumpseller, self.setup.igest, stock, force=False, dry_run=False
            )
            log.info("Stock synced after %d webhooks: %s", len(products), report.summary())
        for hint in products:
            self.ledger.finish_hints(hint.row_ids)

    def _sweep(self) -> list[str]:
        report = self._run_for().run()
        self.ledger.set_meta(LAST_SWEEP, self.clock().isoformat(timespec="seconds"))
        self.on_report(self.setup.name, report)
        return report.notices + report.quiet_notices
