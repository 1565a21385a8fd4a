"""The one redaction of secrets, for every place text leaves the process (terminal, log file,
error messages built from a service's answer, ``check``'s results).

A secret is hidden in each form it can take in such text: as it is, URL-encoded (in a query
string or a form body, ``%2F`` or ``+`` for a space), as ``repr`` shows it (an exception's repr
doubles a backslash), base64-encoded (a server that echoes the Basic-auth value of
``login:token`` without its scheme: the config gives that pair as a secret of its own), and
inside an HTTP Basic-auth value (``Basic <base64 of login:token>``), which names no secret in
clear. ``RedactingFilter`` applies it to every log record, tracebacks included.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_BASIC = re.compile(r"(?P<scheme>\bBasic\s+)(?P<value>[A-Za-z0-9+/]{4,}={0,2})")


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every form of every non-empty secret, longest first (so a secret that contains another
    is hidden whole)."""
    forms: set[str] = set()
    for secret in filter(None, secrets):
        # repr's: an exception shown as its repr doubles a backslash, escapes a quote or a tab.
        shown = repr(secret)[1:-1]
        forms.update((secret, quote(secret, safe=""), quote_plus(secret, safe=""), shown))
        if len(secret) >= B64_FROM:
            forms.add(_b64(secret))
    return sorted(forms, key=len, reverse=True)


# The base64 form of a shorter secret is a few letters that ordinary text may hold by chance.
B64_FROM = 8


def _b64(secret: str) -> str:
    """``secret`` in base64 without its padding (found whether or not the padding follows)."""
    return base64.b64encode(secret.encode("utf-8")).decode("ascii").rstrip("=")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, in each of its forms, replaced by ``***``."""
    forms = secret_forms(secrets)
    if not forms:
        return text

    def basic(match: re.Match[str]) -> str:
        try:
            decoded = base64.b64decode(match["value"], validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return match[0]
        if any(form in decoded for form in forms):
            return match["scheme"] + MASK
        return match[0]

    text = _BASIC.sub(basic, text)
    for form in forms:
        text = text.replace(form, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in a record's final text (tracebacks included)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        message = redact(message, self.secrets)
        record.msg, record.args = message, None
        return True
