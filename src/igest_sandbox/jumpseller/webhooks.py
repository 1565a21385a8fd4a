"""The sandbox's webhooks: the store's hooks and their deliveries, as Jumpseller documents them.

    sb.webhooks.add_hook("order_paid", "http://127.0.0.1:8787/")   # or POST /v1/hooks.json
    sb.store.pay_order(10015)        # -> order_paid and order_updated deliveries, in the background
    sb.webhooks.summary()            # counts, the slowest answer, the hooks' failures
    sb.webhooks.wait_idle(5.0)       # until nothing is queued or being sent

Each delivery is a POST of the resource's JSON as the API serves it (``{"order": {...}}``,
``{"product": {...}}``) with ``Content-Type: application/json``, ``Jumpseller-Store-Code`` (in
the sandbox its login, which a client config's ``[jumpseller] store`` defaults to),
``Jumpseller-Event``, ``Jumpseller-Triggered-At`` (``2025-01-01 10:18:51.829 UTC``, the sandbox
clock at the event) and ``Jumpseller-Hmac-Sha256``: base64(HMAC-SHA256(raw body, hooks token)).

The receiver has ``timeout`` seconds (15) to answer 2xx. A failure (another status, no answer,
a refused connection) is retried up to 4 times, N^4 minutes after the N-th failure (1, 16, 81,
256 minutes, times ``time_scale`` so tests run in seconds). After 8 failures in all (counted per
hook, not reset by a success: Jumpseller says "in all") the hook is paused: it stays listed but
gets nothing until it is updated (PUT), which resumes it and clears its count.

Events (choices where Jumpseller is silent): a status change sends the specific event
(``order_paid``, ``order_canceled``, ``order_pending_payment`` ...) and ``order_updated``; an
order created pending sends ``order_pending_payment``, one created paid ``order_paid``; other
edits (PUT /orders/{id}.json) send ``order_updated``; a stock change sends
``product_stock_updated`` with the product. The body is taken when the event happens: a late
delivery shows the order as it was then, which is why a receiver must read it again.

Faults per delivery (``sb.faults.add("webhooks", kind, path=...)`` or ``POST /_sandbox/faults``
with ``"service": "webhooks"``; ``path`` is searched in ``"<event>/<id>"``, e.g.
``^order_paid/10015$``; ``nth``/``times`` count deliveries as for requests):

* ``dropped``: this delivery is never sent and never retried (it is lost);
* ``twice``: sent twice, one copy right after the other;
* ``delayed``: sent ``seconds`` later than due;
* ``forged``: first a copy whose signature was made with another key (an attacker's), then the
  genuine one; the forged copy's answer counts for nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import heapq
import hmac
import itertools
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from igest_sandbox.faults import Faults
from igest_sandbox.jumpseller.common import wire_time
from igest_sandbox.messages import dumps
from igest_sandbox.stats import Stats

SERVICE = "webhooks"
EVENTS = (
    "order_updated",
    "order_pending_payment",
    "order_paid",
    "order_shipped",
    "order_canceled",
    "order_abandoned",
    "product_created",
    "product_updated",
    "product_deleted",
    "product_stock_updated",
    "customer_created",
    "customer_updated",
    "customer_deleted",
)
RETRIES = 4
PAUSE_AFTER = 8
LOG_SIZE = 10_000  # the delivery log is a window: memory stays flat however long it runs


def signature(body: bytes, token: str) -> str:
    """``Jumpseller-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def triggered_at(moment: datetime) -> str:
    """``2025-01-01 10:18:51.829 UTC``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


@dataclass
class HookRecord:
    id: int
    event: str
    url: str
    created_at: str
    failures: int = 0
    paused: bool = False

    def wire(self) -> dict[str, Any]:
        """``HookFields`` of the spec."""
        return {
            "id": self.id,
            "name": None,
            "event": self.event,
            "url": self.url,
            "created_at": self.created_at,
        }


@dataclass
class Delivery:
    hook_id: int
    event: str
    subject: str  # "order_paid/10015": what fault rules match
    body: bytes
    triggered_at: str
    attempt: int = 0  # 0: the first send; 1..4: retries
    fault_checked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loaded once per process (~20 ms of CPU), not once per sandbox that sends a webhook.
    return httpx.create_ssl_context()


class Webhooks:
    """The hooks of the sandbox store and a dispatcher that delivers their events.

    Sender threads start with the first delivery and stop with ``stop()``; deliveries go out
    concurrently (``senders`` at a time), each a fresh POST from a shared pool of connections.
    """

    def __init__(
        self,
        *,
        store_code: Callable[[], str],
        hooks_token: Callable[[], str],
        clock: Callable[[], datetime],
        stats: Stats,
        faults: Faults,
        time_scale: float = 1.0,
        timeout: float = 15.0,
        senders: int = 8,
    ) -> None:
        self._store_code = store_code
        self._hooks_token = hooks_token
        self._clock = clock
        self.stats = stats
        self.faults = faults
        self.time_scale = time_scale
        self.timeout = timeout
        self._senders = senders
        self._cond = threading.Condition()
        self._hooks: dict[int, HookRecord] = {}
        self._next_id = 1
        self._queue: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._threads: list[threading.Thread] = []
        self._generation = 0  # stop() ends the senders of the current generation
        self._client: httpx.Client | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._totals: dict[str, Any] = self._fresh_totals()

    @staticmethod
    def _fresh_totals() -> dict[str, Any]:
        return {
            "events": 0,
            "sent": 0,
            "ok": 0,
            "failed": 0,
            "retries": 0,
            "dropped": 0,
            "forged": 0,
            "max_seconds": 0.0,
        }

    # Hooks ----------------------------------------------------------------------------------

    def add_hook(self, event: str, url: str) -> HookRecord:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        with self._cond:
            hook = HookRecord(self._next_id, event, url, wire_time(self._clock()) or "")
            self._next_id += 1
            self._hooks[hook.id] = hook
            return hook

    def hooks(self) -> list[HookRecord]:
        with self._cond:
            return sorted(self._hooks.values(), key=lambda h: h.id)

    def hook(self, hook_id: int) -> HookRecord:
        with self._cond:
            return self._hooks[hook_id]  # KeyError: not found

    def update_hook(self, hook_id: int, event: str | None, url: str | None) -> HookRecord:
        if event is not None and event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        with self._cond:
            hook = self._hooks[hook_id]
            hook.event = event or hook.event
            hook.url = url or hook.url
            hook.failures, hook.paused = 0, False  # an update is how a paused hook resumes
            return hook

    def delete_hook(self, hook_id: int) -> None:
        with self._cond:
            del self._hooks[hook_id]
            self._queue = [q for q in self._queue if q[2].hook_id != hook_id]
            heapq.heapify(self._queue)

    # Events ---------------------------------------------------------------------------------

    def wants(self, event: str) -> bool:
        """Whether any active hook listens to ``event`` (cheap: lets the store skip the body)."""
        with self._cond:
            return any(h.event == event and not h.paused for h in self._hooks.values())

    def notify(self, event: str, subject_id: int, payload: object) -> int:
        """Queue a delivery of ``payload`` to every active hook of ``event``; how many."""
        body = dumps(payload)
        stamp = triggered_at(self._clock())
        with self._cond:
            targets = [h for h in self._hooks.values() if h.event == event and not h.paused]
            self._totals["events"] += 1 if targets else 0
            for hook in targets:
                self._push(0.0, Delivery(hook.id, event, f"{event}/{subject_id}", body, stamp))
            if targets:
                self._ensure_senders()
                self._cond.notify_all()
            return len(targets)

    def _push(self, delay: float, delivery: Delivery) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), delivery))

    # Sending --------------------------------------------------------------------------------

    def _ensure_senders(self) -> None:
        if self._threads:
            return
        self._client = httpx.Client(
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=self._senders, max_keepalive_connections=0),
            headers={"User-Agent": "Jumpseller-Webhooks (igest-sync sandbox)"},
            verify=_tls_context(),
        )
        for n in range(self._senders):
            thread = threading.Thread(
                target=self._run, args=(self._generation,), name=f"sandbox-hook-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _next(self, generation: int) -> Delivery | None:
        with self._cond:
            while self._generation == generation:
                if self._queue:
                    due = self._queue[0][0] - time.monotonic()
                    if due <= 0:
                        self._busy += 1
                        return heapq.heappop(self._queue)[2]
                    self._cond.wait(due)
                else:
                    self._cond.wait()
            return None

    def _run(self, generation: int) -> None:
        while (delivery := self._next(generation)) is not None:
            try:
                self._deliver(delivery)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        if not delivery.fault_checked:
            delivery.fault_checked = True
            rule = self.faults.take(SERVICE, "POST", delivery.subject)
            if rule is not None:
                self.stats.record_fault(SERVICE, rule.kind)
                if rule.kind == "dropped":
                    self._note(delivery, "dropped", None, 0.0)
                    with self._cond:
                        self._totals["dropped"] += 1
                    return
                if rule.kind == "delayed":
                    with self._cond:
                        self._push(rule.seconds, delivery)
                        self._cond.notify_all()
                    return
                if rule.kind == "forged":
                    self._send(delivery, forged=True)
                if rule.kind == "twice":
                    self._send(delivery, forged=False)  # the copy; the next one is accounted
        self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        with self._cond:
            hook = self._hooks.get(delivery.hook_id)
            if hook is None or hook.paused:
                return
        if self._send(delivery, forged=False):
            return
        with self._cond:
            hook = self._hooks.get(delivery.hook_id)
            if hook is None:
                return
            self._totals["failed"] += 1
            hook.failures += 1
            if hook.failures >= PAUSE_AFTER:
                hook.paused = True
                self._queue = [q for q in self._queue if q[2].hook_id != hook.id]
                heapq.heapify(self._queue)
            elif delivery.attempt < RETRIES:
                delivery.attempt += 1
                self._totals["retries"] += 1
                self._push(delivery.attempt**4 * 60.0 * self.time_scale, delivery)
                self._cond.notify_all()

    def _send(self, delivery: Delivery, *, forged: bool) -> bool:
        """POST once; True on a 2xx answer."""
        with self._cond:
            hook = self._hooks.get(delivery.hook_id)
            client = self._client
        if hook is None or client is None:
            return False
        key = self._hooks_token()
        headers = {
            "Content-Type": "application/json",
            "Jumpseller-Store-Code": self._store_code(),
            "Jumpseller-Event": delivery.event,
            "Jumpseller-Triggered-At": delivery.triggered_at,
            "Jumpseller-Hmac-Sha256": signature(delivery.body, "forged-" + key if forged else key),
        }
        started = time.monotonic()
        status: int | None
        try:
            status = client.post(hook.url, content=delivery.body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        seconds = time.monotonic() - started
        self.stats.record(SERVICE, f"POST {delivery.event}", status or 0)
        self._note(delivery, "forged" if forged else None, status, seconds)
        with self._cond:
            self._totals["forged" if forged else "sent"] += 1
            if not forged:
                self._totals["max_seconds"] = max(self._totals["max_seconds"], seconds)
                if status is not None and 200 <= status < 300:
                    self._totals["ok"] += 1
        return status is not None and 200 <= status < 300

    def _note(
        self, delivery: Delivery, fault: str | None, status: int | None, seconds: float
    ) -> None:
        self.log.append(
            {
                "hook": delivery.hook_id,
                "event": delivery.event,
                "subject": delivery.subject,
                "attempt": delivery.attempt,
                "fault": fault,
                "status": status,
                "seconds": round(seconds, 4),
                "triggered_at": delivery.triggered_at,
                "answered": time.monotonic(),
            }
        )

    # Control --------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Totals, the hooks with their failure counts, and what is queued."""
        with self._cond:
            return {
                **self._totals,
                "queued": len(self._queue),
                "in_flight": self._busy,
                "hooks": [
                    {**h.wire(), "failures": h.failures, "paused": h.paused}
                    for h in sorted(self._hooks.values(), key=lambda h: h.id)
                ],
            }

    def reset_totals(self) -> None:
        with self._cond:
            self._totals = self._fresh_totals()
            self.log.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being sent (retries count: they are queued)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def stop(self) -> None:
        """Stop the senders; what is queued is forgotten (the sandbox is going away)."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            threads, self._threads = self._threads, []
            client, self._client = self._client, None
            self._cond.notify_all()
        # A sender in the middle of a POST finishes it (at most ``timeout``) and then ends; the
        # threads are daemons, so a receiver that never answers cannot hold the process.
        for thread in threads:
            thread.join(timeout=1.0)
        if client is not None:
            client.close()
