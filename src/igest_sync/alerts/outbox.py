"""The one entry point every run calls when it ends: record the events, then send them.

Exactly once, never lost: each new event is recorded in the ledger (one row per channel)
before anything is sent, and marked sent after; what a channel could not take stays recorded
and goes with the next run's message. All the unsent events of a channel go in one message (a
storm of 200 failing orders is one email and one chat message, not 200).

Never in the way of an invoice: ``dispatch`` never raises, prints nothing, and bounds its time
(``SEND_BUDGET`` seconds in all, whatever the channels do: each channel sends in a thread of
its own, and one that is still busy when the budget is spent is left to the next run).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from igest_sync.alerts import digest as digests
from igest_sync.alerts import spool
from igest_sync.alerts.email import message_id_for, send_email
from igest_sync.alerts.events import (
    Event,
    digest,
    failure_events,
    late_events,
    notice_events,
    run_error_event,
    unreachable_event,
)
from igest_sync.alerts.message import Message, compose
from igest_sync.alerts.webhook import send_webhook
from igest_sync.errors import AlertError, passes_by_itself
from igest_sync.redact import redact
from igest_sync.state.alerts import AlertRow
from igest_sync.state.database import moment
from igest_sync.state.meta import STORE_NAME

if TYPE_CHECKING:
    from igest_sync.config import Config
    from igest_sync.state.ledger import Ledger
    from igest_sync.state.work import WorkRecord

log = logging.getLogger("igest_sync.alerts")

SEND_BUDGET = 5.0  # seconds in all that sending may add to a run
CHANNEL_TIMEOUT = 4.0  # per network operation (connect, each SMTP reply, the HTTP answer)
DIGEST = "digest"
TRANSIENT_SINCE = "alerts:transient_since"  # meta: since when each order keeps failing by itself


@dataclass
class Outcome:
    """What one dispatch did, for tests, logs and `alerts test`."""

    recorded: int = 0  # new rows (events x channels)
    sent: dict[str, int] = field(default_factory=dict)  # channel -> messages sent
    errors: dict[str, str] = field(default_factory=dict)  # channel -> why it did not send


def dispatch(
    ledger: Ledger | None,
    config: Config,
    *,
    now: datetime,
    notices: Sequence[str] = (),
    error: BaseException | None = None,
    command: str = "invoice",
    state_path: Path | None = None,
    budget: float = SEND_BUDGET,
    events: Sequence[Event] = (),
    answered: bool = True,
    late: bool = True,
    store_name: str | None = None,
) -> Outcome:
    """Record this run's events and send every unsent alert; never raises.

    ``notices`` are the run's notices; ``error`` the exception that stopped the whole run, if one
    did; ``events`` what else the caller saw (serve: real time degraded). ``answered``: False
    when the caller heard from no service (serve's units that call none, or whose every call
    went unanswered), so an outage being counted is not over. ``late``: False while the
    caller has not yet finished the work a kill left in flight (serve before its first sweep),
    which would otherwise be named late seconds before it is adopted. Without a ledger (the
    state file itself could not be used) the alerts are kept in a small spool file beside the state
    file (``state_path``), taken into the ledger by the next run that opens it; ``store_name``
    then names the store in them, when the caller knows it (serve, from the ledger it holds
    open).
    """
    outcome = Outcome()
    if not config.alerts.channels:
        return outcome
    try:
        if ledger is None:
            return _without_ledger(
                config, now, error, command, state_path, budget, store_name=store_name
            )
        spool.take_into(ledger, spool.path_for(ledger.path))
        found = _events(
            ledger, config, now, list(notices), error, command, answered=answered, late=late
        )
        found += events
        rows = _occurrences(ledger, config, found, now)
        rows += _scheduled_digest(ledger, config, now)
        ledger.record_alerts(rows)
        outcome.recorded = len(rows)
        _send_unsent(_LedgerOutbox(ledger), config, now, budget, outcome)
    except Exception:  # an alert must never stop or fail the run it reports on
        log.exception("Alerts could not be dispatched; the next run tries again")
    return outcome


# -- which events ---------------------------------------------------------------------------


def _events(
    ledger: Ledger,
    config: Config,
    now: datetime,
    notices: list[str],
    error: BaseException | None,
    command: str,
    *,
    answered: bool,
    late: bool,
) -> list[Event]:
    events = notice_events(notices)
    grace = timedelta(minutes=config.alerts.unreachable_minutes)
    # Orders that keep failing by themselves (a service down while they were issued) are
    # retried by every run: an alert only once that has lasted unreachable_minutes, each
    # counted from its own first failure, as cron's output counts it.
    since = _retrying_since(ledger, now)
    # One recorded since ``since`` was read (another process) starts now, as a new one does.
    events += failure_events(ledger, lasted=lambda w: now - since.get(_work_key(w), now) >= grace)
    if passes_by_itself(error):
        # The moment the runs' exit reads too (cron kept quiet until the outage lasts).
        first = ledger.meta.outage_since(error.service, now)
        if now - first >= grace:
            events.append(unreachable_event(error, first, now))
    elif error is not None:
        events.append(run_error_event(error, command, config.secrets()))
    elif answered:
        ledger.meta.outages_over()
    if late:
        events += late_events(ledger, config, now)
    return events


def _work_key(work: WorkRecord) -> str:
    return f"{work.order_id}:{work.kind}:{work.seq}"


def _retrying_since(ledger: Ledger, now: datetime) -> dict[str, datetime]:
    """Since when each piece of work that keeps failing by itself has failed (kept in meta for
    those that still do; a new one starts now): one moment for them all told an order that
    failed minutes ago because another had been retried for an hour."""
    value = ledger.get_meta(TRANSIENT_SINCE) or ""
    try:
        known = json.loads(value or "{}")
    except ValueError:
        known = None
    if not isinstance(known, dict):
        # An older version kept one moment for them all: the failures of then keep it.
        known = {w: value for w in map(_work_key, ledger.work_in_states("failed"))}
    stamp = now.isoformat(timespec="seconds")
    current = {
        key: str(known.get(key) or stamp)
        for key in (_work_key(w) for w in ledger.work_in_states("failed") if w.transient)
    }
    if current != known:
        ledger.set_meta(TRANSIENT_SINCE, json.dumps(current, sort_keys=True))
    return {key: moment(at) or now for key, at in current.items()}


def _occurrences(
    ledger: Ledger, config: Config, events: list[Event], now: datetime
) -> list[AlertRow]:
    """The events due now: the first time, then as a reminder after remind_failed_hours.

    A channel that has not yet delivered an earlier occurrence gets no reminder on top of it:
    the one waiting says the same, and goes when the channel is back.
    """
    remind = timedelta(hours=config.invoice.remind_failed_hours)
    stamp = now.isoformat(timespec="seconds")
    waiting = {c: ledger.unsent_base_keys(c) for c in config.alerts.channels}
    rows = []
    for event in {e.base_key: e for e in events}.values():
        last = ledger.last_alert_at(event.base_key)
        if last is not None and remind and now - last < remind:
            continue
        rows += [
            row
            for row in _rows_for(
                config,
                f"{event.base_key}@{stamp}",
                event.base_key,
                event.kind,
                event.to_json(),
                stamp,
            )
            if event.base_key not in waiting[row.channel]
        ]
    return rows


def _rows_for(
    config: Config, event_key: str, base_key: str, kind: str, payload: str, stamp: str
) -> list[AlertRow]:
    return [
        AlertRow(0, event_key, base_key, channel, kind, payload, stamp, None, 0, None)
        for channel in config.alerts.channels
    ]


def _scheduled_digest(ledger: Ledger, config: Config, now: datetime) -> list[AlertRow]:
    """The digest of the period just ended, once: the first run after digest_hour makes it."""
    period = digests.due_period(config.alerts, now)
    if period is None or ledger.alert_rows(period.key):
        return []
    report = digests.build_digest(ledger, period.start, period.end, now=now)
    message = digests.digest_message(report, config, ledger.get_meta(STORE_NAME))
    stamp = now.isoformat(timespec="seconds")
    return _rows_for(config, period.key, period.key, DIGEST, digests.message_json(message), stamp)


# -- sending --------------------------------------------------------------------------------


class _LedgerOutbox:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def unsent(self, channel: str) -> list[AlertRow]:
        return self.ledger.unsent_alerts(channel)

    def sent(self, ids: list[int], at: datetime) -> None:
        self.ledger.mark_alerts_sent(ids, at)

    def failed(self, ids: list[int], error: str) -> None:
        self.ledger.mark_alerts_failed(ids, error)

    def store_name(self) -> str | None:
        return self.ledger.get_meta(STORE_NAME)


def _batches(
    config: Config, rows: list[AlertRow], store_name: str | None
) -> list[tuple[list[AlertRow], Message, str]]:
    """One message for all the events, one per digest: (rows, message, its stable key)."""
    batches = []
    alerts = [r for r in rows if r.kind != DIGEST]
    if alerts:
        events = [Event.from_json(r.payload) for r in alerts]
        message = compose(
            events,
            store=config.jumpseller.store,
            store_name=store_name,
            include_customer=config.alerts.include_customer,
            chat_format=config.alerts.webhook_format,
        )
        batches.append((alerts, message, digest("|".join(r.event_key for r in alerts))))
    for row in rows:
        if row.kind == DIGEST:
            batches.append(([row], digests.message_from_json(row.payload), digest(row.event_key)))
    return batches


def _sender(config: Config, channel: str) -> Callable[[Message, str], None]:
    alerts = config.alerts
    if channel == "email":
        return lambda message, key: send_email(
            alerts, message, message_id=message_id_for(key, alerts), timeout=CHANNEL_TIMEOUT
        )
    return lambda message, key: send_webhook(
        alerts, message, store=config.jumpseller.store, timeout=CHANNEL_TIMEOUT
    )


def _send_unsent(
    outbox: _LedgerOutbox | spool.SpoolOutbox,
    config: Config,
    now: datetime,
    budget: float,
    outcome: Outcome,
) -> None:
    """Each channel in its own thread, all within ``budget``; rows are marked here, in the
    calling thread, only for what a channel confirmed."""
    secrets = config.secrets()
    results: dict[tuple[str, int], str | None] = {}  # (channel, batch) -> error or None
    name = outbox.store_name()
    plans = {c: _batches(config, outbox.unsent(c), name) for c in config.alerts.channels}

    def work(channel: str) -> None:
        send = _sender(config, channel)
        for index, (_, message, key) in enumerate(plans[channel]):
            try:
                send(message, key)
                results[(channel, index)] = None
            except AlertError as exc:
                results[(channel, index)] = exc.message
            except Exception as exc:  # noqa: BLE001 - a channel's bug must not reach the run
                results[(channel, index)] = f"unexpected error: {exc!r}"

    threads = [
        threading.Thread(target=work, args=(c,), daemon=True, name=f"alerts-{c}")
        for c in plans
        if plans[c]
    ]
    deadline = _monotonic() + budget
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - _monotonic()))
    for channel, batches in plans.items():
        for index, (rows, _, _) in enumerate(batches):
            ids = [r.id for r in rows]
            error = results.get(
                (channel, index), f"not sent within {budget:g} s; the next run tries again"
            )
            if error is None:
                outbox.sent(ids, now)
                outcome.sent[channel] = outcome.sent.get(channel, 0) + 1
                log.info("Alert sent by %s (%d event(s))", channel, len(rows))
            else:
                error = redact(error, secrets)
                outbox.failed(ids, error)
                outcome.errors[channel] = error
                log.warning("Alert not sent by %s (%d event(s)): %s", channel, len(rows), error)


def _monotonic() -> float:
    import time

    return time.monotonic()


# -- no ledger: the spool -------------------------------------------------------------------


def _without_ledger(
    config: Config,
    now: datetime,
    error: BaseException | None,
    command: str,
    state_path: Path | None,
    budget: float,
    *,
    store_name: str | None = None,
) -> Outcome:
    outcome = Outcome()
    # A passing outage is counted in the ledger by the runs that have one (the invoice runs):
    # a catalogue run's network blip alone is no alert.
    if state_path is None or error is None or passes_by_itself(error):
        return outcome
    outbox = spool.SpoolOutbox(spool.path_for(state_path), store_name=store_name)
    event = run_error_event(error, command, config.secrets())
    remind = timedelta(hours=config.invoice.remind_failed_hours)
    last = outbox.last_alert_at(event.base_key)
    if last is None or not remind or now - last >= remind:
        stamp = now.isoformat(timespec="seconds")
        rows = _rows_for(
            config, f"{event.base_key}@{stamp}", event.base_key, event.kind, event.to_json(), stamp
        )
        outbox.record(rows)
        outcome.recorded = len(rows)
    _send_unsent(outbox, config, now, budget, outcome)
    outbox.save()
    return outcome


def send_digest_now(
    ledger: Ledger, config: Config, report: digests.DigestReport, *, now: datetime
) -> Outcome:
    """`digest --send`: record this digest (once per channel) and send what is unsent."""
    outcome = Outcome()
    stamp = now.isoformat(timespec="seconds")
    key = f"digest:asked:{stamp}"
    message = digests.digest_message(report, config, ledger.get_meta(STORE_NAME))
    try:
        rows = _rows_for(config, key, key, DIGEST, digests.message_json(message), stamp)
        ledger.record_alerts(rows)
        outcome.recorded = len(rows)
        _send_unsent(_LedgerOutbox(ledger), config, now, SEND_BUDGET, outcome)
    except Exception:  # a digest asked for must not end in a traceback either
        log.exception("The digest could not be sent; the next run tries again")
    return outcome
