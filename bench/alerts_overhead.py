"""What alerts add to a run: ``dispatch`` of a storm of failed orders, timed, against channels
that take the message, refuse the connection, or accept it and never answer.

    .venv/bin/python bench/alerts_overhead.py            # 200 failed orders
    .venv/bin/python bench/alerts_overhead.py --orders 1000

Everything listens on 127.0.0.1 (the sandbox's SMTP sink and chat receiver, a closed port, a
socket that accepts and stays silent) and the script stops by itself. Target: at most the send
budget (outbox.SEND_BUDGET, 5 s) plus recording, whatever the channels do; under 1 s when they
work. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from igest_sandbox.alert_sinks import AlertSinks
from igest_sync.alerts import dispatch
from igest_sync.alerts.outbox import SEND_BUDGET
from igest_sync.config import load_config
from igest_sync.state.ledger import Ledger

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BASE = """\
[jumpseller]
base_url = "https://api.jumpseller.com/v1"
login = "bench"
auth_token = "bench-token-not-a-real-one"

[igest]
base_url = "https://igest.example.pt/api/v1"
integration_key = "bench-key-not-a-real-one"
security_code = "bench-code-not-a-real-one"

[invoice]
start_date = 2026-11-01

[alerts]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
email_from = "bench@example.pt"
email_to = ["merchant@example.pt"]
webhook_url = "{webhook}"
webhook_format = "slack"
"""


def _ledger(path: Path, orders: int) -> Ledger:
    ledger = Ledger(path)
    for order_id in range(10_000, 10_000 + orders):
        ledger.record_order(
            order_id,
            "paid",
            created_at=NOW - timedelta(hours=2),
            paid_at=NOW - timedelta(hours=1),
            total=Decimal("24.60"),
            customer=None,
        )
        ledger.ensure_work(order_id, "invoice", f"jumpseller:bench:{order_id}")
        ledger.fail(order_id, "invoice", f"Order {order_id}: series A is closed", transient=False)
    return ledger


def _time(home: Path, name: str, smtp_port: int, webhook: str, orders: int) -> float:
    config_path = home / f"{name}.toml"
    config_path.write_text(BASE.format(smtp_port=smtp_port, webhook=webhook), encoding="utf-8")
    config_path.chmod(0o600)
    config, _ = load_config(config_path, env={})
    with _ledger(home / f"{name}.sqlite3", orders) as ledger:
        started = time.monotonic()
        outcome = dispatch(ledger, config, now=NOW)
        elapsed = time.monotonic() - started
    print(f"  {name:<8} {elapsed:6.2f} s  sent {outcome.sent}  errors {sorted(outcome.errors)}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    orders = parser.parse_args().orders
    logging.getLogger("igest_sync").addHandler(logging.NullHandler())  # the table says it all
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        sinks = AlertSinks().start()
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepts (the kernel does), never answers
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        try:
            print(f"dispatch of {orders} failed orders to email + chat:")
            settings = sinks.settings
            working = _time(home, "working", settings["smtp_port"], settings["webhook_url"], orders)
            port = closed.getsockname()[1]
            refused = _time(home, "refused", port, f"http://127.0.0.1:{port}/hook", orders)
            port = silent.getsockname()[1]
            stuck = _time(home, "silent", port, f"http://127.0.0.1:{port}/hook", orders)
            print(
                f"  messages received by the working sinks: {len(sinks.emails)} email(s), "
                f"{len(sinks.posts)} post(s)"
            )
        finally:
            sinks.stop()
            silent.close()
            closed.close()
    for name, value, target in (
        ("working", working, 1.0),
        ("refused", refused, 1.0),
        ("silent", stuck, SEND_BUDGET + 1.0),
    ):
        ok = value <= target
        failures += not ok
        print(f"{name:<8} {value:6.2f} s  target <= {target:.1f} s  {'ok' if ok else 'MISS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
