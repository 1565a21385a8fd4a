"""The commands of the alerts family: ``alerts test`` and ``digest`` (registered on the app by
``cli/__init__.py``)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated

import typer

from igest_sync.cli.session import JsonOption, session

alerts_app = typer.Typer(
    name="alerts",
    help="Email and chat alerts ([alerts] in the config).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@alerts_app.command("test", short_help="Send a test message to every channel in [alerts].")
def alerts_test(json_out: JsonOption = False) -> None:
    """Send a test message to every channel in [alerts] and report each result.

    Exits like `check`: 0 every channel took it, 5 a channel could not be reached or refused,
    2 no channel is configured.

    \b
    Examples:
      igest-sync alerts test
      igest-sync alerts test --json
    """
    from igest_sync import render
    from igest_sync.alerts.probe import send_test
    from igest_sync.errors import ConfigError
    from igest_sync.runs.setup.service_checks import checks_exit_code

    with session(lock=False, ledger=False) as s:
        if not s.config.alerts.channels:
            raise ConfigError(
                "No alert channel is configured: [alerts] has neither smtp_host nor webhook_url.",
                hint="`igest-sync init --example` shows the [alerts] keys.",
            )
        results = send_test(s.config, s.now())
    render.check_results(results, json_out=json_out, title="Alert test messages")
    raise typer.Exit(int(checks_exit_code(results)))


def _since(value: str, now: datetime) -> datetime:
    from igest_sync.errors import UsageError
    from igest_sync.timeutil import LISBON

    match = re.fullmatch(r"(\d+)([dh])", value.strip())
    if match:
        amount = int(match[1])
        return now - (timedelta(days=amount) if match[2] == "d" else timedelta(hours=amount))
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"--since expects 1d, 7d, 12h or a date like 2026-11-01, got {value!r}."
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=LISBON)


def digest(
    ctx: typer.Context,
    since: Annotated[
        str,
        typer.Option(
            help="The period: days or hours (1d, 7d, 12h, 48h) or a (Lisbon) date.",
            metavar="PERIOD",
        ),
    ] = "1d",
    send: Annotated[
        bool, typer.Option("--send", help="Also send it to the [alerts] channels now.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Sum up a period: documents issued (count, total), credit notes, open failures, orders
    waiting for payment or for VIES, the oldest paid order without a document, the last good run.

    Reads the config and the state file, and asks Jumpseller and iGEST nothing. With [alerts]
    digest = "daily" or "weekly" the runs send it by themselves, after [alerts] digest_hour
    (Lisbon time); --send sends it now, once.

    \b
    Examples:
      igest-sync digest
      igest-sync digest --since 7d --send
      igest-sync digest --since 2026-11-01 --json
    """
    from igest_sync import render
    from igest_sync.alerts.digest import build_digest
    from igest_sync.alerts.outbox import send_digest_now
    from igest_sync.cli import composition
    from igest_sync.errors import ConfigError

    now = composition.wall_clock()
    start = _since(since, now)
    # Sending writes the outbox: under the run lock, as every run that sends alerts.
    with session(ctx, lock=send, ledger=True, alerts=False) as s:
        assert s.ledger is not None
        # Up to now included: the ledger's times are whole seconds, and a document recorded
        # in this very second belongs to the digest.
        end = now.replace(microsecond=0) + timedelta(seconds=1)
        report = build_digest(s.ledger, start, end, now=now)
        sent = None
        if send:
            if not s.config.alerts.channels:
                raise ConfigError(
                    "--send: no alert channel is configured ([alerts] smtp_host, webhook_url).",
                    hint="`igest-sync init --example` shows the [alerts] keys.",
                )
            sent = send_digest_now(s.ledger, s.config, report, now=now)
    render.digest_report(report, sent=sent, json_out=json_out)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app)
    app.command(short_help="Sum up a period: documents, failures, what waits.")(digest)
