from __future__ import annotations

import httpx
import pytest
from sandbox_helpers import FakeClock, igest_client, jumpseller_client

from igest_sync.sandbox import Sandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sb(clock: FakeClock) -> Sandbox:
    return Sandbox(clock=clock, jumpseller_limits=(10_000, 100_000), igest_limit=10_000)


@pytest.fixture
def js(sb: Sandbox) -> httpx.Client:
    with jumpseller_client(sb) as client:
        yield client


@pytest.fixture
def ig(sb: Sandbox) -> httpx.Client:
    with igest_client(sb) as client:
        yield client
