"""The simulation's long mode (tests/simulation; the suite runs a bounded share of it).

    .venv/bin/python bench/simulation.py --schedules 100000          # random faults, seeds 0..
    .venv/bin/python bench/simulation.py --schedules 2000 --seed 50000
    .venv/bin/python bench/simulation.py --exhaustive 40              # small stores, every kill
    .venv/bin/python bench/simulation.py --replay 1234                # one schedule, traced
    .venv/bin/python bench/simulation.py --replay 12:37               # small 12, killed at 37
    .venv/bin/python bench/simulation.py --schedules 60 --churn       # listings that shrink

Random mode: ``--schedules N`` schedules from ``--seed S`` on (3-30 orders, 8-30 steps, kills
and lost answers at random rates drawn from each seed). Exhaustive mode: ``--exhaustive N``
small schedules from ``--seed`` on, each killed before every one of its operations in turn and
with every write's answer lost in turn. One process, one core; the state files go to a
temporary folder (``--workdir`` to keep them). Prints the figures (``--json`` as JSON) and
each failure with the line that replays it; exit 1 on any failure. ``--churn``: each store
also holds orders placed months before (read by a first run's status listings), and orders
change status while the runs read pages of their listings (replayed with ``cN``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.simulation.explore import explore_small, random_schedules, replay, replay_hint


def random_mode(
    first: int, count: int, workdir: Path, progress: bool, *, churn: bool = False
) -> dict:
    figures = {
        "mode": "random",
        "first_seed": first,
        "schedules": 0,
        "operations": 0,
        "kills": 0,
        "lost_answers": 0,
        "failures": [],
    }
    started = time.perf_counter()
    seeds = range(first, first + count)
    for seed, result in zip(seeds, random_schedules(seeds, workdir, churn=churn), strict=True):
        figures["schedules"] += 1
        figures["operations"] += result.ops
        figures["kills"] += result.kills
        figures["lost_answers"] += result.losses
        if result.problems:
            figures["failures"].append(f"{replay_hint(seed, churn=churn)}\n{result.describe()}")
            print(figures["failures"][-1], file=sys.stderr, flush=True)
        if progress and figures["schedules"] % 500 == 0:
            print(_line(figures, started), file=sys.stderr, flush=True)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def exhaustive_mode(
    first: int, count: int, workdir: Path, progress: bool, *, churn: bool = False
) -> dict:
    figures = {
        "mode": "exhaustive",
        "first_seed": first,
        "schedules": 0,
        "operations": 0,
        "kill_points": 0,
        "lost_answers": 0,
        "failures": [],
    }
    started = time.perf_counter()
    for seed in range(first, first + count):
        explored = explore_small(seed, workdir, churn=churn)
        figures["schedules"] += 1 + explored.kill_points + explored.lost_answers
        figures["operations"] += explored.operations
        figures["kill_points"] += explored.kill_points
        figures["lost_answers"] += explored.lost_answers
        for failure in explored.failures:
            figures["failures"].append(failure)
            print(failure, file=sys.stderr, flush=True)
        if progress and (seed - first + 1) % 10 == 0:
            print(_line(figures, started), file=sys.stderr, flush=True)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _line(figures: dict, started: float) -> str:
    shown = {k: v for k, v in figures.items() if k != "failures"}
    shown["failures"] = len(figures["failures"])
    shown["seconds"] = round(time.perf_counter() - started, 1)
    return " ".join(f"{k}={v}" for k, v in shown.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=1000, help="random schedules to run")
    parser.add_argument("--exhaustive", type=int, default=0, help="small schedules, every kill")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--replay", help="one schedule: N, N:K (small, killed at K), N:loseK")
    parser.add_argument("--churn", action="store_true", help="orders change status mid-listing")
    parser.add_argument("--workdir", type=Path, help="keep the state files here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--progress", action="store_true", help="a line every 500 schedules")
    args = parser.parse_args()
    logging.getLogger("igest_sync").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        if args.replay:
            result = replay(args.replay, workdir)
            print("\n".join(result.trace))
            print(result.describe())
            return 1 if result.problems else 0
        if args.exhaustive:
            figures = exhaustive_mode(
                args.seed, args.exhaustive, workdir, args.progress, churn=args.churn
            )
        else:
            figures = random_mode(
                args.seed, args.schedules, workdir, args.progress, churn=args.churn
            )
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(_line(figures, time.perf_counter() - figures["seconds"]))
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
