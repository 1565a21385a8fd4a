"""`igest-sync serve` as a real process against the sandbox: webhooks signed in the test with
the hooks token, the sweep, SIGTERM and SIGKILL, a cron `invoice` beside it, several stores."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from igest_sync.sandbox import start_sandbox
from tests.support.cli import Cli, make_cli
from tests.support.sandbox_clients import FAST_LIMITS
from tests.support.webhooks import (
    HOOKS_TOKEN,
    add_order,
    delivery,
    free_port,
    one_final_per_order,
    paid_order_ids,
    start_serve,
    wait_for,
)

DRAFT_POST = r"^/v1/documents$"


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


@pytest.mark.slow(8)
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
        assert set(health) == {"status", "stores", "last_webhook_at", "last_sweep_at", "waiting"}
        assert health["status"] == "ok" and health["last_webhook_at"]
        assert httpx.get(served.base_url + "/nowhere").status_code == 404
        status = cli.status()
        assert status["serve"]["last_webhook_at"] == health["last_webhook_at"]
        assert status["serve"]["last_sweep_at"]
    finally:
        code, out, err = served.stop()
    assert code == 0 and out == ""  # quiet under a service manager
    assert finals_of(sandbox, order) == 1
    assert HOOKS_TOKEN not in cli.log_text() and HOOKS_TOKEN not in err
    assert "wrong Jumpseller-Hmac-Sha256 signature (401" in cli.log_text()
    assert "serve stopped" in cli.log_text()


@pytest.mark.slow(10)
def test_a_sigkill_between_the_answer_and_the_invoice_loses_nothing(sandbox, tmp_path):
    port = free_port()
    cli = serve_cli(sandbox, tmp_path, port)
    served = start_serve(cli, port)
    wait_for(lambda: served.health()["last_sweep_at"], what="the first sweep")
    # The draft reaches iGEST, its answer is late: the kill lands with a draft in iGEST and
    # the invoice not final.
    sandbox.faults.add("igest", "timeout", method="POST", path=DRAFT_POST, after=True, seconds=4)
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


@pytest.mark.slow(15)
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


@pytest.mark.slow(15)
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


def test_serve_without_a_hooks_token_says_what_to_set(cli):
    result = cli("serve")
    assert result.code == 2
    assert "hooks_token is not set" in result.stderr
    assert "IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN" in result.stderr
