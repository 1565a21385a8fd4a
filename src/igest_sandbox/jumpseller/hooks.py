"""Jumpseller's ``/hooks.json`` and ``/hooks/{id}.json`` handlers, and the webhook control
endpoints (``GET /_sandbox/webhooks``: totals, hooks with their failures, the last deliveries;
``POST /_sandbox/webhooks/reset``: totals and log back to zero).

Choices where the spec is silent: an unknown event or a URL that is not http(s) is 400 (the
spec lists the events); the same event and URL may be registered twice, as nothing in the spec
forbids it (so a client must not rely on the server to refuse a duplicate); DELETE answers the
JSON string ``"Hook deleted"`` (the spec's 200 is a string).
"""

from __future__ import annotations

from typing import Any

from igest_sandbox.jumpseller.locations import bad_params
from igest_sandbox.jumpseller.webhooks import EVENTS, HookRecord, Webhooks
from igest_sandbox.wsgi import HttpError, Request, Response

LOG_SHOWN = 200


class HookRoutes:
    webhooks: Webhooks

    def _page(self, request: Request, rows: list[Any]) -> list[Any]:
        raise NotImplementedError  # the app's paging (limit, page)

    def _hook_id(self, request: Request) -> int:
        try:
            return int(request.params["id"])
        except ValueError:
            raise HttpError(404, {"message": "Hook Not Found."}) from None

    def _found(self, hook_id: int) -> HookRecord:
        try:
            return self.webhooks.hook(hook_id)
        except KeyError:
            raise HttpError(404, {"message": "Hook Not Found."}) from None

    @staticmethod
    def _hook_fields(request: Request, *, partial: bool) -> tuple[str | None, str | None]:
        try:
            body = request.json()
        except ValueError:
            raise bad_params("body must be JSON") from None
        fields: Any = body.get("hook") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise bad_params('body must be {"hook": {"event": ..., "url": ...}}')
        event, url = fields.get("event"), fields.get("url")
        if not partial and (event is None or url is None):
            raise bad_params("event and url are required")
        if event is not None and event not in EVENTS:
            raise bad_params(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise bad_params("url must be an http(s) URL")
        return event, url

    def list_hooks(self, request: Request) -> Response:
        rows = [{"hook": h.wire()} for h in self.webhooks.hooks()]
        return Response.json(self._page(request, rows))

    def create_hook(self, request: Request) -> Response:
        event, url = self._hook_fields(request, partial=False)
        assert event is not None and url is not None
        return Response.json({"hook": self.webhooks.add_hook(event, url).wire()})

    def get_hook(self, request: Request) -> Response:
        return Response.json({"hook": self._found(self._hook_id(request)).wire()})

    def update_hook(self, request: Request) -> Response:
        hook_id = self._hook_id(request)
        self._found(hook_id)
        event, url = self._hook_fields(request, partial=True)
        return Response.json({"hook": self.webhooks.update_hook(hook_id, event, url).wire()})

    def delete_hook(self, request: Request) -> Response:
        hook_id = self._hook_id(request)
        self._found(hook_id)
        self.webhooks.delete_hook(hook_id)
        return Response.json("Hook deleted")

    def webhooks_control(self, request: Request) -> Response:
        log = list(self.webhooks.log)[-LOG_SHOWN:]
        return Response.json({**self.webhooks.summary(), "log": log})

    def webhooks_reset(self, request: Request) -> Response:
        self.webhooks.reset_totals()
        return Response.json({"ok": True})
