"""Alerts through the real CLI against the sandbox, a real SMTP server (aiosmtpd) and an HTTP
receiver: a failed order is one email and one chat message, once; channels that fail are
retried by the next run and never change the run's outcome; `alerts test`, `check`, `digest`."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from tests.support.alert_receivers import ChatReceiver, SmtpSink

from .conftest import Cli, make_cli

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "json"


def _add_order_with_bad_nif(sb) -> int:
    from igest_sandbox.jumpseller.orders import Buyer

    buyer = Buyer("Carla", "Nunes", "carla@example.pt", "911111111", taxid="123456788")
    return sb.store.add_order(
        lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 2, "rate": 23}],
        shipping="3.90",
        buyer=buyer,
    )


def alerts_cli(sandbox, tmp_path: Path, smtp: SmtpSink, chat: ChatReceiver, **extra) -> Cli:
    alerts = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "email_from": "igest-sync@loja.pt",
        "email_to": ["dona@loja.pt"],
        "webhook_url": chat.url,
        "webhook_format": "slack",
        **extra,
    }
    return make_cli(sandbox, tmp_path, alerts=alerts)


def _no_secret_anywhere(cli: Cli, chat: ChatReceiver) -> None:
    for text in [*cli.outputs, cli.log_text()]:
        assert "T0K3N-secret" not in text and chat.url not in text


def test_a_failed_order_alerts_once_and_the_run_is_unchanged(sandbox, tmp_path, smtp, chat):
    cli = alerts_cli(sandbox, tmp_path, smtp, chat)
    bad = _add_order_with_bad_nif(sandbox)

    first = cli("invoice")
    assert first.code == 1 and str(bad) in first.stdout  # cron output as before

    [mail] = smtp.messages()
    assert f"Order {bad}" in mail.message["Subject"]
    assert mail.message.get_content_type() == "multipart/alternative"
    assert f"igest-sync resend {bad}" in mail.part("plain")
    [post] = chat.posts
    text = post.json()["text"]
    assert f"Order {bad}" in text and "123456788" not in text and "Carla" not in text

    again = cli("invoice")
    assert again.code == 1  # already shown: quiet, but the order is still not issued
    assert len(smtp.messages()) == 1 and len(chat.posts) == 1
    _no_secret_anywhere(cli, chat)


def test_channels_down_then_back_deliver_exactly_once(sandbox, tmp_path, smtp, chat):
    cli = alerts_cli(sandbox, tmp_path, smtp, chat)
    smtp.stop()
    chat.status = 503
    bad = _add_order_with_bad_nif(sandbox)

    down = cli("invoice")
    assert down.code == 1 and "Traceback" not in down.stderr + down.stdout
    assert cli.status()["documents"]  # the other orders were invoiced all the same

    smtp.start()
    chat.status = 200
    back = cli("invoice")
    assert back.code == 1  # the stuck order is still not issued
    # Named as the merchant knows the store (its name, as the runs read it from Jumpseller),
    # not by the API login; the body gives both.
    login = sandbox.credentials["jumpseller"]["login"]
    assert [m.message["Subject"] for m in smtp.messages()] == [
        f"igest-sync Loja do Azulejo: Order {bad}: the invoice was not issued"
    ]
    assert f"for the store Loja do Azulejo ({login}) needs a person" in smtp.messages()[0].part(
        "plain"
    )
    assert len(chat.posts) == 1
    assert cli("invoice").code == 1  # still not issued (the bad NIF waits for a person)
    assert len(smtp.messages()) == 1 and len(chat.posts) == 1


def test_credentials_refused_is_one_alert(sandbox, tmp_path, smtp, chat):
    cli = alerts_cli(sandbox, tmp_path, smtp, chat)
    values = cli.config.read_text().replace(
        sandbox.credentials["igest"]["security_code"], "wrong-code"
    )
    cli.config.write_text(values)
    for _ in range(2):
        assert cli("invoice").code == 5
    [mail] = smtp.messages()  # the second run's is not due yet (remind_failed_hours)
    assert "iGEST refused the credentials: `igest-sync invoice` stopped" in mail.part("plain")
    [post] = chat.posts
    assert "iGEST refused the credentials" in post.json()["text"]


def test_a_state_file_that_cannot_be_used_is_alerted_from_the_spool(sandbox, tmp_path, smtp, chat):
    cli = alerts_cli(sandbox, tmp_path, smtp, chat)
    cli.state.write_bytes(b"this is not a database" * 100)
    result = cli("invoice")
    assert result.code == 4
    [mail] = smtp.messages()
    assert "state file cannot be used" in mail.message["Subject"]
    assert (tmp_path / "state.sqlite3.alerts-spool").exists()


def test_alerts_test_and_check_report_each_channel(sandbox, tmp_path, smtp, chat):
    cli = alerts_cli(sandbox, tmp_path, smtp, chat)
    sent = cli("alerts", "test", "--json")
    assert sent.code == 0, sent.stdout + sent.stderr
    assert [c["name"] for c in sent.json()["checks"]] == ["Alerts: email", "Alerts: webhook"]
    assert len(smtp.messages()) == 1 and len(chat.posts) == 1

    check = cli("check", "--json")
    assert check.code == 0
    names = [c["name"] for c in check.json()["checks"]]
    assert "Alerts: email" in names and "Alerts: webhook" in names
    assert len(smtp.messages()) == 1 and len(chat.posts) == 1  # check sends nothing

    smtp.stop()
    failed = cli("alerts", "test")
    assert failed.code == 5 and "cannot be reached" in failed.stdout
    _no_secret_anywhere(cli, chat)


def test_digest_json_matches_its_schema_and_send_goes_once(sandbox, tmp_path, smtp, chat):
    cli = alerts_cli(sandbox, tmp_path, smtp, chat)
    assert cli("invoice").code == 0
    digest = cli("digest", "--since", "7d", "--json")
    assert digest.code == 0, digest.stderr
    schema = json.loads((SCHEMAS / "digest.schema.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(digest.json()))
    assert digest.json()["invoices"] == len(cli.status()["documents"])

    sent = cli("digest", "--send", "--json")
    assert sent.json()["sending"] == {"sent": {"email": 1, "webhook": 1}, "errors": {}}
    [mail] = smtp.messages()
    assert "digest" in mail.message["Subject"]
    assert "Documents issued:" in mail.part("plain") and "<ul>" in mail.part("html")
    assert len(chat.posts) == 1
