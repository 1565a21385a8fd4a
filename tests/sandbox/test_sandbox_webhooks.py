"""The sandbox's webhooks: hooks CRUD per the spec, signed deliveries with Jumpseller's
headers, retries N^4 minutes apart (scaled), the pause after 8 failures, and the delivery faults
(dropped, twice, delayed, forged), against a tiny local receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator

import httpx
import pytest

from igest_sandbox import Sandbox
from tests.support.clock import FakeClock
from tests.support.receiver import Receiver
from tests.support.sandbox_clients import jumpseller_client

SCALE = 3e-5  # a minute lasts 1.8 ms: the 4 retries come after 2, 29, 146 and 461 ms


@pytest.fixture
def hooked(clock: FakeClock) -> Iterator[Sandbox]:
    sb = Sandbox(
        clock=clock.wall,
        jumpseller_limits=(10_000, 100_000),
        igest_limit=10_000,
        webhook_time_scale=SCALE,
        webhook_timeout=2.0,
    )
    yield sb
    sb.stop()


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def pending_order(sb: Sandbox) -> int:
    return next(
        i for i in sb.store.order_ids() if sb.store.order(i)["status_enum"] == "pending_payment"
    )


def settle(sb: Sandbox) -> None:
    assert sb.webhooks.wait_idle(10.0)


def expected_signature(body: bytes, token: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


# -- hooks CRUD ---------------------------------------------------------------------------------


def test_hooks_crud_per_the_spec(hooked: Sandbox) -> None:
    with jumpseller_client(hooked) as js:
        assert js.get("/hooks.json").json() == []
        made = js.post(
            "/hooks.json", json={"hook": {"event": "order_paid", "url": "https://a.example/h"}}
        )
        assert made.status_code == 200
        hook = made.json()["hook"]
        assert {hook["event"], hook["url"]} == {"order_paid", "https://a.example/h"}
        assert set(hook) == {"id", "name", "event", "url", "created_at"}
        assert js.get(f"/hooks/{hook['id']}.json").json() == {"hook": hook}
        moved = js.put(
            f"/hooks/{hook['id']}.json",
            json={"hook": {"event": "order_paid", "url": "https://b.example/h"}},
        )
        assert moved.json()["hook"]["url"] == "https://b.example/h"
        assert [h["hook"]["url"] for h in js.get("/hooks.json").json()] == ["https://b.example/h"]
        assert js.delete(f"/hooks/{hook['id']}.json").status_code == 200
        assert js.get(f"/hooks/{hook['id']}.json").status_code == 404
        assert js.delete(f"/hooks/{hook['id']}.json").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"hook": {"event": "order_exploded", "url": "https://a.example/h"}},
        {"hook": {"event": "order_paid"}},
        {"hook": {"event": "order_paid", "url": "ftp://a.example/h"}},
        {"event": "order_paid", "url": "https://a.example/h"},
    ],
)
def test_a_bad_hook_is_refused(hooked: Sandbox, body: dict) -> None:
    with jumpseller_client(hooked) as js:
        assert js.post("/hooks.json", json=body).status_code == 400
        assert js.get("/hooks.json").json() == []


def test_hooks_are_paged(hooked: Sandbox) -> None:
    for n in range(120):
        hooked.webhooks.add_hook("order_paid", f"https://a.example/{n}")
    with jumpseller_client(hooked) as js:
        first = js.get("/hooks.json", params={"limit": 100, "page": 1}).json()
        second = js.get("/hooks.json", params={"limit": 100, "page": 2}).json()
    assert (len(first), len(second)) == (100, 20)


def test_store_info_has_the_hooks_token_of_the_credentials(hooked: Sandbox) -> None:
    with jumpseller_client(hooked) as js:
        token = js.get("/store/info.json").json()["hooks_token"]  # Store is served bare
    assert token == hooked.credentials["jumpseller"]["hooks_token"]
    assert len(token) >= 32 and token != hooked.credentials["jumpseller"]["auth_token"]


# -- deliveries ---------------------------------------------------------------------------------


def test_a_payment_is_delivered_signed_with_the_documented_headers(
    hooked: Sandbox, rx: Receiver
) -> None:
    hooked.webhooks.add_hook("order_paid", rx.url)
    order_id = pending_order(hooked)
    hooked.store.pay_order(order_id)
    settle(hooked)
    [got] = rx.received()
    assert got.path == "/hooks/in"
    assert json.loads(got.body)["order"]["id"] == order_id
    assert json.loads(got.body)["order"]["status_enum"] == "paid"
    token = hooked.credentials["jumpseller"]["hooks_token"]
    assert got.headers["Jumpseller-Hmac-Sha256"] == expected_signature(got.body, token)
    assert got.headers["Jumpseller-Event"] == "order_paid"
    assert got.headers["Jumpseller-Store-Code"] == hooked.credentials["jumpseller"]["login"]
    assert got.headers["Jumpseller-Triggered-At"] == "2026-11-27 12:00:00.000 UTC"
    assert got.headers["Content-Type"] == "application/json"


def test_each_event_reaches_only_its_hooks(hooked: Sandbox, rx: Receiver) -> None:
    for event in ("order_paid", "order_canceled", "order_updated", "order_pending_payment"):
        hooked.webhooks.add_hook(event, rx.url)
    hooked.webhooks.add_hook("product_stock_updated", rx.url)
    order_id = pending_order(hooked)
    hooked.store.pay_order(order_id)
    hooked.store.cancel_order(order_id)
    new_id = hooked.store.add_order(
        status="pending_payment", lines=[{"name": "Mel", "price": "6.40"}]
    )
    sku = next(p.sku for p in hooked.store.products.values() if p.sku and not p.variants)
    hooked.store.set_stock(sku, 3)
    settle(hooked)
    seen = sorted(
        (r.headers["Jumpseller-Event"], json.loads(r.body).get("order", {}).get("id"))
        for r in rx.received()
    )
    assert seen == sorted(
        [
            ("order_paid", order_id),
            ("order_updated", order_id),
            ("order_canceled", order_id),
            ("order_updated", order_id),
            ("order_pending_payment", new_id),
            ("product_stock_updated", None),
        ]
    )
    [stock] = [r for r in rx.received() if r.headers["Jumpseller-Event"].startswith("product")]
    assert json.loads(stock.body)["product"]["stock"] == 3


def test_an_edit_through_the_api_is_order_updated(hooked: Sandbox, rx: Receiver) -> None:
    hooked.webhooks.add_hook("order_updated", rx.url)
    order_id = pending_order(hooked)
    with jumpseller_client(hooked) as js:
        js.put(f"/orders/{order_id}.json", json={"order": {"tracking_number": "RR1PT"}})
    settle(hooked)
    assert [r.headers["Jumpseller-Event"] for r in rx.received()] == ["order_updated"]


def test_a_failure_is_retried_until_the_receiver_answers(hooked: Sandbox) -> None:
    with Receiver(statuses=[500, 503, 404]) as rx:
        hooked.webhooks.add_hook("order_paid", rx.url)
        hooked.store.pay_order(pending_order(hooked))
        settle(hooked)
        assert [r.status for r in rx.received()] == [500, 503, 404, 200]
    bodies = {r.body for r in rx.received()}
    assert len(bodies) == 1  # the same delivery each time
    summary = hooked.webhooks.summary()
    assert (summary["failed"], summary["retries"], summary["ok"]) == (3, 3, 1)
    assert [e["attempt"] for e in hooked.webhooks.log] == [0, 1, 2, 3]


def test_retries_are_n_to_the_fourth_minutes_apart(hooked: Sandbox) -> None:
    with Receiver(statuses=[500] * 5) as rx:
        hooked.webhooks.add_hook("order_paid", rx.url)
        hooked.store.pay_order(pending_order(hooked))
        settle(hooked)
        assert len(rx.received()) == 5  # the first send and 4 retries, then it gives up
    answered = [e["answered"] for e in hooked.webhooks.log]
    gaps = [b - a for a, b in itertools.pairwise(answered)]
    # At least N^4 minutes (scaled) after the N-th failure; later is allowed (a busy machine).
    for n, gap in enumerate(gaps, start=1):
        assert gap >= n**4 * 60 * SCALE


def test_the_hook_is_paused_after_8_failures_and_an_update_resumes_it(hooked: Sandbox) -> None:
    with Receiver(statuses=[500] * 8) as rx:
        hook = hooked.webhooks.add_hook("order_updated", rx.url)
        ids = [i for i in hooked.store.order_ids()][:2]
        hooked.store.set_status(ids[0], "abandoned")  # 5 attempts
        settle(hooked)
        hooked.store.set_status(ids[1], "abandoned")  # 3 more: 8 in all
        settle(hooked)
        assert len(rx.received()) == 8
        assert hooked.webhooks.hook(hook.id).paused
        hooked.store.set_status(ids[1], "canceled")
        settle(hooked)
        assert len(rx.received()) == 8  # paused: nothing sent
        with jumpseller_client(hooked) as js:
            js.put(f"/hooks/{hook.id}.json", json={"hook": {"url": rx.url}})
        hooked.store.set_status(ids[0], "canceled")
        settle(hooked)
        assert [r.status for r in rx.received()][-1] == 200
    assert not hooked.webhooks.hook(hook.id).paused


def test_an_unreachable_receiver_is_a_failure(hooked: Sandbox) -> None:
    with Receiver() as rx:
        url = rx.url
    hooked.webhooks.add_hook("order_paid", url)  # nobody listens there any more
    hooked.store.pay_order(pending_order(hooked))
    settle(hooked)
    summary = hooked.webhooks.summary()
    assert (summary["sent"], summary["failed"], summary["ok"]) == (5, 5, 0)


# -- faults -------------------------------------------------------------------------------------


def test_a_dropped_delivery_never_comes(hooked: Sandbox, rx: Receiver) -> None:
    hooked.webhooks.add_hook("order_paid", rx.url)
    first, second = [
        i
        for i in hooked.store.order_ids()
        if hooked.store.order(i)["status_enum"] == "pending_payment"
    ][:2]
    hooked.faults.add("webhooks", "dropped", path=rf"^order_paid/{first}$")
    hooked.store.pay_order(first)
    hooked.store.pay_order(second)
    settle(hooked)
    assert [json.loads(r.body)["order"]["id"] for r in rx.received()] == [second]
    assert hooked.webhooks.summary()["dropped"] == 1
    assert hooked.stats()["webhooks"]["faults"] == {"dropped": 1}


def test_a_delivery_sent_twice(hooked: Sandbox, rx: Receiver) -> None:
    hooked.webhooks.add_hook("order_paid", rx.url)
    hooked.faults.add("webhooks", "twice")
    hooked.store.pay_order(pending_order(hooked))
    settle(hooked)
    first, second = rx.received()
    assert (first.body, first.headers["Jumpseller-Hmac-Sha256"]) == (
        second.body,
        second.headers["Jumpseller-Hmac-Sha256"],
    )


def test_a_delayed_delivery_comes_after_the_next_one(hooked: Sandbox, rx: Receiver) -> None:
    hooked.webhooks.add_hook("order_paid", rx.url)
    first, second = [
        i
        for i in hooked.store.order_ids()
        if hooked.store.order(i)["status_enum"] == "pending_payment"
    ][:2]
    hooked.faults.add("webhooks", "delayed", path=rf"/{first}$", seconds=0.5)
    hooked.store.pay_order(first)
    hooked.store.pay_order(second)
    settle(hooked)
    assert [json.loads(r.body)["order"]["id"] for r in rx.received()] == [second, first]


def test_a_forged_copy_comes_first_with_a_wrong_signature(hooked: Sandbox) -> None:
    token = hooked.credentials["jumpseller"]["hooks_token"]
    with Receiver(statuses=[401]) as rx:  # the receiver refuses the forgery
        hooked.webhooks.add_hook("order_paid", rx.url)
        hooked.faults.add("webhooks", "forged")
        hooked.store.pay_order(pending_order(hooked))
        settle(hooked)
        forged, genuine = rx.received()
    assert forged.body == genuine.body
    assert forged.headers["Jumpseller-Hmac-Sha256"] != expected_signature(forged.body, token)
    assert genuine.headers["Jumpseller-Hmac-Sha256"] == expected_signature(genuine.body, token)
    summary = hooked.webhooks.summary()
    assert (summary["forged"], summary["failed"], summary["hooks"][0]["failures"]) == (1, 0, 0)


def test_webhook_faults_through_the_control_endpoint(hooked: Sandbox, rx: Receiver) -> None:
    hooked.start()
    base = hooked.jumpseller_base_url.removesuffix("/v1")
    with httpx.Client(base_url=base) as control:
        added = control.post("/_sandbox/faults", json=[{"service": "webhooks", "kind": "dropped"}])
        assert added.status_code == 200
        assert (
            control.post(
                "/_sandbox/faults", json=[{"service": "webhooks", "kind": "502"}]
            ).status_code
            == 400
        )
        hooked.webhooks.add_hook("order_paid", rx.url)
        hooked.store.pay_order(pending_order(hooked))
        settle(hooked)
        state = control.get("/_sandbox/webhooks").json()
    assert rx.received() == []
    assert state["dropped"] == 1 and state["log"][0]["fault"] == "dropped"


def test_request_faults_for_every_service_leave_deliveries_alone(
    hooked: Sandbox, rx: Receiver
) -> None:
    hooked.faults.add("*", "500", times=None)
    hooked.webhooks.add_hook("order_paid", rx.url)
    hooked.store.pay_order(pending_order(hooked))
    settle(hooked)
    assert [r.status for r in rx.received()] == [200]
