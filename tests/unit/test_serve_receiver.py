"""The webhook receiver in-process (a WSGI app): it authenticates, records a hint, answers.

Every bad delivery gets its 4xx, a log line naming what was wrong (never the body's customer
data nor the token), and nothing recorded; the app keeps answering after each. A property test
throws random bodies and headers at it: nothing unsigned is ever recorded.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igest_sync.serve.receiver import MAX_BODY, Endpoint, Receiver
from igest_sync.state.inbox import ORDER, PRODUCT
from igest_sync.state.ledger import Ledger
from tests.support.webhooks import HOOKS_TOKEN, delivery, sign

NOW = datetime(2026, 11, 20, 14, 3, 12, tzinfo=UTC)
PATH = "/hooks/loja"
CUSTOMER = "Ana Secreta Silva"


class Recorded(list):
    def __call__(self, *hint) -> None:
        self.append(hint)


def endpoint(recorded: Recorded, *, stock: bool = False, path: str = PATH) -> Endpoint:
    return Endpoint(
        name="loja",
        path=path,
        hooks_token=HOOKS_TOKEN,
        store_codes=frozenset({"loja"}),
        stock_events=stock,
        record=recorded,
        wake=lambda: None,
    )


def app_for(*endpoints: Endpoint) -> Receiver:
    return Receiver(endpoints, lambda: {"status": "ok"}, clock=lambda: NOW)


def call(app, method="POST", path=PATH, body=b"", headers=None, content_length=None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body) if content_length is None else content_length),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    answer = {}

    def start_response(status, response_headers):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    answer["body"] = json.loads(b"".join(app(environ, start_response)))
    return answer


def order_delivery(order_id=10452, event="order_paid", **kw):
    order = {"id": order_id, "customer": {"name": CUSTOMER}, "status": "Paid"}
    return delivery(order_id, "loja", event, order=order, **kw)


def test_a_signed_delivery_is_recorded_and_answered_202(caplog):
    recorded = Recorded()
    body, headers = order_delivery()
    with caplog.at_level(logging.INFO, "igest_sync"):
        answer = call(app_for(endpoint(recorded)), body=body, headers=headers)
    assert answer["status"] == 202
    assert recorded == [(ORDER, 10452, "order_paid", "2026-11-20 14:03:11.829 UTC", NOW)]
    assert "order_paid for order 10452 recorded" in caplog.text
    assert CUSTOMER not in caplog.text


@pytest.mark.parametrize(
    "event, key", [("order_paid", "order"), ("product_stock_updated", "product")]
)
def test_a_body_without_the_root_element_is_recorded_too(event, key):
    # The spec: "Our node format has no root element"; the reference wraps it ({"order": ...}).
    recorded = Recorded()
    body = json.dumps({"id": 10452, "status": "Paid", "customer": {"name": CUSTOMER}}).encode()
    headers = {
        "Jumpseller-Hmac-Sha256": sign(body),
        "Jumpseller-Store-Code": "loja",
        "Jumpseller-Event": event,
    }
    answer = call(app_for(endpoint(recorded, stock=True)), body=body, headers=headers)
    assert answer["status"] == 202
    assert recorded == [(ORDER if key == "order" else PRODUCT, 10452, event, None, NOW)]


def test_the_hint_lands_in_the_ledger_inbox(tmp_path: Path):
    with Ledger(tmp_path / "state.sqlite3") as ledger:

        def record(subject, subject_id, event, triggered, at):
            ledger.record_hint(subject, subject_id, event, triggered_at=triggered, received_at=at)

        ep = Endpoint("loja", PATH, HOOKS_TOKEN, frozenset({"loja"}), False, record, lambda: 0)
        body, headers = order_delivery(77, "order_canceled")
        assert call(app_for(ep), body=body, headers=headers)["status"] == 202
        [hint] = ledger.waiting_hints(NOW, 10)
        assert (hint.subject_id, hint.events) == (77, ("order_canceled",))
        assert ledger.get_meta("serve_last_webhook_at") == "2026-11-20T14:03:12.000+00:00"


def test_while_the_store_code_is_unknown_the_signature_alone_decides(caplog):
    """Jumpseller did not answer GET /store/info.json: a signed delivery naming a code we
    cannot check is recorded (never a 403 that would get the hook paused); an unsigned one is
    still 401. Once the code is known, another store's delivery is 403 again."""
    import dataclasses

    recorded = Recorded()
    known: list[frozenset[str] | None] = [None]
    ep = dataclasses.replace(endpoint(recorded), current_codes=lambda: known[0])
    app = app_for(ep)
    body, headers = delivery(10452, "loja-real-code")
    with caplog.at_level(logging.INFO, "igest_sync"):
        assert call(app, body=body, headers=headers)["status"] == 202
    assert "the signature decides" in caplog.text
    forged, forged_headers = delivery(10453, "loja-real-code", token="guessed")
    assert call(app, body=forged, headers=forged_headers)["status"] == 401
    assert [r[1] for r in recorded] == [10452]
    known[0] = frozenset({"loja", "loja-real-code"})
    assert call(app, body=body, headers=headers)["status"] == 202
    other, other_headers = delivery(10454, "outra")
    assert call(app, body=other, headers=other_headers)["status"] == 403
    assert [r[1] for r in recorded] == [10452, 10452]


@pytest.mark.parametrize(
    "change, status, logged",
    [
        (dict(path="/other"), 404, "no webhook path there (404)"),
        (dict(method="GET"), 405, "method GET, not POST"),
        (dict(method="PUT"), 405, "method PUT, not POST"),
        (dict(headers={"Jumpseller-Hmac-Sha256": ""}), 401, "no Jumpseller-Hmac-Sha256"),
        (dict(token="not-the-hooks-token"), 401, "wrong Jumpseller-Hmac-Sha256 signature"),
        (dict(headers={"Jumpseller-Store-Code": "outra"}), 403, "'outra' is not this store"),
        (dict(body=b"{not json"), 400, "the body is not JSON"),
        (dict(body=b"[1, 2]"), 400, "not a JSON object"),
        (dict(body=b'{"order": {"name": "x"}}'), 422, "order_paid: no order id in the body"),
        (dict(body=b'{"order": {"id": true}}'), 422, "no order id"),
        (dict(body=b'{"order": {"id": -3}}'), 422, "no order id"),
        (dict(content_length=MAX_BODY + 1), 413, "over 1 MB"),
    ],
)
def test_each_bad_delivery_gets_its_4xx_and_a_log_line_and_nothing_is_recorded(
    caplog, change, status, logged
):
    recorded = Recorded()
    app = app_for(endpoint(recorded))
    body, headers = order_delivery(token=change.pop("token", HOOKS_TOKEN))
    if "body" in change:
        body = change.pop("body")
        headers["Jumpseller-Hmac-Sha256"] = sign(body)  # well signed, badly formed
    headers.update(change.pop("headers", {}))
    with caplog.at_level(logging.INFO, "igest_sync"):
        answer = call(app, body=body, headers=headers, **change)
    assert answer["status"] == status
    assert logged in caplog.text
    assert recorded == []
    assert HOOKS_TOKEN not in caplog.text and CUSTOMER not in caplog.text
    if status == 405:
        assert answer["headers"]["Allow"] == "POST"
    # ... and the next good delivery is served as usual.
    good_body, good_headers = order_delivery()
    assert call(app, body=good_body, headers=good_headers)["status"] == 202


def test_a_body_over_1_mb_is_refused_even_without_a_content_length():
    recorded = Recorded()
    big = b"{" + b" " * MAX_BODY + b"}"
    answer = call(app_for(endpoint(recorded)), body=big, content_length=0, headers={})
    assert answer["status"] == 413 and recorded == []


def test_an_unknown_event_is_answered_200_ignored_and_logged(caplog):
    recorded = Recorded()
    body, headers = order_delivery(event="customer_created")
    with caplog.at_level(logging.INFO, "igest_sync"):
        answer = call(app_for(endpoint(recorded)), body=body, headers=headers)
    assert (answer["status"], answer["body"]) == (200, {"ignored": True})
    assert "'customer_created' ignored" in caplog.text and recorded == []


def test_product_stock_updated_is_a_hint_only_when_stock_comes_from_jumpseller():
    body = json.dumps({"product": {"id": 501, "stock": 3}}).encode()
    headers = {
        "Jumpseller-Store-Code": "loja",
        "Jumpseller-Event": "product_stock_updated",
        "Jumpseller-Hmac-Sha256": sign(body),
    }
    off, on = Recorded(), Recorded()
    assert call(app_for(endpoint(off)), body=body, headers=headers)["status"] == 200
    assert call(app_for(endpoint(on, stock=True)), body=body, headers=headers)["status"] == 202
    assert off == [] and on == [(PRODUCT, 501, "product_stock_updated", None, NOW)]


def test_healthz_and_one_path_per_store():
    a, b = Recorded(), Recorded()
    app = app_for(endpoint(a, path="/hooks/a"), endpoint(b, path="/hooks/b"))
    assert call(app, "GET", "/healthz")["body"] == {"status": "ok"}
    assert call(app, "POST", "/healthz")["status"] == 405
    body, headers = order_delivery(5)
    assert call(app, path="/hooks/b", body=body, headers=headers)["status"] == 202
    assert call(app, path="/hooks/b/", body=body, headers=headers)["status"] == 202
    assert a == [] and [h[1] for h in b] == [5, 5]


HEADER_NAMES = st.sampled_from(
    [
        "Jumpseller-Hmac-Sha256",
        "Jumpseller-Store-Code",
        "Jumpseller-Event",
        "Jumpseller-Triggered-At",
        "Content-Type",
        "X-Anything",
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.sampled_from([PATH, PATH + "/", "/", "/healthz", "/x", PATH + "x"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.text(), st.integers())),
        st.builds(
            lambda i: json.dumps({"order": {"id": i}}).encode(),
            st.one_of(st.integers(), st.text(), st.none()),
        ),
    ),
    headers=st.dictionaries(HEADER_NAMES, st.text(max_size=60), max_size=6),
    length=st.one_of(st.none(), st.integers(min_value=-5, max_value=2 * MAX_BODY)),
)
def test_random_deliveries_never_record_anything_unsigned_and_never_break_it(
    method, path, body, headers, length
):
    recorded = Recorded()
    app = app_for(endpoint(recorded))
    headers = {k: v.encode("latin-1", "replace").decode("latin-1") for k, v in headers.items()}
    answer = call(app, method, path, body, headers, content_length=length)
    assert 200 <= answer["status"] < 500
    signed = headers.get("Jumpseller-Hmac-Sha256", "").strip() == sign(body)
    if recorded:
        assert signed and method == "POST" and answer["status"] == 202
    good_body, good_headers = order_delivery()
    assert call(app, body=good_body, headers=good_headers)["status"] == 202


def test_a_delivery_that_cannot_be_recorded_is_not_answered_2xx(caplog):
    from igest_sync.errors import StateError

    def full_disk(*hint) -> None:
        raise StateError("State file state.sqlite3 could not be written: disk I/O error.")

    ep = Endpoint("loja", PATH, HOOKS_TOKEN, frozenset({"loja"}), False, full_disk, lambda: 0)
    body, headers = order_delivery(9)
    with caplog.at_level(logging.INFO, "igest_sync"):
        answer = call(app_for(ep), body=body, headers=headers)
    assert answer["status"] == 503  # Jumpseller sends it again
    assert "order_paid for order 9 not recorded: State file" in caplog.text


def test_waitress_queue_depth_is_logged_in_words_at_info_once_a_minute(caplog):
    """A burst makes waitress warn "Task queue depth is N": not a problem (each delivery waits
    milliseconds for a thread), so it goes to the log as a sentence, at INFO, once a minute."""
    from igest_sync.serve.server import _IntoOurLog

    handler = _IntoOurLog()

    def waitress(message: str, *args: object, level: int = logging.WARNING) -> None:
        handler.emit(logging.LogRecord("waitress.queue", level, __file__, 1, message, args, None))

    with caplog.at_level(logging.DEBUG, "igest_sync"):
        waitress("Task queue depth is %d", 12)
        waitress("Task queue depth is %d", 13)  # the same burst: not repeated
        waitress("Client disconnected before the answer", level=logging.INFO)
    [burst, other] = caplog.records
    assert burst.levelno == logging.INFO and burst.name == "igest_sync.serve.waitress"
    assert "A burst of webhook deliveries: 12 wait for one of the 8 answering threads" in (
        burst.getMessage()
    )
    assert "nothing is lost" in burst.getMessage()
    assert other.getMessage() == "Client disconnected before the answer"


def test_a_delivery_refused_for_its_signature_is_told_to_the_watch():
    refused: list[datetime] = []
    ep = dataclasses.replace(endpoint(Recorded()), on_bad_signature=refused.append)
    body, headers = order_delivery()
    assert call(app_for(ep), body=body, headers=headers)["status"] == 202
    assert refused == []  # a good one is not counted
    headers["Jumpseller-Hmac-Sha256"] = sign(body, "not-the-stores-token")
    assert call(app_for(ep), body=body, headers=headers)["status"] == 401
    assert refused == [NOW]


def test_a_delivery_signed_for_a_store_at_another_path_is_told_to_that_store(caplog):
    """A proxy that forwards another path (nginx's proxy_pass with a trailing slash): the 404
    stays, and the store whose token signs it hears where its deliveries go."""
    elsewhere: list[tuple[str, datetime]] = []
    ep = dataclasses.replace(
        endpoint(Recorded()), on_wrong_path=lambda p, at: elsewhere.append((p, at))
    )
    body, headers = order_delivery()
    with caplog.at_level(logging.WARNING, "igest_sync"):
        assert call(app_for(ep), path="/", body=body, headers=headers)["status"] == 404
    assert elsewhere == [("/", NOW)]
    assert "came to /, not to its path /hooks/loja" in caplog.text
    headers["Jumpseller-Hmac-Sha256"] = sign(body, "another-stores-token")
    assert call(app_for(ep), path="/", body=body, headers=headers)["status"] == 404
    assert call(app_for(ep), path="/x", method="GET")["status"] == 404  # a scanner: nothing
    assert elsewhere == [("/", NOW)]
