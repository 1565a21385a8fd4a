"""A very small WSGI toolkit for the two emulators (stdlib only, no framework).

``Request`` wraps the environ, ``Response`` is what a handler returns, ``Router`` maps
``METHOD /path/{name}`` templates to handlers. ``EmulatorApp`` is the shared request pipeline:

    /_sandbox/...  control endpoints (no auth, no limits, no faults, not counted)
    otherwise:     latency -> rate limit -> fault (before) -> auth -> handler -> fault (after)
                   -> service headers -> stats

Each service subclasses it and supplies routes, authentication and rate limiting.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from igest_sandbox.faults import Faults, apply
from igest_sandbox.messages import (
    SERVER_MARKER,
    Handler,
    HttpError,
    Request,
    Response,
    dumps,
)
from igest_sandbox.stats import Stats

__all__ = [
    "SERVER_MARKER",
    "EmulatorApp",
    "Handler",
    "HttpError",
    "Request",
    "Response",
    "Router",
    "dumps",
]


class Router:
    """``GET /v1/orders/{id}.json`` style templates; ``{name}`` matches one path segment, and
    ``{reference}`` at the end of a template the rest of the path: WSGI hands over the path
    decoded, so a SKU with a "/" (sent as %2F, as it must be) arrives as two segments."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.escape(template)
        if template.endswith("{reference}"):
            pattern = pattern[: -len(re.escape("{reference}"))] + "(?P<reference>.+)"
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", pattern)
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), template, handler))

    def match(self, method: str, path: str) -> tuple[str | None, Handler | None, dict[str, str]]:
        """(template, handler, params); the handler is None when nothing matches."""
        template_only = None
        for route_method, pattern, template, handler in self._routes:
            found = pattern.match(path)
            if found:
                if route_method == method:
                    return template, handler, found.groupdict()
                template_only = template
        return template_only, None, {}


class EmulatorApp:
    """Shared pipeline of both emulators; see the module docstring for the order of steps."""

    service = "service"

    def __init__(self, *, stats: Stats, faults: Faults, latency: float = 0.0) -> None:
        self.stats = stats
        self.faults = faults
        self.latency = latency
        self.router = Router()
        self.control = Router()
        self.lock = threading.RLock()
        self.control.add("GET", "/_sandbox/stats", lambda r: Response.json(self.stats.snapshot()))
        self.control.add("POST", "/_sandbox/reset-stats", self._reset_stats)
        self.control.add("GET", "/_sandbox/faults", lambda r: Response.json(self.faults.describe()))
        self.control.add("POST", "/_sandbox/faults", self._add_faults)
        self.control.add("DELETE", "/_sandbox/faults", self._clear_faults)

    # Hooks for the services -----------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        """None when the credentials are right, else the 401 response."""
        return None

    def limit(self, request: Request) -> Response | None:
        """None when the request is within the rate limits, else the 429 response.

        May add headers for every response to ``request.extra_headers``.
        """
        return None

    def error_response(self, status: int, message: str) -> Response:
        return Response.json({"message": message}, status)

    # The pipeline ---------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            response = self._control(request)
        else:
            response = self._serve(request)
        start_response(response.status_line, response.headers)
        return [response.body]

    def _control(self, request: Request) -> Response:
        _, handler, params = self.control.match(request.method, request.path)
        if handler is None:
            return Response.json({"message": "unknown sandbox control endpoint"}, 404)
        request.params = params
        try:
            return handler(request)
        except (ValueError, TypeError, KeyError) as exc:
            return Response.json({"message": f"bad control request: {exc}"}, 400)

    def _serve(self, request: Request) -> Response:
        if self.latency > 0:
            self.faults.hold(self.latency, on_server=request.on_server)
        template, handler, params = self.router.match(request.method, request.path)
        route = f"{request.method} {template or '<unmatched>'}"
        request.params = params
        response = self.limit(request)
        if response is None:
            rule = self.faults.take(self.service, request.method, request.path)
            # A fault before processing replaces the request, except a cut GET answer, which
            # shows the real body cut (a GET changes nothing, so processing it is harmless).
            before = (
                rule is not None
                and not rule.after
                and not (rule.kind == "truncated" and request.method == "GET")
            )
            real = None if before else self._handle(request, handler)
            if rule is None:
                assert real is not None  # no rule, so nothing replaced the request
                response = real
            else:
                self.stats.record_fault(self.service, rule.kind)
                response = apply(
                    rule, request, real, self.faults, self._on_raise(route), self.error_response
                )
        response.headers.extend(request.extra_headers)
        self.stats.record(self.service, route, response.status)
        return response

    def _on_raise(self, route: str) -> Callable[[], None]:
        # Connection-level faults raise instead of returning: count the request first.
        return lambda: self.stats.record(self.service, route, 0)

    def _handle(self, request: Request, handler: Handler | None) -> Response:
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        if handler is None:
            return self.error_response(404, "Not Found")
        try:
            return handler(request)
        except HttpError as exc:
            return Response.json(exc.body, exc.status, exc.headers)

    # Control handlers -----------------------------------------------------------------------

    def _reset_stats(self, request: Request) -> Response:
        self.stats.reset()
        return Response.json({"ok": True})

    def _add_faults(self, request: Request) -> Response:
        rules = request.json()
        if isinstance(rules, dict):
            if rules.get("replace"):
                self.faults.clear()
            rules = rules.get("rules", [])
        for rule in rules:
            self.faults.add(**rule)
        return Response.json(self.faults.describe())

    def _clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response.json(self.faults.describe())
