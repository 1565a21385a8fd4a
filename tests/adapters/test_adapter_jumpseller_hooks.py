"""Jumpseller adapter, webhooks: the exact requests for list/create/update/delete and parsing."""

from __future__ import annotations

import base64

import pytest

from igest_sync.errors import BadResponse, NotFound
from igest_sync.models import Hook
from tests.support.adapter_data import JS_BASE, JS_LOGIN, JS_TOKEN

BASIC = "Basic " + base64.b64encode(f"{JS_LOGIN}:{JS_TOKEN}".encode()).decode()


def hook_json(hook_id: int, event: str = "order_paid", url: str = "https://shop.example/h"):
    return {
        "hook": {
            "id": hook_id,
            "name": None,
            "event": event,
            "url": url,
            "created_at": "2026-11-20 14:03:11 UTC",
        }
    }


def test_hooks_lists_every_page(js, httpx_mock):
    first = [hook_json(i) for i in range(1, 101)]
    httpx_mock.add_response(
        method="GET",
        url=f"{JS_BASE}/hooks.json?limit=100&page=1",
        match_headers={"Authorization": BASIC},
        json=first,
    )
    httpx_mock.add_response(
        method="GET",
        url=f"{JS_BASE}/hooks.json?limit=100&page=2",
        json=[hook_json(101, "order_canceled", "https://other.example/x")],
    )
    hooks = js.hooks()
    assert len(hooks) == 101
    assert hooks[0] == Hook(id=1, event="order_paid", url="https://shop.example/h")
    assert hooks[-1] == Hook(id=101, event="order_canceled", url="https://other.example/x")


def test_no_hooks_is_an_empty_list(js, httpx_mock):
    httpx_mock.add_response(url=f"{JS_BASE}/hooks.json?limit=100&page=1", json=[])
    assert js.hooks() == []


def test_create_hook_posts_the_wrapped_event_and_url(js, httpx_mock):
    httpx_mock.add_response(
        method="POST",
        url=f"{JS_BASE}/hooks.json",
        match_json={"hook": {"event": "order_paid", "url": "https://shop.example/h"}},
        match_headers={"Authorization": BASIC, "Content-Type": "application/json"},
        json=hook_json(7),
    )
    assert js.create_hook("order_paid", "https://shop.example/h") == Hook(
        7, "order_paid", "https://shop.example/h"
    )


def test_update_hook_puts_the_new_url(js, httpx_mock):
    httpx_mock.add_response(
        method="PUT",
        url=f"{JS_BASE}/hooks/7.json",
        match_json={"hook": {"event": "order_paid", "url": "https://new.example/h"}},
        json=hook_json(7, url="https://new.example/h"),
    )
    assert js.update_hook(7, "order_paid", "https://new.example/h").url == "https://new.example/h"


def test_delete_hook(js, httpx_mock):
    httpx_mock.add_response(method="DELETE", url=f"{JS_BASE}/hooks/7.json", json="ok")
    assert js.delete_hook(7) is None
    assert [r.method for r in httpx_mock.get_requests()] == ["DELETE"]


def test_delete_of_a_hook_already_gone_is_not_found(js, httpx_mock):
    httpx_mock.add_response(
        method="DELETE", url=f"{JS_BASE}/hooks/7.json", status_code=404, json={"message": "x"}
    )
    with pytest.raises(NotFound):
        js.delete_hook(7)


@pytest.mark.parametrize(
    "body",
    [
        {"hook": {"id": None, "event": "order_paid", "url": "https://a"}},
        {"hook": {"id": 3, "event": "", "url": "https://a"}},
        {"hook": {"id": 3, "event": "order_paid"}},
        ["not", "a hook"],
    ],
)
def test_a_hook_we_cannot_identify_is_a_bad_response(js, httpx_mock, body):
    httpx_mock.add_response(method="POST", url=f"{JS_BASE}/hooks.json", json=body)
    with pytest.raises(BadResponse):
        js.create_hook("order_paid", "https://a")
