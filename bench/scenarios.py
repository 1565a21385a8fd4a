"""The four benchmark scenarios. Each builds its own sandbox and home, runs the real CLI and
returns a ``ScenarioResult`` (table rows, a time breakdown per run, raw figures)."""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bounds import Bound, backlog_bound, plan_then_write_bound
from breakdown import profile_run
from harness import CliHome, CliRun, bench_sandbox, run_process

from igest_sandbox import data
from igest_sync.config import InvoiceConfig
from igest_sync.state.ledger import Ledger

ORDER_SPACING = timedelta(minutes=37)  # generate_orders' default


@dataclass
class Options:
    orders: int = 1000
    latency: float = 0.05
    concurrency: int | None = None  # None: the product's default (invoice.concurrency)
    quiet_orders: int = 50
    quiet_repeats: int = 3
    variants: int = 20000
    missing: int = 1000
    stock_diff: int = 2000
    documents: int = 100000
    startup_repeats: int = 5
    seed: int = 7
    timeout: float | None = None  # per CLI run; None: from the scenario's bound
    cprofile_dir: Path | None = None
    trickle_minutes: float = 2.0  # realtime.py: one order paid per second for this long
    burst_orders: int = 300
    burst_seconds: float = 10.0
    credit_lines: int = 150  # credit_plan.py: lines of the net invoice partly credited
    credit_repeats: int = 5


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: no target


@dataclass
class ScenarioResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def check(self, run: CliRun, allowed: tuple[int, ...] = (0,)) -> bool:
        if run.code in allowed and not run.timed_out:
            return True
        self.errors.append(run.describe_failure())
        return False


def _timeout(options: Options, bound_seconds: float) -> float:
    return options.timeout or 120.0 + 3.0 * bound_seconds


def _counts(stats: dict, service: str) -> tuple[int, int, int]:
    """(requests, reads, writes) the sandbox served for one service."""
    s = stats[service]
    reads = sum(n for route, n in s["by_route"].items() if route.startswith("GET "))
    return s["requests"], reads, s["requests"] - reads


def _efficiency_rows(result: ScenarioResult, run: CliRun, bound: Bound) -> float:
    efficiency = bound.seconds / run.wall if run.wall else 0.0
    result.rows.append(Row("wall time", f"{run.wall:.1f} s"))
    result.rows.append(Row("unavoidable time", f"{bound.seconds:.1f} s ({bound.limited_by})"))
    result.rows.append(Row("efficiency", f"{efficiency:.2f}", ">= 0.8", efficiency >= 0.8))
    return efficiency


def _breakdown(result: ScenarioResult, title: str, run: CliRun, timeline, latency: float) -> None:
    events = timeline.between(run.started, run.started + run.wall)
    result.details.append(f"{result.name} / {title}:")
    result.details += ["  " + line for line in profile_run(run, events, latency).lines()]


# -- 1. backlog ---------------------------------------------------------------------------------


def backlog(options: Options) -> ScenarioResult:
    result = ScenarioResult("Backlog")
    n, latency = options.orders, options.latency
    concurrency = options.concurrency or InvoiceConfig().concurrency
    first_day = (data.SEED_REFERENCE - ORDER_SPACING * n).date() - timedelta(days=1)
    start = min(first_day, date(2026, 11, 1)).isoformat()
    overrides = {"invoice": {"concurrency": concurrency}}
    with (
        bench_sandbox(latency=latency, seed=True) as (sb, timeline),
        tempfile.TemporaryDirectory(prefix="igest-bench-") as tmp,
    ):
        sb.store.add_orders(data.generate_orders(n, options.seed, 20001, paid_share=1.0))
        home = CliHome.create(
            Path(tmp),
            sb.credentials,
            start_date=start,
            overrides=overrides,
            cprofile_dir=options.cprofile_dir,
        )
        guess = backlog_bound(
            igest_requests=2 * n,
            jumpseller_requests=n,
            orders=n,
            concurrency=concurrency,
            latency=latency,
        )
        sb.reset_stats()
        run = home.run(
            "invoice", "--json", timeout=_timeout(options, guess.seconds), label="backlog-invoice"
        )
        stats = sb.stats()
        if not result.check(run):
            return result
        report = json.loads(run.stdout)
        issued = report["issued"] + report["adopted"]
        ig, _, _ = _counts(stats, "igest")
        js, _, _ = _counts(stats, "jumpseller")
        bound = backlog_bound(
            igest_requests=ig,
            jumpseller_requests=js,
            orders=issued,
            concurrency=concurrency,
            latency=latency,
        )
        per_ig = ig / issued if issued else float("inf")
        per_js = js / issued if issued else float("inf")
        refused = stats["igest"]["429"] + stats["jumpseller"]["429"]
        result.rows += [
            Row(
                "orders invoiced",
                f"{issued} ({n} generated + seed; {report['failed']} failed)",
                "all paid",
                report["failed"] == 0,
            ),
            Row(
                "iGEST calls per order", f"{per_ig:.3f} ({ig} requests)", "<= 2.05", per_ig <= 2.05
            ),
            Row(
                "Jumpseller calls per order",
                f"{per_js:.3f} ({js} requests)",
                "<= 1.1",
                per_js <= 1.1,
            ),
        ]
        efficiency = _efficiency_rows(result, run, bound)
        result.rows.append(Row("429 responses", str(refused), "0", refused == 0))
        _breakdown(
            result, f"invoice ({issued} orders, concurrency {concurrency})", run, timeline, latency
        )
        result.raw = {
            "orders": issued,
            "igest_requests": ig,
            "jumpseller_requests": js,
            "wall": run.wall,
            "bound": bound.seconds,
            "bound_parts": bound.parts,
            "efficiency": efficiency,
            "429": refused,
            "cpu": run.cpu,
            "max_rss_kb": run.max_rss_kb,
            "by_route": _routes(stats),
        }
    return result


def _routes(stats: dict) -> dict[str, dict[str, int]]:
    return {service: dict(stats[service]["by_route"]) for service in stats}


# -- 2. quiet cron run --------------------------------------------------------------------------


def quiet(options: Options) -> ScenarioResult:
    result = ScenarioResult("Quiet cron run")
    latency = options.latency
    with (
        bench_sandbox(latency=latency, seed=True) as (sb, timeline),
        tempfile.TemporaryDirectory(prefix="igest-bench-") as tmp,
    ):
        if options.quiet_orders:
            sb.load_generated({"orders": options.quiet_orders, "seed": options.seed})
        first_day = (data.SEED_REFERENCE - ORDER_SPACING * options.quiet_orders).date()
        start = min(first_day - timedelta(days=1), date(2026, 11, 1)).isoformat()
        home = CliHome.create(
            Path(tmp), sb.credentials, start_date=start, cprofile_dir=options.cprofile_dir
        )
        catch_up = home.run(
            "invoice", timeout=_timeout(options, options.quiet_orders * 0.3), label="quiet-catch-up"
        )
        if not result.check(catch_up):
            return result
        # Right after the catch-up, as a person running it twice would: Jumpseller's minute
        # window still holds the catch-up's requests (information only, no target).
        sb.reset_stats()
        back_to_back = home.run("invoice", timeout=_timeout(options, 5.0), label="quiet-b2b")
        b2b_stats = sb.stats()
        if not result.check(back_to_back):
            return result
        runs: list[tuple[CliRun, int, int]] = []
        for i in range(max(1, options.quiet_repeats)):
            # As cron runs it (every few minutes): the services' rate windows are empty.
            sb.reset_limits()
            sb.reset_stats()
            run = home.run("invoice", timeout=_timeout(options, 5.0), label=f"quiet-{i + 1}")
            stats = sb.stats()
            if not result.check(run):
                return result
            total = stats["igest"]["requests"] + stats["jumpseller"]["requests"]
            runs.append((run, total, stats["igest"]["429"] + stats["jumpseller"]["429"]))
            if i == 0:
                result.raw["by_route"] = _routes(stats)
        walls = [r.wall for r, _, _ in runs]
        most = max(t for _, t, _ in runs)
        wall = statistics.median(walls)
        first = result.raw["by_route"]
        split = ", ".join(f"{service} {sum(first[service].values())}" for service in first)
        result.rows += [
            Row("requests (all services)", f"{most} ({split})", "<= 4", most <= 4),
            Row(
                "wall time incl. start-up",
                f"{wall:.2f} s (median of {len(walls)}; min {min(walls):.2f})",
                "< 1 s",
                wall < 1.0,
            ),
            Row(
                "429 responses",
                str(sum(r for _, _, r in runs)),
                "0",
                sum(r for _, _, r in runs) == 0,
            ),
        ]
        b2b_requests = b2b_stats["igest"]["requests"] + b2b_stats["jumpseller"]["requests"]
        result.rows.append(
            Row(
                "same, right after the catch-up",
                f"{back_to_back.wall:.2f} s, {b2b_requests} requests (rate windows still full)",
            )
        )
        _breakdown(
            result,
            "invoice with nothing new (cron: rate windows empty)",
            runs[0][0],
            timeline,
            latency,
        )
        _breakdown(
            result,
            "invoice with nothing new, right after the catch-up",
            back_to_back,
            timeline,
            latency,
        )
        result.raw.update(
            walls=walls,
            requests=most,
            cpu=runs[0][0].cpu,
            back_to_back={"wall": back_to_back.wall, "requests": b2b_requests},
        )
    return result


# -- 3. catalogue -------------------------------------------------------------------------------


def _build_catalogue(sb, variants: int, missing: int, differ: int, seed: int) -> int:
    """Jumpseller gets ``variants`` items; iGEST all but ``missing`` of them, ``differ`` with
    another stock in ARM1 (never 0, so the zeroing brake stays out of it). Returns items."""
    rng = random.Random(seed)
    products = list(data.generate_catalogue(variants, seed))
    items = [(p, item) for p in products for item in (p.variants or [p])]
    chosen = rng.sample(range(len(items)), min(len(items), missing + differ))
    missing_set, differ_set = set(chosen[:missing]), set(chosen[missing:])
    for product in products:
        sb.store.add_product(product)
    for index, (product, item) in enumerate(items):
        if index in missing_set:
            continue
        stock = item.stock + (rng.randint(1, 9) if index in differ_set else 0)
        net = (item.price * 100 / (100 + product.vat_rate)).quantize(Decimal("0.000001"))
        sb.igest.add_product(item.sku, product.name, net, product.vat_rate, stock={"ARM1": stock})
    return len(items)


def catalogue(options: Options) -> ScenarioResult:
    result = ScenarioResult("Catalogue")
    latency = options.latency
    with (
        bench_sandbox(latency=latency, seed=False) as (sb, timeline),
        tempfile.TemporaryDirectory(prefix="igest-bench-") as tmp,
    ):
        items = _build_catalogue(
            sb, options.variants, options.missing, options.stock_diff, options.seed
        )
        home = CliHome.create(
            Path(tmp), sb.credentials, start_date="2026-11-01", cprofile_dir=options.cprofile_dir
        )
        result.rows.append(
            Row(
                "catalogue",
                f"{items} items; {options.missing} missing in "
                f"iGEST, {options.stock_diff} with another stock",
            )
        )
        # Stock first: products created by sync-products would have no stock in iGEST and
        # sync-stock would then (rightly) want to zero them in Jumpseller.
        steps = (
            ("sync-stock", "jumpseller", options.stock_diff, "Jumpseller stock writes"),
            ("sync-products", "igest", options.missing, "iGEST product creates"),
        )
        for command, writer, expected, what in steps:
            js_pages = items // 100 + 2
            guess = plan_then_write_bound(
                jumpseller_reads=js_pages,
                igest_reads=items // 100 + 1,
                jumpseller_writes=expected if writer == "jumpseller" else 0,
                igest_writes=expected if writer == "igest" else 0,
                latency=latency,
            )
            sb.reset_limits()  # each command measured alone, as if a minute after the last
            sb.reset_stats()
            run = home.run(
                command,
                "--json",
                timeout=_timeout(options, guess.seconds),
                label=f"catalogue-{command}",
            )
            stats = sb.stats()
            if not result.check(run):
                continue
            report = json.loads(run.stdout)
            js, js_reads, js_writes = _counts(stats, "jumpseller")
            ig, ig_reads, ig_writes = _counts(stats, "igest")
            bound = plan_then_write_bound(
                jumpseller_reads=js_reads,
                igest_reads=ig_reads,
                jumpseller_writes=js_writes,
                igest_writes=ig_writes,
                latency=latency,
            )
            writes = js_writes + ig_writes
            target_writes = js_writes if writer == "jumpseller" else ig_writes
            refused = stats["igest"]["429"] + stats["jumpseller"]["429"]
            rss_mb = run.max_rss_kb / 1024
            result.rows.append(
                Row(
                    f"{command}: requests",
                    f"Jumpseller {js} ({js_reads} reads), iGEST {ig} ({ig_reads} reads)",
                )
            )
            result.rows.append(
                Row(
                    f"{command}: writes",
                    f"{writes} {what}",
                    f"= {expected} differing",
                    writes == expected == target_writes,
                )
            )
            before = len(result.rows)
            efficiency = _efficiency_rows(result, run, bound)
            for row in result.rows[before:]:
                row.measure = f"{command}: {row.measure}"
            result.rows.append(
                Row(f"{command}: peak RSS", f"{rss_mb:.0f} MB", "< 150 MB", rss_mb < 150)
            )
            result.rows.append(Row(f"{command}: 429 responses", str(refused), "0", refused == 0))
            _breakdown(result, command, run, timeline, latency)
            result.raw[command] = {
                "requests": {"jumpseller": js, "igest": ig},
                "reads": [js_reads, ig_reads],
                "writes": writes,
                "counts": report.get("counts"),
                "wall": run.wall,
                "bound": bound.seconds,
                "efficiency": efficiency,
                "max_rss_kb": run.max_rss_kb,
                "cpu": run.cpu,
                "429": refused,
                "by_route": _routes(stats),
            }
    return result


# -- 4. start-up --------------------------------------------------------------------------------

_FAKE_CREDENTIALS = {
    "jumpseller": {
        "base_url": "http://127.0.0.1:9/v1",
        "login": "benchstore",
        "auth_token": "bench-token-not-secret-0123456789",
    },
    "igest": {
        "base_url": "http://127.0.0.1:9/v1",
        "integration_key": "ik_bench_not_secret",
        "security_code": "12345678",
    },
}


_ORDER_COLUMNS = (
    "order_id",
    "status",
    "created_at",
    "paid_at",
    "total",
    "customer",
    "email",
    "note",
    "updated_at",
)
_WORK_COLUMNS = (
    "order_id",
    "kind",
    "state",
    "phase",
    "external_reference",
    "document_id",
    "error",
    "transient",
    "attempts",
    "updated_at",
)
_DOCUMENT_COLUMNS = (
    "document_id",
    "order_id",
    "kind",
    "type",
    "number",
    "atcud",
    "date",
    "customer",
    "gross_total",
    "status",
    "pdf_url",
    "issued_at",
    "linked",
    "link_error",
    "link_attempts",
    "emailed",
    "email_error",
)


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def build_ledger(path: Path, documents: int, *, pending: int = 20, failed: int = 5) -> None:
    """A ledger like a store's after years: ``documents`` final invoices, a few orders
    waiting for payment and a few failed ones. Bulk SQL on the schema Ledger creates."""
    with Ledger(path) as ledger:
        ledger.set_meta("last_run_at", datetime.now(UTC).isoformat(timespec="seconds"))
    day0 = datetime(2016, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    db = sqlite3.connect(path)
    with db:
        orders, work, docs = [], [], []
        for i in range(documents):
            order_id = 100000 + i
            at = (day0 + timedelta(minutes=50 * i)).isoformat(timespec="seconds")
            total = f"{10 + i % 90}.{i % 100:02d}"
            orders.append((order_id, "paid", at, at, total, f"Cliente {i}", None, None, now))
            work.append(
                (
                    order_id,
                    "invoice",
                    "final",
                    None,
                    f"benchstore-{order_id}",
                    f"doc-{i}",
                    None,
                    0,
                    1,
                    now,
                )
            )
            docs.append(
                (
                    f"doc-{i}",
                    order_id,
                    "invoice",
                    "FR",
                    f"FR A/{i + 1}",
                    f"ATCUD-{i + 1}",
                    at[:10],
                    f"Cliente {i}",
                    total,
                    "final",
                    None,
                    at,
                    1,
                    None,
                    1,
                    -1,
                    None,
                )
            )
        for j in range(pending + failed):
            order_id = 100000 + documents + j
            status = "pending_payment" if j < pending else "paid"
            orders.append(
                (
                    order_id,
                    status,
                    now,
                    now if status == "paid" else None,
                    "9.99",
                    f"Cliente {order_id}",
                    None,
                    None,
                    now,
                )
            )
            if status == "paid":
                work.append(
                    (
                        order_id,
                        "invoice",
                        "failed",
                        None,
                        f"benchstore-{order_id}",
                        None,
                        "iGEST refused the NIF",
                        0,
                        1,
                        now,
                    )
                )
        # Named columns: columns added later keep their defaults.
        db.executemany(_insert("orders", _ORDER_COLUMNS), orders)
        db.executemany(_insert("work", _WORK_COLUMNS), work)
        db.executemany(_insert("documents", _DOCUMENT_COLUMNS), docs)
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('last_order_id', ?)",
            (str(100000 + documents + pending + failed - 1),),
        )
    db.close()


def startup(options: Options) -> ScenarioResult:
    result = ScenarioResult("Start-up")
    repeats = max(1, options.startup_repeats)
    with tempfile.TemporaryDirectory(prefix="igest-bench-") as tmp:
        home = CliHome.create(
            Path(tmp), _FAKE_CREDENTIALS, start_date="2026-11-01", cprofile_dir=options.cprofile_dir
        )
        build_ledger(home.state, options.documents)

        def timed(*args: str, label: str) -> list[float] | None:
            walls = []
            for _ in range(repeats):
                run = home.run(*args, timeout=options.timeout or 60.0, label=label)
                if not result.check(run):
                    return None
                walls.append(run.wall)
            return walls

        def bare(code: str) -> float:
            runs = [
                run_process(
                    [sys.executable, "-c", code], env=home.env, timeout=60.0, args=("-c", code)
                ).wall
                for _ in range(repeats)
            ]
            return statistics.median(runs)

        help_walls = timed("--help", label="help")
        status_walls = timed("status", label="status")
        if help_walls is None or status_walls is None:
            return result
        for name, walls, limit in (
            ("--help", help_walls, 0.3),
            (f"status ({options.documents:,} documents)", status_walls, 0.5),
        ):
            wall = statistics.median(walls)
            result.rows.append(
                Row(
                    name,
                    f"{wall:.3f} s (median of {len(walls)}; min {min(walls):.3f})",
                    f"< {limit} s",
                    wall < limit,
                )
            )
        python_alone = bare("pass")
        cli_import = bare("import igest_sync.cli")
        status_imports = bare(
            "import igest_sync.cli, igest_sync.render, igest_sync.state.ledger, "
            "igest_sync.runs.setup.status"
        )
        result.details.append("Start-up / where the time goes (medians):")
        result.details.append(
            f"  python -c pass {python_alone:.3f} s; + import igest_sync.cli "
            f"{cli_import:.3f} s; + render, ledger, status modules {status_imports:.3f} s; "
            f"status {statistics.median(status_walls):.3f} s on {options.documents:,} documents"
        )
        result.raw = {
            "help": help_walls,
            "status": status_walls,
            "python": python_alone,
            "import_cli": cli_import,
            "import_status": status_imports,
            "documents": options.documents,
        }
    return result


SCENARIOS = {"backlog": backlog, "quiet": quiet, "catalogue": catalogue, "startup": startup}
