"""Fault injection: every kind, before and after processing, in-process and on sockets."""

from __future__ import annotations

import json

import httpx
import pytest

from igest_sandbox import Sandbox, start_sandbox
from tests.support.sandbox_clients import body, draft, igest_client, jumpseller_client

DOCS = r"^/v1/documents$"


def _documents(sb: Sandbox) -> int:
    return len(sb.igest.documents)


@pytest.mark.parametrize("kind", ["500", "502"])
def test_5xx_with_html_before_and_after(sb: Sandbox, ig: httpx.Client, kind: str) -> None:
    sb.faults.add("igest", kind, method="POST", path=DOCS)
    response = ig.post("/documents", json=draft())
    assert response.status_code == int(kind)
    assert response.headers["content-type"].startswith("text/html")
    assert b"<html>" in response.content and _documents(sb) == 0
    sb.faults.add("igest", kind, method="POST", path=DOCS, after=True)
    assert ig.post("/documents", json=draft()).status_code == int(kind)
    assert _documents(sb) == 1  # processed, then the answer was replaced


def test_nth_and_times_select_the_faulted_requests(sb: Sandbox, ig: httpx.Client) -> None:
    rule = sb.faults.add("igest", "502", method="GET", path=r"^/v1/entity$", nth=2, times=2)
    codes = [ig.get("/entity").status_code for _ in range(5)]
    assert codes == [200, 502, 502, 200, 200]
    assert (rule.seen, rule.fired) == (5, 2)
    assert ig.get("/warehouses").status_code == 200  # other paths untouched
    assert sb.stats()["igest"]["faults"] == {"502": 2}


def test_429_with_and_without_retry_after(sb: Sandbox, js: httpx.Client) -> None:
    sb.faults.add("jumpseller", "429", path=r"orders", retry_after=7)
    sb.faults.add("jumpseller", "429", path=r"orders", retry_after=None)
    first, second = js.get("/orders.json"), js.get("/orders.json")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 429 and "Retry-After" not in second.headers
    assert js.get("/orders.json").status_code == 200


def test_truncated_body_is_cut_json(sb: Sandbox, js: httpx.Client, ig: httpx.Client) -> None:
    full = js.get("/orders/10001.json").content
    sb.faults.add("jumpseller", "truncated", method="GET", path=r"^/v1/orders/10001\.json$")
    cut = js.get("/orders/10001.json")
    assert cut.status_code == 200 and cut.content == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    sb.faults.add("igest", "truncated", method="POST", path=DOCS, after=True)
    answer = ig.post("/documents", json=draft())
    assert answer.status_code == 201 and _documents(sb) == 1
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_bad_shape(sb: Sandbox, js: httpx.Client, ig: httpx.Client) -> None:
    sb.faults.add("jumpseller", "bad_shape", path=r"^/v1/orders\.json$", after=True)
    assert isinstance(body(js.get("/orders.json")), dict)  # a list was due
    sb.faults.add("igest", "bad_shape", path=r"^/v1/entity$", after=True)
    assert isinstance(body(ig.get("/entity")), list)  # an object was due
    sb.faults.add("igest", "bad_shape", method="POST", path=DOCS)
    assert ig.post("/documents", json=draft()).status_code == 200 and _documents(sb) == 0


def test_in_process_timeout_and_reset_raise_transport_errors(sb: Sandbox, ig: httpx.Client) -> None:
    sb.faults.add("igest", "timeout", method="POST", path=DOCS, seconds=0, after=True)
    with pytest.raises(httpx.ReadTimeout):
        ig.post("/documents", json=draft())
    assert _documents(sb) == 1  # "the POST reached iGEST but the answer was lost"
    sb.faults.add("igest", "reset", method="POST", path=DOCS)
    with pytest.raises(httpx.RemoteProtocolError):
        ig.post("/documents", json=draft())
    assert _documents(sb) == 1
    assert sb.stats()["igest"]["by_status"]["dropped"] == 2


def test_faults_over_real_sockets() -> None:
    with start_sandbox(jumpseller_limits=(1000, 10_000), igest_limit=1000) as sb:
        creds = sb.credentials["igest"]
        headers = {
            "X-Integration-Key": creds["integration_key"],
            "X-Security-Code": creds["security_code"],
        }
        # Only the request the timeout fault holds has a short timeout: the others must not
        # depend on how fast a busy machine answers.
        with httpx.Client(base_url=sb.igest_base_url, headers=headers, timeout=30) as ig:
            sb.faults.add("igest", "reset", method="POST", path=DOCS, after=True)
            with pytest.raises(httpx.TransportError):
                ig.post("/documents", json=draft())
            assert len(sb.igest.documents) == 1
            sb.faults.add("igest", "timeout", method="POST", path=DOCS, seconds=2)
            with pytest.raises(httpx.TimeoutException):
                ig.post("/documents", json=draft(), timeout=0.3)
            assert len(sb.igest.documents) == 1
            assert ig.post("/documents", json=draft()).status_code == 201  # recovers
            sb.faults.add("igest", "truncated", path=r"^/v1/entity$")
            with pytest.raises(json.JSONDecodeError):
                ig.get("/entity").json()


def test_faults_through_the_control_endpoint() -> None:
    with start_sandbox() as sb:
        rules = [{"service": "jumpseller", "kind": "502", "path": r"^/v1/store/info\.json$"}]
        added = httpx.post(sb.jumpseller_base_url.replace("/v1", "/_sandbox/faults"), json=rules)
        assert added.status_code == 200 and added.json()[0]["kind"] == "502"
        with jumpseller_client(sb) as js:
            js._transport = httpx.HTTPTransport()  # over the socket, not in-process
            assert js.get("/store/info.json").status_code == 502
        httpx.delete(sb.igest_base_url.replace("/v1", "/_sandbox/faults"))
        assert sb.faults.rules == []
        with pytest.raises(ValueError):
            sb.faults.add("igest", "explode")
        assert igest_client(sb).get("/entity").status_code == 200
