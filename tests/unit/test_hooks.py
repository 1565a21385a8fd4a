"""hooks install / list / remove and check's webhook lines, against the fake Jumpseller and an
in-memory ledger: exactly the events needed, idempotent, a stale URL of ours moved, and no hook
of another app ever touched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from igest_sync.config import Config, IgestConfig, JumpsellerConfig, ServeConfig, StockConfig
from igest_sync.errors import TransportError, UsageError
from igest_sync.models import Hook
from igest_sync.runs.setup.hooks import (
    install_hooks,
    list_hooks,
    needed_events,
    recorded,
    remove_hooks,
    shown_url,
)
from igest_sync.runs.setup.service_checks import run_checks
from igest_sync.state.ledger import Ledger
from tests.support.fakes import FakeIgest, FakeJumpseller

URL = "https://shop.example.pt/igest-hooks"
OTHER_APP = Hook(900, "order_paid", "https://erp.example.com/jumpseller")
ORDERS = ["order_paid", "order_canceled", "order_updated"]


def make_config(
    public_url: str | None = URL, stock_from_jumpseller: bool = False, token: str | None = "hk"
) -> Config:
    direction = "jumpseller_to_igest" if stock_from_jumpseller else "igest_to_jumpseller"
    return Config(
        path=Path("config.toml"),
        jumpseller=JumpsellerConfig("https://api.jumpseller.com/v1", "loja", "tok", "loja", token),
        igest=IgestConfig("https://igest.example.pt/v1", "key", "code"),
        stock=StockConfig(enabled=True, direction=direction),
        serve=ServeConfig(public_url=public_url),
    )


@pytest.fixture
def ledger():
    with Ledger(Path(":memory:")) as opened:
        yield opened


@pytest.fixture
def js() -> FakeJumpseller:
    shop = FakeJumpseller()
    shop.hook_list = [OTHER_APP]
    return shop


def ours(js: FakeJumpseller, url: str = URL) -> list[tuple[str, str]]:
    return sorted((h.event, h.url) for h in js.hook_list if h.id != OTHER_APP.id)


def test_the_events_needed() -> None:
    assert needed_events(make_config()) == tuple(ORDERS)
    assert needed_events(make_config(stock_from_jumpseller=True)) == (
        *ORDERS,
        "product_stock_updated",
    )


def test_install_registers_exactly_the_events_needed(js, ledger) -> None:
    report = install_hooks(make_config(), js, ledger, None)
    assert ours(js) == sorted((e, URL) for e in ORDERS)
    assert [w[0] for w in js.writes] == ["create_hook"] * 3
    assert {line.event: line.action for line in report.lines if line.ours} == {
        e: "created" for e in ORDERS
    }
    assert set(recorded(ledger)) == {h.id for h in js.hook_list if h.id != OTHER_APP.id}
    assert OTHER_APP in js.hook_list


def test_stock_from_jumpseller_adds_the_stock_event(js, ledger) -> None:
    install_hooks(make_config(stock_from_jumpseller=True), js, ledger, None)
    assert ("product_stock_updated", URL) in ours(js)


def test_a_rerun_adds_nothing_and_saves_each_hook_again_as_it_is(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, None)
    before = list(js.hook_list)
    js.writes.clear()
    report = install_hooks(make_config(), js, ledger, None)
    assert js.hook_list == before and report.changed == 0
    # Each of ours is saved again (PUT, same event and URL): how a paused hook resumes.
    assert sorted(js.writes) == sorted(
        ("update_hook", h.id, URL) for h in before if h.id != OTHER_APP.id
    )


def test_a_stale_url_of_ours_is_moved_with_put(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, "https://old.example.pt/hooks")
    ids = sorted(recorded(ledger))
    js.writes.clear()
    install_hooks(make_config(), js, ledger, None)
    assert sorted(w[0] for w in js.writes) == ["update_hook"] * 3
    assert ours(js) == sorted((e, URL) for e in ORDERS)
    assert sorted(recorded(ledger)) == ids  # the same hooks, moved


def test_a_hook_of_another_app_at_another_url_is_never_moved(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, None)
    assert js.hook_list[0] == OTHER_APP  # same event as ours, untouched
    assert not any(w[0] in ("update_hook", "delete_hook") for w in js.writes)


def test_a_hook_already_at_our_url_is_adopted_not_duplicated(js, ledger) -> None:
    js.hook_list.append(Hook(50, "order_paid", URL))  # a lost ledger, or a lost POST answer
    install_hooks(make_config(), js, ledger, None)
    assert [h.id for h in js.hook_list if h.event == "order_paid" and h.url == URL] == [50]
    assert 50 in recorded(ledger)


def test_a_lost_answer_to_the_post_is_looked_up_and_adopted(js, ledger) -> None:
    js.faults.add("create_hook", "timeout", after=True)  # created, answer lost
    install_hooks(make_config(), js, ledger, None)
    assert ours(js) == sorted((e, URL) for e in ORDERS)  # no duplicate
    assert len(recorded(ledger)) == 3


def test_a_post_that_never_arrived_is_an_error_and_nothing_is_recorded_for_it(js, ledger) -> None:
    js.faults.add("create_hook", "timeout")
    with pytest.raises(TransportError):
        install_hooks(make_config(), js, ledger, None)
    assert recorded(ledger) == {}
    install_hooks(make_config(), js, ledger, None)  # the next run finishes the job
    assert ours(js) == sorted((e, URL) for e in ORDERS)


def test_our_hook_for_an_event_no_longer_needed_is_deleted(js, ledger) -> None:
    install_hooks(make_config(stock_from_jumpseller=True), js, ledger, None)
    report = install_hooks(make_config(), js, ledger, None)
    assert ours(js) == sorted((e, URL) for e in ORDERS)
    assert [line.event for line in report.lines if line.action == "deleted"] == [
        "product_stock_updated"
    ]


def test_remove_deletes_ours_and_nothing_else(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, None)
    mine = set(recorded(ledger))
    crm = Hook(990, "order_updated", "https://crm.example.com/in")
    js.hook_list.append(crm)
    report = remove_hooks(make_config(), js, ledger)
    assert js.hook_list == [OTHER_APP, crm]
    assert report.changed == 3 and recorded(ledger) == {}
    assert {w[1] for w in js.writes if w[0] == "delete_hook"} == mine


def test_a_recorded_id_re_pointed_by_someone_else_is_no_longer_ours(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, None)
    first = js.hook_list[1]
    js.hook_list[1] = replace(first, url="https://erp.example.com/taken-over")
    remove_hooks(make_config(public_url=None), js, ledger)
    assert js.hook_list == [OTHER_APP, replace(first, url="https://erp.example.com/taken-over")]


def test_without_a_ledger_record_our_events_at_public_url_are_ours(js, ledger) -> None:
    js.hook_list.append(Hook(60, "order_paid", URL))
    listed = list_hooks(make_config(), js, ledger)
    assert [(line.id, line.ours) for line in listed.lines] == [(900, False), (60, True)]
    assert listed.missing == ["order_canceled", "order_updated"]
    remove_hooks(make_config(), js, ledger)
    assert js.hook_list == [OTHER_APP]


def test_remove_of_a_hook_already_gone_is_fine(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, None)
    js.faults.add("delete_hook", "404")
    remove_hooks(make_config(), js, ledger)
    assert js.hook_list[0] == OTHER_APP


@pytest.mark.parametrize(
    "url", ["http://shop.example.pt/h", "ftp://shop.example.pt/h", "https:///nohost"]
)
def test_install_refuses_a_url_that_is_not_https(js, ledger, url) -> None:
    with pytest.raises(UsageError):
        install_hooks(make_config(), js, ledger, url)
    assert js.writes == []


@pytest.mark.parametrize(
    "url", ["https://shop.example.pt/h?token=SECRET123", "https://shop.example.pt/h#SECRET123"]
)
def test_install_refuses_a_url_with_a_query_as_public_url_does(js, ledger, url) -> None:
    # Accepted, it was then advised as [serve] public_url, which the config refuses: hooks
    # the config could never name, so that serve never checked or healed them.
    with pytest.raises(UsageError) as caught:
        install_hooks(make_config(public_url=None), js, ledger, url)
    assert "must not carry a query or fragment" in str(caught.value)
    assert "SECRET123" not in str(caught.value) and "public_url" in (caught.value.hint or "")
    assert js.writes == []


def test_install_without_any_url_says_what_to_set(js, ledger) -> None:
    with pytest.raises(UsageError, match=r"--url.*public_url"):
        install_hooks(make_config(public_url=None), js, ledger, None)


def test_http_is_allowed_on_loopback(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, "http://127.0.0.1:8787/")
    assert ("order_paid", "http://127.0.0.1:8787/") in ours(js)


def test_shown_urls_mask_query_and_password() -> None:
    assert shown_url("https://u:p@a.example/h?token=s3cret") == "https://***@a.example/h?***"
    assert shown_url("https://a.example:8443/h") == "https://a.example:8443/h"


# -- check --------------------------------------------------------------------------------------


def webhook_lines(config: Config, js: FakeJumpseller):
    results = run_checks(config, js, FakeIgest())
    return {r.name: r for r in results if r.name in ("hooks token", "webhooks")}


def test_check_says_the_hooks_point_at_public_url(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, None)
    lines = webhook_lines(make_config(), js)
    assert lines["hooks token"].ok and lines["webhooks"].ok
    assert URL in lines["webhooks"].detail


def test_check_fails_when_a_hook_is_missing_or_the_token_is_not_set(js, ledger) -> None:
    install_hooks(make_config(), js, ledger, "https://old.example.pt/hooks")
    lines = webhook_lines(make_config(token=None), js)
    assert not lines["hooks token"].ok and "IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN" in (
        lines["hooks token"].hint or ""
    )
    assert not lines["webhooks"].ok
    assert "hooks install" in (lines["webhooks"].hint or "")
    assert "order_paid" in lines["webhooks"].detail


def test_check_says_nothing_about_webhooks_for_a_cron_only_store(js) -> None:
    assert webhook_lines(make_config(public_url=None, token=None), js) == {}


def test_list_of_hooks_installed_with_url_says_to_set_public_url_to_it(capsys) -> None:
    from igest_sync.render.hooks import hooks_report
    from igest_sync.runs.setup.hooks import HookLine, HooksReport

    url = "https://shop.example.pt/hooks"
    hooks_report(HooksReport("list", None, (), [HookLine(1, "order_paid", url, ours=True)]))
    text = capsys.readouterr().out
    assert f"Our hooks point at {url}" in text and "set it to that URL" in text
    hooks_report(HooksReport("list", None, (), [HookLine(2, "order_paid", url, ours=False)]))
    assert "`hooks install --url https://...` sets them up" in capsys.readouterr().out


def test_a_first_install_does_not_say_its_hooks_were_saved_again(capsys):
    """`hooks install` on a store without hooks said "each saved again: a paused one resumes"
    of hooks it had just created."""
    from igest_sync.render.hooks import hooks_report
    from igest_sync.runs.setup.hooks import HookLine, HooksReport

    url = "https://hooks.example.pt/hooks/jumpseller"
    first = HooksReport("install", url, lines=[HookLine(1, "order_paid", url, True, "created")])
    hooks_report(first)
    assert "saved again" not in " ".join(capsys.readouterr().out.split())
    again = HooksReport("install", url, lines=[HookLine(1, "order_paid", url, True, "kept")])
    hooks_report(again)
    assert "already there saved again" in " ".join(capsys.readouterr().out.split())
