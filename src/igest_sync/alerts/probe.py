"""``check``'s lines for the alert channels (reachable? logged in? nothing sent) and
``alerts test`` (a test message to every channel, one result each)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from igest_sync.alerts.email import message_id_for, probe_email, send_email
from igest_sync.alerts.events import Event, digest
from igest_sync.alerts.message import compose
from igest_sync.alerts.webhook import probe_webhook, send_webhook
from igest_sync.config import Config
from igest_sync.errors import AlertError, ExitCode
from igest_sync.redact import redact
from igest_sync.runs.setup.service_checks import CheckResult

TIMEOUT = 5.0


def _result(name: str, config: Config, call: Callable[[], tuple[str, bool]]) -> CheckResult:
    secrets = config.secrets()
    try:
        detail, warning = call()
    except AlertError as exc:
        return CheckResult(
            name,
            False,
            redact(exc.message, secrets),
            redact(exc.hint, secrets) if exc.hint else None,
            exit_code=ExitCode.SERVICE,
        )
    return CheckResult(name, True, redact(detail, secrets), warning=warning)


def channel_checks(config: Config) -> list[CheckResult]:
    """One line per configured channel, none when [alerts] has none; sends nothing."""
    alerts = config.alerts
    results = []
    if alerts.email_enabled:
        results.append(
            _result(
                "Alerts: email",
                config,
                lambda: (
                    probe_email(alerts, timeout=TIMEOUT)
                    + f"; to {', '.join(alerts.email_to)} (nothing sent)",
                    False,
                ),
            )
        )
    if alerts.webhook_enabled:
        results.append(
            _result("Alerts: webhook", config, lambda: probe_webhook(alerts, timeout=TIMEOUT))
        )
    return results


def test_event(now: datetime) -> Event:
    stamp = now.isoformat(timespec="seconds")
    return Event(
        kind="test",
        base_key=f"test:{stamp}",
        title="A test alert from `igest-sync alerts test`",
        reason=f"Sent at {stamp}; alerts of failed or late orders will look like this.",
        fix="Nothing to do",
    )


def send_test(config: Config, now: datetime) -> list[CheckResult]:
    """Send a test message to every configured channel (not recorded: it is not an alert)."""
    alerts = config.alerts
    event = test_event(now)
    message = compose(
        [event],
        store=config.jumpseller.store,
        include_customer=alerts.include_customer,
        chat_format=alerts.webhook_format,
    )
    key = digest(event.base_key)
    results = []
    if alerts.email_enabled:

        def email() -> tuple[str, bool]:
            send_email(alerts, message, message_id=message_id_for(key, alerts), timeout=TIMEOUT)
            return f"sent to {', '.join(alerts.email_to)} via {alerts.smtp_host}", False

        results.append(_result("Alerts: email", config, email))
    if alerts.webhook_enabled:

        def webhook() -> tuple[str, bool]:
            send_webhook(alerts, message, store=config.jumpseller.store, timeout=TIMEOUT)
            return f"posted ({alerts.webhook_format})", False

        results.append(_result("Alerts: webhook", config, webhook))
    return results
