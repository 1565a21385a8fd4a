"""Fault-injection fixtures: the real CLI (in this process, or a subprocess for the tests that
kill it) against a small sandbox.

Each test starts a sandbox without the seed shop and adds only the orders it needs, so a CLI
call costs about half a second. Every request the CLI sends is also written to a request log
(``sb.requests``: time, service, method, path, query string, status) so tests can check what
went over the wire: how long the client waited after a 429, that no credential is in a URL,
that a POST was not repeated.

``Cli`` and ``make_cli`` come from ``tests/support/cli.py`` (shared with the e2e tests);
``soak`` is ``bench/crash_soak.py``, whose ``audit`` is the one exactly-once check used here
and by the bench.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from igest_sandbox import Sandbox
from tests.support.cli import Cli, Result, make_cli  # noqa: F401 (re-exported to the tests)
from tests.support.clock import WALL_START, VirtualClock
from tests.support.sandbox_clients import FAST_LIMITS, on_clock

ROOT = Path(__file__).resolve().parents[2]

DRAFT_POST = r"^/v1/documents$"
FINALIZE_POST = r"^/v1/documents/\d+/finalize$"
LOOKUP_GET = r"^/v1/documents$"
LINK_POST = r"^/v1/orders/\d+/documents\.json$"


def _load_bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


soak = _load_bench("crash_soak")


# -- the request log -------------------------------------------------------------------------


@dataclass
class Seen:
    received: float  # the sandbox's clock (``sb.virtual_clock``) when the request arrived
    service: str
    method: str
    path: str
    query: str
    answered: float | None = None  # when the answer (or the dropped connection) left
    status: int | None = None  # None: still being served; 0: dropped without an answer
    headers: tuple[tuple[str, str], ...] = ()  # of the answer


class RequestLog:
    """WSGI middleware in front of one emulator: records every request, passes the rest on."""

    _own = ("app", "service", "entries", "_lock", "_clock")

    def __init__(self, app: Any, service: str, clock: Any = time.monotonic) -> None:
        object.__setattr__(self, "_clock", clock)
        object.__setattr__(self, "app", app)
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "entries", [])
        object.__setattr__(self, "_lock", threading.Lock())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # `sb.jumpseller_app.latency = ...` must reach the emulator, not this wrapper.
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self.app, name, value)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen = Seen(
            self._clock(),
            self.service,
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
        )
        if not seen.path.startswith("/_sandbox/"):
            with self._lock:
                self.entries.append(seen)  # on arrival: a test may act while it is served

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.status, seen.headers = int(status.split()[0]), tuple(headers)
            return start_response(status, headers)

        try:
            return self.app(environ, capture)
        finally:
            seen.answered = self._clock()
            if seen.status is None:
                seen.status = 0


def recorded_sandbox(
    *, virtual_clock: VirtualClock | None = None, real_day: bool = False, **options: Any
) -> Sandbox:
    """A started sandbox (no seed shop unless ``seed=True``) with ``sb.requests()``; the real
    rate limits unless ``options`` say otherwise. Its rate limiters, in-process holds and
    request log run on ``virtual_clock`` (by default one that also flows with real time), the
    clock the in-process CLI paces on (``sb.virtual_clock``). It lives in that clock's day (by
    default ``WALL_START``'s), as the in-process CLI does; with ``real_day`` in the real one,
    for a test that starts the CLI as a process (which reads the real clock)."""
    options.setdefault("seed", False)
    clock = virtual_clock or VirtualClock(flowing=True, wall=None if real_day else WALL_START)
    sb = Sandbox(**options, **on_clock(clock, real_day=real_day))
    sb.virtual_clock = clock  # type: ignore[attr-defined]
    logs = (
        RequestLog(sb.jumpseller_app, "jumpseller", clock),
        RequestLog(sb.igest_app, "igest", clock),
    )
    sb.jumpseller_app, sb.igest_app = logs  # the servers are built from these in start()
    sb.requests = lambda: sorted(
        (e for log in logs for e in log.entries),  # type: ignore
        key=lambda e: e.received,
    )
    return sb.start()


@pytest.fixture
def sb(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    # High limits, advertised to the client: these tests are about faults, not pacing
    # (test_rate_limits.py overrides this fixture with the real figures). A test marked
    # ``real_day`` starts the CLI as a process: its sandbox lives in the real day.
    real_day = request.node.get_closest_marker("real_day") is not None
    with recorded_sandbox(real_day=real_day, **FAST_LIMITS) as sandbox:
        yield sandbox


def requests_to(sb: Sandbox, service: str, method: str, pattern: str) -> list[Seen]:
    import re

    regex = re.compile(pattern)
    return [
        e
        for e in sb.requests()
        if e.service == service and e.method == method and regex.search(e.path)
    ]


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli(sb: Sandbox, tmp_path: Path) -> Cli:
    """Orders one at a time (concurrency 1), so the n-th faulted request is the n-th order's.

    A failure that passes by itself is shown at once (``unreachable_minutes = 0``), so that
    each run's report shows the fault under test; by default cron keeps it quiet for an hour
    (tests/unit/test_invoice_run.py, tests/e2e/test_invoice_e2e.py)."""
    return make_cli(sb, tmp_path, invoice={"concurrency": 1}, alerts={"unreachable_minutes": 0})


# -- orders and the final check ----------------------------------------------------------------


def add_paid_orders(sb: Sandbox, count: int, **kwargs: Any) -> list[int]:
    """``count`` paid orders, paid a minute apart in id order (so they are issued in that
    order), each with a different total."""
    paid = sb.clock() - timedelta(hours=3)
    ids = []
    for i in range(count):
        ids.append(
            sb.store.add_order(
                lines=[
                    {
                        "sku": "CAN-AZU",
                        "name": "Caneca de grés - Azul",
                        "price": "9.99",
                        "qty": i + 1,
                        "rate": 23,
                    }
                ],
                shipping="3.90",
                created_at=paid - timedelta(minutes=10),
                completed_at=paid + timedelta(minutes=i),
                **kwargs,
            )
        )
    return ids


def assert_all_done(sb: Sandbox, cli: Cli | None = None, *, linked: bool = True) -> None:
    """Exactly one final document per paid order with its total, no stray draft, nothing
    failed in the ledger; with ``linked`` each document is attached once to its order."""
    audit = soak.audit(sb)
    assert audit.duplicates == [], f"duplicate final documents: {audit.duplicates}"
    assert audit.missing == [], f"paid orders without a final document: {audit.missing}"
    assert audit.wrong_totals == [], audit.wrong_totals
    assert audit.unexpected == [], audit.unexpected
    assert audit.stray_drafts == [], f"drafts left behind: {audit.stray_drafts}"
    assert audit.paid > 0
    if linked:
        assert audit.attached_twice == [], f"attached twice: {audit.attached_twice}"
        assert audit.not_attached == [], f"not attached: {audit.not_attached}"
    if cli is not None:
        assert cli.status()["failed"] == []


def one_line(text: str) -> bool:
    return "\n" not in text.strip() and "Traceback" not in text
