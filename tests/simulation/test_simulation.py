"""The deterministic simulation of the whole engine (issue 27), the suite's bounded share.

The real discovery, issuer, credit, follow-up and ``serve`` worker code, the real ledger on a
SQLite file in ``tmp_path`` and the real adapters run in this process on a virtual clock,
against the sandbox's Jumpseller and iGEST models (``world.py``). Every schedule comes from its
seed alone (``schedule.py``); after each one the checks (``checks.py``) read the two models.

What this module covers: about 14 s of CPU in its tests (measured 2026-12-05: ``pytest -n 4
tests/simulation`` takes 10.6 s on two idle cores, workers' start-up included):

- ``EXHAUSTIVE`` small schedules (1-4 orders, 3-7 steps), each run once without faults, then
  once per kill point: killed before each of its operations in turn (every HTTP call and every
  ledger write, k = 0 .. N), then once per write whose answer is lost after iGEST or Jumpseller
  processed it. For the seeds below that is 160 operations: 164 kill points and 24 lost
  answers, 192 schedules in all. A schedule's cost grows with the square of its operations
  (each kill point replays it from the start), so the suite keeps four seeds of 22 to 49
  operations; ``bench/simulation.py`` explores as many more as it is given time for.
- ``RANDOM`` larger schedules (3-30 orders, 8-30 steps), with kills and lost answers at random
  rates drawn from the seed (up to 3 % of operations killed, 20 % of writes' answers lost):
  16 schedules, 5,126 operations, 77 kills and 72 lost answers.
- ``REGRESSIONS``: the seeds that found a bug, each failing before its fix; and
  ``CHURN_REGRESSIONS``, the same in churn mode (``run_schedule(churn=True)``: orders placed
  months before, status changes while listings are read; ``bench/simulation.py --churn``).

Every schedule also draws from its seed: the listing order (newest or oldest first), the page
size (1 to 100, for Jumpseller's and iGEST's lists alike), and steps among new orders, late
payments, cancellations (refunds when paid), a person's ``credit``, ``invoice`` and its
``--since`` backfill, ``reconcile --fix``, serve's sweep and webhook batches, and the state file
lost, backed up or put back from an older copy.

A failure prints its seed and the line that replays it, e.g.
``SIM_SEED=1234 pytest tests/simulation -k replay`` (``N`` a random schedule, ``N:K`` small
schedule N killed before operation K, ``N:loseK`` with the answer to write K lost); the replay
prints every operation. ``bench/simulation.py`` is the long mode.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simulation import checks
from tests.simulation.explore import explore_small, replay, replay_hint
from tests.simulation.schedule import run_schedule
from tests.simulation.world import Chaos, World

EXHAUSTIVE = (0, 1, 5, 7)
RANDOM = range(1000, 1016)
# seed: what it found (each fails on the code before its fix)
REGRESSIONS = {
    1: "a state file put back from an older copy issued an invoice again",
    6: "an order invoiced, the state file lost, then cancelled: never credited",
    35: "a stray draft of an earlier day reused: refused at finalize, the order failed for good",
    40: "reconcile --fix killed between recording an order paid and its work: never invoiced",
    378: "a state file put back twice: a webhook batch's own invoice hid the unknown ones",
    1222: "a state file put back, then a credit note recorded: its date hid the unknown invoice",
    31349937: "a kill as a found NC was recorded left its work unfinished: the cancelled order's "
    "rest waited for another run",
    240001139: "a state file put back from before a payment, then the order cancelled: the "
    "webhook recorded it cancelled without looking for its invoice, and it was never credited",
}

# The same, with churn (orders placed months before, status changes while listings are read).
CHURN_REGRESSIONS = {
    500000019: "reconcile --fix on a state file still rebuilding called clean a period whose "
    "paid orders, placed months before, had no invoice",
    600000018: "an older order invoiced, refunded, then the state file lost: never credited",
}


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    # Thousands of runs: their warnings (adopted documents, lost answers) are expected here.
    logger = logging.getLogger("igest_sync")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.mark.parametrize("seed", EXHAUSTIVE)
def test_a_small_store_survives_a_kill_at_every_operation_and_every_lost_answer(
    seed: int, tmp_path: Path
):
    explored = explore_small(seed, tmp_path)
    assert explored.kill_points == explored.operations + 1 > 1
    assert not explored.failures, "\n\n".join(explored.failures[:3])


@pytest.mark.parametrize("seed", RANDOM)
def test_a_larger_store_survives_random_faults(seed: int, tmp_path: Path):
    result = run_schedule(seed, tmp_path)
    hint = replay_hint(seed)
    assert not result.problems, f"{hint}\n{result.describe()}"


@pytest.mark.parametrize("seed", sorted(REGRESSIONS))
def test_regression_seed(seed: int, tmp_path: Path):
    result = run_schedule(seed, tmp_path)
    assert not result.problems, f"{REGRESSIONS[seed]}\n{result.describe()}"


@pytest.mark.parametrize("seed", sorted(CHURN_REGRESSIONS))
def test_regression_seed_with_churn(seed: int, tmp_path: Path):
    result = run_schedule(seed, tmp_path, churn=True)
    assert not result.problems, f"{CHURN_REGRESSIONS[seed]}\n{result.describe()}"


def test_a_schedule_is_replayed_exactly_from_its_seed(tmp_path: Path):
    first = run_schedule(1003, tmp_path / "a", trace=True)
    again = run_schedule(1003, tmp_path / "b", trace=True)
    assert first.kills and first.trace == again.trace and first.steps == again.steps


def test_the_checks_see_a_duplicate_and_a_missing_invoice(tmp_path: Path):
    """The checks can fail: a second invoice issued by hand with the order's reference, and
    an order paid after the last run, are both reported."""
    world = World(tmp_path, Chaos(random.Random(0)), newest_first=True)
    rng = random.Random(0)
    paid = world.add_order(rng, world.clock.wall(), "paid")
    assert checks.paid_without_invoice(world) == [paid]
    reference = f"jumpseller:{world.store_code}:{paid}"
    for _ in range(2):
        doc = world.sb.igest.create_document(
            {
                "type": "FR",
                "series": "A",
                "date": world.clock.wall().date().isoformat(),
                "external_reference": reference,
                "customer": {"name": "Marta Silva"},
                "lines": [
                    {
                        "reference": "X",
                        "description": "X",
                        "quantity": "1",
                        "unit_price": "10.00",
                        "vat_rate": "23.00",
                    }
                ],
                "prices_include_vat": True,
                "payment_method": "MB",
            }
        )
        world.sb.igest.finalize_document(doc["id"])
    problems = checks.final(world, [])
    assert any("2 final invoices" in p for p in problems), problems


@pytest.mark.skipif("SIM_SEED" not in os.environ, reason="set SIM_SEED to replay a schedule")
def test_replay(tmp_path: Path):
    result = replay(os.environ["SIM_SEED"], tmp_path)
    print("\n".join(result.trace))
    assert not result.problems, result.describe()
