"""Serve a WSGI app on 127.0.0.1 over HTTP/1.1 with keep-alive, one daemon thread per
connection, and a clean ``stop()``.

Not ``wsgiref.simple_server``: it speaks HTTP/1.0 with one request per connection, and the
sandbox needs keep-alive (benchmarks) and a way to drop a connection without answering
(the ``reset`` and ``timeout`` faults: the app raises ``DropConnection``).
"""

from __future__ import annotations

import io
import socket
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import unquote

from igest_sandbox.messages import SERVER_MARKER, DropConnection


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "igest-sync-sandbox/1"
    timeout = 60  # an idle keep-alive connection is closed after this
    # Answers are written in pieces; without this, Nagle's algorithm and delayed ACKs add
    # ~40 ms to every request, which would pass for network latency in the benchmarks.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the core never prints; neither does its sandbox

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        address = self.server.server_address
        assert isinstance(address, tuple), "the sandbox listens on TCP (host, port)"
        host, port = address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            SERVER_MARKER: True,
        }
        if self.headers.get("Content-Type"):
            environ["CONTENT_TYPE"] = self.headers["Content-Type"]
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        return environ

    def _run(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        try:
            chunks = self.server.app(self._environ(body), start_response)  # type: ignore
            payload = b"".join(chunks)
        except DropConnection:
            self._drop()
            return
        except Exception:  # noqa: BLE001 -- a bug in the sandbox: answer 500 rather than hang the client
            captured = {"status": "500 Internal Server Error", "headers": []}
            payload = b"sandbox error"
        code, _, reason = captured["status"].partition(" ")
        self.send_response(int(code), reason)
        for name, value in captured["headers"]:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        """Close with RST: the client sees a reset/closed connection and no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _run

    def handle(self) -> None:
        try:
            super().handle()
        except (TimeoutError, ConnectionError, OSError):
            pass  # the client went away (or gave up after a timeout fault)


class LoopbackServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self.serve_forever,
            # How often serve_forever looks for a shutdown request: stopping a sandbox (three
            # servers, one after the other) waits up to this long for each, once per test.
            kwargs={"poll_interval": 0.02},
            name=f"sandbox-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections would linger otherwise
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
