"""The configuration's single values: converting a TOML value to its kind (a date, a list of
addresses, a URL ...) and describing a wrong one without ever echoing a secret.

Split from ``config.validation`` (which knows the sections and keys) to keep both small: these
functions know nothing of which key they serve.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Invalid(Exception):
    """One value's problem; the caller prefixes file, section and key."""


def describe(value: object) -> str:
    """The TOML type of a value, for messages that must not show the value itself."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, (float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def shown(value: object, secret: bool) -> str:
    if secret or isinstance(value, (list, dict)):
        return describe(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def convert(kind: str, value: object, secret: bool, key: str = "") -> Any:
    """Check a raw TOML value against its kind; "" means "not set" for optional settings.
    ``key`` names the setting in the fix a wrong value's message gives."""

    def wrong(expected: str, fix: str = "") -> Invalid:
        return Invalid(f"expected {expected}, got {shown(value, secret)}{fix}")

    if kind in ("str", "opt_str"):
        if not isinstance(value, str):
            raise wrong("a string", _quote_it(key, value, secret))
        return None if kind == "opt_str" and not value.strip() else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if kind in ("int", "opt_int"):
        if kind == "opt_int" and value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            raise wrong("a number")
        try:
            number = Decimal(value) if not isinstance(value, str) else Decimal(value.strip())
        except InvalidOperation:
            raise wrong("a number") from None
        if not number.is_finite():
            raise wrong("a finite number")
        return number
    if kind == "date":
        # datetime is a subclass of date: a time of day would silently be dropped, so refuse it.
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if value == "":
            return None
        if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise wrong("a date like 2026-11-01")
    if kind in ("str_table", "rate_table"):
        if not isinstance(value, dict):
            raise wrong("a table")
        return value  # entries are checked one by one by the caller, to name each key
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong('an array of strings, like ["checkout", "admin"]')
        # An empty array is "not set" (the default: every source except pos), never "none":
        # a list that invoiced nothing would silently stop all invoicing.
        return tuple(v.strip().lower() for v in value if v.strip()) or None
    if kind == "address_list":
        if isinstance(value, str):
            value = [value]  # one recipient written without brackets
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong('an array of email addresses, like ["loja@example.pt"]')
        addresses = tuple(v.strip() for v in value if v.strip())
        for address in addresses:
            check_address(address)
        return addresses
    raise AssertionError(f"unknown kind {kind}")


def _quote_it(key: str, value: object, secret: bool) -> str:
    """The fix for a string setting written as a number (a code of digits, unquoted): TOML
    reads it as one, and only quotes make it text. A secret's digits are never echoed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not key:
        return ""
    if secret:
        written = "<the same digits>" if isinstance(value, int) else "<the same value>"
    else:
        written = str(value)
    return f'; put it in quotes: {key} = "{written}"'


def check_address(address: str) -> None:
    """An email address as a person writes it ("Loja <loja@example.pt>" or the bare form)."""
    from email.utils import parseaddr

    _, bare = parseaddr(address)
    local, _, domain = bare.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in bare):
        raise Invalid(f"{address!r} is not an email address like loja@example.pt")


def check_webhook_url(value: str) -> str:
    """https (plain http only towards this machine); never echoed: it embeds a token."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        parts, host, port = None, None, -1
    if parts is None or parts.scheme not in ("http", "https") or not host or port == -1:
        raise Invalid("expected a URL like https://hooks.slack.com/services/... (not shown)")
    if parts.scheme == "http" and not is_loopback(host):
        raise Invalid(
            f"refusing plain http:// for {host}: the URL's token would travel unencrypted; "
            "use https:// (http is accepted for 127.0.0.1 and localhost)"
        )
    return value.strip()


def normalize_url(value: str) -> str:
    """A base URL without its trailing slash; plain http only towards this machine."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:  # a port out of range or not a number, unbalanced brackets
        parts, port = None, -1
    if parts is not None and "@" in parts.netloc:
        # Do not echo it: whatever sits before the @ is probably a credential.
        raise Invalid("must not contain a user name or password; use the credential keys")
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or (port is not None and not 0 < port < 65536)
    ):
        raise Invalid(f"expected a URL like https://host/path, got {_shown_url(value)}")
    if parts.query or parts.fragment:
        # Not echoed whole: a query is where a pasted credential would sit.
        bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
        raise Invalid(
            f"must not contain a query (?...) or fragment (#...): use {bare!r}, and the "
            "credential keys for any key or code (the rest is not shown)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise Invalid(
            f"refusing plain http:// for {parts.hostname}: credentials would travel "
            "unencrypted; use https:// (http is accepted for 127.0.0.1 and localhost)"
        )
    return value.strip().rstrip("/")


def _shown_url(value: str) -> str:
    """A URL that does not parse, as an error may show it: never what follows a ? or a #
    (where a pasted token sits), never a value with an @ (a user name and password)."""
    if "@" in value:
        return "a value with an @"
    bare = value.split("?", 1)[0].split("#", 1)[0]
    return repr(bare) + (" (its query or fragment not shown)" if bare != value else "")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
