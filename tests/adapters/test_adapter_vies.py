"""VIES adapter: the exact request, and valid / invalid / unavailable from every kind of answer."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from igest_sync.adapters.vies import ViesClient, read_answer, split_vat_number
from igest_sync.models import ViesStatus
from tests.support.clock import FakeClock

BASE = "https://vies.example.eu/rest-api"
TODAY = date(2026, 11, 20)


@pytest.fixture
def vies():
    clock = FakeClock()
    with ViesClient(BASE, clock=clock, sleep=clock.sleep) as client:
        yield client


def test_a_valid_number_sends_the_requester_and_keeps_the_consultation(vies, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/check-vat-number",
        json={
            "countryCode": "ES",
            "vatNumber": "B12345674",
            "requestDate": "2026-11-20T10:00:00.000Z",
            "valid": True,
            "requestIdentifier": "WAPIAAAAY2Zx1",
            "name": "EMPRESA SL",
        },
    )
    check = vies.check("ESB12345674", requester="PT 501234567", today=TODAY)
    assert (check.status, check.consultation, check.vat_number) == (
        ViesStatus.VALID,
        "WAPIAAAAY2Zx1",
        "ESB12345674",
    )
    (request,) = httpx_mock.get_requests()
    assert json.loads(request.content) == {
        "countryCode": "ES",
        "vatNumber": "B12345674",
        "requesterMemberStateCode": "PT",
        "requesterNumber": "501234567",
    }


def test_an_invalid_number(vies, httpx_mock):
    httpx_mock.add_response(method="POST", json={"valid": False, "requestIdentifier": "W1"})
    check = vies.check("ESB00000000", requester="501234567", today=TODAY)
    assert check.status == ViesStatus.INVALID and check.consultation == "W1"


@pytest.mark.parametrize(
    "response",
    [
        {"status_code": 200, "json": {"valid": False, "userError": "MS_UNAVAILABLE"}},
        {
            "status_code": 200,
            "json": {"actionSucceed": False, "errorWrappers": [{"error": "TIMEOUT"}]},
        },
        {"status_code": 200, "json": {"isValid": True}},  # another shape: not clearly valid
        {"status_code": 200, "json": {"valid": "true"}},
        {"status_code": 200, "json": [1, 2]},
        {"status_code": 400, "json": {"errorWrappers": [{"error": "INVALID_INPUT"}]}},
        {"status_code": 500, "json": {"errorWrappers": [{"error": "SERVICE_UNAVAILABLE"}]}},
        {"status_code": 503, "text": "down"},
        {"status_code": 200, "text": "<html>maintenance</html>"},
    ],
)
def test_anything_unclear_is_unavailable_never_invalid(vies, httpx_mock, response):
    httpx_mock.add_response(method="POST", **response)
    check = vies.check("ESB12345674", requester="501234567", today=TODAY)
    assert check.status == ViesStatus.UNAVAILABLE and check.detail


def test_a_timeout_is_unavailable(vies, httpx_mock):
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    check = vies.check("ESB12345674", requester="501234567", today=TODAY)
    assert check.status == ViesStatus.UNAVAILABLE
    # A POST that may have arrived is not repeated by the HTTP layer: one request only.
    assert len(httpx_mock.get_requests()) == 1


def test_greece_is_el_for_vies():
    assert split_vat_number("GR094259216") == ("EL", "094259216")
    assert split_vat_number("el 094259216") == ("EL", "094259216")


def test_an_answer_in_another_shape_is_called_so_not_no_answer():
    check = read_answer(["unexpected", {"shape": True}], "ES", "B12345674", TODAY)
    assert (check.status, check.detail) == (ViesStatus.UNAVAILABLE, "an answer of an unknown shape")


def test_valid_with_an_error_code_is_not_trusted():
    check = read_answer({"valid": True, "userError": "MS_MAX_CONCURRENT_REQ"}, "DE", "1", TODAY)
    assert check.status == ViesStatus.UNAVAILABLE
