"""The alert channels' secrets (the SMTP password, the webhook URL and its token) never appear in
output, logs, the state file or its spool, through refusals, outages and `--verbose`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.alert_receivers import ChatReceiver, SmtpSink
from tests.support.cli import make_cli
from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox

PASSWORD = "smtp-Pa55-w0rd-K9"
WRONG = "wr0ng-smtp-Pa55-Q1"


@pytest.mark.slow(3)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_no_alert_secret_in_any_output_log_or_state(tmp_path: Path):
    smtp = SmtpSink(login=("alertas", PASSWORD)).start()
    chat = ChatReceiver(status=500).start()
    try:
        with started_sandbox(seed=True, **FAST_LIMITS) as sb:
            alerts = {
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_security": "none",  # allowed with a password: loopback
                "smtp_user": "alertas",
                "smtp_password": WRONG,  # overridden by the environment
                "email_from": "igest-sync@loja.pt",
                "email_to": ["dona@loja.pt"],
                "webhook_url": chat.url,
                "webhook_format": "ntfy",
            }
            cli = make_cli(
                sb, tmp_path, env={"IGEST_SYNC_ALERTS_SMTP_PASSWORD": WRONG}, alerts=alerts
            )
            from igest_sandbox.jumpseller.orders import Buyer

            sb.store.add_order(
                lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}],
                shipping="3.90",
                buyer=Buyer("Carla", "Nunes", "c@example.pt", "911111111", taxid="123456788"),
            )
            refused = cli("-v", "invoice")  # login refused, webhook 500: the run as before
            assert refused.code == 1
            check = cli("-v", "check")
            assert "refused the login" in check.stdout and check.code == 5
            cli.env["IGEST_SYNC_ALERTS_SMTP_PASSWORD"] = PASSWORD
            chat.status = 200
            assert cli("-v", "alerts", "test").code == 0
            # exit 1: the refused order is still not issued (quiet: told already)
            assert cli("-v", "invoice").code == 1
            assert len(smtp.messages()) == 2  # the test, then the alert that waited
            assert len(chat.posts) == 2
    finally:
        smtp.stop()
        chat.stop()
    written = [*cli.outputs, cli.log_text()]
    written += [p.read_bytes().decode("latin-1") for p in tmp_path.glob("state.sqlite3*")]
    for text in written:
        for secret in (PASSWORD, WRONG, chat.url, "T0K3N-secret"):
            assert secret not in text
