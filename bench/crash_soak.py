"""Crash soak: kill `igest-sync invoice` with SIGKILL at random moments, then prove exactly-once.

    .venv/bin/python bench/crash_soak.py --orders 300 --kills 40
    .venv/bin/python bench/crash_soak.py --orders 30 --kills 8 --seed 3 --latency 0.02 --json

A sandbox store (both emulators, in this process, on 127.0.0.1) gets ``--orders`` generated
orders (about 85 % paid; the rest pending, cancelled or abandoned). The real CLI runs as a
subprocess and is killed ``--kills`` times after a random delay (seeded RNG), so deaths land
while it lists orders, writes the ledger, waits for a draft's answer or finalizes. The kill
window follows how long runs last (see ``run_soak``). Between runs the shop lives on: up to
``--arrivals`` new orders arrive, and a pending order is sometimes paid, so new sales and late
payments are crashed on too. Then the CLI runs until it exits 0 and the iGEST side is audited:

* exactly one final document per paid order, with the total the order must carry
  (``igest_sync.fiscal.mapping.expected_gross``), and none for orders that must have none;
* no draft left behind.

Prints its figures and exits 1 on any duplicate, missing or wrong document or stray draft.
The short form of this soak is ``tests/faults/test_crash_soak_short.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from igest_sandbox import Sandbox, start_sandbox
from igest_sync.adapters.jumpseller.parse import parse_order
from igest_sync.config import write_config
from igest_sync.demo import demo_config
from igest_sync.fiscal.mapping import expected_gross
from igest_sync.references import external_reference
from igest_sync.timeutil import lisbon_date

# demo_config's start date: orders paid before it must never be invoiced.
START_DATE = date(2026, 11, 1)


@dataclass
class Audit:
    """What iGEST (and Jumpseller's order documents) hold against what they must hold."""

    paid: int = 0  # orders that must carry exactly one final invoice
    documents: int = 0  # final invoices in iGEST
    duplicates: list[str] = field(default_factory=list)  # references with 2+ final invoices
    missing: list[str] = field(default_factory=list)  # paid orders without one
    wrong_totals: list[str] = field(default_factory=list)  # "ref: has X, must carry Y"
    unexpected: list[str] = field(default_factory=list)  # invoices for orders that need none
    stray_drafts: list[str] = field(default_factory=list)  # "id (ref)" of drafts left behind
    attached_twice: list[int] = field(default_factory=list)  # Jumpseller orders, same doc 2x
    not_attached: list[int] = field(default_factory=list)  # final docs not on their order

    @property
    def ok(self) -> bool:
        return not (
            self.duplicates
            or self.missing
            or self.wrong_totals
            or self.unexpected
            or self.stray_drafts
        )


def must_be_invoiced(sb: Sandbox, store: str, start: date = START_DATE) -> dict[str, Decimal]:
    """external reference -> gross total, for every order the store says is paid since start."""
    wanted: dict[str, Decimal] = {}
    for order_id in sb.store.order_ids():
        raw = sb.store.order(order_id)
        if raw.get("status_enum") != "paid":
            continue
        order = parse_order({"order": raw})
        if order.completed_at is None or lisbon_date(order.completed_at) < start:
            continue
        wanted[external_reference(store, order.id)] = expected_gross(order)
    return wanted


def audit(sb: Sandbox, store: str | None = None, start: date = START_DATE) -> Audit:
    """Compare the sandbox's iGEST documents with the sandbox store's paid orders."""
    store = store or sb.credentials["jumpseller"]["login"]  # demo_config: store = login
    wanted = must_be_invoiced(sb, store, start)
    result = Audit(paid=len(wanted))
    finals = {
        ref: docs
        for ref, docs in sb.igest.final_documents_by_reference().items()
        if ":credit" not in ref  # ...:credit (older) and ...:credit:r<key> (by request)
    }
    for ref, docs in sorted(finals.items()):
        result.documents += len(docs)
        if ref not in wanted:
            result.unexpected.append(ref)
            continue
        if len(docs) > 1:
            result.duplicates.append(ref)
        for doc in docs:
            gross = Decimal(str(doc["gross_total"]))
            if gross != wanted[ref]:
                result.wrong_totals.append(f"{ref}: has {gross}, must carry {wanted[ref]}")
    result.missing = sorted(set(wanted) - set(finals))
    with sb.igest.lock:
        result.stray_drafts = [
            f"{d['id']} ({d['external_reference']})"
            for d in sb.igest.documents
            if d["status"] == "draft"
        ]
    for ref, docs in finals.items():
        order_id = int(ref.rsplit(":", 1)[1])
        attached = [d.get("external_id") for d in sb.store.documents.get(order_id, [])]
        for doc in docs:
            count = attached.count(str(doc["id"]))
            if count == 0:
                result.not_attached.append(order_id)
            elif count > 1:
                result.attached_twice.append(order_id)
    return result


@dataclass
class SoakResult:
    seed: int
    orders: int
    latency: float
    kills_planned: int
    runs: int = 0
    killed: int = 0  # runs that were still going when their kill came
    finished_before_kill: int = 0
    runs_with_progress: int = 0  # killed or not, created or finalized a document
    exit_codes: dict[str, int] = field(default_factory=dict)  # runs that ended by themselves
    paid_during_soak: int = 0
    arrived_during_soak: int = 0  # orders created between runs (most of them paid)
    final_runs: int = 0  # runs after the last kill, until one exits 0
    finished: bool = False  # a run exited 0 at the end
    requests: dict[str, int] = field(default_factory=dict)
    responses_429: int = 0
    responses_429_by_service: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    audit: Audit = field(default_factory=Audit)

    @property
    def ok(self) -> bool:
        return self.finished and self.audit.ok

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def lines(self) -> list[str]:
        a = self.audit
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.exit_codes.items())) or "none"
        by = self.responses_429_by_service
        head = (
            f"crash soak: seed {self.seed}, {self.orders} orders generated, "
            f"latency {self.latency:g} s"
        )
        runs = (
            f"runs: {self.runs} ({self.killed} killed mid-run, {self.finished_before_kill} "
            f"ended before their kill, {self.final_runs} final; {self.runs_with_progress} "
            f"of the killed or ended runs made progress); exit codes of runs that ended by "
            f"themselves: {codes}"
        )
        shop = (
            f"during the soak: {self.arrived_during_soak} new orders arrived, "
            f"{self.paid_during_soak} pending orders were paid"
        )
        igest = (
            f"iGEST: {a.documents} final invoices for {a.paid} paid orders; duplicates "
            f"{len(a.duplicates)}, missing {len(a.missing)}, wrong totals "
            f"{len(a.wrong_totals)}, unexpected {len(a.unexpected)}, stray drafts "
            f"{len(a.stray_drafts)}"
        )
        links = (
            f"Jumpseller order documents: attached twice {len(a.attached_twice)}, "
            f"not attached {len(a.not_attached)}"
        )
        served = (
            f"requests served: Jumpseller {self.requests.get('jumpseller', 0)}, iGEST "
            f"{self.requests.get('igest', 0)}; 429 responses {self.responses_429} "
            f"(Jumpseller {by.get('jumpseller', 0)}, iGEST {by.get('igest', 0)})"
        )
        return [
            head,
            runs,
            shop,
            igest,
            links,
            served,
            f"wall time: {self.wall_seconds:.1f} s",
            "result: " + ("OK" if self.ok else "FAILED"),
        ]


def _store_moves_on(sb: Sandbox, rng: random.Random, arrivals: int, result: SoakResult) -> None:
    """Between runs the shop lives: new orders arrive, a pending order gets paid."""
    new = rng.randint(0, arrivals)
    if new:
        sb.load_generated(
            {"orders": new, "seed": rng.randrange(1 << 30), "start_id": sb.store.next_order_id()}
        )
        result.arrived_during_soak += new
    if rng.random() < 0.3:  # a customer pays a Multibanco reference
        pending = [
            i
            for i in sb.store.order_ids()
            if sb.store.order(i).get("status_enum") == "pending_payment"
        ]
        if pending:
            sb.store.pay_order(rng.choice(pending))
            result.paid_during_soak += 1


def _progress_marks(sb: Sandbox) -> tuple[int, int]:
    """(documents created, documents final): changes when a run got something done."""
    with sb.igest.lock:
        return (
            len(sb.igest.documents),
            sum(1 for d in sb.igest.documents if d["status"] == "final"),
        )


def _cli_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "igest_sync", "--config", str(config), *args]


def run_soak(
    *,
    orders: int = 300,
    kills: int = 40,
    seed: int = 1,
    latency: float = 0.0,
    min_delay: float = 0.2,
    max_delay: float = 4.0,
    max_window: float = 60.0,
    arrivals: int = 3,
    max_final_runs: int = 6,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    launch: Callable[[list[str], dict[str, str], BinaryIO], Any] | None = None,
) -> SoakResult:
    """One soak against a fresh sandbox; returns the figures (see ``SoakResult.lines``).

    ``launch(args, env, log)`` starts ``igest-sync *args`` writing to ``log`` and returns a
    ``subprocess.Popen`` look-alike; by default a new ``python -m igest_sync`` process (the
    tests pass their forked one, which skips the interpreter's start-up)."""
    rng = random.Random(seed)
    result = SoakResult(seed=seed, orders=orders, latency=latency, kills_planned=kills)
    say = progress or (lambda text: None)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="igest-sync-soak-") as scratch,
        start_sandbox(seed=False, latency=latency) as sb,
    ):
        home = Path(workdir or scratch)
        home.mkdir(parents=True, exist_ok=True)
        sb.load_generated({"orders": orders, "seed": seed})
        config = home / "config.toml"
        write_config(config, demo_config(sb.credentials), overwrite=True)
        env = {**os.environ, "IGEST_SYNC_HOME": str(home), "COLUMNS": "200"}
        env.pop("IGEST_SYNC_REPORTS", None)
        runs_log = home / "runs.log"
        codes: Counter[int] = Counter()

        def start() -> Any:  # a subprocess.Popen, or what ``launch`` returns
            result.runs += 1
            with runs_log.open("ab") as log:
                log.write(f"--- run {result.runs}\n".encode())
                if launch is not None:
                    return launch(["--config", str(config), "invoice"], env, log)
                return subprocess.Popen(
                    _cli_command(config, "invoice"),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )

        # Kill times are drawn from a window that follows how long runs last: it widens while
        # killed runs make no progress (after a crash the next run first re-reads the
        # unfinished orders; a shorter window would only ever kill runs there) and shrinks
        # below the length of a run that ended by itself, so kills keep landing mid-run.
        window = max_delay
        current: Any = None
        try:
            for kill in range(kills):
                _store_moves_on(sb, rng, arrivals, result)
                delay = rng.uniform(min_delay, window)
                before = _progress_marks(sb)
                current = start()
                began = time.monotonic()
                try:
                    current.wait(timeout=delay)
                    result.finished_before_kill += 1
                    codes[current.returncode] += 1
                    window = max(min_delay + 0.1, (time.monotonic() - began) * 0.9)
                except subprocess.TimeoutExpired:
                    current.send_signal(signal.SIGKILL)
                    current.wait()
                    result.killed += 1
                    if _progress_marks(sb) == before:
                        window = min(window * 1.5, max_window)
                current = None
                result.runs_with_progress += _progress_marks(sb) != before
                say(
                    f"kill {kill + 1}/{kills} after {delay:.2f} s: "
                    f"{len(sb.igest.final_documents_by_reference())} documents so far"
                )

            for _ in range(max_final_runs):
                current = start()
                result.final_runs += 1
                code = current.wait(timeout=900)
                current = None
                codes[code] += 1
                say(f"final run {result.final_runs}: exit {code}")
                if code == 0:
                    result.finished = True
                    break
        finally:
            if current is not None and current.poll() is None:  # interrupted: no orphan
                current.send_signal(signal.SIGKILL)
                current.wait()
        result.exit_codes = {str(k): v for k, v in sorted(codes.items())}
        stats = sb.stats()
        result.requests = {name: stats[name]["requests"] for name in ("jumpseller", "igest")}
        result.responses_429_by_service = {
            name: stats[name]["429"] for name in ("jumpseller", "igest")
        }
        result.responses_429 = sum(result.responses_429_by_service.values())
        result.audit = audit(sb)
    result.wall_seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="orders to generate (default 300)")
    parser.add_argument("--kills", type=int, default=40, help="SIGKILLs (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="RNG seed for data and kill times")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the sandbox adds to every request (default 0)",
    )
    parser.add_argument(
        "--max-delay",
        type=float,
        default=4.0,
        help="longest time the first run lives before its kill (default 4 s); "
        "then the window widens (x1.5, up to 60 s) after a killed run that made no "
        "progress and shrinks below the length of a run that ended by itself",
    )
    parser.add_argument(
        "--arrivals",
        type=int,
        default=3,
        help="up to this many new orders arrive between two runs (default 3)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep config, state, logs and runs.log here (default: a temp dir)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def progress(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    result = run_soak(
        orders=args.orders,
        kills=args.kills,
        seed=args.seed,
        latency=args.latency,
        max_delay=args.max_delay,
        arrivals=args.arrivals,
        workdir=args.workdir,
        progress=progress,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print("\n".join(result.lines()))
        a = result.audit
        for title, items in (
            ("duplicates", a.duplicates),
            ("missing", a.missing),
            ("wrong totals", a.wrong_totals),
            ("unexpected", a.unexpected),
            ("stray drafts", a.stray_drafts),
        ):
            if items:
                print(f"{title}: {', '.join(items[:20])}{' ...' if len(items) > 20 else ''}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
