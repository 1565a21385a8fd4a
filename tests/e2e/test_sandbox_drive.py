"""What a person is given to drive `igest-sync sandbox`: the requests it prints work, the plain
form prints the same facts as --json, and `init --sandbox URL` writes a config that checks out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from igest_sandbox import start_sandbox
from igest_sandbox.alert_sinks import AlertSinks
from igest_sync.cli.session import pace_file
from tests.support.cli import Cli, run_cli
from tests.support.receiver import Receiver
from tests.support.sandbox_clients import FAST_LIMITS, started_sandbox


def test_every_printed_request_does_what_it_says():
    with start_sandbox(seed=True) as sb, Receiver() as rx, httpx.Client(timeout=10) as http:
        sb.webhooks.add_hook("order_paid", rx.url)
        controls = {row["what"].split(" ")[0]: row for row in sb.describe()["control"]}
        assert set(controls) == {"pay", "cancel", "add", "send", "lose", "heal", "see"}

        def send(what: str) -> httpx.Response:
            row = controls[what]
            body = json.dumps(row["body"]) if "body" in row else None
            answer = http.request(row["method"], row["url"], content=body)
            assert answer.status_code == 200, (what, answer.text)
            return answer

        assert sb.store.order(10015)["status_enum"] == "pending_payment"
        send("pay")
        assert sb.store.order(10015)["status_enum"] == "paid"
        send("cancel")
        assert sb.store.order(10001)["status_enum"] == "canceled"
        before = len(sb.store.orders)
        send("add")
        assert len(sb.store.orders) == before + 50
        assert send("send").json()["hooks"] == 1
        assert sb.webhooks.wait_idle(10)
        # The pay sent one order_paid of 10015, "send" another (the loaded orders theirs).
        ids = [json.loads(d.body)["order"]["id"] for d in rx.received()]
        assert ids.count(10015) == 2
        assert send("see").json()
        send("lose")
        assert [r["kind"] for r in http.get(controls["lose"]["url"]).json()] == ["reset"]
        send("heal")
        assert http.get(controls["lose"]["url"]).json() == []


@contextmanager
def printed_sandbox(tmp_path: Path, *options: str) -> Iterator[tuple[str, str, dict]]:
    """``igest-sync sandbox OPTIONS`` as a person starts it: what it printed up to its last
    request, its Jumpseller URL and the facts of ``/_sandbox/config``; stopped by SIGTERM."""
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path), "COLUMNS": "80"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "igest_sync", "sandbox", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # A sandbox that never prints must fail the test, not hang it.
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    try:
        lines: list[str] = []
        while len(lines) < 2 or "see the webhooks sent" not in lines[-2]:
            line = proc.stdout.readline()
            assert line, "sandbox stopped printing before its last request:\n" + "".join(lines)
            lines.append(line)
        plain = "".join(lines)
        js_url = next(w for w in plain.split() if w.endswith("/v1"))
        facts = httpx.get(js_url.removesuffix("/v1") + "/_sandbox/config").json()
        yield plain, js_url, facts
    finally:
        watchdog.cancel()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_sandbox_plain_prints_the_facts_of_sandbox_json(tmp_path):
    # With what the demo adds: the hosted app's period (to try `adopt`) and sales abroad.
    with printed_sandbox(tmp_path, "--hosted-app", "--cross-border") as (plain, js_url, facts):
        js = facts["jumpseller"]
        auth = (js["login"], js["auth_token"])
        for order_id in (9001, 10101):  # the hosted app's, a Spanish business's
            found = httpx.get(f"{js_url}/orders/{order_id}.json", auth=auth)
            assert found.status_code == 200, (order_id, found.text)
    for service in ("jumpseller", "igest", "vies"):
        for value in facts[service].values():
            assert value in plain, f"{service}: {value} is in --json, not in the plain form"
    # What it holds, one line each (wrapped to the terminal in the plain form).
    assert len(facts["seeded"]) == 3 and "hosted Quick Invoice app" in facts["seeded"][2]
    words = " ".join(plain.split())
    for line in facts["seeded"]:
        assert line in words
    for row in facts["control"]:
        assert row["url"] in plain and row["what"] in plain
        if "body" in row:
            assert json.dumps(row["body"], separators=(",", ":")) in plain


def test_init_sandbox_writes_a_config_that_checks_out(tmp_path):
    with start_sandbox(seed=True) as sb:
        home = tmp_path / "home"
        env = {**os.environ, "IGEST_SYNC_HOME": str(home)}
        written = run_cli("init", "--sandbox", sb.control_url, env=env)
        assert written.returncode == 0, written.stderr
        assert "Next: igest-sync invoice" in written.stdout
        config = tomllib.loads((home / "config.toml").read_text())
        assert config["jumpseller"]["base_url"] == sb.jumpseller_base_url
        assert config["igest"]["base_url"] == sb.igest_base_url
        assert config["invoice"]["exemptions"]["domestic_goods"] == "M07"
        assert "product_exemption_code" not in config["invoice"]
        assert "vat_regime" not in config["invoice"]  # the seed's store charges VAT
        checked = run_cli("check", env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        again = run_cli("init", "--sandbox", sb.control_url, env=env)
        assert again.returncode == 2
        assert "--force" in again.stderr
        forced = run_cli("init", "--sandbox", sb.jumpseller_base_url, "--force", env=env)
        assert forced.returncode == 0, forced.stderr


def test_init_sandbox_of_a_sandbox_with_alerts_writes_its_alerts_and_they_arrive(tmp_path):
    # Before: `sandbox --alerts` printed an [alerts] section that `init --sandbox` left out,
    # so alerts went nowhere until a person copied it by hand.
    sinks = AlertSinks().start()
    try:
        with start_sandbox(seed=True) as sb:
            sb.alerts = sinks.settings
            env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
            written = run_cli("init", "--sandbox", sb.control_url, env=env)
            assert written.returncode == 0, written.stderr
            alerts = tomllib.loads((tmp_path / "config.toml").read_text())["alerts"]
            assert alerts["smtp_port"] == sinks.settings["smtp_port"]
            assert alerts["webhook_url"] == sinks.settings["webhook_url"]
            assert "control_url" not in alerts  # where a person reads them: not a setting
            sent = run_cli("alerts", "test", env=env)
            assert sent.returncode == 0, sent.stdout + sent.stderr
        assert len(sinks.emails) == 1 and len(sinks.posts) == 1
    finally:
        sinks.stop()


def test_init_sandbox_honours_review_document_type_and_series_when_given(tmp_path):
    # Before: --review, --document-type and --series were silently dropped with --sandbox, so
    # `init --sandbox URL --review` wrote review = false against its own help.
    with start_sandbox(seed=True) as sb:
        env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
        written = run_cli(
            "init", "--sandbox", sb.control_url, "--review", "--document-type", "FT",
            "--series", "B", env=env,
        )  # fmt: skip
        assert written.returncode == 0, written.stderr
        assert "Review mode is on" in written.stdout
        invoice = tomllib.loads((tmp_path / "config.toml").read_text())["invoice"]
        assert (invoice["review"], invoice["document_type"], invoice["series"]) == (
            True, "FT", "B",
        )  # fmt: skip
        # Without the flag the sandbox invoices at once, as the demo shows.
        again = run_cli("init", "--sandbox", sb.control_url, "--force", env=env)
        assert again.returncode == 0 and "Review mode" not in again.stdout
        assert tomllib.loads((tmp_path / "config.toml").read_text())["invoice"]["review"] is False
        wrong = run_cli(
            "init", "--sandbox", sb.control_url, "--force", "--document-type", "XX", env=env
        )
        assert wrong.returncode == 2, wrong.stdout + wrong.stderr
        assert "document_type" in wrong.stderr and "--document-type" in wrong.stderr


@contextmanager
def _answering(body: bytes) -> Iterator[str]:
    """An HTTP server that answers every GET with ``body`` (JSON), at the URL yielded."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "body", [b'{"jumpseller": 5}', b'{"jumpseller": {"base_url": "x"}, "igest": {}}', b"[]"]
)
def test_init_sandbox_against_a_server_answering_other_json_says_it_is_no_sandbox(tmp_path, body):
    # {"jumpseller": 5} passed the check and ended as an internal error (exit 70) pointing to
    # a log file init never writes.
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    with _answering(body) as url:
        result = run_cli("init", "--sandbox", url, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not an igest-sync sandbox" in result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "config.toml").exists()


@pytest.mark.parametrize("where", ["http://127.0.0.1:9", "not-a-sandbox"])
def test_init_sandbox_without_a_sandbox_there_says_how_to_start_one(tmp_path, where):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    if where == "not-a-sandbox":
        with Receiver() as rx:  # an HTTP server that is not the sandbox
            result = run_cli("init", "--sandbox", rx.url.removesuffix("/hooks/in"), env=env)
        assert result.returncode == 2
        assert "is not an igest-sync sandbox" in result.stderr
    else:
        result = run_cli("init", "--sandbox", where, env=env)
        assert result.returncode == 5
        assert "igest-sync sandbox" in result.stderr
    assert not (tmp_path / "config.toml").exists()


@pytest.mark.parametrize("typed", ["", "notaurl", "http://[::1", "ftp://127.0.0.1:9"])
def test_init_sandbox_with_what_is_no_url_is_a_usage_error(tmp_path, typed):
    # Before: an unparseable URL ended as an internal error (exit 70), a word as "no sandbox
    # answers" (exit 5): a typing mistake is the user's to fix, with exit 2.
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    result = run_cli("init", "--sandbox", typed, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not an http:// URL" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "config.toml").exists()


def test_init_sandbox_checks_the_start_date_before_asking_anyone(tmp_path):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    result = run_cli(
        "init", "--sandbox", "http://127.0.0.1:9", "--start-date", "2026-02-30", env=env
    )
    assert result.returncode == 2 and "--start-date" in result.stderr


def test_a_port_in_use_is_the_persons_to_choose_not_an_internal_error(tmp_path):
    import socket

    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("sandbox", "--jumpseller-port", str(port), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"sandbox cannot listen on 127.0.0.1 (--jumpseller-port {port})" in said
    assert "pass 0 for any free one" in said and "internal error" not in said


@pytest.mark.parametrize("port", ["99999", "-5"])
def test_a_port_out_of_range_is_a_usage_error_not_an_internal_one(tmp_path, port):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    result = run_cli("sandbox", "--igest-port", port, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--igest-port" in result.stderr and "internal error" not in result.stderr


def test_a_small_business_sandbox_shows_the_art53_path_from_init_to_the_notice(tmp_path):
    # Before: every seeded product charged VAT, so under vat_regime = "art53" every order was
    # refused and the turnover notices could not be seen on the sandbox. On its virtual clock's
    # day (27 November 2026), as the in-process CLI is.
    with started_sandbox(seed=True, small_business=True, **FAST_LIMITS) as sb:
        cli = Cli(tmp_path, tmp_path / "config.toml", in_process=sb)
        for service in ("jumpseller", "igest"):  # a new store's: no recent request to wait on
            pace_file(cli.state, service).write_text('{"sent": []}')
        written = cli("init", "--sandbox", sb.control_url)
        assert written.code == 0, written.stderr
        invoice = tomllib.loads(cli.config.read_text())["invoice"]
        assert invoice["vat_regime"] == "art53"
        assert invoice["start_date"].isoformat() == "2026-11-01"
        exemptions = invoice["exemptions"]
        assert (exemptions["domestic_goods"], exemptions["domestic_shipping"]) == ("M10", "M10")

        dry = cli("invoice", "--dry-run")
        assert dry.code == 0, dry.stdout + dry.stderr
        said = " ".join((dry.stdout + dry.stderr).split())
        assert "the turnover of 2026 would reach 12,178.08 EUR with what this run would" in said
        assert "warning" not in said  # the config written for it is one a merchant would keep
        assert sb.igest.final_documents_by_reference() == {}  # a dry run issues nothing

        real = cli("invoice")
        assert real.code == 0, real.stdout + real.stderr
        told = " ".join((real.stdout + real.stderr).split())
        assert told.count("Small-business exemption (art. 53 CIVA)") == 1
        assert "has reached 12,178.08 EUR, 80 % of 15,000.00 EUR" in told
        issued = sb.igest.final_documents_by_reference()
        login = sb.credentials["jumpseller"]["login"]
        assert sorted(issued) == [f"jumpseller:{login}:{n}" for n in range(10201, 10206)]
        for [doc] in issued.values():
            assert doc["vat_total"] == 0
            assert {(line["vat_rate"], line["exemption_code"]) for line in doc["lines"]} == {
                (0, "M10")
            }
        again = cli("invoice")
        assert again.code == 0 and "art. 53" not in again.stdout + again.stderr  # told once


def test_a_small_business_sandbox_is_a_store_of_its_own(tmp_path):
    env = {**os.environ, "IGEST_SYNC_HOME": str(tmp_path)}
    result = run_cli("sandbox", "--small-business", "--cross-border", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--small-business is a store of its own" in " ".join(result.stderr.split())


def test_a_small_business_sandbox_prints_a_config_for_its_store(tmp_path):
    # Before: the config `sandbox` prints named the seed's start date and M07, whatever it
    # held: saved as it is, that config refused every order of the small-business store.
    with printed_sandbox(tmp_path, "--small-business") as (plain, _js_url, facts):
        pass
    snippet = plain.split("Or save this as config.toml:")[1].split("Drive it")[0]
    invoice = tomllib.loads(snippet)["invoice"]
    assert invoice["vat_regime"] == "art53"
    assert invoice["start_date"].isoformat() == facts["invoice"]["start_date"]
    assert invoice["exemptions"] == facts["invoice"]["exemptions"]
    assert set(invoice["exemptions"].values()) == {"M10"}
