"""Alerts end to end in one process, with real parts: a real SMTP server (aiosmtpd) and an HTTP
receiver; the ledger on disk; fixed clocks. Counts messages per event: exactly one per event
and reminder, none lost, none twice, each channel on its own."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.alerts import dispatch, spool
from igest_sync.alerts import outbox as dispatch_module
from igest_sync.config import Config, load_config
from igest_sync.errors import AuthError, RunLocked, StateError, TransportError
from igest_sync.state.ledger import Ledger
from igest_sync.timeutil import LISBON
from tests.support.alert_receivers import ChatReceiver, SmtpSink

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BASE = """\
[jumpseller]
base_url = "https://api.jumpseller.com/v1"
login = "loja-azul"
auth_token = "tok-SECRET-js"

[igest]
base_url = "https://igest.example.pt/api/v1"
integration_key = "key-SECRET-ig"
security_code = "sec-SECRET-ig"

[invoice]
start_date = 2026-11-01
"""


def make_config(
    tmp_path: Path, smtp: SmtpSink | None, chat: ChatReceiver | None, **extra
) -> Config:
    lines = ["[alerts]"]
    if smtp is not None:
        lines += [
            'smtp_host = "127.0.0.1"',
            f"smtp_port = {smtp.port}",
            'smtp_security = "none"',
            'email_from = "igest-sync@loja-azul.pt"',
            'email_to = ["dona@loja-azul.pt", "Contabilista <conta@example.pt>"]',
        ]
    if chat is not None:
        lines.append(f'webhook_url = "{chat.url}"')
        extra.setdefault("webhook_format", '"json"')
    lines += [f"{key} = {value}" for key, value in extra.items()]
    path = tmp_path / "config.toml"
    path.write_text(BASE + "\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    config, _ = load_config(path, env={})
    return config


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "state.sqlite3") as opened:
        yield opened


def fail_order(ledger: Ledger, order_id: int, reason: str, *, transient: bool = False) -> None:
    ledger.record_order(
        order_id,
        "paid",
        created_at=NOW - timedelta(hours=2),
        paid_at=NOW - timedelta(hours=1),
        total=Decimal("24.60"),
        customer="Ana Silva",
        email="ana.silva@example.pt",
    )
    ledger.ensure_work(order_id, "invoice", f"jumpseller:loja-azul:{order_id}")
    ledger.fail(order_id, "invoice", reason, transient=transient)


def posted_orders(chat: ChatReceiver) -> list[int]:
    return [e["order_id"] for post in chat.posts for e in post.json()["events"]]


def test_a_failed_order_is_one_email_and_one_chat_message_then_a_reminder(
    tmp_path, ledger, smtp, chat
):
    config = make_config(tmp_path, smtp, chat)
    fail_order(ledger, 10452, "Order 10452: the NIF 123456780 is not valid")

    first = dispatch(ledger, config, now=NOW)

    assert first.sent == {"email": 1, "webhook": 1} and first.errors == {}
    [mail] = smtp.messages()
    assert mail.message.get_content_type() == "multipart/alternative"
    assert mail.message["To"] == "dona@loja-azul.pt, Contabilista <conta@example.pt>"
    assert sorted(mail.envelope_to) == ["conta@example.pt", "dona@loja-azul.pt"]
    assert mail.message["Subject"] == (
        "igest-sync loja-azul: Order 10452: the invoice was not issued"
    )
    text = mail.part("plain")
    assert "(24.60 EUR)" in text and "igest-sync resend 10452 --nif NIF" in text
    assert "<td>10452</td>" in mail.part("html")
    [post] = chat.posts
    assert post.json()["events"][0]["order_id"] == 10452
    assert post.json()["events"][0]["amount"] == "24.60"

    # Later runs within remind_failed_hours (24): nothing new; after it: one reminder each.
    assert dispatch(ledger, config, now=NOW + timedelta(hours=1)).sent == {}
    assert dispatch(ledger, config, now=NOW + timedelta(hours=23, minutes=59)).sent == {}
    assert dispatch(ledger, config, now=NOW + timedelta(hours=24)).sent == {
        "email": 1,
        "webhook": 1,
    }
    assert len(smtp.messages()) == 2 and posted_orders(chat) == [10452, 10452]


def test_a_storm_of_200_failures_is_one_message_per_channel_listing_every_order(
    tmp_path, ledger, smtp, chat
):
    config = make_config(tmp_path, smtp, chat, webhook_format='"discord"')
    for order_id in range(5000, 5200):
        fail_order(ledger, order_id, "iGEST refused the document (422): series A is closed")

    outcome = dispatch(ledger, config, now=NOW)

    assert outcome.sent == {"email": 1, "webhook": 1} and outcome.recorded == 400
    [mail] = smtp.messages()
    assert "200 alerts" in mail.message["Subject"]
    text = mail.part("plain")
    assert all(f"Order {i}:" in text for i in range(5000, 5200))
    [post] = chat.posts
    content = post.json()["content"]
    assert len(content) <= 2000  # Discord's limit
    assert all(str(i) in content for i in range(5000, 5200))  # grouped by reason, all listed


def test_smtp_down_then_back_each_channel_fails_and_recovers_on_its_own(
    tmp_path, ledger, smtp, chat
):
    config = make_config(tmp_path, smtp, chat)
    smtp.stop()
    fail_order(ledger, 1001, "Order 1001: no SKU for product 7")

    down = dispatch(ledger, config, now=NOW)
    assert down.sent == {"webhook": 1} and "cannot be reached" in down.errors["email"]

    fail_order(ledger, 1002, "Order 1002: no SKU for product 8")
    smtp.start()
    back = dispatch(ledger, config, now=NOW + timedelta(minutes=10))

    assert back.sent == {"email": 1, "webhook": 1}
    [mail] = smtp.messages()  # the one that waited and the new one, together, once
    assert "Order 1001:" in mail.part("plain") and "Order 1002:" in mail.part("plain")
    assert posted_orders(chat) == [1001, 1002]  # 1001 was not posted a second time
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=20)).sent == {}


def test_smtp_refusal_and_webhook_500_are_retried_until_taken(tmp_path, ledger, smtp, chat):
    config = make_config(tmp_path, smtp, chat)
    smtp.refuse, chat.status = True, 500
    fail_order(ledger, 2001, "Order 2001: the total differs by 0.01")

    failed = dispatch(ledger, config, now=NOW)
    assert failed.sent == {}
    assert "451" in failed.errors["email"] and "answered 500" in failed.errors["webhook"]
    assert chat.url not in str(failed.errors) and "T0K3N" not in str(failed.errors)
    [row_email, row_webhook] = ledger.unsent_alerts("email") + ledger.unsent_alerts("webhook")
    assert row_email.attempts == 1 and row_webhook.last_error

    smtp.refuse, chat.status = False, 200
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=5)).sent == {
        "email": 1,
        "webhook": 1,
    }
    assert len(smtp.messages()) == 1 and posted_orders(chat) == [2001]
    assert ledger.unsent_alerts("email") == ledger.unsent_alerts("webhook") == []


@pytest.mark.slow(3)
def test_a_slow_webhook_is_given_up_within_the_budget_and_retried(
    tmp_path, ledger, chat, monkeypatch
):
    monkeypatch.setattr(dispatch_module, "CHANNEL_TIMEOUT", 0.2)
    config = make_config(tmp_path, None, chat)
    chat.delay = 1.0
    fail_order(ledger, 3001, "Order 3001: no SKU")

    slow = dispatch(ledger, config, now=NOW)

    assert slow.sent == {} and "did not answer in time" in slow.errors["webhook"]
    assert [r.event_key.split("@")[0] for r in ledger.unsent_alerts("webhook")] == [
        ledger.unsent_alerts("webhook")[0].base_key
    ]


def test_chat_carries_no_nif_address_or_email_and_email_the_name_only_when_asked(
    tmp_path, ledger, smtp, chat
):
    config = make_config(tmp_path, smtp, chat, include_customer="true")
    fail_order(ledger, 4001, "Order 4001: NIF 123456780 of ana.silva@example.pt is not valid")

    dispatch(ledger, config, now=NOW)

    body = chat.posts[0].body.decode()
    assert "123456780" not in body and "ana.silva@example.pt" not in body
    assert "Ana Silva" not in body and "4001" in body and "24.60" in body
    assert "Ana Silva" in smtp.messages()[0].part("plain")


def test_without_include_customer_email_names_nobody(tmp_path, ledger, smtp):
    config = make_config(tmp_path, smtp, None)
    fail_order(ledger, 4002, "Order 4002: no SKU")
    dispatch(ledger, config, now=NOW)
    assert "Ana Silva" not in smtp.messages()[0].message.as_string()


def test_a_run_that_stopped_without_a_ledger_is_spooled_then_taken_in(tmp_path, smtp):
    config = make_config(tmp_path, smtp, None)
    state = tmp_path / "state.sqlite3"
    smtp.stop()
    error = StateError(f"State file {state} cannot be read: file is not a database.")

    first = dispatch(None, config, now=NOW, error=error, state_path=state)
    assert first.recorded == 1 and "email" in first.errors
    assert spool.path_for(state).exists()
    # The same error an hour later: still one event, not a second one (no reminder yet).
    assert (
        dispatch(None, config, now=NOW + timedelta(hours=1), error=error, state_path=state).recorded
        == 0
    )

    smtp.start()
    with Ledger(state) as ledger:
        taken = dispatch(ledger, config, now=NOW + timedelta(hours=2))
    assert taken.sent == {"email": 1}
    [mail] = smtp.messages()
    assert "The state file cannot be used" in mail.message["Subject"]
    assert not spool.path_for(state).exists()


def test_a_lock_held_for_long_is_told_as_a_lock_not_as_a_state_file_to_fix(tmp_path, smtp):
    # The lock is taken before the ledger is opened: the alert goes through the spool.
    config = make_config(tmp_path, smtp, None)
    state = tmp_path / "state.sqlite3"
    error = RunLocked(
        f"Another igest-sync run (pid 4242) is using {state}; this one stops without doing "
        "anything. It has held the lock for 61 minutes (...)",
        held_for=61 * 60,
    )

    assert dispatch(None, config, now=NOW, error=error, state_path=state, command="invoice").sent
    [mail] = smtp.messages()
    subject, body = mail.message["Subject"], mail.part("plain")
    assert "Another igest-sync run has held the lock for 61 minutes" in subject
    assert "igest-sync invoice" in subject
    assert "state file cannot be used" not in subject
    assert "Wait for that run to end" in body and "find the process that holds the lock" in body
    assert "igest-sync check" not in body


def test_cron_runs_meeting_the_same_held_lock_make_one_alert_not_one_each():
    # Its message counts the minutes (and the seconds waited): the alert's key must not, or
    # each cron run met by a command left at its question sent one more alert.
    from igest_sync.alerts.events import run_error_event

    def met(minutes: int, waited: int) -> RunLocked:
        return RunLocked(
            f"Another igest-sync run (pid 4242) is using /s (waited {waited} s); this one stops "
            f"without doing anything. It has held the lock for {minutes} minutes (...)",
            held_for=minutes * 60,
        )

    first, later = run_error_event(met(6, 120), "invoice"), run_error_event(met(21, 119), "invoice")
    assert first.base_key == later.base_key
    other = RunLocked(met(6, 120).args[0].replace("4242", "5151"), held_for=360)
    assert run_error_event(other, "invoice").base_key != first.base_key  # another holder
    assert "held the lock for 1 minute:" in run_error_event(met(1, 0), "invoice").title


def test_a_service_down_is_an_alert_only_after_unreachable_minutes(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat, unreachable_minutes=60)
    down = TransportError("Jumpseller cannot be reached: connection refused", service="Jumpseller")

    assert dispatch(ledger, config, now=NOW, error=down).recorded == 0
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=59), error=down).recorded == 0
    late = dispatch(ledger, config, now=NOW + timedelta(minutes=61), error=down)
    assert late.sent == {"webhook": 1}
    assert "unreachable for 61 minutes" in chat.posts[0].json()["events"][0]["title"]
    # Back: a run that got through forgets the outage; the next outage counts from its start.
    dispatch(ledger, config, now=NOW + timedelta(minutes=70))
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=80), error=down).recorded == 0


def test_an_outage_of_one_minute_is_said_in_the_singular(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat, unreachable_minutes=1)
    down = TransportError("Jumpseller cannot be reached: connection refused", service="Jumpseller")

    assert dispatch(ledger, config, now=NOW, error=down).recorded == 0
    assert dispatch(ledger, config, now=NOW + timedelta(seconds=70), error=down).sent
    title = chat.posts[0].json()["events"][0]["title"]
    assert "unreachable for 1 minute;" in title, title


def test_credentials_refused_is_an_alert_at_once(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat)
    refused = AuthError("iGEST refused the credentials (401)", service="iGEST")
    outcome = dispatch(ledger, config, now=NOW, error=refused, command="invoice")
    assert outcome.sent == {"webhook": 1}
    event = chat.posts[0].json()["events"][0]
    assert event["title"] == "iGEST refused the credentials: `igest-sync invoice` stopped"


def test_orders_failing_by_themselves_wait_for_unreachable_minutes(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat, unreachable_minutes=30)
    fail_order(
        ledger, 6001, "iGEST did not answer; the next run tries again by itself", transient=True
    )
    assert dispatch(ledger, config, now=NOW).recorded == 0
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=31)).sent == {"webhook": 1}
    assert posted_orders(chat) == [6001]


def test_a_passing_failure_waits_its_own_unreachable_minutes_not_another_orders(
    tmp_path, ledger, chat
):
    """One moment for every order failing by itself: an order that failed six minutes ago
    was alerted because another had been retried for an hour, while cron's output (which
    counts each order from its own first failure) kept it quiet as a retry that passes."""
    config = make_config(tmp_path, None, chat, unreachable_minutes=60)
    fail_order(
        ledger, 6011, "iGEST answered 502; the next run tries again by itself", transient=True
    )
    assert dispatch(ledger, config, now=NOW).recorded == 0
    # 55 minutes on: 6011 went through, and 6012 failed by itself (an answer lost).
    ledger.works.mark(6011, "invoice", "final")
    fail_order(
        ledger, 6012, "iGEST answered 502; the next run tries again by itself", transient=True
    )
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=55)).recorded == 0
    # 6011 fails by itself again: it starts counting anew; 6012 has failed for 6 minutes.
    fail_order(
        ledger, 6011, "iGEST answered 502; the next run tries again by itself", transient=True
    )
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=61)).recorded == 0
    # Each is told once it has lasted, counted from its own first failure.
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=115)).sent == {"webhook": 1}
    assert posted_orders(chat) == [6012]
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=121)).sent == {"webhook": 1}
    assert posted_orders(chat) == [6012, 6011]


def test_an_upgrade_keeps_the_moment_an_older_version_counted_passing_failures_from(
    tmp_path, ledger, chat
):
    config = make_config(tmp_path, None, chat, unreachable_minutes=60)
    fail_order(ledger, 6021, "iGEST answered 502", transient=True)
    ledger.set_meta(dispatch_module.TRANSIENT_SINCE, NOW.isoformat(timespec="seconds"))
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=59)).recorded == 0
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=60)).sent == {"webhook": 1}
    assert posted_orders(chat) == [6021]


def test_a_passing_failure_whose_words_change_between_attempts_is_alerted_once(
    tmp_path, ledger, chat
):
    """During an outage one order's reason changes from attempt to attempt (the draft POST's
    502, then the look-up's): keyed by the text, it was alerted twice seconds apart."""
    config = make_config(tmp_path, None, chat, unreachable_minutes=0)
    fail_order(ledger, 6004, "could not reach iGEST: POST /documents 502", transient=True)
    assert dispatch(ledger, config, now=NOW).sent == {"webhook": 1}
    fail_order(ledger, 6004, "could not look up jumpseller:s:6004 in iGEST: 502", transient=True)
    assert dispatch(ledger, config, now=NOW + timedelta(seconds=3)).sent == {}
    assert posted_orders(chat) == [6004]


def test_the_alert_of_a_failure_that_passes_by_itself_says_to_wait_as_the_footer_does(
    tmp_path, ledger, chat
):
    # The printed footer says there is nothing to do but wait for the service; `resend` in the
    # alert would send a person to do what every run already does.
    config = make_config(tmp_path, None, chat, unreachable_minutes=30)
    fail_order(
        ledger, 6002, "iGEST answered 502; the next run tries again by itself", transient=True
    )
    fail_order(ledger, 6003, "Order 6003: the NIF 123456780 is not valid")
    dispatch(ledger, config, now=NOW)  # the NIF's alert; the passing one waits 30 minutes
    dispatch(ledger, config, now=NOW + timedelta(minutes=31))
    fixes = {e["order_id"]: e["fix"] for post in chat.posts for e in post.json()["events"]}
    assert "resend" not in fixes[6002]
    assert "by itself" in fixes[6002] and "igest-sync check" in fixes[6002]
    assert fixes[6003].startswith("igest-sync resend 6003 --nif NIF")  # a person's to fix


def test_a_paid_order_without_its_document_after_late_hours(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat, late_hours=20)
    ledger.record_order(
        7001,
        "paid",
        created_at=NOW - timedelta(hours=30),
        paid_at=NOW - timedelta(hours=21),
        total=Decimal("10.00"),
        customer="Rui",
    )
    ledger.ensure_work(7001, "invoice", "jumpseller:loja-azul:7001")
    ledger.record_order(
        7002, "paid", created_at=NOW, paid_at=NOW - timedelta(hours=19), total=None, customer=None
    )
    ledger.ensure_work(7002, "invoice", "jumpseller:loja-azul:7002")
    # Skipped on purpose (a sale of the till): no invoice work, never late.
    ledger.record_order(
        7003,
        "paid",
        created_at=NOW - timedelta(days=3),
        paid_at=NOW - timedelta(days=3),
        total=Decimal("5.00"),
        customer=None,
        note="invoiced by the till (source pos)",
    )

    dispatch(ledger, config, now=NOW)

    [event] = chat.posts[0].json()["events"]
    assert event["kind"] == "late" and event["order_id"] == 7001
    assert event["fix"].startswith("igest-sync status --order 7001")
    # When it was paid, as a person in Portugal reads it (not the ledger's UTC stamp).
    paid = (NOW - timedelta(hours=21)).astimezone(LISBON).strftime("%Y-%m-%d %H:%M")
    assert event["reason"].startswith(f"paid at {paid} (Lisbon), no document after 20 hours")


def test_notices_are_alerts_once_then_reminders(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat)
    notice = "Order 8001: cancelled after its invoice FR A/12; credit it by hand"
    assert dispatch(ledger, config, now=NOW, notices=[notice, notice]).sent == {"webhook": 1}
    assert dispatch(ledger, config, now=NOW + timedelta(hours=2), notices=[notice]).sent == {}
    assert posted_orders(chat) == [8001]


def test_the_scheduled_digest_goes_once_after_digest_hour_lisbon(tmp_path, ledger, smtp, chat):
    config = make_config(tmp_path, smtp, chat, digest='"daily"', digest_hour=8)
    ledger.set_meta("store_name", "Loja do Azulejo")  # as a run read it from Jumpseller
    winter_morning = datetime(2026, 11, 27, 7, 59, tzinfo=UTC)  # Lisbon is UTC in winter
    assert dispatch(ledger, config, now=winter_morning).recorded == 0
    sent = dispatch(ledger, config, now=winter_morning + timedelta(minutes=2))
    assert sent.sent == {"email": 1, "webhook": 1}
    assert dispatch(ledger, config, now=winter_morning + timedelta(hours=3)).recorded == 0
    [mail] = smtp.messages()
    subject = str(mail.message["Subject"]).strip()  # folded after "Subject:" (RFC 5322)
    assert subject.startswith("igest-sync Loja do Azulejo: digest to 2026-11-27")
    assert "Documents issued: 0" in mail.part("plain")
    assert f"digest for the store Loja do Azulejo ({config.jumpseller.store})" in mail.part("plain")
    assert mail.message.get_content_type() == "multipart/alternative"


def test_no_channel_is_todays_behaviour(tmp_path, ledger):
    config = make_config(tmp_path, None, None)
    fail_order(ledger, 9001, "Order 9001: no SKU")
    assert dispatch(ledger, config, now=NOW).recorded == 0
    assert ledger.unsent_alerts("email") == []


def test_dispatch_never_raises_on_a_closed_ledger(tmp_path, smtp):
    config = make_config(tmp_path, smtp, None)
    ledger = Ledger(tmp_path / "state.sqlite3")
    ledger.close()
    assert dispatch(ledger, config, now=NOW).sent == {}


def test_a_network_blip_of_a_run_without_a_ledger_is_no_alert(tmp_path, chat):
    config = make_config(tmp_path, None, chat)
    blip = TransportError("Jumpseller cannot be reached: timed out", service="Jumpseller")
    state = tmp_path / "state.sqlite3"
    assert dispatch(None, config, now=NOW, error=blip, state_path=state).recorded == 0
    assert chat.posts == [] and not spool.path_for(state).exists()


def test_an_internal_error_is_an_alert_that_points_to_the_log(tmp_path, ledger, chat):
    config = make_config(tmp_path, None, chat)
    outcome = dispatch(ledger, config, now=NOW, error=KeyError("lines"), command="resend")
    assert outcome.sent == {"webhook": 1}
    [event] = chat.posts[0].json()["events"]
    assert event["title"] == "`igest-sync resend` stopped on an internal error"
    assert "log file" in event["fix"] and "KeyError" in event["reason"]


def test_an_internal_error_that_quotes_a_secret_is_alerted_masked(tmp_path, ledger, smtp, chat):
    # The console masks an internal error's repr; its alert (email, chat, the outbox's rows,
    # the spool) must too.
    config = make_config(tmp_path, smtp, chat)
    bug = RuntimeError("unexpected answer to GET ?key=key-SECRET-ig&code=sec-SECRET-ig")
    assert dispatch(ledger, config, now=NOW, error=bug).sent == {"email": 1, "webhook": 1}
    state = tmp_path / "spooled.sqlite3"
    smtp.stop()
    dispatch(None, config, now=NOW, error=bug, state_path=state, command="credit")
    [mail] = smtp.messages()
    assert "key=***&code=***" in mail.part("plain")
    texts = [mail.part("plain"), mail.part("html"), spool.path_for(state).read_text("utf-8")]
    texts += [post.body.decode("utf-8") for post in chat.posts]
    with closing(sqlite3.connect(ledger.path)) as db:
        texts += [payload for (payload,) in db.execute("SELECT payload FROM alerts")]
    assert not any("SECRET" in text for text in texts)


def test_a_reminder_falling_due_while_a_channel_is_down_is_not_sent_twice(
    tmp_path, ledger, smtp, chat
):
    config = make_config(tmp_path, smtp, chat)
    fail_order(ledger, 1201, "Order 1201: no SKU for product 9")
    smtp.stop()
    assert dispatch(ledger, config, now=NOW).sent == {"webhook": 1}
    # A day later the reminder is due: chat gets it; email still owes the first one.
    assert dispatch(ledger, config, now=NOW + timedelta(hours=25)).sent == {"webhook": 1}
    smtp.start()
    assert dispatch(ledger, config, now=NOW + timedelta(hours=26)).sent == {"email": 1}
    [mail] = smtp.messages()
    assert mail.part("plain").count("* Order 1201:") == 1
    assert posted_orders(chat) == [1201, 1201]


def test_a_server_without_a_login_is_named_so_not_as_a_missing_starttls(tmp_path):
    """smtp_user and smtp_password set for a relay that offers no AUTH: smtplib's login raises
    the class starttls raises, and the message blamed STARTTLS with smtp_security = "none"."""
    from igest_sync.alerts.email import probe_email
    from igest_sync.errors import AlertError

    smtp = SmtpSink().start()  # offers no AUTH
    try:
        config = make_config(tmp_path, smtp, None, smtp_user='"u@loja.pt"', smtp_password='"p"')
        with pytest.raises(AlertError) as refused:
            probe_email(config.alerts, timeout=5)
    finally:
        smtp.stop()
    text = f"{refused.value} {refused.value.hint}"
    assert "does not offer a login (SMTP AUTH)" in text and "STARTTLS" not in text
    assert "remove [alerts] smtp_user and smtp_password" in text and '"p"' not in text


def test_a_passing_failure_recorded_while_the_alerts_are_gathered_stops_no_alert(
    tmp_path, ledger, chat, monkeypatch
):
    # Another process (serve's worker, a cron run) records a failure that passes by itself
    # between the read of the moments each such failure started and the read of the failures:
    # a KeyError dropped the whole dispatch, the failure a person must act on with it. The new
    # one starts counting now, as any new one does.
    config = make_config(tmp_path, None, chat, unreachable_minutes=60)
    fail_order(ledger, 6030, "iGEST refused the customer's NIF")
    fail_order(ledger, 6031, "iGEST answered 502", transient=True)
    real, reads = ledger.work_in_states, []

    def meanwhile(*states, **kwargs):
        reads.append(states)
        if len(reads) == 2:
            fail_order(ledger, 6032, "iGEST answered 502", transient=True)
        return real(*states, **kwargs)

    monkeypatch.setattr(ledger, "work_in_states", meanwhile)
    assert dispatch(ledger, config, now=NOW).sent == {"webhook": 1}
    assert posted_orders(chat) == [6030]
    monkeypatch.undo()
    assert dispatch(ledger, config, now=NOW + timedelta(minutes=60)).sent == {"webhook": 1}
    assert posted_orders(chat) == [6030, 6031]
