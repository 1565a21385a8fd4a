"""One behaviour suite, three backends (as vdirsyncer's ``StorageTests`` runs on every storage).

The unit tests run the engine against the fakes (``tests/support/fakes.py``); the e2e, fault
and sandbox tests against the sandbox through the real adapters; the simulation against the
sandbox's models through the real adapters, a chaos transport and its own clock. The fakes
stand in for the adapters in hundreds of tests, so they must behave as the adapters do over
the sandbox, not merely share their signatures: each test here runs on all three, and a
fake that drifts fails on its own backend.

``services`` is one backend: the Jumpseller and iGEST clients, and ``add_order`` to put an
order in the store (the fakes take a parsed ``Order``, the sandbox a wire order).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from igest_sandbox import Sandbox
from tests.support.clock import VirtualClock
from tests.support.fakes import FakeIgest, FakeJumpseller, paid_order
from tests.support.sandbox_clients import FAST_LIMITS, adapters

CREATED = datetime(2026, 11, 20, 14, 3, tzinfo=UTC)


@dataclass
class Services:
    name: str
    jumpseller: Any  # JumpsellerClient, or FakeJumpseller
    igest: Any  # IgestClient, or FakeIgest
    add_order: Callable[..., int]  # (status="paid", total="12.30", created=CREATED) -> id
    store: str = "loja"


def _fakes(tmp_path: Path) -> Iterator[Services]:
    js, ig = FakeJumpseller(), FakeIgest()
    ids = itertools.count(10001)

    def add_order(status: str = "paid", total: str = "12.30", created: datetime = CREATED) -> int:
        order_id = next(ids)
        js.add(paid_order(order_id, total, status=status, created_at=created, paid_at=created))
        return order_id

    yield Services("fakes", js, ig, add_order)


def _wire_order(sb: Sandbox) -> Callable[..., int]:
    def add_order(status: str = "paid", total: str = "12.30", created: datetime = CREATED) -> int:
        return sb.store.add_order(
            lines=[{"sku": "SKU-1", "name": "Caneca", "price": total, "qty": 1, "rate": 23}],
            status=status,
            created_at=created,
            completed_at=created if status == "paid" else None,
        )

    return add_order


def _sandbox(tmp_path: Path) -> Iterator[Services]:
    clock = VirtualClock()
    sb = Sandbox(seed=False, clock=clock.wall, monotonic=clock, sleep=clock.sleep, **FAST_LIMITS)
    with adapters(sb, clock) as (js, ig):
        yield Services("sandbox", js, ig, _wire_order(sb), sb.credentials["jumpseller"]["login"])


def _simulation(tmp_path: Path) -> Iterator[Services]:
    from tests.simulation.world import Chaos, World

    # The simulation's own world with its faults disarmed: its clients, transport and clock.
    world = World(tmp_path, Chaos(random.Random(0), armed=False), newest_first=True)
    with world.clients() as (js, ig):
        yield Services("simulation", js, ig, _wire_order(world.sb), world.store_code)


BACKENDS = {"fakes": _fakes, "sandbox": _sandbox, "simulation": _simulation}


@pytest.fixture(params=sorted(BACKENDS))
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    yield from BACKENDS[request.param](tmp_path)


def money(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
