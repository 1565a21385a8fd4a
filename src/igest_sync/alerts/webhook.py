"""The chat channel: one POST to a webhook (Slack, Discord, Teams, ntfy, or plain JSON).

The URL is a secret (chat webhooks carry their token in it): messages name its host only, and
every httpx error becomes an ``AlertError`` here. Nothing is retried within a run: an alert
that did not go stays recorded, and the next run sends it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from igest_sync import __version__
from igest_sync.adapters.http import tls_context
from igest_sync.alerts.message import Message
from igest_sync.config import AlertsConfig
from igest_sync.errors import AlertError

CHANNEL = "webhook"
USER_AGENT = f"igest-sync/{__version__} (alerts)"


def request_for(
    fmt: str, message: Message, *, store: str
) -> tuple[dict[str, str], bytes | None, Any]:
    """(headers, raw body, JSON body) of the POST for ``fmt``; one of the bodies is None."""
    if fmt == "slack":
        return {}, None, {"text": message.chat}
    if fmt == "discord":
        # No mentions: an order's reason must never ping @everyone.
        return {}, None, {"content": message.chat, "allowed_mentions": {"parse": []}}
    if fmt == "teams":
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": line, "wrap": True}
                for line in message.chat.splitlines()
            ],
        }
        return (
            {},
            None,
            {
                "type": "message",
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
                ],
            },
        )
    if fmt == "ntfy":
        # ntfy takes the text as the body and the title in a header (ASCII only there).
        title = message.subject.encode("ascii", "replace").decode("ascii")
        headers = {"Title": title, "Tags": "warning", "Content-Type": "text/plain; charset=utf-8"}
        return headers, message.chat.encode("utf-8"), None
    return (
        {},
        None,
        {
            "source": "igest-sync",
            "store": store,
            "subject": message.subject,
            "text": message.chat,
            "events": list(message.items),
        },
    )


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the webhook"
    except ValueError:
        return "the webhook"


def send_webhook(config: AlertsConfig, message: Message, *, store: str, timeout: float) -> None:
    url = config.webhook_url or ""
    headers, raw, body = request_for(config.webhook_format, message, store=store)
    where = f"webhook at {_host(url)}"
    try:
        with httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, verify=tls_context()
        ) as client:
            if raw is not None:
                response = client.post(url, content=raw, headers=headers)
            else:
                response = client.post(url, json=body, headers=headers)
    except httpx.TimeoutException:
        raise AlertError(CHANNEL, f"The {where} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise AlertError(CHANNEL, f"The {where} cannot be reached ({type(exc).__name__})") from None
    if not response.is_success:
        hint = (
            "Check [alerts] webhook_url (or IGEST_SYNC_ALERTS_WEBHOOK_URL) and webhook_format."
            if response.status_code in (400, 401, 403, 404, 410)
            else None
        )
        raise AlertError(CHANNEL, f"The {where} answered {response.status_code}", hint=hint)


def probe_webhook(config: AlertsConfig, *, timeout: float) -> tuple[str, bool]:
    """A GET, which posts nothing: (what was found, whether it deserves a warning)."""
    url = config.webhook_url or ""
    where = f"{_host(url)} ({config.webhook_format})"
    try:
        with httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, verify=tls_context()
        ) as client:
            response = client.get(url)
    except httpx.TimeoutException:
        raise AlertError(CHANNEL, f"The webhook at {where} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise AlertError(
            CHANNEL, f"The webhook at {where} cannot be reached ({type(exc).__name__})"
        ) from None
    if response.status_code in (401, 403, 404, 410):
        return (
            (
                f"{where} answers, but {response.status_code} to a GET: the URL may be wrong "
                "(`igest-sync alerts test` posts a test message)"
            ),
            True,
        )
    return f"{where} answers (nothing posted; `igest-sync alerts test` posts a test message)", False
