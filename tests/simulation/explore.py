"""The two ways of choosing faults: every kill point of a small schedule in turn (exhaustive),
or faults at random over a larger one; both replayable from the seed alone.

    python -m pytest tests/simulation                         # the suite's bounded share
    SIM_SEED=1234 python -m pytest tests/simulation -k replay  # one random schedule again
    SIM_SEED=12:37 python -m pytest tests/simulation -k replay # small schedule 12, killed at 37
    SIM_SEED=c1234 python -m pytest tests/simulation -k replay # with churn (old orders, status
                                                               # changes while listings are read)
    python bench/simulation.py --schedules 100000             # the long mode
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.simulation.schedule import Result, run_schedule


def replay_hint(
    seed: int, kill: int | None = None, lose: int | None = None, *, churn: bool = False
) -> str:
    mode = "c" if churn else ""
    if kill is not None:
        return f"SIM_SEED={mode}{seed}:{kill}"
    if lose is not None:
        return f"SIM_SEED={mode}{seed}:lose{lose}"
    return f"SIM_SEED={mode}{seed}"


@dataclass
class Exploration:
    """What exploring one small schedule covered, and what failed (with how to replay it)."""

    seed: int
    operations: int = 0
    kill_points: int = 0
    lost_answers: int = 0
    failures: list[str] = field(default_factory=list)


def _fresh(workdir: Path, name: str) -> Path:
    path = workdir / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _failure(result: Result, hint: str) -> str:
    return f"{hint} (replay with `{hint} pytest tests/simulation -k replay`)\n{result.describe()}"


def explore_small(seed: int, workdir: Path, *, churn: bool = False) -> Exploration:
    """The small schedule of ``seed`` without faults, then killed at each of its operations in
    turn (0 .. N, N being the fault-free run's count), then with each write's answer lost."""
    found = Exploration(seed)
    clean = run_schedule(seed, _fresh(workdir, "clean"), small=True, trace=True, churn=churn)
    found.operations = clean.ops
    if clean.problems:
        found.failures.append(_failure(clean, replay_hint(seed, kill=-1, churn=churn)))
    for k in range(clean.ops + 1):
        result = run_schedule(seed, _fresh(workdir, "run"), small=True, kill_at={k}, churn=churn)
        found.kill_points += 1
        if result.problems:
            found.failures.append(_failure(result, replay_hint(seed, kill=k, churn=churn)))
    writes = [
        int(line.split()[0])
        for line in clean.trace
        if line.split()[1:2] in (["js"], ["ig"]) and line.split()[2] != "GET"
    ]
    for k in writes:
        result = run_schedule(seed, _fresh(workdir, "run"), small=True, lose_at={k}, churn=churn)
        found.lost_answers += 1
        if result.problems:
            found.failures.append(_failure(result, replay_hint(seed, lose=k, churn=churn)))
    return found


def random_schedules(seeds: range, workdir: Path, *, churn: bool = False) -> Iterator[Result]:
    for seed in seeds:
        yield run_schedule(seed, _fresh(workdir, "run"), churn=churn)


def replay(spec: str, workdir: Path) -> Result:
    """``SIM_SEED``'s value: ``N`` (a random-fault schedule), ``N:K`` (small schedule N killed
    before operation K; -1: no kill) or ``N:loseK`` (small, the answer to write K lost); a
    leading ``c`` (``cN``, ``cN:K``): with churn (``run_schedule``)."""
    churn = spec.startswith("c")
    seed_text, _, point = spec.removeprefix("c").partition(":")
    seed = int(seed_text)
    if not point:
        return run_schedule(seed, _fresh(workdir, "replay"), trace=True, churn=churn)
    if point.startswith("lose"):
        return run_schedule(
            seed,
            _fresh(workdir, "replay"),
            small=True,
            lose_at={int(point[4:])},
            trace=True,
            churn=churn,
        )
    kill = int(point)
    return run_schedule(
        seed,
        _fresh(workdir, "replay"),
        small=True,
        kill_at={kill} if kill >= 0 else None,
        trace=True,
        churn=churn,
    )
