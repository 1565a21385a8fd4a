from __future__ import annotations

import pytest

from tests.support.adapter_data import IG_BASE, IG_CODE, IG_KEY, JS_BASE, JS_LOGIN, JS_TOKEN
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def js(clock):
    from igest_sync.adapters.jumpseller.client import JumpsellerClient

    with JumpsellerClient(JS_BASE, JS_LOGIN, JS_TOKEN, clock=clock, sleep=clock.sleep) as client:
        yield client


@pytest.fixture
def ig(clock):
    from igest_sync.adapters.igest import IgestClient

    with IgestClient(IG_BASE, IG_KEY, IG_CODE, clock=clock, sleep=clock.sleep) as client:
        yield client
