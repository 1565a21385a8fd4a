"""`igest-sync serve` as a real process against the sandbox: webhooks signed in the test with
the hooks token, the sweep, SIGTERM and SIGKILL, a cron `invoice` beside it, several stores."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from igest_sandbox import start_sandbox
from tests.support.cli import Cli, make_cli
from tests.support.sandbox_clients import FAST_LIMITS
from tests.support.webhooks import (
    HOOKS_TOKEN,
    add_order,
    delivery,
    free_port,
    loopback,
    one_final_per_order,
    paid_order_ids,
    start_serve,
    wait_for,
)

pytestmark = pytest.mark.real_day  # serve runs as a process, in the real day

DRAFT_POST = r"^/v1/documents$"
FINALIZE_POST = r"^/v1/documents/\d+/finalize$"


def serve_cli(sb, home: Path, port: int, **serve: object) -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    return make_cli(
        sb, home, jumpseller={"hooks_token": HOOKS_TOKEN}, serve={"port": port, **serve}
    )


def store_of(sb) -> str:
    return sb.credentials["jumpseller"]["login"]


def reference(sb, order_id: int) -> str:
    return f"jumpseller:{store_of(sb)}:{order_id}"


def finals_of(sb, order_id: int) -> int:
    return one_final_per_order(sb).get(reference(sb, order_id), 0)


def inbox_rows(cli: Cli) -> list[tuple]:
    with sqlite3.connect(cli.state) as db:
        return db.execute("SELECT subject_id, event FROM inbox").fetchall()


@pytest.mark.slow(2)
def test_a_paid_order_is_invoiced_on_its_webhook_and_forged_deliveries_do_nothing(
    sandbox, tmp_path
):
    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    try:
        wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
        store = store_of(sandbox)
        # Forged: a wrong signature, a signed delivery of another store; nothing recorded.
        forged = add_order(sandbox, qty=2)
        assert served.post(forged, store, token="guessed-token").status_code == 401
        assert served.post(forged, "another-store").status_code == 403
        order = add_order(sandbox, qty=3)
        for _ in range(3):  # sent again and again: one invoice
            assert served.post(order, store).status_code == 202
        wait_for(lambda: finals_of(sandbox, order) == 1, what="the invoice")
        assert finals_of(sandbox, forged) == 0  # worked in order: the forged one did nothing
        health = served.health()
        assert set(health) == {
            "status",
            "stores",
            "store_code",
            "last_webhook_at",
            "last_sweep_at",
            "webhooks_waiting",
        }
        assert health["status"] == "ok" and health["last_webhook_at"]
        assert health["store_code"] == "known"
        assert httpx.get(served.base_url + "/nowhere").status_code == 404
        status = cli.status()
        assert status["serve"]["last_webhook_at"] == health["last_webhook_at"]
        assert status["serve"]["last_sweep_at"]
        assert "serve: last webhook 20" in cli("status").stdout
    finally:
        code, out, err = served.stop()
    assert code == 0 and out == ""  # quiet under a service manager
    assert finals_of(sandbox, order) == 1
    assert HOOKS_TOKEN not in cli.log_text() and HOOKS_TOKEN not in err
    assert "wrong Jumpseller-Hmac-Sha256 signature (401" in cli.log_text()
    assert "serve stopped" in cli.log_text()


@pytest.mark.slow(3)
def test_a_sigkill_between_the_answer_and_the_invoice_loses_nothing(sandbox, tmp_path):
    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
    # The draft reaches iGEST, its answer is late: the kill lands with a draft in iGEST and
    # the invoice not final. (Held for a minute: a busy machine may take seconds to see the
    # draft and kill; the answer must still be on its way then.)
    sandbox.faults.add("igest", "timeout", method="POST", path=DRAFT_POST, after=True, seconds=60)
    order = add_order(sandbox, qty=4)
    ref = reference(sandbox, order)
    assert served.post(order, store_of(sandbox)).status_code == 202

    def draft_made() -> bool:
        with sandbox.igest.lock:
            return any(d["external_reference"] == ref for d in sandbox.igest.documents)

    wait_for(draft_made, what="the draft")
    served.proc.send_signal(signal.SIGKILL)
    served.proc.wait(10)
    assert finals_of(sandbox, order) == 0
    assert (order, "order_paid") in inbox_rows(cli)  # the hint survived the kill
    sandbox.faults.clear()
    again = start_serve(cli, port)
    try:
        wait_for(lambda: finals_of(sandbox, order) == 1, what="the invoice after restart")
        wait_for(lambda: inbox_rows(cli) == [], what="the inbox to empty")
    finally:
        code, _, _ = again.stop()
    assert code == 0
    with sandbox.igest.lock:
        drafts = [d for d in sandbox.igest.documents if d["status"] == "draft"]
    assert drafts == [] and finals_of(sandbox, order) == 1


@pytest.mark.slow(6)
def test_serve_beside_cron_invoice_runs_never_a_duplicate_never_a_miss(sandbox, tmp_path):
    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    store = store_of(sandbox)
    results = []

    def cron() -> None:
        for _ in range(3):
            results.append(cli("invoice"))

    try:
        crons = [threading.Thread(target=cron) for _ in range(2)]
        for thread in crons:
            thread.start()
        orders = []
        for i in range(15):
            orders.append(add_order(sandbox, qty=i + 1))
            assert served.post(orders[-1], store).status_code == 202
        for thread in crons:
            thread.join()
        wait_for(lambda: all(finals_of(sandbox, o) == 1 for o in orders), what="every invoice")
        # A cancellation after the invoice: credited once, whoever gets there first.
        sandbox.store.cancel_order(orders[0])
        assert served.post(orders[0], store, "order_canceled").status_code == 202
        assert cli("invoice").code == 0

        def credits() -> list[str]:
            return [
                ref
                for ref, docs in sandbox.igest.final_documents_by_reference().items()
                for _ in docs
                if ref.startswith(reference(sandbox, orders[0]) + ":credit")
            ]

        wait_for(lambda: len(credits()) == 1, what="the credit note")
    finally:
        code, out, _ = served.stop()
    assert code == 0 and out == ""
    # A cron run either worked between two of serve's units or found nothing left to do.
    assert [r.code for r in results] == [0] * 6, [r.stderr for r in results]
    counts = one_final_per_order(sandbox)
    assert all(counts.get(reference(sandbox, o)) == 1 for o in paid_order_ids(sandbox))
    assert set(counts.values()) == {1}
    assert len(credits()) == 1


@pytest.mark.slow(2)
def test_one_process_serves_several_stores_each_on_its_own(tmp_path):
    port = free_port()
    homes = tmp_path / "stores"
    with (
        start_sandbox(seed=True, **FAST_LIMITS) as a,
        start_sandbox(seed=True, **FAST_LIMITS) as b,
        start_sandbox(seed=True, **FAST_LIMITS) as c,
    ):
        sandboxes = {"a": a, "b": b, "c": c}
        clis = {}
        for name, sb in sandboxes.items():
            home = homes / name
            home.mkdir(parents=True)
            clis[name] = make_cli(
                sb,
                home,
                jumpseller={"hooks_token": f"{HOOKS_TOKEN}-{name}"},
                serve={"port": port, "public_url": f"http://127.0.0.1:{port}/hooks/{name}"},
            )
        (homes / "not-a-store").mkdir()  # no config.toml: not a store
        served = start_serve(clis["a"], port, "--homes", str(homes))
        try:
            assert served.health()["stores"] == 3
            orders = {}
            for name, sb in sandboxes.items():
                orders[name] = add_order(sb, qty=2)
                body, headers = delivery(orders[name], store_of(sb), token=f"{HOOKS_TOKEN}-{name}")
                url = f"{served.base_url}/hooks/{name}"
                assert httpx.post(url, content=body, headers=headers).status_code == 202
                # The same delivery on another store's path: that store's token does not fit.
                other = "b" if name != "b" else "c"
                wrong = f"{served.base_url}/hooks/{other}"
                assert httpx.post(wrong, content=body, headers=headers).status_code == 401
            for name, sb in sandboxes.items():
                wait_for(lambda sb=sb, n=name: finals_of(sb, orders[n]) == 1, what=name)
        finally:
            code, out, _ = served.stop()
        assert code == 0 and out == ""
        for name, sb in sandboxes.items():
            assert set(one_final_per_order(sb).values()) == {1}
            log = clis[name].log_text()
            assert f"order {orders[name]} recorded" in log
            others = [orders[n] for n in sandboxes if n != name and orders[n] != orders[name]]
            assert not any(f"order {o} recorded" in log for o in others)
            assert clis[name].status()["serve"]["last_webhook_at"]


def test_two_stores_on_one_hook_path_are_refused_naming_both(sandbox, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for home in (one, two):
        serve_cli(sandbox, home, 8787, public_url="https://hooks.example.pt/jumpseller")
    result = make_cli(sandbox, tmp_path / "x")("serve", "--home", str(one), "--home", str(two))
    assert result.code == 2
    assert str(one) in result.stderr and str(two) in result.stderr
    assert "/jumpseller" in result.stderr


def refused_serve(sb, tmp_path: Path, *homes: Path) -> tuple[int, str]:
    """serve over ``homes`` as a process: refused at once, or killed by the timeout (a serve
    that started instead of refusing never ends by itself)."""
    args = [a for home in homes for a in ("--home", str(home))]
    cli = make_cli(sb, tmp_path / "x", in_process=False)
    result = cli("serve", *args, "--port", str(free_port()))
    return result.code, result.stderr


def test_two_homes_of_one_store_are_refused_naming_both(sandbox, tmp_path):
    # A store's folder copied for a new store, only its public_url changed: two workers, two
    # state files, one store. Both swept the same orders and invoiced some twice, silently.
    one, two = tmp_path / "one", tmp_path / "two"
    serve_cli(sandbox, one, 8787, public_url="https://hooks.example.pt/one")
    serve_cli(sandbox, two, 8787, public_url="https://hooks.example.pt/two")
    code, err = refused_serve(sandbox, tmp_path, one, two)
    assert code == 2
    assert str(one) in err and str(two) in err
    assert f"Jumpseller store {store_of(sandbox)}" in err
    assert not (one / "state.sqlite3").exists() and not (two / "state.sqlite3").exists()


def test_two_homes_of_one_store_are_refused_whatever_their_store_codes(sandbox, tmp_path):
    # The copy given a store code of its own (the references' jumpseller:<store>:), its
    # Jumpseller login left as it was: one store, each home its own references, so neither
    # found the other's invoices and every order was invoiced twice.
    one, two = tmp_path / "one", tmp_path / "two"
    serve_cli(sandbox, one, 8787, public_url="https://hooks.example.pt/one")
    two.mkdir()
    make_cli(
        sandbox,
        two,
        jumpseller={"hooks_token": HOOKS_TOKEN, "store": "copia"},
        serve={"port": 8787, "public_url": "https://hooks.example.pt/two"},
    )
    code, err = refused_serve(sandbox, tmp_path, one, two)
    assert code == 2
    assert str(one) in err and str(two) in err
    assert f"Jumpseller store with the login {store_of(sandbox)}" in err
    assert not (one / "state.sqlite3").exists() and not (two / "state.sqlite3").exists()


def test_two_homes_on_one_state_file_are_refused_naming_it(tmp_path):
    with start_sandbox(seed=False) as a, start_sandbox(seed=False) as b:
        one, two = tmp_path / "one", tmp_path / "two"
        serve_cli(a, one, 8787, public_url="https://hooks.example.pt/one")
        serve_cli(b, two, 8787, public_url="https://hooks.example.pt/two")
        (two / "state.sqlite3").symlink_to(one / "state.sqlite3")
        code, err = refused_serve(a, tmp_path, one, two)
    assert code == 2
    assert "one state file" in err and str((one / "state.sqlite3").resolve()) in err


def test_serve_without_a_hooks_token_says_what_to_set(cli):
    result = cli("serve")
    assert result.code == 2
    assert "hooks_token is not set" in result.stderr
    assert "IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN" in result.stderr


@pytest.mark.slow(13)
def test_the_real_server_keeps_serving_through_random_requests_and_a_slow_client(sandbox, tmp_path):
    import socket

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    store = store_of(sandbox)
    pending = add_order(sandbox, status="pending_payment")
    try:
        wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /webhooks/jumpseller HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n")

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            method=st.sampled_from(["POST", "GET", "PUT"]),
            body=st.binary(max_size=200),
            headers=st.dictionaries(
                st.sampled_from(["Jumpseller-Hmac-Sha256", "Jumpseller-Event", "X-A"]),
                # (the client itself refuses a value with spaces around it)
                st.text(
                    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40
                ).map(str.strip),
                max_size=3,
            ),
        )
        def throw(method, body, headers):
            answer = loopback().request(
                method,
                served.base_url + "/webhooks/jumpseller",
                content=body,
                headers={"Jumpseller-Store-Code": store, **headers},
                timeout=10,
            )
            assert answer.status_code in (200, 400, 401, 405, 422)

        throw()
        # A forged delivery for a real order, then a genuine one: served while the slow
        # client still hangs on.
        body, headers = delivery(pending, store, token="forged")
        assert (
            loopback()
            .post(served.base_url + served.path, content=body, headers=headers)
            .status_code
            == 401
        )
        assert served.post(pending, store).status_code == 202
        slow.settimeout(30)
        assert slow.recv(100) == b""  # dropped by the server (a hang would time out)
        assert served.health()["status"] == "ok"
    finally:
        code, out, _ = served.stop()
    assert code == 0 and out == ""
    with sqlite3.connect(cli.state) as db:
        assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
    assert finals_of(sandbox, pending) == 0  # still waiting for payment: nothing issued


@pytest.mark.slow(11)
def test_sigterm_mid_burst_finishes_the_documents_in_flight_and_the_rest_waits(tmp_path):
    with start_sandbox(seed=False, latency=0.05) as sb:  # real limits: the burst takes a while
        port = free_port()
        cli = serve_cli(sb, tmp_path, port)
        served = start_serve(cli, port)
        wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
        orders = [add_order(sb) for _ in range(40)]
        for order in orders:
            assert served.post(order, store_of(sb)).status_code == 202
        wait_for(lambda: len(one_final_per_order(sb)) >= 3, what="some invoices")
        code, out, _ = served.stop(timeout=30)  # SIGTERM; must exit within 30 s
        assert code == 0 and out == ""
        done = one_final_per_order(sb)
        assert set(done.values()) == {1} and len(done) < len(orders)
        with sb.igest.lock:
            assert [d for d in sb.igest.documents if d["status"] == "draft"] == []
        assert len(inbox_rows(cli)) == len(orders) - len(done)  # the rest kept its hints
        again = start_serve(cli, port)
        try:
            wait_for(lambda: len(one_final_per_order(sb)) == len(orders), what="the rest")
        finally:
            again.stop()
        assert set(one_final_per_order(sb).values()) == {1}


@pytest.mark.slow(5)
def test_sighup_stops_serve_as_sigterm_does_and_the_log_says_so(tmp_path):
    # Its default action ended serve on the spot, with no line in the log.
    with start_sandbox(seed=False) as sb:
        port = free_port()
        cli = serve_cli(sb, tmp_path, port)
        served = start_serve(cli, port)
        wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
        served.proc.send_signal(signal.SIGHUP)
        code, out, err = served.stop(timeout=30)
    assert code == 0 and out == "", (out, err)
    assert "serve stopping" in cli.log_text() and "serve stopped" in cli.log_text()
    # status no longer calls real time "ok": serve is not running.
    after = cli("status", "--json").json()["serve"]
    assert after["realtime"] == "stopped" and "serve stopped at" in after["reason"]


def test_stores_that_ask_for_different_addresses_or_a_folder_without_stores_are_refused(
    sandbox, tmp_path
):
    one, two = tmp_path / "one", tmp_path / "two"
    serve_cli(sandbox, one, 8787, public_url="https://hooks.example.pt/one")
    with start_sandbox(seed=False) as other:  # another store: one store twice is refused
        serve_cli(other, two, 8788, public_url="https://hooks.example.pt/two")
    cli = make_cli(sandbox, tmp_path / "x")
    result = cli("serve", "--home", str(one), "--home", str(two))
    assert result.code == 2 and "different addresses" in result.stderr
    assert "--host and --port" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("serve", "--homes", str(empty))
    assert result.code == 2 and "no subfolder has a config.toml" in result.stderr


STORE_INFO = r"^/v1/store/info\.json$"


@pytest.mark.slow(8)
def test_a_store_code_unread_at_start_lets_the_signature_decide_until_it_is_read(sandbox, tmp_path):
    """Jumpseller answers 500 to the store read at start: serve starts all the same, a genuine
    delivery naming the store's own code (which only that read would tell) is recorded, not
    refused with 403; /healthz says the code is unknown until serve has read it again."""
    sandbox.faults.add("jumpseller", "500", method="GET", path=STORE_INFO, times=None)
    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    try:
        assert served.health()["store_code"] == "unknown"
        code = sandbox.store.info["code"]  # Jumpseller's code for the store, not the login
        assert code != store_of(sandbox)
        order = add_order(sandbox, qty=2)
        assert served.post(order, code).status_code == 202
        wait_for(lambda: finals_of(sandbox, order) == 1, what="the invoice")
        sandbox.faults.clear()
        wait_for(lambda: served.health()["store_code"] == "known", what="the code read again")
        assert served.post(add_order(sandbox), "another-store").status_code == 403
        assert served.post(add_order(sandbox), code).status_code == 202
    finally:
        code_, out, _ = served.stop()
    assert code_ == 0 and out == ""
    assert "deliveries are checked by their signature alone" in cli.log_text()


@pytest.mark.slow(7)
def test_a_lost_igest_answer_on_webhook_work_is_retried_in_seconds_and_said_nowhere(
    sandbox, tmp_path
):
    """iGEST makes the draft and the finalized document, but both answers are lost (502):
    serve retries within seconds (looking the reference up first), the invoice is issued once,
    long before the sweep, and nothing is printed: a failure serve retries is the log's."""
    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    try:
        wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
        sandbox.faults.add("igest", "502", method="POST", path=DRAFT_POST, after=True)
        sandbox.faults.add("igest", "502", method="POST", path=FINALIZE_POST, after=True)
        order = add_order(sandbox, qty=5)
        assert served.post(order, store_of(sandbox)).status_code == 202
        wait_for(lambda: finals_of(sandbox, order) == 1, what="the invoice, retried")
        wait_for(lambda: inbox_rows(cli) == [], what="the inbox to empty")
    finally:
        code, out, err = served.stop()
    assert code == 0 and out == "" and "Needs attention" not in err
    assert finals_of(sandbox, order) == 1
    assert "trying again in 2 s" in cli.log_text()


@pytest.mark.slow(5)
def test_sigterm_while_serve_waits_for_a_runs_lock_to_open_its_state_stops_it(tmp_path):
    # A cron run (or a person's command at its question) holds the lock as serve starts:
    # serve waits to open its state file, and a stop signal ends that wait (systemd kills a
    # service that ignores it), without starting anything.
    from igest_sync.state.lock import run_lock

    with start_sandbox(seed=False) as sb:
        cli = serve_cli(sb, tmp_path, free_port())
        with run_lock(cli.state):
            proc = cli.start("serve")
            try:
                wait_for(lambda: "a run holds the lock" in cli.log_text(), what="the wait")
                # Nothing listens meanwhile, and the log says so.
                assert "serve does not listen for any store until then" in cli.log_text()
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=15)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err
