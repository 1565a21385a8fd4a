"""No httpx exception escapes either client, and no secret rides along in any error.

Every failure kind (transport exceptions, every error status, bodies that are not JSON or are
cut short, bodies that echo our credentials) is driven through a GET and a POST of both
clients. Only ``ApiError`` subclasses may come out, and the secrets must appear in none of
their messages, hints, fields, reprs or chained exceptions.
"""

from __future__ import annotations

import httpx
import pytest
from test_adapter_igest import draft

from igest_sync.errors import (
    ApiError,
    AuthError,
    BadResponse,
    Conflict,
    Misdirected,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
    TransportError,
)
from tests.support.adapter_data import IG_CODE, IG_KEY, JS_LOGIN, JS_TOKEN, SECRETS

ECHO = f"token {JS_TOKEN} key {IG_KEY} code {IG_CODE} login {JS_LOGIN}"
# A service can only echo the credentials it was sent: each body below is filled with the
# calling client's own secrets ("@TOKEN@", "@CODE@" ...) before it is served.
OWN = {
    "js": {"@TOKEN@": JS_TOKEN, "@KEY@": JS_LOGIN, "@CODE@": JS_TOKEN},
    "ig": {"@TOKEN@": IG_CODE, "@KEY@": IG_KEY, "@CODE@": IG_CODE},
}
OWN_ECHO = "token @TOKEN@ key @KEY@ code @CODE@"

EXCEPTIONS = [
    httpx.ConnectError(f"refused {ECHO}"),
    httpx.ConnectTimeout(ECHO),
    httpx.ReadTimeout(ECHO),
    httpx.WriteTimeout(ECHO),
    httpx.PoolTimeout(ECHO),
    httpx.ReadError(ECHO),
    httpx.WriteError(ECHO),
    httpx.CloseError(ECHO),
    httpx.RemoteProtocolError(ECHO),
    httpx.LocalProtocolError(ECHO),
    httpx.ProxyError(ECHO),
    httpx.UnsupportedProtocol(ECHO),
    httpx.DecodingError(ECHO),
    httpx.TooManyRedirects(ECHO),
]

# (status, body text, expected error class)
RESPONSES = [
    (
        400,
        (
            '{"message": "bad @TOKEN@", "error": {"message": "bad @KEY@", '
            '"fields": {"x": "@CODE@"}}, "errors": {"y": ["@TOKEN@"]}}'
        ),
        Rejected,
    ),
    (
        401,
        '{"message": "wrong token @TOKEN@", "error": {"message": "wrong code @CODE@"}}',
        AuthError,
    ),
    (403, "<html>Forbidden</html>", AuthError),
    (404, '{"message": "Not Found", "error": {"message": "Not Found"}}', NotFound),
    (409, '{"error": {"code": "conflict", "message": "already final"}}', Conflict),
    (418, "teapot", Rejected),
    (
        422,
        (
            f'{{"message": "{OWN_ECHO}", "error": {{"message": "{OWN_ECHO}", "fields": '
            f'{{"k": "{OWN_ECHO}"}}}}}}'
        ),
        Rejected,
    ),
    (429, "slow down @TOKEN@", RateLimited),
    (500, f"<html>Traceback ... {OWN_ECHO}</html>", ServerError),
    (502, "<html>Bad Gateway</html>", ServerError),
    (503, "", ServerError),
    (302, "", Misdirected),  # never followed, and no retry helps: not a passing outage
    (200, "<html>maintenance @TOKEN@</html>", BadResponse),
    (200, '[{"order": {"id": 1, "total": 1', BadResponse),  # cut short
    (200, '{"data": "not a list"', BadResponse),
]


def js_get(js, ig):
    return js.order(1)


def js_post(js, ig):
    return js.add_order_document(1, credit_note=False, external_id="e", public_id="p", url=None)


def ig_get(js, ig):
    return ig.get_document("doc-1")


def ig_post(js, ig):
    return ig.create_document(draft())


CALLS = [js_get, js_post, ig_get, ig_post]


def chain(error: BaseException) -> list[BaseException]:
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def assert_clean(error: BaseException) -> None:
    assert isinstance(error, ApiError), f"{type(error).__name__} escaped: {error!r}"
    for link in chain(error):
        assert not isinstance(link, httpx.HTTPError), "an httpx error is chained"
        texts = [
            str(link),
            repr(link),
            str(getattr(link, "hint", "")),
            repr(getattr(link, "fields", {})),
            repr(link.args),
        ]
        for text in texts:
            for secret in SECRETS:
                assert secret not in text, f"secret leaked in {type(link).__name__}: {text}"
    assert "\n" not in str(error), "messages are one line"
    assert error.service in ("Jumpseller", "iGEST")
    assert str(error).startswith(f"{error.service} ")


def run(call, js, ig) -> BaseException:
    try:
        call(js, ig)
    except BaseException as error:  # noqa: BLE001 - catching everything is the point
        return error
    pytest.fail("the call did not fail")


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("exception", EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_transport_exceptions_become_api_errors(js, ig, httpx_mock, call, exception):
    httpx_mock.add_exception(exception, is_reusable=True)
    error = run(call, js, ig)
    assert_clean(error)
    expected = (
        BadResponse
        if isinstance(exception, (httpx.DecodingError, httpx.TooManyRedirects))
        else TransportError
    )
    assert type(error) is expected


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "status, text, kind", RESPONSES, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(RESPONSES)]
)
def test_error_responses_become_api_errors(js, ig, httpx_mock, call, status, text, kind):
    for placeholder, secret in OWN[call.__name__[:2]].items():
        text = text.replace(placeholder, secret)
    httpx_mock.add_response(status_code=status, text=text, is_reusable=True)
    error = run(call, js, ig)
    assert_clean(error)
    assert type(error) is kind
    if status >= 300:
        assert error.status == status


def test_secrets_echoed_in_error_bodies_are_masked_not_dropped(js, ig, httpx_mock):
    httpx_mock.add_response(
        status_code=422,
        json={"error": {"message": f"key {IG_KEY} is not valid", "fields": {"key": IG_CODE}}},
    )
    error = run(ig_get, js, ig)
    assert str(error) == "iGEST GET /documents/doc-1: key *** is not valid (422)"
    assert error.fields == {"key": "***"}


def test_clients_take_an_injected_transport():
    # The sandbox runs in-process through httpx.WSGITransport; any transport must do.
    import httpx as _httpx

    from igest_sync.adapters.igest import IgestClient
    from igest_sync.adapters.jumpseller.client import JumpsellerClient

    seen: list[_httpx.Request] = []

    def answer(request: _httpx.Request) -> _httpx.Response:
        seen.append(request)
        if request.url.host == "js.local":
            return _httpx.Response(200, json={"name": "Store"})
        return _httpx.Response(
            401, json={"error": {"code": "unauthorized", "message": f"bad key {IG_KEY}"}}
        )

    transport = _httpx.MockTransport(answer)
    with JumpsellerClient("http://js.local/v1", JS_LOGIN, JS_TOKEN, transport=transport) as js:
        assert js.store_info() == {"name": "Store"}
        assert js.request_count == 1
    with IgestClient("http://ig.local/v1", IG_KEY, IG_CODE, transport=transport) as ig:
        error = run(lambda js, ig: ig.entity(), None, ig)
    assert type(error) is AuthError
    assert_clean(error)
    assert [str(r.url) for r in seen] == [
        "http://js.local/v1/store/info.json",
        "http://ig.local/v1/entity",
    ]
    assert seen[1].headers["X-Security-Code"] == IG_CODE
