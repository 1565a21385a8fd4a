from __future__ import annotations

import httpx
import pytest

from igest_sandbox import Sandbox
from tests.support.clock import FakeClock
from tests.support.sandbox_clients import igest_client, jumpseller_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sb(clock: FakeClock) -> Sandbox:
    return Sandbox(clock=clock.wall, jumpseller_limits=(10_000, 100_000), igest_limit=10_000)


@pytest.fixture
def js(sb: Sandbox) -> httpx.Client:
    with jumpseller_client(sb) as client:
        yield client


@pytest.fixture
def ig(sb: Sandbox) -> httpx.Client:
    with igest_client(sb) as client:
        yield client
