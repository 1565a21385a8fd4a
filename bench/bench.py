"""Benchmark igest-sync through its real CLI against the sandbox with real rate limits.

    .venv/bin/python bench/bench.py                       # every scenario, full size
    .venv/bin/python bench/bench.py --quick               # small versions, about 1 minute
    .venv/bin/python bench/bench.py --scenario backlog --orders 1000 --latency 0.05

Scenarios: backlog (invoice a backlog of paid orders), quiet (a cron run with nothing new),
catalogue (sync-stock and sync-products on a large catalogue), startup (--help, status on a large
ledger), trickle and burst (serve: payment to document through webhooks, realtime.py), credit
(planning a partial credit note of a 150-line net invoice, credit_plan.py). Prints one
table, then where each run's wall time went. See bench/README.md. Exit 0 when every run completed
(targets missed are marked MISS; --strict makes them exit 1), 1 when a CLI run failed or timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from credit_plan import SCENARIOS as PLANNING
from harness import set_server_nagle
from realtime import SCENARIOS as REALTIME
from scenarios import SCENARIOS as BATCH
from scenarios import Options, ScenarioResult

SCENARIOS = {**BATCH, **REALTIME, **PLANNING}

HEADER = ("Scenario", "Measure", "Value", "Target", "Result")
QUICK = dict(
    orders=100,
    quiet_orders=0,
    quiet_repeats=3,
    variants=2000,
    missing=100,
    stock_diff=200,
    documents=10000,
    startup_repeats=3,
    trickle_minutes=0.5,
    burst_orders=60,
    burst_seconds=2.0,
    credit_repeats=3,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="Run only this scenario (repeatable; default all).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="Small sizes: 100 orders, 2,000 variants, 10,000 documents.",
    )
    p.add_argument("--orders", type=int, help="Backlog: paid orders to invoice (1000).")
    p.add_argument(
        "--latency",
        type=float,
        default=0.05,
        help="Seconds the sandbox adds to every request (0.05).",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        help="invoice.concurrency for the backlog (default: the product's).",
    )
    p.add_argument(
        "--quiet-orders",
        type=int,
        help="Quiet: generated orders in the store besides the seed (50).",
    )
    p.add_argument("--variants", type=int, help="Catalogue: sellable items (20000).")
    p.add_argument("--missing", type=int, help="Catalogue: items missing in iGEST (1000).")
    p.add_argument(
        "--stock-diff", type=int, help="Catalogue: items whose iGEST stock differs (2000)."
    )
    p.add_argument("--documents", type=int, help="Start-up: documents in the ledger (100000).")
    p.add_argument(
        "--minutes",
        type=float,
        dest="trickle_minutes",
        help="Trickle: minutes of one payment per second (2; 30 for the memory run).",
    )
    p.add_argument("--burst-orders", type=int, help="Burst: orders paid at once (300).")
    p.add_argument("--burst-seconds", type=float, help="Burst: seconds they are paid within (10).")
    p.add_argument(
        "--credit-lines", type=int, help="Credit: lines of the net invoice partly credited (150)."
    )
    p.add_argument(
        "--repeats",
        type=int,
        help="Quiet, start-up and credit: times each run is repeated for its median "
        "(5; 3 with --quick).",
    )
    p.add_argument("--seed", type=int, default=7, help="Data generator seed (7).")
    p.add_argument(
        "--timeout",
        type=float,
        help="Seconds before a CLI run is killed (default: 120 + 3x its bound).",
    )
    p.add_argument(
        "--cprofile",
        type=Path,
        metavar="DIR",
        help="Run each CLI process under cProfile, writing .pstats files here.",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="Also write the figures as JSON.")
    p.add_argument(
        "--keep-nagle",
        action="store_true",
        help="Leave Nagle's algorithm on in the sandbox server (adds ~40 ms to "
        "every request; see bench/README.md).",
    )
    p.add_argument("--no-details", action="store_true", help="Print the table only.")
    p.add_argument("--strict", action="store_true", help="Exit 1 when a target is missed.")
    return p.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    options = Options(
        latency=args.latency,
        concurrency=args.concurrency,
        seed=args.seed,
        timeout=args.timeout,
        cprofile_dir=args.cprofile,
    )
    if args.quick:
        for key, value in QUICK.items():
            setattr(options, key, value)
    for key in (
        "orders",
        "quiet_orders",
        "variants",
        "missing",
        "stock_diff",
        "documents",
        "trickle_minutes",
        "burst_orders",
        "burst_seconds",
        "credit_lines",
    ):
        value = getattr(args, key)
        if value is not None:
            setattr(options, key, value)
    if args.repeats is not None:
        options.quiet_repeats = options.startup_repeats = options.credit_repeats = args.repeats
    return options


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def table(results: list[ScenarioResult]) -> str:
    rows = [HEADER]
    for result in results:
        for row in result.rows:
            verdict = "" if row.ok is None else ("ok" if row.ok else "MISS")
            rows.append((result.name, row.measure, row.value, row.target, verdict))
        for error in result.errors:
            rows.append((result.name, "ERROR", error.splitlines()[0][:120], "", "FAIL"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = options_from(args)
    set_server_nagle(args.keep_nagle)
    chosen = args.scenario or ["all"]
    names = list(SCENARIOS) if "all" in chosen else list(dict.fromkeys(chosen))
    print(f"igest-sync benchmark on {machine()}", flush=True)
    print(
        f"latency {options.latency * 1000:g} ms per request; limits Jumpseller 20/s + 800/min, "
        f"iGEST 10/s; sandbox Nagle {'on' if args.keep_nagle else 'off'}"
        f"{'; quick sizes' if args.quick else ''}",
        flush=True,
    )
    results: list[ScenarioResult] = []
    began = time.perf_counter()
    for name in names:
        print(f"... {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        result = SCENARIOS[name](options)
        print(f"... {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        results.append(result)
    print()
    print(table(results))
    if not args.no_details:
        print()
        for result in results:
            for line in result.details:
                print(line)
            if result.errors:
                for error in result.errors:
                    print(f"{result.name} error: {error}")
    print(f"\nTotal benchmark time {time.perf_counter() - began:.0f} s.")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "options": {k: str(v) for k, v in asdict(options).items()},
                    "results": [
                        {
                            "name": r.name,
                            "rows": [asdict(x) for x in r.rows],
                            "raw": r.raw,
                            "errors": r.errors,
                        }
                        for r in results
                    ],
                },
                indent=2,
                default=str,
            )
        )
    if any(r.errors for r in results):
        return 1
    if args.strict and any(row.ok is False for r in results for row in r.rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
