"""`hooks install | list | remove` and `check` through the real CLI against the sandbox."""

from __future__ import annotations

from tests.e2e.conftest import make_cli
from tests.e2e.test_cli_output import _validate

URL = "https://shop.example.pt/igest-hooks"


def test_install_list_remove_leave_other_apps_alone(sandbox, tmp_path) -> None:
    other = sandbox.webhooks.add_hook("order_paid", "https://erp.example.com/in")
    cli = make_cli(sandbox, tmp_path, serve={"public_url": URL})
    first = cli("hooks", "install", "--json")
    assert first.code == 0, first.stderr
    assert sorted((h.event, h.url) for h in sandbox.webhooks.hooks() if h.id != other.id) == [
        ("order_canceled", URL),
        ("order_paid", URL),
        ("order_updated", URL),
    ]
    _validate("hooks", first.json())
    again = cli("hooks", "install", "--json")
    assert [h["action"] for h in again.json()["hooks"] if h["ours"]] == ["kept"] * 3
    assert len(sandbox.webhooks.hooks()) == 4
    listed = cli("hooks", "list")
    assert listed.code == 0 and "erp.example.com" in listed.stdout
    assert "Every event serve needs goes to" in listed.stdout
    removed = cli("hooks", "remove", "--json")
    assert removed.code == 0
    _validate("hooks", removed.json())
    _validate("hooks", cli("hooks", "list", "--json").json())
    assert [h.id for h in sandbox.webhooks.hooks()] == [other.id]


def test_install_moves_our_hooks_to_a_new_url(sandbox, tmp_path) -> None:
    cli = make_cli(sandbox, tmp_path, serve={"public_url": URL})
    assert cli("hooks", "install", "--url", "https://old.example.pt/h").code == 0
    ids = sorted(h.id for h in sandbox.webhooks.hooks())
    moved = cli("hooks", "install")
    assert moved.code == 0 and "3 changes;" in moved.stdout
    assert sorted(h.id for h in sandbox.webhooks.hooks()) == ids
    assert {h.url for h in sandbox.webhooks.hooks()} == {URL}


def test_check_reports_the_hooks_and_the_token(sandbox, tmp_path) -> None:
    token = sandbox.credentials["jumpseller"]["hooks_token"]
    cli = make_cli(sandbox, tmp_path, serve={"public_url": URL}, jumpseller={"hooks_token": token})
    before = cli("check", "--json")
    lines = {c["name"]: c for c in before.json()["checks"]}
    assert lines["hooks token"]["ok"] and not lines["webhooks"]["ok"]
    assert before.code == 2
    assert token not in before.stdout + before.stderr
    cli("hooks", "install")
    after = {c["name"]: c for c in cli("check", "--json").json()["checks"]}
    assert after["webhooks"]["ok"] and URL in after["webhooks"]["detail"]


def test_a_url_with_a_token_is_never_printed_whole(sandbox, tmp_path) -> None:
    cli = make_cli(sandbox, tmp_path)
    secret_url = "https://shop.example.pt/h?key=Zk29secretvalue"
    result = cli("hooks", "install", "--url", secret_url)
    assert result.code == 2  # refused, as [serve] public_url refuses it
    assert "Zk29secretvalue" not in result.stdout + result.stderr + cli.log_text()
    assert sandbox.webhooks.hooks() == []


def test_install_turns_a_hook_jumpseller_paused_back_on(sandbox, tmp_path) -> None:
    """After 8 failed deliveries Jumpseller pauses a hook (the sandbox models it, and its API
    shows no such state): `hooks install` saves each of ours again, which resumes it."""
    cli = make_cli(sandbox, tmp_path, serve={"public_url": URL})
    assert cli("hooks", "install").code == 0
    ids = sorted(h.id for h in sandbox.webhooks.hooks())
    paused = sandbox.webhooks.hook(ids[0])
    paused.failures, paused.paused = 8, True  # as after 8 failed deliveries
    again = cli("hooks", "install")
    assert again.code == 0 and "0 changes;" in again.stdout
    assert sorted(h.id for h in sandbox.webhooks.hooks()) == ids  # the same hooks
    assert not any(h.paused for h in sandbox.webhooks.hooks())
    assert sandbox.webhooks.hook(ids[0]).failures == 0
