"""The VIES emulator: valid, invalid and unavailable numbers on both routes, consultation
numbers, and its place in the sandbox (vies.md)."""

from __future__ import annotations

import httpx
import pytest

from igest_sandbox import Sandbox, start_sandbox
from tests.support.sandbox_clients import body, vies_client

REQUESTER = {"requesterMemberStateCode": "PT", "requesterNumber": "509999999"}


@pytest.fixture
def vies(sb: Sandbox) -> httpx.Client:
    with vies_client(sb) as client:
        yield client


def _check(vies: httpx.Client, country: str, number: str, **more) -> httpx.Response:
    return vies.post(
        "/check-vat-number", json={"countryCode": country, "vatNumber": number, **more}
    )


def test_a_valid_number_with_a_requester_gets_a_consultation_number(vies: httpx.Client) -> None:
    answer = body(_check(vies, "ES", "B87654323", **REQUESTER))
    assert answer["valid"] is True and answer["name"] == "CERAMICAS DEL LEVANTE, S.L."
    assert answer["requestIdentifier"].startswith("WAPI") and len(answer["requestIdentifier"]) == 16
    assert answer["requestDate"].startswith("2026-11-27T12:00:00")
    again = body(_check(vies, "ES", "B87654323", **REQUESTER))
    assert again["requestIdentifier"] != answer["requestIdentifier"]
    assert body(_check(vies, "ES", "B87654323"))["requestIdentifier"] == ""


def test_an_unknown_number_is_invalid_not_unavailable(vies: httpx.Client) -> None:
    answer = body(_check(vies, "ES", "B12345674", **REQUESTER))
    assert answer["valid"] is False and answer["requestIdentifier"]
    by_path = body(vies.get("/ms/ES/vat/B12345674"))
    assert by_path["isValid"] is False and by_path["userError"] == "INVALID"


def test_an_unavailable_state_answers_no_verdict_then_recovers(
    sb: Sandbox, vies: httpx.Client
) -> None:
    for _ in range(2):
        refused = _check(vies, "ES", "B66123456", **REQUESTER)
        assert refused.status_code == 200 and "valid" not in body(refused)
        assert body(refused)["errorWrappers"][0]["error"] == "MS_UNAVAILABLE"
    # The GET route counts too, and its "isValid": false is no verdict either.
    third = body(vies.get("/ms/ES/vat/B66123456"))
    assert (third["isValid"], third["userError"]) == (False, "MS_UNAVAILABLE")
    recovered = body(_check(vies, "ES", "B66123456", **REQUESTER))
    assert recovered["valid"] is True and recovered["requestIdentifier"]
    assert [c.answer for c in sb.vies.checks] == ["MS_UNAVAILABLE"] * 3 + ["VALID"]


def test_bad_input_and_greece_spelled_el(vies: httpx.Client) -> None:
    for country, number in (("GR", "094014201"), ("GB", "333289454"), ("ES", ""), ("ES", "b-1")):
        response = _check(vies, country, number)
        assert response.status_code == 400
        assert body(response)["errorWrappers"][0]["error"] == "INVALID_INPUT"
    assert body(_check(vies, "EL", "094014201"))["valid"] is False
    assert body(vies.get("/ms/XX/vat/123"))["userError"] == "INVALID_INPUT"
    assert vies.post("/check-vat-number", content=b"nope").status_code == 400


def test_registry_control_and_seeded_valid_numbers(sb: Sandbox, vies: httpx.Client) -> None:
    for country, number in (("ES", "A28501534"), ("FR", "83404833048"), ("DE", "136687097")):
        assert body(vies.get(f"/ms/{country}/vat/{number}"))["isValid"] is True
    sb.vies.add_valid("IT", "01234567897", "Ceramiche Srl", "Via Roma 1")
    sb.vies.set_unavailable("IT", "01234567897", 1)
    assert "valid" not in body(_check(vies, "IT", "01234567897"))
    assert body(_check(vies, "IT", "01234567897"))["name"] == "Ceramiche Srl"


def test_faults_reach_vies(sb: Sandbox, vies: httpx.Client) -> None:
    sb.faults.add("vies", "502", path="check-vat-number")
    assert _check(vies, "ES", "B87654323").status_code == 502
    assert _check(vies, "ES", "B87654323").status_code == 200


def test_vies_is_served_on_its_own_base_url() -> None:
    with start_sandbox(seed=True) as sb:
        assert sb.vies_base_url.startswith("http://127.0.0.1:")
        assert sb.vies_base_url.endswith("/rest-api")
        assert sb.vies_base_url.split("/")[2] not in sb.igest_base_url
        answer = httpx.get(f"{sb.vies_base_url}/ms/FR/vat/83404833048").json()
        assert answer["isValid"] is True
    assert Sandbox(seed=False).vies_base_url == "http://vies.sandbox/rest-api"
