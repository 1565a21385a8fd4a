"""The alerts' parts one by one: [alerts] validation, the webhook formats (posted to a real HTTP
receiver), what chat may carry, the digest's schedule in Lisbon time, the spool."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from igest_sync.alerts import spool
from igest_sync.alerts.digest import build_digest, digest_lines, due_period
from igest_sync.alerts.events import Event
from igest_sync.alerts.message import chat_text, compose
from igest_sync.alerts.webhook import send_webhook
from igest_sync.config import AlertsConfig, load_config
from igest_sync.errors import AlertError
from igest_sync.state.alerts import AlertRow
from igest_sync.state.ledger import Ledger

BASE = """\
[jumpseller]
base_url = "https://api.jumpseller.com/v1"
login = "loja"
auth_token = "tok-SECRET"

[igest]
base_url = "https://igest.example.pt/api/v1"
integration_key = "key-SECRET"
security_code = "sec-SECRET"

[invoice]
start_date = 2026-11-01

[alerts]
"""


def problems(tmp_path: Path, alerts: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(BASE + alerts, encoding="utf-8")
    path.chmod(0o600)
    try:
        load_config(path, env=env or {})
    except Exception as exc:  # noqa: BLE001 - the ConfigError's problems are the answer
        return list(getattr(exc, "problems", [str(exc)]))
    return []


def event(order_id: int, reason: str = "no SKU", amount: str | None = "12.30") -> Event:
    return Event(
        kind="failed",
        base_key=f"failed:{order_id}",
        title=f"Order {order_id}: the invoice was not issued",
        order_id=order_id,
        amount=amount,
        reason=reason,
        fix=f"igest-sync resend {order_id}",
        customer="Ana Silva",
    )


# -- configuration ------------------------------------------------------------------------------


def test_none_with_a_password_off_loopback_is_refused_naming_the_key(tmp_path):
    found = problems(
        tmp_path,
        'smtp_host = "mail.example.pt"\nsmtp_security = "none"\nsmtp_user = "u"\n'
        'smtp_password = "pw-SECRET"\nemail_from = "a@loja.pt"\nemail_to = ["b@loja.pt"]\n',
    )
    assert len(found) == 1 and "[alerts] smtp_security" in found[0]
    assert "pw-SECRET" not in found[0]


def test_none_is_accepted_on_loopback_or_without_a_password(tmp_path):
    common = 'email_from = "a@loja.pt"\nemail_to = ["b@loja.pt"]\nsmtp_security = "none"\n'
    assert problems(tmp_path, common + 'smtp_host = "mail.example.pt"\n') == []
    assert (
        problems(
            tmp_path,
            common + 'smtp_host = "127.0.0.1"\nsmtp_user = "u"\nsmtp_password = "p"\n',
        )
        == []
    )


def test_every_alerts_problem_is_reported_together_and_no_secret_shown(tmp_path):
    found = problems(
        tmp_path,
        'smtp_port = 70000\nsmtp_security = "ssl"\nemail_to = ["not-an-address"]\n'
        'webhook_url = "http://hooks.example.com/services/T0K3N"\nwebhook_format = "slak"\n'
        'digest = "hourly"\ndigest_hour = 24\nlate_hours = 0\nunknown_key = 1\n',
    )
    text = "\n".join(found)
    for key in (
        "smtp_port",
        "smtp_security",
        "email_to",
        "webhook_url",
        "webhook_format",
        "digest:",
        "digest_hour",
        "late_hours",
        "unknown_key",
    ):
        assert f"[alerts] {key}" in text, key
    assert "T0K3N" not in text


def test_email_needs_a_server_sender_and_recipients(tmp_path):
    found = problems(tmp_path, 'email_to = ["b@loja.pt"]\n')
    assert found == [
        (
            "config.toml: [alerts] smtp_host: missing; email_to is set but there is no SMTP "
            "server to use"
        )
    ]
    found = problems(tmp_path, 'smtp_host = "mail.example.pt"\n')
    assert [p.split(":")[1] for p in found] == [" [alerts] email_from", " [alerts] email_to"]


def test_the_password_and_the_webhook_url_come_from_the_environment_and_are_secrets(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        BASE + 'smtp_host = "mail.example.pt"\nsmtp_user = "u"\nemail_from = "a@loja.pt"\n'
        'email_to = "b@loja.pt"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    env = {
        "IGEST_SYNC_ALERTS_SMTP_PASSWORD": "env-pw",
        "IGEST_SYNC_ALERTS_WEBHOOK_URL": "https://hooks.slack.com/services/X/Y/Z",
    }
    config, _ = load_config(path, env=env)
    assert config.alerts.smtp_password == "env-pw"
    assert config.alerts.email_to == ("b@loja.pt",)
    assert config.alerts.channels == ("email", "webhook")
    assert config.alerts.port == 587
    assert {"env-pw", "https://hooks.slack.com/services/X/Y/Z"} <= set(config.secrets())


# -- webhook formats, posted for real -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["slack", "discord", "teams", "ntfy", "json"])
def test_each_webhook_format_posts_one_compact_message(chat, fmt):
    message = compose([event(10452)], store="loja", include_customer=True, chat_format=fmt)
    alerts = AlertsConfig(webhook_url=chat.url, webhook_format=fmt)

    send_webhook(alerts, message, store="loja", timeout=3)

    [post] = chat.posts
    assert post.path == "/hooks/T0K3N-secret"
    if fmt == "ntfy":
        assert post.headers["Title"].startswith("igest-sync loja: Order 10452")
        text = post.body.decode()
    else:
        body = post.json()
        text = {
            "slack": lambda: body["text"],
            "discord": lambda: body["content"],
            "teams": lambda: " ".join(b["text"] for b in body["attachments"][0]["content"]["body"]),
            "json": lambda: body["text"],
        }[fmt]()
        if fmt == "json":
            assert body["events"][0]["order_id"] == 10452
            assert body["events"][0]["amount"] == "12.30"
    assert "10452" in text and "12.30" in text and "no SKU" in text
    assert "Ana Silva" not in post.body.decode()


def test_the_message_names_the_store_as_a_person_knows_it():
    # The config's store code is Jumpseller's API login unless set: a random string to read.
    named = compose(
        [event(1)], store="x7k2q", store_name="Loja do Azulejo", include_customer=False,
        chat_format="json",
    )  # fmt: skip
    assert named.subject.startswith("igest-sync Loja do Azulejo: Order 1")
    assert "for the store Loja do Azulejo (x7k2q) needs a person" in named.text
    assert "Loja do Azulejo (x7k2q)" in named.html and named.chat.startswith("igest-sync Loja")
    unnamed = compose([event(1)], store="x7k2q", include_customer=False, chat_format="json")
    assert unnamed.subject.startswith("igest-sync x7k2q: Order 1")
    assert "for the store x7k2q needs a person" in unnamed.text


def test_a_webhook_error_names_the_host_never_the_url(chat):
    chat.status = 404
    message = compose([event(1)], store="loja", include_customer=False, chat_format="json")
    with pytest.raises(AlertError) as raised:
        send_webhook(AlertsConfig(webhook_url=chat.url), message, store="loja", timeout=3)
    assert "answered 404" in raised.value.message and "T0K3N" not in raised.value.message
    assert raised.value.hint and "webhook_url" in raised.value.hint


# -- what chat carries --------------------------------------------------------------------------


def test_chat_masks_nifs_and_addresses_in_reasons_and_never_names_the_customer():
    reason = "NIF PT123456780 of ana@example.pt is not valid; also 987654321"
    text = chat_text([event(7, reason)], store="loja", limit=4000)
    assert "123456780" not in text and "987654321" not in text and "ana@example.pt" not in text
    assert "Ana Silva" not in text and "Order 7" in text and "12.30" in text


def test_chat_groups_then_cuts_to_fit_the_limit_and_says_where_the_rest_is():
    many = [event(i, f"reason {i % 3}") for i in range(100000, 100400)]
    grouped = chat_text(many, store="loja", limit=4000)
    assert len(grouped) <= 4000 and "reason 0" in grouped
    cut = chat_text(many, store="loja", limit=500)
    assert len(cut) <= 500 and cut.endswith("igest-sync status --failed lists them all")


def test_email_names_the_customer_only_with_include_customer():
    events = [event(1)]
    assert "Ana Silva" in compose(events, store="s", include_customer=True, chat_format="json").text
    plain = compose(events, store="s", include_customer=False, chat_format="json")
    assert "Ana Silva" not in plain.text and "Ana Silva" not in plain.html


# -- the digest's schedule ----------------------------------------------------------------------


def test_daily_digest_is_due_after_the_hour_in_lisbon_summer_time():
    alerts = AlertsConfig(digest="daily", digest_hour=8, webhook_url="https://x")
    # 2026-07-01 in Lisbon is UTC+1: 08:00 there is 07:00 UTC.
    assert due_period(alerts, datetime(2026, 7, 1, 6, 59, tzinfo=UTC)) is None
    period = due_period(alerts, datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    assert period is not None and period.key == "digest:daily:2026-07-01"
    assert period.end == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert period.end - period.start == timedelta(days=1)


def test_weekly_digest_belongs_to_the_week_from_its_monday():
    alerts = AlertsConfig(digest="weekly", digest_hour=9, webhook_url="https://x")
    monday_early = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday, before 09:00 Lisbon
    assert due_period(alerts, monday_early) is None
    wednesday = due_period(alerts, datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
    monday = due_period(alerts, datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert wednesday == monday and monday is not None
    assert monday.key == "digest:weekly:2026-W49"
    assert monday.end - monday.start == timedelta(days=7)
    assert due_period(AlertsConfig(digest="off"), wednesday.end) is None


def test_digest_counts_the_period_and_what_is_open(tmp_path):
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    with Ledger(tmp_path / "s.sqlite3") as ledger:
        ledger.record_order(
            1,
            "paid",
            created_at=now,
            paid_at=now - timedelta(hours=30),
            total=Decimal("5.00"),
            customer=None,
        )
        ledger.ensure_work(1, "invoice", "ref:1")
        ledger.fail(1, "invoice", "Order 1: no SKU", transient=False)
        ledger.record_order(
            2,
            "pending_payment",
            created_at=now,
            paid_at=None,
            total=Decimal("9.00"),
            customer=None,
        )
        report = build_digest(ledger, now - timedelta(days=1), now, now=now)
    assert report.invoices == 0 and report.invoices_total == Decimal(0)
    assert report.failed == [{"order_id": 1, "kind": "invoice", "reason": "Order 1: no SKU"}]
    assert report.waiting_payment == 1
    assert report.oldest_without_document == {
        "order_id": 1,
        "paid_at": (now - timedelta(hours=30)).isoformat(timespec="seconds"),
        "hours": 30.0,
    }
    lines = digest_lines(report)
    assert "Failures still open: 1" in lines and "Last good run: never (last run: never)" in lines
    assert any(line.endswith(", 30 h ago)") for line in lines), lines
    # Weeks late is said in days, not as 423.7 h.
    late = {**report.oldest_without_document, "hours": 423.7}
    later = digest_lines(replace(report, oldest_without_document=late))
    assert any(line.endswith(", 17.7 days ago)") for line in later), later


# -- the spool ----------------------------------------------------------------------------------


def test_the_spool_is_private_and_its_rows_move_into_the_ledger_with_their_state(tmp_path):
    state = tmp_path / "state.sqlite3"
    outbox = spool.SpoolOutbox(spool.path_for(state))
    row = AlertRow(
        0, "run:x@t", "run:x", "email", "run", "{}", "2026-11-27T12:00:00+00:00", None, 0, None
    )
    outbox.record([row, row])  # the same event and channel once
    outbox.sent([1], datetime(2026, 11, 27, 12, 1, tzinfo=UTC))
    assert spool.path_for(state).stat().st_mode & 0o777 == 0o600
    with Ledger(state) as ledger:
        spool.take_into(ledger, spool.path_for(state))
        [taken] = ledger.alert_rows("run:x@t")
        assert taken.sent_at == "2026-11-27T12:01:00+00:00" and ledger.unsent_alerts("email") == []
    assert not spool.path_for(state).exists()


def test_amounts_read_as_money_in_every_form():
    # Before: Jumpseller's "1109.5" went out as "(1109.5 EUR)".
    message = compose(
        [event(7, amount="1109.5")], store="loja", include_customer=False, chat_format="json"
    )
    assert "(1,109.50 EUR)" in message.text and "(1,109.50 EUR)" in message.chat
    assert "<td>1,109.50</td>" in message.html
    assert message.items[0]["amount"] == "1109.50"  # the json format: a number as text
    odd = compose([event(8, amount="?")], store="loja", include_customer=False, chat_format="json")
    assert "(? EUR)" in odd.text
