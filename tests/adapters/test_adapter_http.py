"""igest_sync.adapters.http: pacing gate, retry policy, Retry-After and the error boundary."""

from __future__ import annotations

import json
import random
import ssl
import threading
from decimal import Decimal

import httpx
import pytest

from igest_sync.adapters.http import USER_AGENT, HttpService, RateGate, RateWindow
from igest_sync.errors import (
    AuthError,
    BadResponse,
    Conflict,
    Misdirected,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
    TransportError,
)
from tests.support.adapter_data import max_in_any_window

BASE = "https://demo.test/api"
WALL = 1_800_000_000.0  # a fixed wall clock for HTTP-date Retry-After


@pytest.fixture
def service(clock):
    with HttpService(
        service="Demo",
        base_url=BASE,
        windows=[RateWindow(10, 1.0)],
        credential_keys="demo.user and demo.password",
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: WALL,
        rng=random.Random(7),
    ) as svc:
        yield svc


# -- success path ----------------------------------------------------------------------------


def test_get_parses_json_with_decimals_and_sends_user_agent_and_timeouts(service, httpx_mock):
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/things?page=2", text='{"price": 12.30, "qty": 2, "rate": 0.1}'
    )
    body = service.request("GET", "/things", params={"page": 2, "skipped": None})
    assert body == {"price": Decimal("12.30"), "qty": 2, "rate": Decimal("0.1")}
    assert type(body["price"]) is Decimal
    request = httpx_mock.get_request()
    assert request.headers["User-Agent"] == USER_AGENT == "igest-sync/0.1.0"
    assert request.extensions["timeout"] == {
        "connect": 10.0,
        "read": 30.0,
        "write": 30.0,
        "pool": 30.0,
    }
    assert service.request_count == 1


def test_json_body_is_sent_as_json(service, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/things",
        match_json={"a": "1.50"},
        match_headers={"Content-Type": "application/json"},
        json={"id": 1},
    )
    assert service.request("POST", "/things", json_body={"a": "1.50"}) == {"id": 1}


def test_empty_body_returns_none(service, httpx_mock):
    httpx_mock.add_response(method="DELETE", url=f"{BASE}/things/1", status_code=204)
    assert service.request("DELETE", "/things/1") is None


# -- retry policy ----------------------------------------------------------------------------


def test_get_is_retried_on_502_with_jittered_backoff(service, httpx_mock, clock):
    httpx_mock.add_response(status_code=502, html="<html>Bad gateway</html>")
    httpx_mock.add_response(json={"ok": True})
    assert service.request("GET", "/things") == {"ok": True}
    assert len(httpx_mock.get_requests()) == 2
    assert service.request_count == 2
    assert len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] < 0.5


def test_get_gives_up_after_a_few_tries_with_server_error(service, httpx_mock, clock):
    httpx_mock.add_response(
        status_code=503, html="<html><body>Down for maintenance</body>", is_reusable=True
    )
    with pytest.raises(ServerError) as caught:
        service.request("GET", "/things")
    assert len(httpx_mock.get_requests()) == 4
    assert str(caught.value) == "Demo GET /things: server error HTTP 503 Service Unavailable"
    assert caught.value.status == 503 and caught.value.transient
    assert sum(clock.sleeps) <= 60


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_idempotent_writes_are_retried_on_read_timeout(service, httpx_mock, method):
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(json={"ok": 1})
    assert service.request(method, "/things/1", json_body={"x": 1}) == {"ok": 1}
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_is_not_retried_on_5xx(service, httpx_mock, method, clock):
    httpx_mock.add_response(status_code=502)
    with pytest.raises(ServerError):
        service.request(method, "/documents", json_body={"a": 1})
    assert len(httpx_mock.get_requests()) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_is_not_retried_on_read_timeout(service, httpx_mock, method):
    httpx_mock.add_exception(httpx.ReadTimeout("no answer"))
    with pytest.raises(TransportError) as caught:
        service.request(method, "/documents", json_body={"a": 1})
    assert len(httpx_mock.get_requests()) == 1
    assert str(caught.value) == (
        f"Demo {method} /documents: timed out waiting for the response from demo.test (30 s)"
    )


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")]
)
def test_post_is_retried_when_it_was_never_sent(service, httpx_mock, failure):
    httpx_mock.add_exception(failure)
    httpx_mock.add_response(method="POST", json={"id": "d1"})
    assert service.request("POST", "/documents", json_body={"a": 1}) == {"id": "d1"}
    assert len(httpx_mock.get_requests()) == 2


def test_post_is_retried_on_429_without_retry_after_after_one_second(service, httpx_mock, clock):
    httpx_mock.add_response(method="POST", status_code=429)
    httpx_mock.add_response(method="POST", json={"id": "d1"})
    start = clock.now
    assert service.request("POST", "/documents", json_body={"a": 1}) == {"id": "d1"}
    assert len(httpx_mock.get_requests()) == 2
    assert clock.sleeps == [1.0] and clock.now - start == 1.0


def test_429_backs_off_1_2_4_then_raises_rate_limited(service, httpx_mock, clock):
    httpx_mock.add_response(status_code=429, is_reusable=True)
    with pytest.raises(RateLimited) as caught:
        service.request("GET", "/things")
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(httpx_mock.get_requests()) == 4
    assert caught.value.status == 429
    assert str(caught.value).startswith("Demo GET /things: too many requests (429) after 4 tries")


def test_retry_after_seconds_is_honoured(service, httpx_mock, clock):
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "3"})
    httpx_mock.add_response(json=[])
    assert service.request("GET", "/things") == []
    assert clock.sleeps == [3.0]


def test_retry_after_http_date_is_honoured(service, httpx_mock, clock):
    from email.utils import formatdate

    httpx_mock.add_response(
        status_code=429, headers={"Retry-After": formatdate(WALL + 7, usegmt=True)}
    )
    httpx_mock.add_response(json=[])
    service.request("GET", "/things")
    assert clock.sleeps == [7.0]


def test_retry_after_on_503_is_honoured_for_get(service, httpx_mock, clock):
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "2"})
    httpx_mock.add_response(json=[])
    service.request("GET", "/things")
    assert clock.sleeps == [2.0]


def test_retry_after_beyond_the_wait_budget_fails_at_once(service, httpx_mock, clock):
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as caught:
        service.request("GET", "/things")
    assert clock.sleeps == []
    assert len(httpx_mock.get_requests()) == 1
    assert "wait 600 s" in str(caught.value)


def test_a_429_pauses_the_whole_gate(service, httpx_mock, clock):
    # The refused request's wait applies to every thread through the shared gate.
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "5"})
    httpx_mock.add_response(json=[], is_reusable=True)
    service.request("GET", "/things")
    assert service.gate.acquire() >= clock.now - 0.001
    assert clock.sleeps == [5.0]


# -- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, kind",
    [
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, Conflict),
        (400, Rejected),
        (422, Rejected),
        (418, Rejected),
    ],
)
def test_status_codes_map_to_our_errors(service, httpx_mock, status, kind):
    httpx_mock.add_response(status_code=status, json={"message": "Nope, not like that"})
    with pytest.raises(kind) as caught:
        service.request("GET", "/things/7", params={"token": "query-secret"})
    error = caught.value
    assert type(error) is kind
    assert error.status == status and error.service == "Demo"
    assert str(error) == f"Demo GET /things/7: Nope, not like that ({status})"
    assert "query-secret" not in str(error)
    assert len(httpx_mock.get_requests()) == 1  # 4xx are never retried


def test_auth_error_hints_at_the_config_keys(service, httpx_mock):
    httpx_mock.add_response(status_code=401, text="")
    with pytest.raises(AuthError) as caught:
        service.request("GET", "/things")
    assert str(caught.value) == "Demo GET /things: HTTP 401 Unauthorized"
    assert "demo.user and demo.password" in caught.value.hint


def test_rejected_carries_the_services_fields(service, httpx_mock):
    httpx_mock.add_response(
        status_code=422,
        json={"message": "Invalid product", "errors": {"price": ["must be > 0", "bad"]}},
    )
    with pytest.raises(Rejected) as caught:
        service.request("POST", "/things", json_body={})
    assert caught.value.fields == {"price": "must be > 0; bad"}


def test_multiline_service_messages_become_one_line(service, httpx_mock):
    httpx_mock.add_response(status_code=400, json={"message": "first\nsecond   third"})
    with pytest.raises(Rejected) as caught:
        service.request("GET", "/things")
    assert str(caught.value) == "Demo GET /things: first second third (400)"


@pytest.mark.parametrize("body", ["<html>hello</html>", '{"data": [1, 2', "not json at all"])
def test_non_json_or_truncated_success_body_is_bad_response(service, httpx_mock, body):
    httpx_mock.add_response(text=body)
    with pytest.raises(BadResponse) as caught:
        service.request("GET", "/things")
    assert str(caught.value) == (
        "Demo GET /things: the response is not valid JSON (or was cut short)"
    )


def test_redirect_is_bad_response(service, httpx_mock):
    httpx_mock.add_response(status_code=302, headers={"Location": "https://login.test/"})
    with pytest.raises(BadResponse) as caught:
        service.request("GET", "/things")
    assert "check the base_url" in (caught.value.hint or "")  # what to do about it
    assert not caught.value.transient  # the next run is redirected the same way


def test_a_refused_certificate_says_so_and_what_to_check(service, httpx_mock):
    # The operating system gives no "[Errno ...]" reason for it: the TLS check's own.
    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            error = ssl.SSLCertVerificationError(1, "certificate verify failed")
            error.verify_message = "self-signed certificate"
            raise error
        except ssl.SSLCertVerificationError as exc:
            raise httpx.ConnectError(f"[SSL: CERTIFICATE_VERIFY_FAILED] {exc}") from exc

    httpx_mock.add_callback(refuse, is_reusable=True)
    with pytest.raises(Misdirected) as caught:
        service.request("GET", "/things")
    assert str(caught.value) == (
        "Demo GET /things: demo.test's TLS certificate was refused (self-signed certificate)"
    )
    assert "SSL_CERT_FILE" in (caught.value.hint or "")
    # Not an outage that passes by itself: asked once, and a person is told at once.
    assert len(httpx_mock.get_requests()) == 1 and not caught.value.transient


def test_transport_errors_after_retries(service, httpx_mock, clock):
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] refused"), is_reusable=True)
    with pytest.raises(TransportError) as caught:
        service.request("GET", "/things")
    assert str(caught.value) == "Demo GET /things: could not connect to demo.test: refused"
    assert len(httpx_mock.get_requests()) == 4
    assert caught.value.transient


# -- pacing ----------------------------------------------------------------------------------


def test_gate_spreads_25_quick_calls_over_two_seconds(clock):
    gate = RateGate([RateWindow(20, 1.0), RateWindow(800, 60.0)], clock=clock, sleep=clock.sleep)
    times = [gate.acquire() for _ in range(25)]
    assert times == sorted(times)
    assert max_in_any_window(times, 1.0) == 20
    assert clock.sleeps, "the 21st call must wait"
    assert times[20] - times[0] >= 1.0


def test_gate_keeps_the_per_minute_window(clock):
    gate = RateGate([RateWindow(20, 1.0), RateWindow(30, 60.0)], clock=clock, sleep=clock.sleep)
    times = [gate.acquire() for _ in range(70)]
    assert max_in_any_window(times, 60.0) <= 30
    assert max_in_any_window(times, 1.0) <= 20
    assert times[30] - times[0] >= 60.0


def test_gate_is_fair_and_safe_across_threads():
    # A frozen clock and a no-op sleep: each thread gets a reservation; together they must
    # respect every window.
    gate = RateGate(
        [RateWindow(20, 1.0), RateWindow(100, 60.0)], clock=lambda: 0.0, sleep=lambda s: None
    )
    times: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(30):
            t = gate.acquire()
            with lock:
                times.append(t)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(times) == 240
    assert max_in_any_window(times, 1.0) <= 20
    assert max_in_any_window(times, 60.0) <= 100


def test_server_hint_remaining_zero_holds_the_window(clock):
    gate = RateGate([RateWindow(20, 1.0), RateWindow(800, 60.0)], clock=clock, sleep=clock.sleep)
    first = gate.acquire()
    gate.observe(1.0, 0)  # the server counted our other clients too
    second = gate.acquire()
    assert second - first >= 1.0
    gate.observe(60.0, 5)  # five left this minute
    times = [gate.acquire() for _ in range(6)]
    assert times[4] - times[0] < 1.0  # the five go (paced per second only)
    assert times[5] - first >= 60.0  # the sixth waits for the minute to roll over


def test_server_hint_never_loosens_our_own_count(clock):
    gate = RateGate([RateWindow(3, 1.0)], clock=clock, sleep=clock.sleep)
    times = [gate.acquire() for _ in range(3)]
    gate.observe(1.0, 19)  # a server with a bigger budget does not let us exceed ours
    times.append(gate.acquire())
    assert times[3] - times[0] >= 1.0


def test_hold_until_delays_the_next_send(clock):
    gate = RateGate([RateWindow(20, 1.0)], clock=clock, sleep=clock.sleep)
    gate.hold_until(clock.now + 4)
    assert gate.acquire() == pytest.approx(1004.0)


def test_request_count_is_shared_by_threads(httpx_mock):
    httpx_mock.add_response(json={}, is_reusable=True)
    svc = HttpService(
        service="Demo",
        base_url=BASE,
        windows=[RateWindow(1000, 1.0)],
        credential_keys="x",
        sleep=lambda s: None,
    )
    threads = [
        threading.Thread(target=lambda: [svc.request("GET", "/x") for _ in range(10)])
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    svc.close()
    assert svc.request_count == 50 == len(httpx_mock.get_requests())


def test_context_manager_closes_the_client(clock):
    with HttpService(
        service="Demo",
        base_url=BASE,
        windows=[],
        credential_keys="x",
        clock=clock,
        sleep=clock.sleep,
    ) as svc:
        pass
    with pytest.raises(TransportError):
        svc.request("GET", "/x")


def test_error_body_is_decoded_as_json_only_when_it_is_json(service, httpx_mock):
    httpx_mock.add_response(
        status_code=404, content=json.dumps({"message": "Order Not Found."}).encode()
    )
    with pytest.raises(NotFound) as caught:
        service.request("GET", "/orders/1.json")
    assert str(caught.value) == "Demo GET /orders/1.json: Order Not Found. (404)"
