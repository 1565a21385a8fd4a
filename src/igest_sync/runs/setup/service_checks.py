"""The logic of ``igest-sync check``: is the configuration usable against the real services?

Each check turns into one ``CheckResult``; a failing API call becomes a failed result with the
service's message, and the other checks still run. The exception: when iGEST refuses the
credentials or cannot be reached, its remaining checks would only repeat that failure, so they
are skipped and the failure says so. Nothing here prints; the CLI renders the list.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from igest_sync.config import Config
from igest_sync.errors import (
    NETWORK_HINT,
    SERVER_HINT,
    ApiError,
    AuthError,
    ExitCode,
    TransportError,
)
from igest_sync.fiscal import rules as pt_rules
from igest_sync.fiscal.exemptions import INTRA_EU_CODE
from igest_sync.models import DocumentType, Entity, Series, StoreLocation, ViesStatus
from igest_sync.redact import redact
from igest_sync.runs.catalogue.stock import (
    locations_to_choose_from,
    total_into_one_location,
    total_into_one_warehouse,
)
from igest_sync.runs.invoicing.art53 import (
    ART53,
    CEILING,
    CHARGE_VAT_HINT,
    THRESHOLD,
    Art53Guard,
    eur,
)
from igest_sync.runs.setup.seal import SEAL_FROM, applies, reminded_on, seal_reminder
from igest_sync.timeutil import lisbon_date

if TYPE_CHECKING:
    from igest_sync.runs.services import IgestApi, JumpsellerApi, ViesApi
    from igest_sync.state.ledger import Ledger

T = TypeVar("T")

JUMPSELLER_AUTH_HINT = (
    "Check [jumpseller] login and auth_token (Jumpseller admin: "
    "Settings > API), or IGEST_SYNC_JUMPSELLER_AUTH_TOKEN."
)
SEAL_CHECK = "Qualified seal in iGEST (from 2027)"
IGEST_AUTH_HINT = (
    "Check [igest] integration_key and security_code (iGEST: Entidade > "
    "Configurar > Integrações), or IGEST_SYNC_IGEST_SECURITY_CODE."
)


@dataclass(frozen=True)
class CheckResult:
    """One line of ``check``'s report.

    ``warning`` marks a check that passed with a caveat worth showing (``ok`` stays True).
    ``exit_code`` is what a failure means, as for every other command: 5 when a service could
    not be reached or refused (the default for a failed call), 2 when the config must change.
    """

    name: str
    ok: bool
    detail: str
    hint: str | None = None
    warning: bool = False
    exit_code: ExitCode = ExitCode.USAGE


def checks_exit_code(results: list[CheckResult]) -> ExitCode:
    """0 when all passed; 5 when a service failed us (the rest may be its echo); 4 when the
    state or log cannot be written (as `invoice` would exit); else 2."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return ExitCode.OK
    if any(r.exit_code == ExitCode.SERVICE for r in failed):
        return ExitCode.SERVICE
    if any(r.exit_code == ExitCode.STATE for r in failed):
        return ExitCode.STATE
    return ExitCode.USAGE


class _Failed(Exception):
    """A check's API call failed; carries the result to report."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _call(name: str, call: Callable[[], T], auth_hint: str) -> T:
    try:
        return call()
    except ApiError as exc:
        hint = exc.hint or (auth_hint if isinstance(exc, AuthError) else None)
        if hint == NETWORK_HINT:  # the adapter's hints speak to a run: check is no run
            hint = "Check the network and the base_url, then run `igest-sync check` again."
        elif hint == SERVER_HINT:
            hint = "The service had a problem: run `igest-sync check` again once it answers."
        # The adapters' messages name their service ("Jumpseller GET /store/info.json: ..."):
        # not "Jumpseller: Jumpseller GET ...".
        detail = exc.message
        if not detail.startswith(exc.service):
            detail = f"{exc.service}: {detail}"
        raise _Failed(CheckResult(name, False, detail, hint, exit_code=exc.exit_code)) from exc


def _check_start_date(config: Config, today: date) -> list[CheckResult]:
    """A start date to come is kept (a merchant setting up ahead), but said: a mistyped year
    would otherwise leave every sale until then without its invoice, and no run says so."""
    start = config.invoice.start_date
    if start is None or start <= today:
        return []
    return [
        CheckResult(
            "First day invoiced ([invoice] start_date)",
            True,
            f"{start} is after today ({today}): nothing paid before it is ever invoiced",
            hint="Set it to the first day igest-sync must invoice, if it is not a date to come.",
            warning=True,
        )
    ]


def run_checks(
    config: Config,
    jumpseller: JumpsellerApi,
    igest: IgestApi,
    *,
    ledger: Ledger | None = None,
    now: datetime | None = None,
    vies: ViesApi | None = None,
) -> list[CheckResult]:
    """Check credentials, store, series, warehouses, exemption codes, VAT rates and stock mode;
    under the small-business exemption, the year's turnover (``ledger``: where its count is
    kept between runs; ``now``: the clock, for the year); with exempt intra-EU sales (M16),
    that ``vies`` answers."""
    store = _check_store(jumpseller)
    results = [store]
    # Read once for the two checks that need them (a failure is asked again by the second).
    locations = cache(jumpseller.locations)
    if store.ok or store.exit_code != ExitCode.SERVICE:  # else it would repeat that failure
        results.extend(_check_stock_locations(config, locations))
        results.extend(_check_webhooks(config, jumpseller))
    entity: Entity | None
    try:
        entity = _call("iGEST entity", igest.entity, IGEST_AUTH_HINT)
    except _Failed as failed:
        result = failed.result
        if isinstance(failed.__cause__, (AuthError, TransportError)):
            result = replace(result, detail=result.detail + " (other iGEST checks skipped)")
            return _redacted(results + [result], config)
        results.append(result)
        entity = None
    else:
        results.append(_entity_result(entity))
    for check in (_check_series, _check_warehouses, _check_exemption_codes, _check_vat_rates):
        try:
            results.extend(check(config, igest))
        except _Failed as failed:
            results.append(failed.result)
    if entity is not None:
        results.extend(_check_stock_mode(config, entity, locations))
    today = lisbon_date(now or datetime.now(UTC))
    if (
        vies is not None
        and entity is not None
        and INTRA_EU_CODE in config.invoice.exemptions.values()
    ):
        results.append(_check_vies(config, vies, entity, today))
    results.extend(_check_start_date(config, today))
    given = reminded_on(ledger)
    reminder = seal_reminder(config.invoice, ledger, today)
    if reminder is not None:
        results.append(CheckResult(SEAL_CHECK, True, reminder, warning=True))
    elif config.invoice.qualified_seal and today >= SEAL_FROM:
        results.append(
            CheckResult(SEAL_CHECK, True, "confirmed on in iGEST (the config's qualified_seal)")
        )
    elif given and applies(config.invoice, today):
        # Reminded once already: a quiet line, not the reminder again.
        results.append(
            CheckResult(
                SEAL_CHECK,
                True,
                f"reminded on {given} to confirm the qualified seal is on in iGEST "
                "(Lei 73-A/2025); igest-sync only links iGEST's documents and lets iGEST "
                "email them",
            )
        )
    if config.invoice.vat_regime == ART53:
        try:
            results.append(_check_turnover(config, igest, ledger, now or datetime.now(UTC)))
        except _Failed as failed:
            results.append(failed.result)
    return _redacted(results, config)


VIES_CHECK = "VIES (EU VAT numbers)"


def _check_vies(config: Config, vies: ViesApi, entity: Entity, today: date) -> CheckResult:
    """An exempt intra-EU sale waits for VIES: one question about the merchant's own number
    shows that [vies] base_url answers (a wrong URL would only look like VIES being down)."""
    check = vies.check(f"PT{entity.nif}", requester=entity.nif, today=today)
    where = config.vies.base_url
    if check.status == ViesStatus.VALID:
        return CheckResult(VIES_CHECK, True, f"answers: your PT{entity.nif} is valid")
    if check.status == ViesStatus.INVALID:
        return CheckResult(
            VIES_CHECK,
            True,
            f"answers, and says your own number PT{entity.nif} is not registered for "
            "intra-EU trade: an exempt intra-EU sale (M16) needs it (ask your accountant)",
            warning=True,
        )
    detail = check.detail or "no answer"
    # VIES's public API needs no credentials and has this one path: such an answer means
    # that [vies] base_url is not VIES's.
    if re.search(r"\b(401|403|404|405)\b", detail):
        return CheckResult(
            VIES_CHECK,
            False,
            f"{where} is not VIES's REST API ({detail}): check [vies] base_url "
            "(https://ec.europa.eu/taxation_customs/vies/rest-api)",
            exit_code=ExitCode.USAGE,
        )
    return CheckResult(
        VIES_CHECK,
        True,
        f"could not answer now ({detail}); exempt intra-EU orders wait until it does",
        warning=True,
    )


def _check_turnover(
    config: Config, igest: IgestApi, ledger: Ledger | None, now: datetime
) -> CheckResult:
    """The year's turnover under art. 53 CIVA and the room left, and the previous year's (past
    15,000 EUR it ended the exemption on 1 January); read from iGEST."""
    from igest_sync.state.ledger import Ledger as OpenLedger

    today = lisbon_date(now)
    name = f"Small-business exemption (art. 53): turnover {today.year}"
    with contextlib.ExitStack() as stack:
        # No state file yet: count without keeping the count.
        kept = ledger or stack.enter_context(OpenLedger(Path(":memory:")))
        guard = Art53Guard(config.invoice, kept, igest, today=today, store=config.jumpseller.store)
        year = _call(name, guard.turnover, IGEST_AUTH_HINT)
        before = _call(name, guard.last_year, IGEST_AUTH_HINT)
    hint = CHARGE_VAT_HINT.format(order="ORDER")
    hint = hint[0].upper() + hint[1:]
    if before > THRESHOLD:
        return CheckResult(
            name,
            False,
            f"{year.head}; but the turnover of {today.year - 1} was {eur(before)}, past "
            f"{eur(THRESHOLD)}: the exemption ended on 1 January {today.year}, VAT is due",
            hint=hint,
        )
    if year.total > CEILING:
        return CheckResult(name, False, year.describe(), hint=hint)
    return CheckResult(name, True, year.describe(), warning=year.total >= year.notice_share)


def _redacted(results: list[CheckResult], config: Config) -> list[CheckResult]:
    """Service messages are not ours: make sure no credential they echo reaches the screen."""
    secrets = config.secrets()
    return [
        replace(
            r, detail=redact(r.detail, secrets), hint=redact(r.hint, secrets) if r.hint else r.hint
        )
        for r in results
    ]


def _check_store(jumpseller: JumpsellerApi) -> CheckResult:
    name = "Jumpseller store"
    try:
        info = _call(name, jumpseller.store_info, JUMPSELLER_AUTH_HINT)
    except _Failed as failed:
        return failed.result
    currency = info.get("currency")
    detail = (
        f"{info.get('name') or '(no name)'} (code {info.get('code') or '?'}, "
        f"currency {currency or '?'})"
    )
    if currency != "EUR":
        return CheckResult(
            name,
            True,
            detail + ": not EUR",
            warning=True,
            hint="iGEST invoices are in EUR: orders in another currency cannot be "
            "invoiced. Set the store's currency to EUR.",
        )
    return CheckResult(name, True, detail)


def _entity_result(entity: Entity) -> CheckResult:
    detail = f"{entity.name} (NIF {entity.nif})"
    if entity.currency != "EUR":
        return CheckResult(
            "iGEST entity",
            True,
            f"{detail}, currency {entity.currency}: not EUR",
            warning=True,
            hint="Documents are issued in EUR; check the entity.",
        )
    return CheckResult("iGEST entity", True, detail)


def _series_types(config: Config) -> list[str]:
    invoice = config.invoice
    types = [invoice.document_type]
    # An FS too large for a simplified invoice becomes the fallback type in the same series.
    if invoice.document_type == DocumentType.FS and invoice.fs_fallback in pt_rules.INVOICE_TYPES:
        types.append(invoice.fs_fallback)
    if invoice.credit_cancelled:
        types.append(pt_rules.CREDIT_NOTE)
    return types


def _check_series(config: Config, igest: IgestApi) -> list[CheckResult]:
    code = config.invoice.series
    results = []
    for doc_type in _series_types(config):
        name = f"Series {doc_type} {code}"
        try:
            found = _call(name, partial(igest.series, doc_type), IGEST_AUTH_HINT)
        except _Failed as failed:
            results.append(failed.result)
            continue
        match = Series.named(found, code, doc_type)
        if match is None:
            known = ", ".join(sorted(s.code for s in found)) or "none"
            results.append(
                CheckResult(
                    name,
                    False,
                    f"no {doc_type} series {code!r} in iGEST (found: {known})",
                    f"Create series {code} for {doc_type} in iGEST, or set [invoice] series.",
                )
            )
        elif not match.active:
            results.append(
                CheckResult(
                    name,
                    False,
                    f"{doc_type} series {code!r} is not active",
                    "Activate the series in iGEST.",
                )
            )
        elif not match.atcud_code:
            results.append(
                CheckResult(
                    name,
                    True,
                    f"{doc_type} series {code!r} is active but has no ATCUD code",
                    "Communicate the series to AT in iGEST: documents need its ATCUD code.",
                    warning=True,
                )
            )
        else:
            results.append(CheckResult(name, True, f"active, ATCUD code {match.atcud_code}"))
    return results


def _check_warehouses(config: Config, igest: IgestApi) -> list[CheckResult]:
    wanted = {
        ("invoice", "warehouse"): config.invoice.warehouse,
        ("stock", "warehouse"): config.stock.warehouse,
    }
    wanted = {key: code for key, code in wanted.items() if code}
    if not wanted:
        return [CheckResult("Warehouses", True, "none configured: iGEST's default warehouse")]
    codes = {code for code, _name in _call("Warehouses", igest.warehouses, IGEST_AUTH_HINT)}
    results = []
    for (section, key), code in wanted.items():
        name = f"Warehouse {code} ([{section}] {key})"
        if code in codes:
            results.append(CheckResult(name, True, "exists in iGEST"))
        else:
            known = ", ".join(sorted(codes)) or "none"
            results.append(
                CheckResult(
                    name,
                    False,
                    f"no warehouse {code!r} in iGEST (found: {known})",
                    f"Create it in iGEST, or change [{section}] {key}.",
                )
            )
    return results


def _check_exemption_codes(config: Config, igest: IgestApi) -> list[CheckResult]:
    wanted = {
        "[invoice] product_exemption_code": config.invoice.product_exemption_code,
        "[invoice] shipping_exemption_code": config.invoice.shipping_exemption_code,
        "[products] exemption_code": config.products.exemption_code,
        **{f"[invoice.exemptions] {k}": v for k, v in sorted(config.invoice.exemptions.items())},
    }
    wanted = {key: code for key, code in wanted.items() if code}
    if not wanted:
        return [CheckResult("Exemption codes", True, "none configured")]
    reasons = _call("Exemption codes", igest.exemption_reasons, IGEST_AUTH_HINT)
    # The meaning shown is iGEST's own text: sources word some codes differently (M44-M46).
    known = {r.code: r for r in reasons}
    results = []
    for key, code in wanted.items():
        name = f"Exemption code {code} ({key})"
        if code in known:
            text = known[code].description.strip()
            ref = (known[code].legal_reference or "").strip()
            if ref and ref.casefold() not in text.casefold():  # "Isento artigo 9.º ..."
                text = f"{text} ({ref})" if text else ref
            detail = f"known to iGEST: {text}" if text else "known to iGEST (no description)"
            results.append(CheckResult(name, True, detail))
        else:
            results.append(
                CheckResult(
                    name,
                    False,
                    f"iGEST does not list exemption code {code}",
                    f"Choose a code iGEST accepts for {key}.",
                )
            )
    return results


def _check_vat_rates(config: Config, igest: IgestApi) -> list[CheckResult]:
    region = config.invoice.vat_region
    name = f"VAT rates {region}"
    taxes = _call(name, igest.taxes, IGEST_AUTH_HINT)
    # Matched by rate, not kind label: the rate is what a document line carries.
    present = {t.rate for t in taxes if t.region == region}
    legal = pt_rules.VAT_RATES[region]
    missing = [f"{kind} {rate} %" for kind, rate in legal.items() if rate not in present]
    if missing:
        return [
            CheckResult(
                name,
                False,
                f"iGEST lacks {', '.join(missing)} for {region}",
                "Add the rates to the entity's tax table in iGEST, or check [invoice] vat_region.",
            )
        ]
    rates = ", ".join(f"{rate} %" for rate in legal.values())
    return [CheckResult(name, True, rates)]


def _check_stock_mode(
    config: Config, entity: Entity, locations: Callable[[], list[StoreLocation]]
) -> list[CheckResult]:
    name = "Stock by warehouse"
    settings = config.stock
    if settings.direction == "igest_to_jumpseller":
        one_side_total = settings.jumpseller_location_id is not None and not settings.warehouse
    else:
        one_side_total = settings.jumpseller_location_id is None and bool(settings.warehouse)
    if settings.enabled and one_side_total and entity.stock_by_warehouse:
        # The run's refusals: iGEST's total would go into one of several Jumpseller locations,
        # or Jumpseller's total into one of iGEST's warehouses.
        try:
            held = _call(name, locations, JUMPSELLER_AUTH_HINT)
        except _Failed as failed:
            return [failed.result]
        refused = total_into_one_location(held, settings) or total_into_one_warehouse(
            held, settings
        )
        if refused is not None:
            return [CheckResult(name, False, refused.message, refused.hint)]
    if not (config.stock.enabled and config.stock.warehouse):
        return []
    if entity.stock_by_warehouse:
        return [
            CheckResult(
                name, True, f"iGEST keeps stock per warehouse; syncing {config.stock.warehouse}"
            )
        ]
    return [
        CheckResult(
            name,
            False,
            "[stock] warehouse is set but the iGEST entity does not keep stock by warehouse",
            "Turn on stock by warehouse in iGEST, or leave [stock] warehouse empty "
            "to use the total of all warehouses.",
        )
    ]


def _check_stock_locations(
    config: Config, locations: Callable[[], list[StoreLocation]]
) -> list[CheckResult]:
    """The Jumpseller location sync-stock writes, when it matters: the same refusal as the run."""
    settings = config.stock
    if not settings.enabled:
        return []
    name = "Jumpseller stock location"
    try:
        held = _call(name, locations, JUMPSELLER_AUTH_HINT)
    except _Failed as failed:
        return [failed.result]
    wanted = settings.jumpseller_location_id
    if wanted is not None:
        match = next((loc for loc in held if loc.id == wanted), None)
        if match is None:
            known = ", ".join(f"{loc.id} {loc.name}" for loc in held) or "none"
            return [
                CheckResult(
                    name,
                    False,
                    f"no location {wanted} in the store (found: {known})",
                    "Set [stock] jumpseller_location_id to one of the ids listed.",
                )
            ]
        return [CheckResult(name, True, f"location {match.id}: {match.name}")]
    several = locations_to_choose_from(held, settings)
    if not several:
        return []  # one stock location: the item's stock is that location's
    listed = ", ".join(f"{loc.id} {loc.name}" for loc in several)
    return [
        CheckResult(
            name,
            False,
            f"the store keeps stock in {len(several)} locations ({listed}) and "
            "[stock] jumpseller_location_id is not set",
            "Set [stock] jumpseller_location_id to the location that takes iGEST's stock.",
        )
    ]


def _check_webhooks(config: Config, jumpseller: JumpsellerApi) -> list[CheckResult]:
    """For a store that uses ``serve`` ([serve] public_url or a hooks token set): is the token
    there to verify deliveries, and do the hooks point at public_url?"""
    from igest_sync.runs.setup.hooks import hooks_check

    if config.serve.public_url is None and not config.jumpseller.hooks_token:
        return []  # cron only: nothing about webhooks to check
    results = []
    if config.jumpseller.hooks_token:
        results.append(CheckResult("hooks token", True, "set (serve verifies each delivery)"))
    else:
        results.append(
            CheckResult(
                "hooks token",
                False,
                "not set: serve refuses every webhook (it cannot verify them)",
                "Set [jumpseller] hooks_token or IGEST_SYNC_JUMPSELLER_HOOKS_TOKEN (Jumpseller "
                "admin: Config > Notifications > Webhooks).",
            )
        )
    try:
        ok, detail, hint = _call("webhooks", lambda: hooks_check(config, jumpseller), "")
    except _Failed as failed:
        results.append(failed.result)
    else:
        results.append(CheckResult("webhooks", ok, detail, hint, warning=ok and hint is not None))
    return results
