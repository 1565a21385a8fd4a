"""The one redaction function, and that every place text leaves the process goes through it."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest

from igest_sync import render
from igest_sync.adapters.http import HttpService
from igest_sync.errors import ApiError
from igest_sync.redact import MASK, RedactingFilter, redact, secret_forms

TOKEN = "tok/en+with spaces=="
LOGIN = "loja-azulejo"


def test_plain_and_url_encoded_forms_are_hidden():
    text = f"a {TOKEN} b {quote(TOKEN, safe='')} c {quote_plus(TOKEN, safe='')} d"
    assert redact(text, [TOKEN]) == f"a {MASK} b {MASK} c {MASK} d"


def test_a_basic_auth_value_carrying_a_secret_is_hidden_whole():
    basic = base64.b64encode(f"{LOGIN}:{TOKEN}".encode()).decode()
    text = f"Authorization: Basic {basic}\nnext line"
    assert redact(text, [TOKEN]) == f"Authorization: Basic {MASK}\nnext line"


def test_a_basic_auth_value_without_a_secret_is_left_alone():
    other = base64.b64encode(b"someone:else").decode()
    assert redact(f"Basic {other}", [TOKEN]) == f"Basic {other}"
    assert redact("Basic !!!not-base64", [TOKEN]) == "Basic !!!not-base64"


def test_no_secrets_or_empty_ones_change_nothing():
    assert redact("nothing here", []) == "nothing here"
    assert redact("nothing here", ["", ""]) == "nothing here"
    assert secret_forms(["", "ab"]) == ["ab"]


def test_forms_are_longest_first_so_a_secret_inside_another_is_hidden_whole():
    assert redact("x abcdef y", ["abc", "abcdef"]) == f"x {MASK} y"


def test_the_log_filter_redacts_messages_and_tracebacks():
    record = logging.LogRecord("igest_sync", logging.ERROR, __file__, 1, "url %s", ("?",), None)
    record.args = (f"https://x/?t={quote(TOKEN, safe='')}",)
    try:
        raise ValueError(f"boom {TOKEN}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter([TOKEN]).filter(record)
    text = record.getMessage()
    assert TOKEN not in text and quote(TOKEN, safe="") not in text and text.count(MASK) == 2


def test_render_redacts_errors(capsys):
    render.error(ApiError(f"refused {quote(TOKEN, safe='')}", service="x"), secrets=[TOKEN])
    err = capsys.readouterr().err
    assert quote(TOKEN, safe="") not in err and MASK in err


def _answering(status: int, message: str, secret: str) -> HttpService:
    """A service whose every answer is ``status`` with ``message``, holding ``secret``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": message})

    return HttpService(
        service="Svc",
        base_url="http://svc.test",
        windows=[],
        credential_keys="svc.token",
        transport=httpx.MockTransport(answer),
        secrets=[secret],
    )


def test_the_http_boundary_redacts_a_service_that_echoes_the_secret_url_encoded():
    service = _answering(422, f"bad {quote(TOKEN, safe='')}", TOKEN)
    with pytest.raises(ApiError) as caught:
        service.request("POST", "/x", json_body={})
    assert quote(TOKEN, safe="") not in str(caught.value) and MASK in str(caught.value)


def test_a_basic_auth_pair_echoed_without_its_scheme_is_hidden():
    # The config gives the pair as a secret of its own (Config.secrets): its base64 is a form.
    pair = f"{LOGIN}:{TOKEN}"
    bare = base64.b64encode(pair.encode()).decode()
    text = f"credentials {bare} not accepted; unpadded {bare.rstrip('=')}."
    out = redact(text, [TOKEN, pair])
    assert bare.rstrip("=") not in out and out.count(MASK) == 2, out


@pytest.mark.parametrize("pad", [270, 280, 290, 296])
def test_an_error_cut_to_one_line_never_shows_part_of_a_secret(pad):
    # A secret that the 300-character cut would halve, or that holds two spaces in a row: it is
    # masked before the text is squeezed and cut, not after (where it no longer matches).
    secret = "SECcode  SECRET4242"
    service = _answering(401, f"invalid: {'x' * pad} {secret}", secret)
    with pytest.raises(ApiError) as caught:
        service.request("GET", "/x")
    text = str(caught.value)
    assert "SECcode" not in text and "SECRET4242" not in text and "SECRET" not in text


def test_a_secret_in_an_exceptions_repr_is_hidden():
    # An internal error is shown as the exception's repr: a backslash doubled, a tab escaped.
    secret = "SC\\SECRET\tbs"
    text = f"internal error: {UnicodeEncodeError('ascii', secret, 1, 2, 'x')!r}"
    assert "SECRET" not in redact(text, [secret])
