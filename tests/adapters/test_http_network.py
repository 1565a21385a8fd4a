"""Real sockets on loopback: a server that accepts and never answers, and a port nobody serves.

The whole request (every attempt and the pauses between them) must fit in the client's timeout,
and every error names the host, so that a person knows which service to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from igest_sync.adapters.http import HttpService, RateWindow
from igest_sync.adapters.jumpseller.client import JumpsellerClient
from igest_sync.errors import TransportError


class SilentServer:
    """Accepts every connection, reads nothing, answers nothing, until closed."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed on exit: nothing listens there


def _service(base_url: str, **options) -> HttpService:
    return HttpService(
        service="Demo",
        base_url=base_url,
        windows=[RateWindow(10, 1.0)],
        credential_keys="demo.user and demo.password",
        **options,
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_server_that_never_answers_fails_within_the_whole_request_timeout(silent, method):
    with _service(f"http://127.0.0.1:{silent.port}", timeout=1.5) as service:
        start = time.monotonic()
        with pytest.raises(TransportError) as caught:
            service.request(method, "/things", json_body={"a": 1} if method == "POST" else None)
        elapsed = time.monotonic() - start
    # One attempt used the whole budget: no retry (one connection), no second 1.5 s (the old
    # per-phase timeouts and four attempts took minutes). The upper bound leaves a busy
    # machine seconds of slack: the count of connections is the exact check.
    assert 1.4 <= elapsed < 1.5 * 3, elapsed
    assert len(silent.accepted) == 1
    assert str(caught.value) == (
        f"Demo {method} /things: timed out waiting for the response from "
        f"127.0.0.1:{silent.port} (1.5 s)"
    )
    assert caught.value.transient and caught.value.exit_code == 5


def test_retries_share_the_budget_instead_of_each_getting_a_full_timeout(silent):
    # A 2.5 s budget: the first attempt gets all of it; nothing is left for a second one.
    with _service(f"http://127.0.0.1:{silent.port}", timeout=2.5) as service:
        start = time.monotonic()
        with pytest.raises(TransportError):
            service.request("GET", "/things")
        assert time.monotonic() - start < 2.5 * 2  # not two budgets (slack for a busy machine)
    assert len(silent.accepted) == 1


def test_a_refused_connection_names_the_host_and_the_reason():
    port = _free_port()
    service = _service(f"http://127.0.0.1:{port}", max_attempts=1)
    with service, pytest.raises(TransportError) as caught:
        service.request("GET", "/things")
    assert str(caught.value) == (
        f"Demo GET /things: could not connect to 127.0.0.1:{port}: connection refused"
    )


def test_an_unknown_host_is_named():
    # .invalid never resolves (RFC 2606): the failure is local, no network needed.
    service = _service("https://shop.invalid/v1", max_attempts=1)
    with service, pytest.raises(TransportError, match=r"could not connect to shop\.invalid"):
        service.request("GET", "/things")


def test_the_jumpseller_client_keeps_the_budget_it_is_given(silent):
    client = JumpsellerClient(
        f"http://127.0.0.1:{silent.port}/v1", "shop", "secret-token", timeout=1.0
    )
    with client:
        start = time.monotonic()
        with pytest.raises(TransportError) as caught:
            client.store_info()
        assert time.monotonic() - start < 1.0 * 3  # not 30 s (slack for a busy machine)
    assert len(silent.accepted) == 1
    assert f"127.0.0.1:{silent.port}" in str(caught.value)
    assert "secret-token" not in str(caught.value)


def test_https_to_a_plain_http_port_is_said_at_once_not_retried_as_an_outage():
    # The handshake meets an HTTP server's "400 Bad Request": the same on every run, and read
    # as "could not connect", cron stayed quiet for [alerts] unreachable_minutes.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from igest_sync.errors import Misdirected

    class Plain(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with (
            _service(f"https://127.0.0.1:{port}", timeout=5) as service,
            pytest.raises(Misdirected) as caught,
        ):
            service.request("GET", "/things")
    finally:
        server.shutdown()
        server.server_close()
    assert str(caught.value) == (
        f"Demo GET /things: 127.0.0.1:{port} does not answer in TLS (https://), the base_url's "
        "scheme"
    )
    assert "takes http://" in (caught.value.hint or "")
    assert not caught.value.transient
