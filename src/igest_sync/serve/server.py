"""One ``serve`` process: waitress in front, one worker per store behind, a clean stop.

Waitress is the HTTP server: pure Python with threads (our core is synchronous: httpx sync
clients, SQLite), maintained, and the same on Linux, macOS and Windows. It enforces the body
limit (413 over 1 MB) and closes a client that sends too slowly (``channel_timeout``) before
the application sees either. The main thread runs its event loop until ``stop`` is set
(SIGTERM, Ctrl-C, CTRL_BREAK): then it stops accepting, lets the answers being written finish,
and the workers finish the document in flight and start nothing else, within ``STOP_BUDGET``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from igest_sync.errors import IgestSyncError, UsageError
from igest_sync.serve import watch
from igest_sync.serve.receiver import MAX_BODY, Endpoint, Receiver
from igest_sync.serve.worker import StoreWorker
from igest_sync.state.inbox import LAST_SWEEP, LAST_WEBHOOK

log = logging.getLogger("igest_sync.serve")

STOP_BUDGET = 25.0  # seconds for the workers to finish their document: under 30 s in all
SLOW_CLIENT = 10  # seconds of silence before waitress drops a connection (Jumpseller: 15 s)
SWEEP_CHANNELS = 2  # how often (s) waitress looks for such connections (its default is 30)
THREADS = 8  # answering threads; each answer is a short SQLite write
QUEUE_NOTE_EVERY = 60.0  # seconds between two notes of a burst in the log


class _IntoOurLog(logging.Handler):
    """Waitress's own lines (a client's broken connection ...) go to our log file, not to
    stderr through logging's last resort.

    Its "Task queue depth is N" is a WARNING that only means a burst of deliveries arrived
    faster than the answering threads took them: each waits a few milliseconds for its turn
    and nothing is lost (Jumpseller waits 15 s for an answer). It is logged as a sentence a
    person understands, at INFO, at most once per ``QUEUE_NOTE_EVERY`` seconds."""

    def __init__(self) -> None:
        super().__init__()
        self._queue_noted = float("-inf")

    def emit(self, record: logging.LogRecord) -> None:
        ours = logging.getLogger("igest_sync.serve.waitress")
        if record.getMessage().startswith("Task queue depth is"):
            now = time.monotonic()
            if now - self._queue_noted < QUEUE_NOTE_EVERY:
                return
            self._queue_noted = now
            depth = record.args[0] if isinstance(record.args, tuple) and record.args else "some"
            ours.info(
                "A burst of webhook deliveries: %s wait for one of the %d answering threads "
                "(each answer takes milliseconds; nothing is lost, Jumpseller waits 15 s)",
                depth,
                THREADS,
            )
            return
        ours.handle(record)


def health(workers: Sequence[StoreWorker]) -> Callable[[], dict[str, Any]]:
    """``/healthz``: up, and when the last webhook and the oldest last sweep were; nothing
    that names a store, an order or a customer.

    ``status`` is "degraded" while webhooks no longer reach serve (``reason`` says how it was
    seen: serve/watch.py) or while a store's work cannot go on (a service that has not answered
    for [alerts] unreachable_minutes, a lock held too long: ``StoreWorker.troubles``; sweeps
    that stopped coming for as long as ``status`` calls serve stuck:
    ``StoreWorker.not_sweeping``; a state file that cannot be read, counted without naming its
    store); the
    answer stays 200, so that a load balancer keeps serve in (the sweep still invoices). ``store_code`` is "unknown" while the store's code could not be
    read from Jumpseller (deliveries are then checked by their signature alone)."""

    def answer() -> dict[str, Any]:
        webhooks, sweeps, degraded, waiting, unreadable = [], [], [], 0, 0
        not_sweeping: list[str] = []
        for w in workers:
            # One store's state file that cannot be read (corrupt, its disk gone) is that
            # store's trouble, said below: not a 500 for every store of the process.
            try:
                webhook, sweep = w.inbox.get_meta(LAST_WEBHOOK), w.inbox.get_meta(LAST_SWEEP)
                state, hints = watch.degraded(w.inbox), w.inbox.hints_count()
                # Sweeps that stopped coming while the receiver answers: what `status` calls
                # serve stuck is no "ok" here.
                stuck = w.not_sweeping()
            except IgestSyncError:  # the store's worker logs it at each unit: not here too
                unreadable += 1
                continue
            if stuck is not None:
                not_sweeping.append(stuck)
            webhooks.append(webhook)
            sweeps.append(sweep)
            degraded += [state] if state is not None else []
            waiting += hints
        troubles = list(dict.fromkeys(t for w in workers for t in w.troubles()))
        troubles += list(dict.fromkeys(not_sweeping))
        if unreadable:
            troubles.append(f"the state file of {unreadable} store(s) cannot be read")
        result: dict[str, Any] = {
            "status": "degraded" if degraded or troubles else "ok",
            "stores": len(workers),
            "store_code": "known" if all(w.code_known for w in workers) else "unknown",
            "last_webhook_at": max((v for v in webhooks if v), default=None),
            # The store whose sweep is oldest is the one to worry about.
            "last_sweep_at": min((v for v in sweeps if v), default=None) if all(sweeps) else None,
            # Webhooks recorded, not yet worked: not status's orders waiting for payment.
            "webhooks_waiting": waiting,
        }
        reasons = list(troubles)
        if degraded:
            first = min(degraded, key=lambda d: d.since)
            reasons.append(f"real time degraded since {first.since}: {first.public}")
        if reasons:
            result["reason"] = "; ".join(reasons)
        return result

    return answer


def endpoint_of(worker: StoreWorker) -> Endpoint:
    config = worker.setup.config
    token = config.jumpseller.hooks_token
    assert token, "serve checks every store's hooks token before starting"
    stock = config.stock
    return Endpoint(
        name=worker.setup.name,
        path=config.serve.hook_path,
        hooks_token=token,
        store_codes=worker.store_codes,
        stock_events=stock.enabled and stock.direction == "jumpseller_to_igest",
        record=worker.record,
        wake=worker.wake,
        current_codes=worker.current_codes,
        on_bad_signature=worker.keeper.refused_signature,
        on_wrong_path=worker.keeper.delivered_elsewhere,
    )


def serve(
    workers: Sequence[StoreWorker],
    host: str,
    port: int,
    stop: threading.Event,
    *,
    on_ready: Callable[[str, int], None] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> None:
    """Listen on ``host:port`` and work until ``stop`` is set or ``stop_requested()`` (a
    signal came: its handler cannot set ``stop`` itself, see ``cli/signals.py``); then stop
    within 30 s."""
    from waitress.server import create_server
    from waitress.wasyncore import loop

    app = Receiver([endpoint_of(w) for w in workers], health(workers))
    waitress_log = logging.getLogger("waitress")
    if not any(isinstance(h, _IntoOurLog) for h in waitress_log.handlers):
        waitress_log.addHandler(_IntoOurLog())
        waitress_log.propagate = False
    sockets: dict[int, Any] = {}
    try:
        server: Any = create_server(
            app,
            map=sockets,
            host=host,
            port=port,
            threads=THREADS,
            channel_timeout=SLOW_CLIENT,
            cleanup_interval=SWEEP_CHANNELS,
            max_request_body_size=MAX_BODY,
            ident="igest-sync",
            expose_tracebacks=False,
        )
    except OSError as exc:
        raise UsageError(
            f"serve cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Another process may use that port: set [serve] port (or --port), "
            "or stop the other process.",
        ) from None
    for worker in workers:
        worker.start()
    bound_port = int(server.effective_port)
    log.info("serve listening on %s:%s for %d store(s)", host, bound_port, len(workers))
    if on_ready is not None:
        on_ready(host, bound_port)
    try:
        while not stop.is_set() and not stop_requested():
            loop(timeout=0.2, map=sockets, use_poll=True, count=1)
    finally:
        stop.set()
        log.info("serve stopping: no new deliveries; finishing the documents in flight")
        server.close()  # the listening socket: nothing new is accepted
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=3)
        for channel in list(sockets.values()):
            channel.close()
        deadline = time.monotonic() + STOP_BUDGET
        for worker in workers:
            worker.wake()
            worker.join(max(0.1, deadline - time.monotonic()))
        for worker in workers:
            if worker.thread.is_alive():
                log.warning("Store %s: a document was still in flight at exit", worker.setup.name)
            else:
                worker.close()
        log.info("serve stopped")
