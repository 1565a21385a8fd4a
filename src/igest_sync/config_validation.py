"""Validation of the configuration's TOML data: which keys exist, their types and allowed values.

Split from ``config`` to keep both modules small. It knows the keys through the dataclasses
``config`` passes in (``schema``: section name -> dataclass), so the dataclass fields stay the
one list of keys; it returns plain values and every problem found, and ``config`` builds the
objects or raises. Messages never contain a secret's value.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from igest_sync.fiscal import rules as pt_rules
from igest_sync.fiscal.destination import MEMBER_STATES

# Environment variables win over the file, so that secrets need not be written to disk at all.
ENV_OVERRIDES: dict[tuple[str, str], str] = {
    ("jumpseller", "login"): "IGEST_SYNC_JUMPSELLER_LOGIN",
    ("jumpseller", "auth_token"): "IGEST_SYNC_JUMPSELLER_AUTH_TOKEN",
    ("jumpseller", "hooks_token"): "IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN",
    ("igest", "integration_key"): "IGEST_SYNC_IGEST_INTEGRATION_KEY",
    ("igest", "security_code"): "IGEST_SYNC_IGEST_SECURITY_CODE",
    ("alerts", "smtp_password"): "IGEST_SYNC_ALERTS_SMTP_PASSWORD",
    ("alerts", "webhook_url"): "IGEST_SYNC_ALERTS_WEBHOOK_URL",
}
# Never echoed in a message, not even when mistyped: a wrong type may still be the real secret.
_SECRET_KEYS = {
    ("jumpseller", "auth_token"),
    ("jumpseller", "hooks_token"),
    ("igest", "integration_key"),
    ("igest", "security_code"),
    ("alerts", "smtp_password"),
    ("alerts", "webhook_url"),  # chat webhooks carry their token in the URL
}
_URL_KEYS = {
    ("jumpseller", "base_url"),
    ("igest", "base_url"),
    ("vies", "base_url"),
    ("serve", "public_url"),
}
_OPTIONAL_WITHOUT_DEFAULT = {("jumpseller", "store")}  # falls back to the login
_NON_EMPTY = {("invoice", "series"), ("invoice", "nif_field"), ("serve", "host")}

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("invoice", "document_type"): pt_rules.INVOICE_TYPES,
    ("invoice", "fs_fallback"): ("FR", "FT", "fail"),
    ("invoice", "vat_region"): pt_rules.REGIONS,
    ("invoice", "product_exemption_code"): tuple(pt_rules.EXEMPTION_CODES),
    ("invoice", "shipping_exemption_code"): tuple(pt_rules.EXEMPTION_CODES),
    ("products", "exemption_code"): tuple(pt_rules.EXEMPTION_CODES),
    ("invoice", "default_payment_method"): tuple(pt_rules.PAYMENT_MECHANISMS),
    ("invoice", "invalid_nif"): ("fail", "consumer"),
    ("stock", "direction"): ("igest_to_jumpseller", "jumpseller_to_igest"),
    ("alerts", "smtp_security"): ("starttls", "tls", "none"),
    ("alerts", "webhook_format"): ("slack", "discord", "teams", "ntfy", "json"),
    ("alerts", "digest"): ("daily", "weekly", "off"),
}
_RANGES: dict[tuple[str, str], tuple[int | Decimal | None, int | Decimal | None]] = {
    ("invoice", "concurrency"): (1, 8),  # iGEST allows 10 requests/s: more workers only queue
    ("invoice", "email_max_age_days"): (0, None),
    ("invoice", "remind_failed_hours"): (0, None),
    ("invoice", "credit_lookback_days"): (1, 3650),
    ("stock", "max_zero_share"): (Decimal(0), Decimal(1)),
    ("stock", "jumpseller_location_id"): (1, None),
    ("serve", "port"): (1, 65535),
    ("serve", "sweep_minutes"): (1, 1440),  # at least daily: the sweep is the backstop
    ("alerts", "smtp_port"): (1, 65535),
    ("alerts", "unreachable_minutes"): (0, None),
    ("alerts", "late_hours"): (1, None),
    ("alerts", "digest_hour"): (0, 23),
}
# Field annotations (strings, thanks to ``from __future__ import annotations``) -> value kinds.
_KINDS = {
    "str": "str",
    "str | None": "opt_str",
    "bool": "bool",
    "int": "int",
    "int | None": "opt_int",
    "Decimal": "decimal",
    "date | None": "date",
    "dict[str, str]": "str_table",
    "dict[str, tuple[Decimal, ...]]": "rate_table",
    "tuple[str, ...] | None": "str_list",
    "tuple[str, ...]": "address_list",
}
# [invoice.exemptions]: one AT code per destination and kind (fiscal/exemptions.py).
EXEMPTION_KEYS = tuple(
    f"{zone}_{kind}" for zone in ("domestic", "eu", "export") for kind in ("goods", "shipping")
)
# source.created_from values in Jumpseller's spec; another value is accepted with a warning.
KNOWN_SOURCES = ("checkout", "api", "admin", "duplicate", "recovery", "pos")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ABSENT = object()


class _Invalid(Exception):
    """One value's problem; the caller prefixes file, section and key."""


def _describe(value: object) -> str:
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


def _shown(value: object, secret: bool) -> str:
    if secret or isinstance(value, (list, dict)):
        return _describe(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _convert(kind: str, value: object, secret: bool) -> Any:
    """Check a raw TOML value against its kind; "" means "not set" for optional settings."""

    def wrong(expected: str) -> _Invalid:
        return _Invalid(f"expected {expected}, got {_shown(value, secret)}")

    if kind in ("str", "opt_str"):
        if not isinstance(value, str):
            raise wrong("a string")
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
            _check_address(address)
        return addresses
    raise AssertionError(f"unknown kind {kind}")


def _check_address(address: str) -> None:
    """An email address as a person writes it ("Loja <loja@example.pt>" or the bare form)."""
    from email.utils import parseaddr

    _, bare = parseaddr(address)
    local, _, domain = bare.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in bare):
        raise _Invalid(f"{address!r} is not an email address like loja@example.pt")


def _check_webhook_url(value: str) -> str:
    """https (plain http only towards this machine); never echoed: it embeds a token."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        parts, host, port = None, None, -1
    if parts is None or parts.scheme not in ("http", "https") or not host or port == -1:
        raise _Invalid("expected a URL like https://hooks.slack.com/services/... (not shown)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise _Invalid(
            f"refusing plain http:// for {host}: the URL's token would travel unencrypted; "
            "use https:// (http is accepted for 127.0.0.1 and localhost)"
        )
    return value.strip()


def _normalize_url(value: str) -> str:
    """A base URL without its trailing slash; plain http only towards this machine."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:  # a port out of range or not a number, unbalanced brackets
        parts, port = None, -1
    if parts is not None and "@" in parts.netloc:
        # Do not echo it: whatever sits before the @ is probably a credential.
        raise _Invalid("must not contain a user name or password; use the credential keys")
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or (port is not None and not 0 < port < 65536)
    ):
        shown = "a value with an @" if "@" in value else repr(value)
        raise _Invalid(f"expected a URL like https://host/path, got {shown}")
    if parts.query or parts.fragment:
        raise _Invalid(f"must not contain a query or fragment, got {value!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise _Invalid(
            f"refusing plain http:// for {parts.hostname}: credentials would travel "
            "unencrypted; use https:// (http is accepted for 127.0.0.1 and localhost)"
        )
    return value.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_value(where: tuple[str, str], value: Any) -> Any:
    """Rules about one key alone (cross-key rules are in ``_cross_checks``)."""
    if value is None:
        return None
    if where in _URL_KEYS:
        return _normalize_url(value)
    if where == ("alerts", "webhook_url"):
        return _check_webhook_url(value)
    if where in (("alerts", "email_from"),):
        _check_address(value)
    if where in _NON_EMPTY and not value.strip():
        raise _Invalid("must not be empty")
    choices = _CHOICES.get(where)
    if choices is not None and value not in choices:
        raise _Invalid(f"expected one of {', '.join(choices)}, got {value!r}")
    low, high = _RANGES.get(where, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"between {low} and {high}"
            if low is not None and high is not None
            else f"at least {low}"
            if low is not None
            else f"at most {high}"
        )
        raise _Invalid(f"expected a value {bounds}, got {value}")
    return value


def _payment_methods(table: dict, problems: list[str], label: str) -> dict[str, str]:
    mapped: dict[str, str] = {}
    for js_type, code in table.items():
        prefix = f"{label}: [invoice.payment_methods] {js_type}"
        if not isinstance(code, str):
            problems.append(
                f"{prefix}: expected a SAF-T payment code string, got {_shown(code, False)}"
            )
        elif code not in pt_rules.PAYMENT_MECHANISMS:
            problems.append(
                f"{prefix}: expected one of {', '.join(pt_rules.PAYMENT_MECHANISMS)}, got {code!r}"
            )
        else:
            mapped[js_type] = code
    return mapped


def _exemptions(table: dict, problems: list[str], label: str) -> dict[str, str]:
    codes: dict[str, str] = {}
    for key, code in table.items():
        prefix = f"{label}: [invoice.exemptions] {key}"
        if key not in EXEMPTION_KEYS:
            guess = difflib.get_close_matches(key, EXEMPTION_KEYS, n=1)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            problems.append(f"{prefix}: unknown key{hint}; use {', '.join(EXEMPTION_KEYS)}")
        elif not isinstance(code, str):
            problems.append(
                f"{prefix}: expected an AT exemption code string, got {_shown(code, False)}"
            )
        elif not code.strip():
            continue  # "" is "not set"
        elif code.strip() not in pt_rules.EXEMPTION_CODES:
            problems.append(
                f"{prefix}: {code!r} is not on AT's list of exemption codes (M01 ... M99)"
            )
        else:
            codes[key] = code.strip()
    return codes


def _oss_rates(table: dict, problems: list[str], label: str) -> dict[str, tuple[Decimal, ...]]:
    rates: dict[str, tuple[Decimal, ...]] = {}
    for key, values in table.items():
        prefix = f"{label}: [invoice.oss_rates] {key}"
        country = "GR" if key.upper() == "EL" else key.upper()
        if country not in MEMBER_STATES or country == "PT":
            problems.append(f"{prefix}: not another EU Member State's ISO code (ES, FR, DE, ...)")
            continue
        if not isinstance(values, list):
            values = [values]
        parsed: list[Decimal] = []
        for value in values:
            try:
                if isinstance(value, bool):
                    raise InvalidOperation
                rate = Decimal(str(value).strip())
            except InvalidOperation:
                rate = None
            if rate is None or not rate.is_finite() or not 0 < rate < 100:
                problems.append(
                    f'{prefix}: expected VAT rates in percent like ["21", "10"], '
                    f"got {_shown(value, False)}"
                )
                break
            parsed.append(rate)
        else:
            rates[country] = tuple(parsed)
    return rates


def _table(where: tuple[str, str], value: dict, problems: list[str], label: str) -> dict:
    if where == ("invoice", "exemptions"):
        return _exemptions(value, problems, label)
    if where == ("invoice", "oss_rates"):
        return _oss_rates(value, problems, label)
    return _payment_methods(value, problems, label)


def _unknown(label: str, section: str, key: str, known: Iterable[str]) -> str:
    guess = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {guess[0]}?)" if guess else ""
    return f"{label}: [{section}] {key}: unknown key{hint}"


def _read_sections(
    data: dict,
    schema: Mapping[str, type[Any]],
    label: str,
    env: Mapping[str, str],
    problems: list[str],
    failed: set[tuple[str, str]],
) -> dict[str, dict[str, Any]]:
    """Every section's valid values by key; absent keys are left to the dataclass defaults."""
    for name, value in data.items():
        if name in schema:
            continue
        if isinstance(value, dict):
            guess = difflib.get_close_matches(name, list(schema), n=1)
            hint = f" (did you mean [{guess[0]}]?)" if guess else ""
            problems.append(f"{label}: [{name}]: unknown section{hint}")
        else:
            problems.append(
                f"{label}: {name}: unknown key (every setting belongs in a section "
                f"such as [{'], ['.join(schema)}])"
            )
    result: dict[str, dict[str, Any]] = {}
    for section, cls in schema.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.append(
                f"{label}: {section}: expected a [{section}] table, got {_describe(table)}"
            )
            table = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        problems.extend(_unknown(label, section, key, fields) for key in table if key not in fields)
        values: dict[str, Any] = {}
        for key, fld in fields.items():
            where = (section, key)
            env_var = ENV_OVERRIDES.get(where)
            raw = env.get(env_var) if env_var else None
            if not raw:
                raw = table.get(key, _ABSENT)
            required = (
                fld.default is dataclasses.MISSING
                and fld.default_factory is dataclasses.MISSING
                and where not in _OPTIONAL_WITHOUT_DEFAULT
            )
            blank = isinstance(raw, str) and not raw.strip()
            if raw is _ABSENT or (blank and (required or where in _OPTIONAL_WITHOUT_DEFAULT)):
                if required:
                    also = f" (or set {env_var})" if env_var else ""
                    problems.append(f"{label}: [{section}] {key}: missing{also}")
                    failed.add(where)
                continue
            try:
                kind = _kind(fld)
                value = _convert(kind, raw, where in _SECRET_KEYS)
                if kind in ("str_table", "rate_table"):
                    value = _table(where, value, problems, label)
                value = _check_value(where, value)
            except _Invalid as exc:
                problems.append(f"{label}: [{section}] {key}: {exc}")
                failed.add(where)
            else:
                values[key] = value
        result[section] = values
    return result


def _kind(fld: dataclasses.Field[Any]) -> str:
    # ``config`` has ``from __future__ import annotations``: every field's type is its source text.
    assert isinstance(fld.type, str), f"{fld.name}: annotation {fld.type!r} is not a string"
    return _KINDS[fld.type]


def _cross_checks(
    sections: dict[str, dict[str, Any]],
    schema: Mapping[str, type[Any]],
    failed: set[tuple[str, str]],
    label: str,
    problems: list[str],
    warnings: list[str],
) -> None:
    """Rules that tie keys together; skipped where a key involved is already reported."""
    invoice, products = sections["invoice"], sections["products"]
    region = invoice.get("vat_region", schema["invoice"].vat_region)
    rate = products.get("vat_rate", schema["products"].vat_rate)
    exemption = products.get("exemption_code")
    if not {("invoice", "vat_region"), ("products", "vat_rate")} & failed:
        if rate not in pt_rules.legal_rates(region):
            legal = ", ".join(
                str(r) for r in sorted(pt_rules.VAT_RATES[region].values(), reverse=True)
            )
            problems.append(
                f"{label}: [products] vat_rate: {rate} is not a VAT rate in {region}; "
                f"use {legal}, or 0 with an exemption code"
            )
        elif rate == 0 and exemption is None and ("products", "exemption_code") not in failed:
            problems.append(
                f"{label}: [products] exemption_code: missing; required when "
                "vat_rate is 0 (for example M10, the small-business exemption)"
            )
        elif rate != 0 and exemption is not None:
            warnings.append(f"{label}: [products] exemption_code: ignored, vat_rate is {rate}")
    if (
        invoice.get("credit_cancelled", True)
        and "credit_reason" in invoice
        and not invoice["credit_reason"].strip()
    ):
        problems.append(
            f"{label}: [invoice] credit_reason: must not be empty while "
            "credit_cancelled is true (a credit note states its reason)"
        )
    exemptions = invoice.get("exemptions", {})
    for old, new in (
        ("product_exemption_code", "domestic_goods"),
        ("shipping_exemption_code", "domestic_shipping"),
    ):
        if invoice.get(old) and exemptions.get(new) and invoice[old] != exemptions[new]:
            warnings.append(
                f"{label}: [invoice] {old}: ignored, [invoice.exemptions] {new} "
                f"({exemptions[new]}) is the domestic code"
            )
    unknown_sources = [s for s in invoice.get("sources") or () if s not in KNOWN_SOURCES]
    if unknown_sources:
        warnings.append(
            f"{label}: [invoice] sources: {', '.join(map(repr, unknown_sources))} is not one "
            f"of Jumpseller's sources ({', '.join(KNOWN_SOURCES)}); check the spelling"
        )
    _alerts_checks(sections["alerts"], failed, label, problems)
    if invoice.get("start_date") is None and ("invoice", "start_date") not in failed:
        warnings.append(
            f"{label}: [invoice] start_date: not set; set it before the first invoice "
            "run (orders paid before that day are never invoiced)"
        )


def _alerts_checks(
    alerts: dict[str, Any], failed: set[tuple[str, str]], label: str, problems: list[str]
) -> None:
    """An email channel needs its sender and recipients; a password never travels in clear."""
    prefix = f"{label}: [alerts]"
    host = alerts.get("smtp_host")
    email_keys = ("smtp_user", "smtp_password", "email_from", "email_to", "smtp_port")
    if not host:
        given = [k for k in email_keys if alerts.get(k) and ("alerts", k) not in failed]
        if given:
            problems.append(
                f"{prefix} smtp_host: missing; {', '.join(given)} "
                f"{'is' if len(given) == 1 else 'are'} set but there is no SMTP server to use"
            )
        return
    for key in ("email_from", "email_to"):
        if not alerts.get(key) and ("alerts", key) not in failed:
            example = '"igest-sync@example.pt"' if key == "email_from" else '["loja@example.pt"]'
            problems.append(f"{prefix} {key}: missing; required with smtp_host (e.g. {example})")
    if alerts.get("smtp_password") and not alerts.get("smtp_user"):
        problems.append(f"{prefix} smtp_user: missing; required when smtp_password is set")
    if (
        alerts.get("smtp_security") == "none"
        and alerts.get("smtp_password")
        and not _is_loopback(host)
    ):
        problems.append(
            f'{prefix} smtp_security: "none" would send the SMTP password unencrypted to '
            f'{host}; use "starttls" or "tls" ("none" is accepted on 127.0.0.1 and localhost, '
            "or without a password)"
        )


def validate(
    data: dict,
    schema: Mapping[str, type[Any]],
    label: str,
    env: Mapping[str, str],
) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    """Check parsed TOML ``data``; return (valid values per section, problems, warnings).

    ``label`` (the file name) starts every message; ``env`` supplies ``ENV_OVERRIDES``.
    Values that failed are left out, so the caller must not build a config when there are
    problems.
    """
    problems: list[str] = []
    warnings: list[str] = []
    failed: set[tuple[str, str]] = set()
    sections = _read_sections(data, schema, label, env, problems, failed)
    _cross_checks(sections, schema, failed, label, problems, warnings)
    return sections, problems, warnings
