"""Validation of the configuration's TOML data: which keys exist, their types and allowed values.

Split from ``config`` to keep both modules small. It knows the keys through the dataclasses
``config`` passes in (``schema``: section name -> dataclass), so the dataclass fields stay the
one list of keys; it returns plain values and every problem found, and ``config`` builds the
objects or raises. Messages never contain a secret's value. Converting one value to its kind
(a date, addresses, a URL) is ``config.values``'s.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from igest_sync.config.values import (
    Invalid,
    check_address,
    check_webhook_url,
    convert,
    describe,
    is_loopback,
    normalize_url,
    shown,
)
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
# Sent as HTTP headers (iGEST's) or in SMTP's login, which carry printable ASCII only: an
# accent, a tab or a line break copied with the value would end every run in an encoding error.
_ASCII_SECRETS = {
    ("igest", "integration_key"),
    ("igest", "security_code"),
    ("alerts", "smtp_password"),
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
    ("invoice", "vat_regime"): ("normal", "art53"),
    ("stock", "direction"): ("igest_to_jumpseller", "jumpseller_to_igest"),
    ("alerts", "smtp_security"): ("starttls", "tls", "none"),
    ("alerts", "webhook_format"): ("slack", "discord", "teams", "ntfy", "json"),
    ("alerts", "digest"): ("daily", "weekly", "off"),
}
_RANGES: dict[tuple[str, str], tuple[int | Decimal | None, int | Decimal | None]] = {
    ("invoice", "concurrency"): (1, 8),  # iGEST allows 10 requests/s: more workers only queue
    ("invoice", "email_max_age_days"): (0, None),
    ("invoice", "remind_failed_hours"): (0, None),
    ("invoice", "review_deadline_hour"): (0, 23),
    ("invoice", "auto_finalize_hour"): (0, 23),
    ("invoice", "credit_lookback_days"): (1, 3650),
    ("invoice", "art53_notice_percent"): (1, 99),
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
_ABSENT = object()


def _check_value(where: tuple[str, str], value: Any) -> Any:
    """Rules about one key alone (cross-key rules are in ``_cross_checks``)."""
    if value is None:
        return None
    if where in _URL_KEYS:
        return normalize_url(value)
    if where == ("alerts", "webhook_url"):
        return check_webhook_url(value)
    if where in (("alerts", "email_from"),):
        check_address(value)
    if where in _ASCII_SECRETS and not (value.isascii() and value.isprintable()):
        raise Invalid(
            "holds a character other than printable ASCII (an accent, a tab, a line break?), "
            "which cannot be sent; copy the value again, or for smtp_password use an app "
            "password without accents (the value is not shown)"
        )
    if where in _NON_EMPTY and not value.strip():
        raise Invalid("must not be empty")
    choices = _CHOICES.get(where)
    if choices is not None and value not in choices:
        raise Invalid(f"expected one of {', '.join(choices)}, got {value!r}")
    low, high = _RANGES.get(where, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"between {low} and {high}"
            if low is not None and high is not None
            else f"at least {low}"
            if low is not None
            else f"at most {high}"
        )
        raise Invalid(f"expected a value {bounds}, got {value}")
    return value


def _payment_methods(table: dict, problems: list[str], label: str) -> dict[str, str]:
    mapped: dict[str, str] = {}
    for js_type, code in table.items():
        prefix = f"{label}: [invoice.payment_methods] {js_type}"
        if not isinstance(code, str):
            problems.append(
                f"{prefix}: expected a SAF-T payment code string, got {shown(code, False)}"
            )
        elif code not in pt_rules.PAYMENT_MECHANISMS:
            problems.append(
                f"{prefix}: expected one of {', '.join(pt_rules.PAYMENT_MECHANISMS)}, got {code!r}"
            )
        else:
            mapped[js_type] = code
    return mapped


def _eu_codes_for_the_regime(
    invoice: dict, failed: set[tuple[str, str]], label: str, warnings: list[str]
) -> None:
    """M16 under the small-business regime: an exempt small business makes no intra-EU
    supplies (art. 139 n.º 1 of the VAT Directive). (M10 without it: ``_m10_only_under_art53``.)"""
    exemptions = invoice.get("exemptions")
    if (
        not isinstance(exemptions, dict)
        or {("invoice", "vat_regime"), ("invoice", "exemptions")} & failed
    ):
        return
    if invoice.get("vat_regime") != "art53":
        return
    for key in ("eu_goods", "eu_shipping"):
        if exemptions.get(key) == "M16":
            warnings.append(
                f'{label}: [invoice.exemptions] {key}: "M16", but vat_regime is "art53": an '
                "exempt small business makes no intra-EU supplies (art. 139 of the VAT "
                'Directive); its sales to the EU are exempt under art. 53: set it to "M10"'
            )


def _exemption_codes(
    invoice: dict, products: dict, failed: set[tuple[str, str]]
) -> list[tuple[str, object]]:
    """Every exemption code the config sets, as (its key as a person reads it, the code),
    leaving out the tables that failed to load (said already)."""
    exemptions = invoice.get("exemptions")
    codes = [
        (f"[invoice.exemptions] {key}", exemptions.get(key))
        for key in EXEMPTION_KEYS
        if isinstance(exemptions, dict) and ("invoice", "exemptions") not in failed
    ]
    codes += [
        (f"[invoice] {key}", invoice.get(key))
        for key in ("product_exemption_code", "shipping_exemption_code")
        if ("invoice", key) not in failed
    ]
    if ("products", "exemption_code") not in failed:
        codes.append(("[products] exemption_code", products.get("exemption_code")))
    return codes


def _m10_only_under_art53(
    invoice: dict, products: dict, failed: set[tuple[str, str]], label: str, problems: list[str]
) -> None:
    """M10 is the small-business exemption (art. 53 CIVA) and nothing else: a business that
    charges VAT never puts it on a document. A merchant whose exemption ended sets vat_regime
    = "normal" and may leave the codes as they were; a 0 % line then carried M10 on a final
    invoice, which cannot be undone."""
    if invoice.get("vat_regime", "normal") == "art53" or ("invoice", "vat_regime") in failed:
        return
    for key, code in _exemption_codes(invoice, products, failed):
        if code == "M10":
            why = (
                "an exempt sale to a business in the EU is M16 (checked in VIES)"
                if "eu_" in key
                else "give it the code of the exemption that applies (`igest-sync check` lists "
                "iGEST's), or charge the VAT"
            )
            problems.append(
                f'{label}: {key}: "M10" is the small-business exemption (art. 53 CIVA), but '
                f'vat_regime is "normal": {why}; set vat_regime = "art53" if M10 is yours'
            )


def _m16_only_for_the_eu(
    invoice: dict, products: dict, failed: set[tuple[str, str]], label: str, problems: list[str]
) -> None:
    """M16 is the exempt supply of goods to a business in another Member State (art. 14 RITI),
    checked in VIES, and nothing else: on a sale in Portugal or an export it is a wrong legal
    basis on a final document, which cannot be undone."""
    for key, code in _exemption_codes(invoice, products, failed):
        # [products] exemption_code only sets iGEST's product records (sync-products), never
        # a document line: left alone.
        if code == "M16" and "eu_" not in key and not key.startswith("[products]"):
            where = "an export" if "export_" in key else "a sale in Portugal"
            problems.append(
                f'{label}: {key}: "M16" is the exempt supply to a business in another EU '
                f"Member State (art. 14 RITI), never {where}: give it the code of the "
                "exemption that applies (`igest-sync check` lists iGEST's; M05 for exports), "
                "and M16 to [invoice.exemptions] eu_goods / eu_shipping"
            )


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
                f"{prefix}: expected an AT exemption code string, got {shown(code, False)}"
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
                    f"got {shown(value, False)}"
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
                f"{label}: {section}: expected a [{section}] table, got {describe(table)}"
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
                value = convert(kind, raw, where in _SECRET_KEYS, key)
                if kind in ("str_table", "rate_table"):
                    value = _table(where, value, problems, label)
                value = _check_value(where, value)
            except Invalid as exc:
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
            # The example fits the regime: M10 is refused unless vat_regime is "art53".
            example = "M10" if invoice.get("vat_regime") == "art53" else "M07"
            problems.append(
                f"{label}: [products] exemption_code: missing; required when vat_rate is 0 "
                f"(for example {example}; `igest-sync check` shows iGEST's description of the "
                "code)"
            )
        elif rate != 0 and exemption is not None:
            warnings.append(f"{label}: [products] exemption_code: ignored, vat_rate is {rate}")
    if invoice.get("vat_regime") == "art53" and ("invoice", "vat_regime") not in failed:
        # Under the small-business regime every domestic document is exempt as M10: the code
        # that takes effect is checked ([invoice.exemptions] wins over the older keys).
        domestic = invoice.get("exemptions", {})
        for kind, legacy in (
            ("goods", "product_exemption_code"),
            ("shipping", "shipping_exemption_code"),
        ):
            newer = f"domestic_{kind}"
            key, code = (
                (f"[invoice.exemptions] {newer}", domestic.get(newer))
                if isinstance(domestic, dict) and domestic.get(newer) is not None
                else (f"[invoice] {legacy}", invoice.get(legacy))
            )
            if code not in (None, "M10") and ("invoice", legacy) not in failed:
                problems.append(
                    f'{label}: {key}: {code!r}, but vat_regime is "art53" '
                    '(the small-business exemption, art. 53 CIVA): set it to "M10", or set '
                    'vat_regime = "normal" if you charge VAT'
                )
    _eu_codes_for_the_regime(invoice, failed, label, warnings)
    _m10_only_under_art53(invoice, products, failed, label, problems)
    _m16_only_for_the_eu(invoice, products, failed, label, problems)
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
    if invoice.get("auto_finalize_hour") is not None and not invoice.get("review", False):
        warnings.append(
            f"{label}: [invoice] auto_finalize_hour: ignored, review is false (every draft "
            "is finalized at once)"
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
        and not is_loopback(host)
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
