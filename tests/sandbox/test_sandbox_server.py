"""Both apps served on real loopback sockets: HTTP/1.1, threads, control endpoints, stop."""

from __future__ import annotations

import threading

import httpx
import pytest

from igest_sandbox import start_sandbox
from tests.support.sandbox_clients import draft


def test_servers_answer_both_apis_over_http11() -> None:
    with start_sandbox() as sb:
        assert sb.jumpseller_base_url.startswith("http://127.0.0.1:")
        assert sb.credentials["igest"]["base_url"] == sb.igest_base_url
        js_creds, ig_creds = sb.credentials["jumpseller"], sb.credentials["igest"]
        with httpx.Client(
            base_url=sb.jumpseller_base_url, auth=(js_creds["login"], js_creds["auth_token"])
        ) as js:
            first = js.get("/orders/10001.json")
            second = js.get("/products/count.json")  # same keep-alive connection
            assert first.http_version == "HTTP/1.1" and first.json()["order"]["id"] == 10001
            assert second.json() == {"count": 12}
            assert js.get("/orders.json", auth=("x", "y")).status_code == 401
        with httpx.Client(
            base_url=sb.igest_base_url,
            headers={
                "X-Integration-Key": ig_creds["integration_key"],
                "X-Security-Code": ig_creds["security_code"],
            },
        ) as ig:
            doc = ig.post("/documents", json=draft(finalize=True)).json()
            assert doc["number"] == "FR A/1"
            assert doc["pdf_url"].startswith(sb.igest_base_url)
            assert ig.get(doc["pdf_url"]).headers["content-type"] == "application/pdf"
            assert ig.get("/products", params={"reference": "CAN AZU/1"}).json()["total"] == 0


def test_concurrent_clients_are_all_served_and_counted() -> None:
    with start_sandbox(jumpseller_limits=(10_000, 100_000)) as sb:
        creds = sb.credentials["jumpseller"]
        codes: list[int] = []
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(
                base_url=sb.jumpseller_base_url, auth=(creds["login"], creds["auth_token"])
            ) as client:
                for _ in range(15):
                    status = client.get("/orders.json", params={"limit": 5}).status_code
                    with lock:
                        codes.append(status)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes == [200] * 120
        stats = sb.stats()["jumpseller"]
        assert stats["requests"] == 120 and stats["by_route"] == {"GET /v1/orders.json": 120}


def test_control_endpoints_over_http() -> None:
    with start_sandbox() as sb:
        control = sb.jumpseller_base_url.replace("/v1", "/_sandbox")
        paid = httpx.post(f"{control}/orders/10015/pay", json={"at": "2026-11-21T10:00:00+00:00"})
        assert paid.status_code == 200
        assert sb.store.order(10015)["completed_at"] == "2026-11-21 10:00:00 UTC"
        assert httpx.post(f"{control}/orders/10001/pay").status_code == 400  # paid already
        loaded = httpx.post(f"{control}/load", json={"orders": 10, "seed": 1}).json()
        assert loaded["orders"] == 10 and len(sb.store.orders) == 26
        creds = sb.credentials["jumpseller"]
        httpx.get(
            f"{sb.jumpseller_base_url}/store/info.json", auth=(creds["login"], creds["auth_token"])
        )
        stats = httpx.get(sb.igest_base_url.replace("/v1", "/_sandbox/stats")).json()
        assert stats["jumpseller"]["requests"] == 1 and stats["igest"]["requests"] == 0
        httpx.post(f"{control}/reset-stats")
        assert sb.stats()["jumpseller"]["requests"] == 0


def test_stop_closes_the_ports() -> None:
    sb = start_sandbox(seed=False)
    url = sb.igest_base_url
    with httpx.Client() as client:
        assert client.get(url + "/entity").status_code == 401  # up (and no credentials)
        sb.stop()
        with pytest.raises(httpx.TransportError):
            client.get(url + "/entity")
    assert sb.igest_base_url == "http://igest.sandbox/v1"  # back to in-process naming
