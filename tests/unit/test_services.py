"""The service Protocols the runs are typed against match both the real adapters and the
shared fakes, method by method and parameter by parameter."""

from __future__ import annotations

import inspect

import pytest

from igest_sync.adapters.igest import IgestClient
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.runs.services import IgestApi, JumpsellerApi
from tests.support.fakes import FakeIgest, FakeJumpseller


def _methods(protocol: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(member).parameters)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [(JumpsellerApi, [JumpsellerClient, FakeJumpseller]), (IgestApi, [IgestClient, FakeIgest])],
)
def test_adapters_and_fakes_implement_the_protocol(protocol, implementations):
    methods = _methods(protocol)
    assert methods  # the protocol names what the runs use
    for implementation in implementations:
        for name, parameters in methods.items():
            member = getattr(implementation, name, None)
            assert callable(member), f"{implementation.__name__}.{name} is missing"
            assert list(inspect.signature(member).parameters) == parameters, (
                f"{implementation.__name__}.{name}"
            )
