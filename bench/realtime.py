"""The real-time scenarios: ``serve`` against the sandbox's webhooks, from payment to document.

    trickle  one order paid per second for ``--minutes`` (2): latency p50/p95/p99 (target
             p99 <= 3 s), the slowest answer to a delivery (<= 15 s) and serve's memory over
             the run (flat: the last quarter's median RSS within 5 MB of the second quarter's)
    burst    ``--burst-orders`` (300) paid within ``--burst-seconds`` (10): the same latencies,
             and the time until the last document against the rate-limit bound (<= 1.1x)
    beside   the burst, with cron's ``invoice`` run every ``CRON_EVERY`` seconds on the same
             state file meanwhile: the two share iGEST's 10/s (0 429s)
    lost     one order paid per second for ``--minutes``, every ``LOST_EVERY``-th draft and
             every ``LOST_EVERY``-th finalize processed by iGEST with its answer lost (502):
             each such invoice costs < 15 s (serve retries within seconds, never the sweep)

Each run: a fresh sandbox with the real limits and the given latency, the seed's paid orders
invoiced first by ``invoice`` (so the measure is the webhooks' alone), ``hooks install`` for a
free loopback port, then ``serve`` (its own process, as a merchant runs it) and, once its first
sweep is done, the payments. An order's time is from the moment the sandbox marks it paid (its
webhook leaves then) to the moment its document is final in the sandbox's iGEST (polled every
20 ms from the benchmark's process, so a figure may be up to 20 ms late).

Each order is created (waiting for payment) a moment before it is paid, as in a shop where
customers pay as they go; a run starts with no backlog of unpaid orders for the sweeps to read.
"""

from __future__ import annotations

import math
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx
from bounds import IGEST_WINDOWS, JUMPSELLER_WINDOWS, rate_bound
from harness import CliHome, bench_sandbox
from scenarios import Options, Row, ScenarioResult

from igest_sandbox import Sandbox, data

POLL = 0.02  # seconds between two looks for new final documents
LOST_EVERY = 5  # lost: one draft answer in 5 and one finalize answer in 5 are lost
CRON_EVERY = 5.0  # beside: seconds between the end of one cron `invoice` and the next
DRAFT_POST = r"^/v1/documents$"
FINALIZE_POST = r"^/v1/documents/\d+/finalize$"
RSS_EVERY = 5.0  # seconds between two samples of serve's memory
START_ID = 30001


@dataclass
class Figures:
    """What one run measured; ``latencies`` in seconds, per order paid."""

    latencies: dict[int, float] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)
    first_paid: float = 0.0
    last_paid: float = 0.0
    last_final: float = 0.0
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the run, kB)
    requests: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.99 -> p99) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _pending_orders(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` generated orders, as they look before the customer pays."""
    orders = []
    for order in data.generate_orders(n, seed, START_ID, paid_share=1.0):
        order.update(
            status_enum="pending_payment",
            status="Pending Payment",
            status_name="Pending Payment",
            completed_at=None,
        )
        orders.append(order)
    return orders


class FinalWatch:
    """Notes when each watched reference first has a final document in the sandbox's iGEST."""

    def __init__(self, sb: Sandbox) -> None:
        self._sb = sb
        self._seen = 0  # documents before this index are all final or not ours
        self.final_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        state = self._sb.igest
        while not self._stop.wait(POLL):
            now = time.perf_counter()
            with state.lock:
                docs = state.documents
                first_draft = None
                for index in range(self._seen, len(docs)):
                    doc = docs[index]
                    if doc["status"] == "final":
                        self.final_at.setdefault(str(doc["external_reference"]), now)
                    elif doc["status"] == "draft" and first_draft is None:
                        first_draft = index  # look again from here: it may become final
                self._seen = len(docs) if first_draft is None else first_draft

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class RssSampler:
    """Samples a process's resident memory every ``RSS_EVERY`` seconds (Linux /proc)."""

    def __init__(self, pid: int, began: float, into: list[tuple[float, int]]) -> None:
        self._pid, self._began, self._into = pid, began, into
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            rss = _rss_kb(self._pid)
            if rss is not None:
                self._into.append((time.perf_counter() - self._began, rss))
            if self._stop.wait(RSS_EVERY):
                return

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _serve(home: CliHome, port: int) -> subprocess.Popen:
    log = open(home.root / "serve.out", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [home.python, "-m", "igest_sync", "--config", str(home.config), "serve"],
        env=home.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _wait_swept(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited {proc.returncode} before it was ready")
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).json()
            if health.get("last_sweep_at"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("serve did not finish its first sweep in time")


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


def lose_answers(sb: Sandbox, orders: int) -> None:
    """Every ``LOST_EVERY``-th draft and finalize reaches iGEST and its answer is lost (502).
    A request that fired one rule is not counted by the next, hence the staggered ``nth``."""
    for path in (DRAFT_POST, FINALIZE_POST):
        for i in range(orders // LOST_EVERY + 1):
            nth = LOST_EVERY * (i + 1) - i
            sb.faults.add("igest", "502", method="POST", path=path, nth=nth, after=True)


def run_realtime(
    *,
    orders: int,
    seconds: float,
    latency: float,
    seed: int,
    drain_timeout: float,
    faults: Any = None,
    cron: bool = False,
) -> tuple[Figures, list[str]]:
    """Pay ``orders`` orders evenly over ``seconds`` with serve running; measure. ``faults``,
    when given, is called with the sandbox once serve is ready (before the payments); with
    ``cron``, `invoice` runs beside serve on the same state file until the orders are final
    (``figures.requests["cron"]``: how many runs, ``["cron_failed"]``: how many exited
    neither 0 nor 1)."""
    figures = Figures()
    errors: list[str] = []
    port = _free_port()
    with (
        bench_sandbox(latency=latency, seed=True) as (sb, _timeline),
        tempfile.TemporaryDirectory(prefix="igest-bench-rt-") as tmp,
    ):
        creds = sb.credentials
        home = CliHome.create(
            Path(tmp),
            creds,
            start_date="2026-01-01",
            overrides={
                "serve": {"port": port, "public_url": f"http://127.0.0.1:{port}/hooks"},
                "jumpseller": {"hooks_token": creds["jumpseller"]["hooks_token"]},
            },
        )
        for args in (("invoice",), ("hooks", "install")):
            run = home.run(*args, timeout=300)
            if run.code != 0:
                errors.append(run.describe_failure())
                return figures, errors
        pending = _pending_orders(orders, seed)
        reference = f"jumpseller:{creds['jumpseller']['login']}:{{}}"
        proc = _serve(home, port)
        try:
            _wait_swept(port, proc)
            sb.reset_stats()
            sb.webhooks.reset_totals()
            if faults is not None:
                faults(sb)
            began = time.perf_counter()
            cron_done = threading.Event()
            cron_runs: list[int] = []

            def cron_loop() -> None:
                while not cron_done.wait(CRON_EVERY):
                    cron_runs.append(home.run("invoice", timeout=300).code)

            cron_thread = threading.Thread(target=cron_loop, daemon=True)
            if cron:
                cron_thread.start()
            with FinalWatch(sb) as watch, RssSampler(proc.pid, began, figures.rss_kb):
                paid_at: dict[int, float] = {}
                for index, order in enumerate(pending):
                    due = began + seconds * index / max(1, orders)
                    if (wait := due - time.perf_counter()) > 0:
                        time.sleep(wait)
                    order["created_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                    sb.store.add_order(order)
                    paid_at[int(order["id"])] = time.perf_counter()
                    sb.store.pay_order(int(order["id"]))
                figures.first_paid = min(paid_at.values()) - began
                figures.last_paid = max(paid_at.values()) - began
                deadline = time.perf_counter() + drain_timeout
                while time.perf_counter() < deadline:
                    if all(reference.format(i) in watch.final_at for i in paid_at):
                        break
                    time.sleep(0.2)
                for order_id, at in paid_at.items():
                    final = watch.final_at.get(reference.format(order_id))
                    if final is None:
                        figures.missing.append(order_id)
                    else:
                        figures.latencies[order_id] = final - at
                        figures.last_final = max(figures.last_final, final - began)
            cron_done.set()
            if cron:
                cron_thread.join(320)
            sb.webhooks.wait_idle(20.0)
            stats = sb.stats()
            figures.requests = {s: stats[s]["requests"] for s in ("jumpseller", "igest")}
            figures.requests["429"] = stats["jumpseller"]["429"] + stats["igest"]["429"]
            figures.requests["lost"] = sum(stats["igest"].get("faults", {}).values())
            figures.requests["cron"] = len(cron_runs)
            figures.requests["cron_failed"] = sum(1 for c in cron_runs if c not in (0, 1))
            figures.deliveries = sb.webhooks.summary()
        finally:
            code = _stop(proc)
            if code != 0:
                tail = (home.root / "serve.out").read_text(errors="replace")[-600:]
                errors.append(f"serve exited {code}: {tail}")
    return figures, errors


def burst_bound(figures: Figures, orders: int, latency: float) -> tuple[float, str]:
    """The least time from the first payment to the last document: every request the run
    needed, at the earliest the windows allow, or the last payment plus one order's own
    round trips (read the order, create the draft, finalize it), whichever is larger."""
    js = figures.requests.get("jumpseller", 0)
    ig = figures.requests.get("igest", 0)
    parts = {
        f"Jumpseller 20/s+800/min ({js} requests)": rate_bound(js, JUMPSELLER_WINDOWS, latency),
        f"iGEST 10/s ({ig} requests)": rate_bound(ig, IGEST_WINDOWS, latency),
        "last payment + 3 round trips": figures.last_paid - figures.first_paid + 3 * latency,
    }
    name = max(parts, key=lambda k: parts[k])
    return parts[name], name


def memory_growth_kb(samples: list[tuple[float, int]]) -> int | None:
    """Median RSS of the last quarter of the run minus that of the second quarter (the first
    quarter is warm-up: imports, caches, the first connections)."""
    if len(samples) < 8:
        return None
    quarter = len(samples) // 4
    second = [kb for _, kb in samples[quarter : 2 * quarter]]
    last = [kb for _, kb in samples[-quarter:]]
    return int(statistics.median(last) - statistics.median(second))


# -- the two scenarios --------------------------------------------------------------------------


def _latency_rows(result: ScenarioResult, figures: Figures, target_p99: float | None) -> None:
    values = list(figures.latencies.values())
    paid = len(values) + len(figures.missing)
    result.rows.append(
        Row("orders invoiced", f"{len(values)} of {paid}", "all", not figures.missing)
    )
    if not values:
        return
    p50, p95, p99 = (percentile(values, q) for q in (0.50, 0.95, 0.99))
    result.rows.append(Row("payment -> final p50", f"{p50:.2f} s"))
    result.rows.append(Row("payment -> final p95", f"{p95:.2f} s"))
    result.rows.append(
        Row(
            "payment -> final p99",
            f"{p99:.2f} s",
            f"<= {target_p99:g} s" if target_p99 is not None else "",
            None if target_p99 is None else p99 <= target_p99,
        )
    )
    result.rows.append(Row("payment -> final max", f"{max(values):.2f} s"))
    result.raw["latencies"] = {"p50": p50, "p95": p95, "p99": p99, "max": max(values)}


def _delivery_rows(result: ScenarioResult, figures: Figures) -> None:
    d = figures.deliveries
    slowest = float(d.get("max_seconds", 0.0))
    result.rows.append(Row("slowest delivery answer", f"{slowest:.3f} s", "<= 15 s", slowest <= 15))
    result.rows.append(
        Row(
            "deliveries failed",
            f"{d.get('failed', 0)} of {d.get('sent', 0)}",
            "0",
            d.get("failed", 0) == 0,
        )
    )
    result.rows.append(
        Row(
            "429 responses",
            str(figures.requests.get("429", 0)),
            "0",
            not figures.requests.get("429"),
        )
    )
    result.raw["deliveries"] = {k: v for k, v in d.items() if k != "hooks"}
    result.raw["requests"] = figures.requests


def _per_order(result: ScenarioResult, figures: Figures, orders: int) -> None:
    for service in ("jumpseller", "igest"):
        result.rows.append(
            Row(f"{service} requests per order", f"{figures.requests.get(service, 0) / orders:.2f}")
        )


def trickle(options: Options) -> ScenarioResult:
    minutes = options.trickle_minutes
    result = ScenarioResult(f"Trickle {minutes:g} min")
    orders = max(1, round(minutes * 60))
    figures, errors = run_realtime(
        orders=orders,
        seconds=minutes * 60,
        latency=options.latency,
        seed=options.seed,
        drain_timeout=60.0,
    )
    result.errors += errors
    _latency_rows(result, figures, 3.0)
    _delivery_rows(result, figures)
    _per_order(result, figures, orders)
    growth = memory_growth_kb(figures.rss_kb)
    if figures.rss_kb:
        peak = max(kb for _, kb in figures.rss_kb)
        result.rows.append(Row("serve RSS first / last / peak", _rss_text(figures, peak)))
    if growth is not None:
        result.rows.append(
            Row(
                "serve RSS growth (Q2 -> Q4 median)",
                f"{growth / 1024:+.1f} MB",
                "<= 5 MB",
                growth <= 5 * 1024,
            )
        )
    result.raw["rss_kb"] = figures.rss_kb
    return result


def _rss_text(figures: Figures, peak: int) -> str:
    first, last = figures.rss_kb[0][1], figures.rss_kb[-1][1]
    return f"{first / 1024:.1f} / {last / 1024:.1f} / {peak / 1024:.1f} MB"


def burst(options: Options, *, cron: bool = False) -> ScenarioResult:
    n, seconds = options.burst_orders, options.burst_seconds
    title = f"Burst {n} in {seconds:g} s" + (", cron beside" if cron else "")
    result = ScenarioResult(title)
    figures, errors = run_realtime(
        orders=n,
        seconds=seconds,
        latency=options.latency,
        seed=options.seed,
        drain_timeout=120.0 + 2.0 * n,
        cron=cron,
    )
    if cron:
        runs, failed = figures.requests.get("cron", 0), figures.requests.get("cron_failed", 0)
        result.rows.append(Row("cron `invoice` runs beside serve", f"{runs} ({failed} failed)"))
    result.errors += errors
    _latency_rows(result, figures, None)
    if figures.latencies:
        drained = figures.last_final - figures.first_paid
        bound, limited_by = burst_bound(figures, n, options.latency)
        result.rows.append(Row("drained (first payment -> last final)", f"{drained:.1f} s"))
        result.rows.append(Row("rate-limit bound", f"{bound:.1f} s ({limited_by})"))
        ratio = drained / bound if bound else 0.0
        result.rows.append(Row("drained / bound", f"{ratio:.2f}", "<= 1.1", ratio <= 1.1))
        result.raw.update(drained=drained, bound=bound, limited_by=limited_by)
    _delivery_rows(result, figures)
    _per_order(result, figures, n)
    return result


def lost(options: Options) -> ScenarioResult:
    minutes = options.trickle_minutes
    result = ScenarioResult(f"Lost answers, {minutes:g} min")
    orders = max(LOST_EVERY, round(minutes * 60))
    figures, errors = run_realtime(
        orders=orders,
        seconds=minutes * 60,
        latency=options.latency,
        seed=options.seed,
        drain_timeout=120.0,
        faults=lambda sb: lose_answers(sb, orders),
    )
    result.errors += errors
    _latency_rows(result, figures, None)
    if figures.latencies:
        worst = max(figures.latencies.values())
        result.rows.append(
            Row("slowest invoice (answers lost included)", f"{worst:.2f} s", "< 15 s", worst < 15)
        )
    result.rows.append(Row("iGEST answers lost", str(figures.requests.get("lost", 0))))
    _delivery_rows(result, figures)
    _per_order(result, figures, orders)
    return result


def beside(options: Options) -> ScenarioResult:
    return burst(options, cron=True)


SCENARIOS = {"trickle": trickle, "burst": burst, "beside": beside, "lost": lost}
