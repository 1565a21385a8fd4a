"""HTTP messages of the emulators: ``Request`` (a WSGI environ), ``Response`` (what a handler
returns), ``HttpError`` and the JSON encoding. A leaf module: ``faults``, ``wsgi`` and
``server`` all build on it, so none of them needs another at import time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs


class DropConnection(Exception):
    """Raised to server.py: close the socket without writing a response."""


SERVER_MARKER = "igest_sandbox.server"  # environ key set by server.py


class HttpError(Exception):
    """Raised by handlers to answer with an error response built by the service."""

    def __init__(self, status: int, body: object, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = list(headers)


def _default(value: object) -> object:
    # Jumpseller sends money as JSON numbers; float(Decimal("29.97")) prints as 29.97.
    if isinstance(value, Decimal):
        # The exponent is a letter for NaN and infinities: those go out as floats too.
        exponent = value.as_tuple().exponent
        return (
            int(value)
            if isinstance(exponent, int) and exponent >= 0 and value == value.to_integral_value()
            else float(value)
        )
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: object) -> bytes:
    return json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":")).encode()


class Request:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO", "") or "/"
        self.query: dict[str, list[str]] = parse_qs(
            environ.get("QUERY_STRING", ""), keep_blank_values=True
        )
        self.params: dict[str, str] = {}
        self.extra_headers: list[tuple[str, str]] = []  # added to whatever the answer is
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        stream = environ.get("wsgi.input")
        self.body: bytes = stream.read(length) if stream is not None and length > 0 else b""

    @property
    def on_server(self) -> bool:
        """True when served by server.py on a socket (connection-level faults are possible)."""
        return bool(self.environ.get(SERVER_MARKER))

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key)
        return self.environ.get("HTTP_" + key)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        """The body as JSON with Decimal numbers; ``ValueError`` when it is not JSON."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body.decode("utf-8"), parse_float=Decimal)


class Response:
    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        content_type: str | None = "application/json; charset=utf-8",
    ) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)
        if content_type and body and not any(k.lower() == "content-type" for k, _ in self.headers):
            self.headers.append(("Content-Type", content_type))

    @classmethod
    def json(
        cls, obj: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()
    ) -> Response:
        return cls(status, dumps(obj), headers)

    @property
    def status_line(self) -> str:
        try:
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"{self.status} Unknown"


Handler = Callable[[Request], Response]
